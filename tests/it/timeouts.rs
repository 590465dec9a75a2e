//! `--timeout` (one request attempt) and `--total-timeout` (all of a
//! command's fetching): a stalled SSM ends in a clean failure naming what
//! timed out, in bounded time, with files untouched and nothing started.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::{Fault, FaultProxy, Plan, Ssmm, moto, unique_prefix};

fn stalled() -> FaultProxy {
    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(Plan::always(Fault::Stall));
    proxy
}

#[test]
fn a_stalled_answer_times_out_per_attempt_and_fails_closed() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/k"), "v");
    let proxy = stalled();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".env"), "OLD=\"1\"\n").unwrap();
    let started = Instant::now();
    let out = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(dir.path())
        .args(["--prefix", &p, "sync", "--app", "api", "--no-shared"])
        .args(["--timeout", "500ms", "--max-attempts", "2"])
        .run();
    let took = started.elapsed();
    out.code(1)
        .stderr_contains(&format!("GetParametersByPath {p}/api"))
        .stderr_contains("timed out");
    // Two attempts of 0.5 s and one short backoff, far below the defaults.
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(proxy.count("GetParametersByPath") >= 2);
    assert_eq!(
        fs::read_to_string(dir.path().join(".env")).unwrap(),
        "OLD=\"1\"\n"
    );
}

#[test]
fn the_total_timeout_bounds_the_whole_fetch_and_nothing_runs() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/k"), "v");
    let proxy = stalled();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(dir.path())
        .args(["--prefix", &p, "exec", "--app", "api", "--no-shared"])
        .args(["--timeout", "5s", "--total-timeout", "1500ms"])
        .args(["--", "touch", "started"])
        .run();
    let took = started.elapsed();
    // Regression: the message named nothing; it now says what was pending.
    out.code(1)
        .stderr_contains("gave up after 1.5s (--total-timeout)")
        .stderr_contains(&format!("still pending: GetParametersByPath {p}/api"));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!dir.path().join("started").exists());
}

#[test]
fn keep_on_error_rides_out_a_total_timeout() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/k"), "v");
    let proxy = stalled();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".env"), "OLD=\"1\"\n").unwrap();
    let out = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(dir.path())
        .args(["--prefix", &p, "sync", "--app", "api", "--no-shared"])
        .args(["--total-timeout", "1s", "--keep-on-error"])
        .run();
    out.success()
        .stderr_contains("--total-timeout")
        .stderr_contains("keeping the existing .env");
    assert_eq!(
        fs::read_to_string(dir.path().join(".env")).unwrap(),
        "OLD=\"1\"\n"
    );
}

#[test]
fn admin_writes_obey_the_total_timeout_too() {
    let p = unique_prefix();
    let proxy = stalled();
    let dir = tempfile::tempdir().unwrap();
    let out = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(dir.path())
        .args(["--prefix", &p, "put", "--app", "api", "A_NAME=x"])
        .args(["--total-timeout", "1s"])
        .run();
    out.code(1).stderr_contains("gave up after 1s");
    assert_eq!(moto().get(&format!("{p}/api/a-name")), None);
}

#[test]
fn zero_or_malformed_timeouts_are_usage_errors() {
    for flag in ["--timeout", "--total-timeout"] {
        for bad in ["0", "0s", "soon", "-1s"] {
            let out = Ssmm::new()
                .args(["--prefix", "/t", "sync", "--app", "api", flag, bad])
                .run();
            out.code(2);
        }
    }
}
