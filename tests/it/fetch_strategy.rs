//! `--fetch-strategy by-path|describe|auto`: every strategy reads exactly the
//! same parameters (variables, nested files, the tag overlay, both layouts),
//! with the API calls each strategy promises, through throttling, and fails
//! closed naming the operation.

use std::fs;
use std::path::Path;

use crate::support::{Fault, FaultProxy, Plan, Ssmm, moto, unique_prefix};

const STRATEGIES: [&str; 3] = ["by-path", "describe", "auto"];

/// Every file under `dir`, relative path -> content, sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
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

#[test]
fn every_strategy_writes_the_same_env_file_and_files() {
    let p = unique_prefix();
    let m = moto();
    let mut items = Vec::new();
    for i in 0..35 {
        items.push((format!("{p}/api/key-{i:02}"), format!("app value {i}")));
    }
    for i in 0..12 {
        items.push((format!("{p}/shared/shared-{i:02}"), format!("shared {i}")));
    }
    items.push((format!("{p}/api/files/conf/app.yml"), "a: 1\n".to_string()));
    items.push((format!("{p}/api/files/deep/er/x.txt"), "x".to_string()));
    items.push((format!("{p}/shared/files/common.txt"), "common".to_string()));
    // Deeper than a layer's variables and outside files/: never read.
    items.push((format!("{p}/api/nested/ignored"), "no".to_string()));
    m.put_many(&items);
    m.put_secure(&format!("{p}/api/secret"), "s3cret");
    m.put(&format!("{p}/ops/flag"), "tagged");
    m.add_tags(&format!("{p}/ops/flag"), &[("env", "prod")]);

    let mut results = Vec::new();
    for strategy in STRATEGIES {
        let dir = tempfile::tempdir().unwrap();
        Ssmm::new()
            .endpoint(&moto().endpoint())
            .current_dir(dir.path())
            .args(["--prefix", &p, "sync", "--app", "api"])
            .args(["--include-tag", "env=prod", "--fetch-strategy", strategy])
            .run()
            .success()
            .stderr_contains("wrote 49 variables");
        results.push((strategy, tree(dir.path())));
    }
    let env = &results[0].1;
    assert!(
        env.iter()
            .any(|(n, c)| n == ".env" && c.starts_with(b"FLAG=\"tagged\"\n")),
        "{env:?}"
    );
    assert_eq!(env.len(), 4, "{env:?}");
    for (strategy, got) in &results[1..] {
        assert_eq!(got, env, "{strategy} differs from by-path");
    }
}

#[test]
fn every_strategy_reads_the_ecs_layout_the_same() {
    let cluster = unique_prefix().trim_start_matches('/').to_string();
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
        let dir = tempfile::tempdir().unwrap();
        Ssmm::new()
            .endpoint(&moto().endpoint())
            .current_dir(dir.path())
            .args([
                "--layout",
                "ecs",
                "--cluster",
                &cluster,
                "sync",
                "--app",
                "web",
            ])
            .args(["--fetch-strategy", strategy])
            .run()
            .success()
            .stderr_contains("wrote 28 variables");
        results.push(tree(dir.path()));
    }
    assert_eq!(results[0].len(), 2);
    assert_eq!(results[1], results[0]);
    assert_eq!(results[2], results[0]);
}

#[test]
fn describe_lists_names_then_reads_values_in_batches_of_ten() {
    let p = unique_prefix();
    let items: Vec<(String, String)> = (0..35)
        .map(|i| (format!("{p}/api/k-{i:02}"), format!("v{i}")))
        .collect();
    moto().put_many(&items);
    let dir = tempfile::tempdir().unwrap();
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args([
            "--prefix",
            &p,
            "sync",
            "--app",
            "api",
            "--no-shared",
            "--no-files",
        ])
        .args(["--fetch-strategy", "describe", "-v"])
        .run();
    out.success();
    let line = calls_line(&out.stderr);
    // moto pages DescribeParameters at 10 (AWS at 50): 4 pages of 10, 10, 10
    // and 5 names, each page's names fetched in one GetParameters batch.
    assert_eq!(calls(&line, "GetParameters"), 4, "{line}");
    assert!(calls(&line, "DescribeParameters") >= 4, "{line}");
    assert_eq!(calls(&line, "GetParametersByPath"), 0, "{line}");
    let env = fs::read_to_string(dir.path().join(".env")).unwrap();
    assert_eq!(env.lines().count(), 35);
    assert!(env.contains("K_34=\"v34\"\n"));
}

#[test]
fn auto_reads_a_small_layer_with_one_call_and_a_large_one_with_describe() {
    let p = unique_prefix();
    for i in 0..4 {
        moto().put(&format!("{p}/small/k{i}"), "v");
    }
    let items: Vec<(String, String)> = (0..30)
        .map(|i| (format!("{p}/large/k-{i:02}"), format!("v{i}")))
        .collect();
    moto().put_many(&items);
    let run = |app: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = Ssmm::new()
            .endpoint(&moto().endpoint())
            .current_dir(dir.path())
            .args([
                "--prefix",
                &p,
                "sync",
                "--app",
                app,
                "--no-shared",
                "--no-files",
            ])
            .args(["--fetch-strategy", "auto", "-v"])
            .run();
        out.success();
        let env = fs::read_to_string(dir.path().join(".env")).unwrap();
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
    let p = unique_prefix();
    let items: Vec<(String, String)> = (0..40)
        .map(|i| (format!("{p}/api/k-{i:02}"), format!("v{i}")))
        .collect();
    moto().put_many(&items);
    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(
        Plan::share(Fault::Throttle, 0.5, 11).only(&["DescribeParameters", "GetParameters"]),
    );
    let dir = tempfile::tempdir().unwrap();
    Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(dir.path())
        .args([
            "--prefix",
            &p,
            "sync",
            "--app",
            "api",
            "--no-shared",
            "--no-files",
        ])
        .args(["--fetch-strategy", "describe", "--max-attempts", "20"])
        .run()
        .success();
    assert!(proxy.faults_injected() > 0);
    let env = fs::read_to_string(dir.path().join(".env")).unwrap();
    assert_eq!(env.lines().count(), 40);
    assert!(env.contains("K_39=\"v39\"\n"));
}

#[test]
fn describe_failures_name_the_operation_and_leave_the_file_alone() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/k"), "v");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".env"), "OLD=\"1\"\n").unwrap();
    for op in ["DescribeParameters", "GetParameters"] {
        let proxy = FaultProxy::start(&moto().endpoint());
        proxy.set_plan(Plan::always(Fault::Status(500)).only(&[op]));
        let out = Ssmm::new()
            .endpoint(&proxy.endpoint())
            .current_dir(dir.path())
            .args(["--prefix", &p, "sync", "--app", "api", "--no-shared"])
            .args(["--fetch-strategy", "describe", "--max-attempts", "2"])
            .run();
        out.code(1).stderr_contains(&format!("{op} {p}/api"));
        assert_eq!(
            fs::read_to_string(dir.path().join(".env")).unwrap(),
            "OLD=\"1\"\n"
        );
    }
}
