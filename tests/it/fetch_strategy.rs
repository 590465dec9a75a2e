//! `--fetch-strategy by-path|describe|auto`: every strategy reads exactly the
//! same parameters (variables, nested files, the tag overlay, both layouts),
//! with the API calls each strategy promises, through throttling, and fails
//! closed naming the operation.

use std::collections::BTreeMap;

use crate::support::fs::Snapshot;
use crate::support::{Fault, FaultProxy, Plan, Run, Test, moto};

const STRATEGIES: [&str; 3] = ["by-path", "describe", "auto"];

/// Every file under `dir`: relative path -> content and mode.
fn tree(dir: &std::path::Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    Snapshot::of(dir).files()
}

/// The `API calls:` summary line of a `-v` run.
fn calls_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.contains("API calls:"))
        .unwrap_or_else(|| panic!("no API calls line in\n{stderr}"))
        .to_string()
}

/// The number of calls of `op` in an `API calls:` line (0 when absent).
fn calls(line: &str, op: &str) -> usize {
    line.split(['=', ' ', ','])
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == op)
        .map(|w| w[1].parse().unwrap())
        .unwrap_or(0)
}

/// `n` parameters `APP/k-NN` = `vN`.
fn numbered(t: Test, app: &str, n: usize) -> Test {
    t.series(n, |i| (format!("{app}/k-{i:02}"), format!("v{i}")))
}

/// `sync --app APP --no-shared --no-files --fetch-strategy STRATEGY`.
fn sync_one(t: &Test, app: &str, strategy: &str) -> Run {
    t.ssmm(["sync", "--app", app, "--no-shared", "--no-files"])
        .args(["--fetch-strategy", strategy])
}

#[test]
fn every_strategy_writes_the_same_env_file_and_files() {
    let t = Test::new()
        .series(35, |i| {
            (format!("api/key-{i:02}"), format!("app value {i}"))
        })
        .series(12, |i| {
            (format!("shared/shared-{i:02}"), format!("shared {i}"))
        })
        .params(&[
            ("api/files/conf/app.yml", "a: 1\n"),
            ("api/files/deep/er/x.txt", "x"),
            ("shared/files/common.txt", "common"),
            // Deeper than a layer's variables and outside files/: never read.
            ("api/nested/ignored", "no"),
            ("api/secret", "s3cret"),
        ])
        .plain("ops/flag", "tagged")
        .tags("ops/flag", &[("env", "prod")]);

    let mut results = Vec::new();
    for strategy in STRATEGIES {
        let dir = t.scratch(strategy);
        t.ssmm(["sync", "--app", "api"])
            .args(["--include-tag", "env=prod", "--fetch-strategy", strategy])
            .current_dir(&dir)
            .success()
            .stderr_has("wrote 49 variables")
            .go();
        results.push((strategy, tree(&dir)));
    }
    let env = &results[0].1;
    assert!(
        env.iter()
            .any(|(n, (c, _))| n == ".env" && c.starts_with(b"FLAG=\"tagged\"\n")),
        "{env:?}"
    );
    assert_eq!(env.len(), 4, "{env:?}");
    for (strategy, got) in &results[1..] {
        assert_eq!(got, env, "{strategy} differs from by-path");
    }
}

#[test]
fn every_strategy_reads_the_ecs_layout_the_same() {
    let t = Test::new();
    let cluster = t.cluster().to_owned();
    let m = moto();
    for i in 0..14 {
        m.put(
            &format!("/{cluster}/environment/c-{i:02}"),
            &format!("c{i}"),
        );
        m.put_secure(
            &format!("/{cluster}/web/environment/w-{i:02}"),
            &format!("w{i}"),
        );
    }
    m.put(&format!("/{cluster}/web/files/a/b.txt"), "file");
    let mut results = Vec::new();
    for strategy in STRATEGIES {
        let dir = t.scratch(strategy);
        t.ecs(["sync", "--app", "web", "--fetch-strategy", strategy])
            .current_dir(&dir)
            .success()
            .stderr_has("wrote 28 variables")
            .go();
        results.push(tree(&dir));
    }
    assert_eq!(results[0].len(), 2);
    assert_eq!(results[1], results[0]);
    assert_eq!(results[2], results[0]);
}

#[test]
fn describe_lists_names_then_reads_values_in_batches_of_ten() {
    let t = numbered(Test::new(), "api", 35);
    let out = sync_one(&t, "api", "describe").arg("-v").success().go();
    let line = calls_line(&out.stderr);
    // moto pages DescribeParameters at 10 (AWS at 50): 4 pages of 10, 10, 10
    // and 5 names, each page's names fetched in one GetParameters batch.
    assert_eq!(calls(&line, "GetParameters"), 4, "{line}");
    assert!(calls(&line, "DescribeParameters") >= 4, "{line}");
    assert_eq!(calls(&line, "GetParametersByPath"), 0, "{line}");
    let env = t.read(".env");
    assert_eq!(env.lines().count(), 35);
    assert!(env.contains("K_34=\"v34\"\n"));
}

#[test]
fn auto_reads_a_small_layer_with_one_call_and_a_large_one_with_describe() {
    let mut t = numbered(Test::new(), "large", 30);
    for i in 0..4 {
        t = t.plain(&format!("small/k{i}"), "v");
    }
    let run = |app: &str| {
        let dir = t.scratch(app);
        let out = sync_one(&t, app, "auto")
            .arg("-v")
            .current_dir(&dir)
            .success()
            .go();
        let env = crate::support::fs::read(&dir.join(".env"));
        (calls_line(&out.stderr), env)
    };
    let (line, env) = run("small");
    assert_eq!(env.lines().count(), 4);
    assert_eq!(calls(&line, "GetParametersByPath"), 1, "{line}");
    assert_eq!(calls(&line, "DescribeParameters"), 0, "{line}");
    assert_eq!(calls(&line, "GetParameters"), 0, "{line}");

    let (line, env) = run("large");
    assert_eq!(env.lines().count(), 30, "{env}");
    for i in 0..30 {
        assert!(env.contains(&format!("K_{i:02}=\"v{i}\"\n")), "{env}");
    }
    assert_eq!(calls(&line, "GetParametersByPath"), 1, "{line}");
    assert!(calls(&line, "DescribeParameters") >= 3, "{line}");
    // The 20 names the first page did not bring, in batches of at most 10
    // per DescribeParameters page.
    let gets = calls(&line, "GetParameters");
    assert!((2..=4).contains(&gets), "{line}");
}

#[test]
fn describe_rides_out_throttling_of_both_operations() {
    let t = numbered(Test::new(), "api", 40).faults(
        Plan::share(Fault::Throttle, 0.3, 11).only(&["DescribeParameters", "GetParameters"]),
    );
    sync_one(&t, "api", "describe")
        .args(["--max-attempts", "1"])
        .timeout(std::time::Duration::from_secs(120))
        .success()
        .go();
    assert!(t.proxy().faults_injected() > 0);
    let env = t.read(".env");
    assert_eq!(env.lines().count(), 40);
    assert!(env.contains("K_39=\"v39\"\n"));
}

#[test]
fn describe_failures_name_the_operation_and_leave_the_file_alone() {
    let t = Test::new().plain("api/k", "v").file(".env", "OLD=\"1\"\n");
    let p = t.prefix();
    for op in ["DescribeParameters", "GetParameters"] {
        let proxy = FaultProxy::start(&moto().endpoint());
        proxy.set_plan(Plan::always(Fault::Status(500)).only(&[op]));
        t.ssmm(["sync", "--app", "api", "--no-shared"])
            .args(["--fetch-strategy", "describe", "--max-attempts", "2"])
            .via(&proxy)
            .code(1)
            .stderr_has(format!("{op} {p}/api"))
            .untouched(".env")
            .go();
    }
}
