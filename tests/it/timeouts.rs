//! `--timeout` (one request attempt) and `--total-timeout` (all of a
//! command's fetching): a stalled SSM ends in a clean failure naming what
//! timed out, in bounded time, with files untouched and nothing started.

use std::time::{Duration, Instant};

use crate::support::{Fault, Plan, Run, Ssmm, Test, moto};

/// A parameter `api/k` behind a proxy that never answers, and an `.env`
/// that a failure must leave alone.
fn stalled() -> Test {
    Test::new()
        .plain("api/k", "v")
        .file(".env", "OLD=\"1\"\n")
        .faults(Plan::always(Fault::Stall))
}

/// Runs `run`, which must fail (exit 1), in less than `limit`.
fn fails_within(run: Run, limit: Duration) {
    let started = Instant::now();
    run.code(1).go();
    let took = started.elapsed();
    assert!(took < limit, "took {took:?}");
}

#[test]
fn a_stalled_answer_times_out_per_attempt_and_fails_closed() {
    let t = stalled();
    // Two attempts of 0.5 s and one short backoff, far below the defaults.
    let run = t
        .ssmm(["sync", "--app", "api", "--no-shared"])
        .args(["--timeout", "500ms", "--max-attempts", "2"])
        .stderr_has(format!("GetParametersByPath {}/api", t.prefix()))
        .stderr_has("timed out")
        .untouched(".env");
    fails_within(run, Duration::from_secs(6));
    assert!(t.proxy().count("GetParametersByPath") >= 2);
}

#[test]
fn the_total_timeout_bounds_the_whole_fetch_and_nothing_runs() {
    let t = stalled();
    let pending = format!("still pending: GetParametersByPath {}/api", t.prefix());
    // Regression: the message named nothing; it now says what was pending.
    fails_within(
        t.ssmm(["exec", "--app", "api", "--no-shared"])
            .args(["--timeout", "5s", "--total-timeout", "1500ms"])
            .args(["--", "touch", "started"])
            .stderr_has("gave up after 1.5s (--total-timeout)")
            .stderr_has(pending)
            .absent("started"),
        Duration::from_secs(5),
    );
}

#[test]
fn keep_on_error_rides_out_a_total_timeout() {
    let t = stalled();
    t.ssmm(["sync", "--app", "api", "--no-shared"])
        .args(["--total-timeout", "1s", "--keep-on-error"])
        .success()
        .stderr_has("--total-timeout")
        .stderr_has("keeping the existing .env")
        .untouched(".env")
        .go();
}

#[test]
fn admin_writes_obey_the_total_timeout_too() {
    let t = Test::new().faults(Plan::always(Fault::Stall));
    t.ssmm(["put", "--app", "api", "A_NAME=x"])
        .args(["--total-timeout", "1s"])
        .code(1)
        .stderr_has("gave up after 1s")
        .go();
    assert_eq!(moto().get(&t.name("api/a-name")), None);
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
