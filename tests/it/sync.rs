//! End-to-end tests of `ssmm sync` against a real moto server through the
//! real SDK: configuration resolution, layers and precedence, strictness,
//! the write rules of docs/CONTRACT.md §3, formats, pagination and fault tolerance.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Fault, FaultProxy, Plan, Ssmm, moto, unique_prefix};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// `ssmm --prefix P sync ...` in `dir`, against moto.
fn sync(prefix: &str, dir: &Path) -> Ssmm {
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir)
        .args(["--prefix", prefix, "sync"])
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap()
}

/// Reads an env file back through `sh` (`set -a; . FILE`) and returns the
/// named variables' values.
fn sh_read(file: &Path, vars: &[&str]) -> Vec<String> {
    let script = vars
        .iter()
        .map(|v| format!("printf '%s\\0' \"${v}\""))
        .collect::<Vec<_>>()
        .join("; ");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("set -a; . \"$1\"; {script}"))
        .arg("sh")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut parts: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .map(str::to_string)
        .collect();
    parts.pop();
    parts
}

#[test]
fn missing_prefix_prints_the_exact_message_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args(["sync", "--app", "api"])
        .run();
    out.code(2);
    assert_eq!(
        out.stderr.trim_end(),
        "Error: no prefix configured. Pass --prefix /<your-team> or set $SSMM_PREFIX_ROOT=/<your-team>."
    );
    assert!(!dir.path().join(".env").exists());
}

#[test]
fn bad_prefixes_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["team", "/team/", "/", "//x", "/a b", "/a/../b", "/ä"] {
        let out = sync(bad, dir.path()).args(["--app", "api"]).run();
        out.code(2).stderr_contains("invalid prefix");
        let out = Ssmm::new()
            .endpoint(&moto().endpoint())
            .current_dir(dir.path())
            .env("SSMM_PREFIX_ROOT", bad)
            .args(["sync", "--app", "api"])
            .run();
        out.code(2).stderr_contains("invalid prefix");
    }
    assert!(!dir.path().join(".env").exists());
}

#[test]
fn prefix_and_app_come_from_the_environment_and_flags_work_after_the_subcommand() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/port"), "8080");
    let dir = tempfile::tempdir().unwrap();
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .env("SSMM_PREFIX_ROOT", &p)
        .env("SSMM_APP", "api")
        .arg("sync")
        .run()
        .success();
    assert_eq!(read(&dir.path().join(".env")), "PORT=\"8080\"\n");

    let dir2 = tempfile::tempdir().unwrap();
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir2.path())
        .args(["sync", "--prefix", &p, "--app", "api", "--out", "x.env"])
        .run()
        .success();
    assert_eq!(read(&dir2.path().join("x.env")), "PORT=\"8080\"\n");
}

#[test]
fn app_defaults_to_the_directory_name_lowercased_with_dashes() {
    let p = unique_prefix();
    moto().put(&format!("{p}/my-api/k"), "v");
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("My_Api");
    fs::create_dir(&dir).unwrap();
    sync(&p, &dir).run().success();
    assert_eq!(read(&dir.join(".env")), "K=\"v\"\n");
}

#[test]
fn layers_merge_with_precedence_and_overrides_are_reported_without_values() {
    let p = unique_prefix();
    let m = moto();
    m.put(&format!("{p}/shared/db-host"), "shared-host-value");
    m.put(&format!("{p}/shared/log-level"), "info");
    m.put(&format!("{p}/other/feature"), "tag-value");
    m.add_tags(&format!("{p}/other/feature"), &[("env", "prod")]);
    m.put(&format!("{p}/other/untagged"), "nope");
    m.put(&format!("{p}/shared/feature"), "shared-feature");
    m.put_secure(&format!("{p}/api/db-host"), "api-host-value");
    m.put(&format!("{p}/canary/db-host"), "canary-host-value");
    let dir = tempfile::tempdir().unwrap();
    let out = sync(&p, dir.path())
        .args([
            "--app",
            "api",
            "--app",
            "canary",
            "--include-tag",
            "env=prod",
        ])
        .run();
    out.success();
    assert_eq!(
        read(&dir.path().join(".env")),
        "DB_HOST=\"canary-host-value\"\nFEATURE=\"tag-value\"\nLOG_LEVEL=\"info\"\n"
    );
    let want = [
        format!(
            "ssmm: warning: FEATURE: tag ({p}/other/feature) overrides shared ({p}/shared/feature)"
        ),
        format!(
            "ssmm: warning: DB_HOST: app:api ({p}/api/db-host) overrides shared ({p}/shared/db-host)"
        ),
        format!(
            "ssmm: warning: DB_HOST: app:canary ({p}/canary/db-host) overrides app:api ({p}/api/db-host)"
        ),
    ];
    for line in &want {
        assert!(
            out.stderr.lines().any(|l| l == line),
            "missing {line:?} in:\n{}",
            out.stderr
        );
    }
    assert_eq!(
        out.stderr.lines().last().unwrap(),
        "ssmm: wrote 3 variables to .env (app=1, shared=1, tag=1)"
    );
    for value in [
        "shared-host-value",
        "api-host-value",
        "canary-host-value",
        "tag-value",
    ] {
        assert!(!out.combined().contains(value));
    }
}

#[test]
fn no_shared_skips_the_shared_layer() {
    let p = unique_prefix();
    moto().put(&format!("{p}/shared/a"), "1");
    moto().put(&format!("{p}/api/b"), "2");
    let dir = tempfile::tempdir().unwrap();
    sync(&p, dir.path())
        .args(["--app", "api", "--no-shared"])
        .run()
        .success();
    assert_eq!(read(&dir.path().join(".env")), "B=\"2\"\n");
}

#[test]
fn strict_refuses_overrides_and_writes_nothing() {
    let p = unique_prefix();
    moto().put(&format!("{p}/shared/db-host"), "s");
    moto().put(&format!("{p}/api/db-host"), "a");
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    fs::write(&env, "OLD=1\n").unwrap();
    let out = sync(&p, dir.path())
        .args(["--app", "api", "--strict"])
        .run();
    out.code(3).stderr_contains("DB_HOST: app:api");
    assert_eq!(read(&env), "OLD=1\n");
}

#[test]
fn invalid_and_duplicate_keys_warn_or_fail_under_strict() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/1password"), "x");
    moto().put(&format!("{p}/api/db.host"), "dotted");
    moto().put(&format!("{p}/api/db-host"), "dashed");
    let dir = tempfile::tempdir().unwrap();
    let out = sync(&p, dir.path()).args(["--app", "api"]).run();
    out.success()
        .stderr_contains(&format!("{p}/api/1password: its key is not a valid variable name; skipped"))
        .stderr_contains(&format!(
            "DB_HOST: {p}/api/db.host and {p}/api/db-host map to the same variable; using {p}/api/db.host"
        ));
    assert_eq!(read(&dir.path().join(".env")), "DB_HOST=\"dotted\"\n");

    let dir2 = tempfile::tempdir().unwrap();
    sync(&p, dir2.path())
        .args(["--app", "api", "--strict"])
        .run()
        .code(3);
    assert!(!dir2.path().join(".env").exists());
}

/// The bug: names with control characters (moto accepts them, AWS does
/// not) reached the warnings raw, an ESC sequence straight to the terminal
/// and a newline splitting a warning in two. Each kind of warning shows
/// them escaped, as do the `--strict` errors at any verbosity.
#[test]
fn sync_warnings_escape_control_characters_in_parameter_names() {
    let p = unique_prefix();
    let esc = '\u{1b}';
    let m = moto();
    m.put(&format!("{p}/api/token"), "token-value-5512");
    m.put(&format!("{p}/api/bad{esc}[31mkey"), "invalid-value-2210");
    m.put(&format!("{p}/shared/feature"), "shared-feature-1183");
    for (name, value) in [
        (format!("{p}/ev{esc}[2Jil/feature"), "tag-feature-6651"),
        (format!("{p}/x\ny/db-host"), "tag-host-a-7730"),
        (format!("{p}/y{esc}[1m/db-host"), "tag-host-b-4408"),
    ] {
        m.put(&name, value);
        m.add_tags(&name, &[("env", "prod")]);
    }
    let values = [
        "token-value-5512",
        "invalid-value-2210",
        "shared-feature-1183",
        "tag-feature-6651",
        "tag-host-a-7730",
        "tag-host-b-4408",
    ];
    let want = [
        format!(r"{p}/api/bad\u{{1b}}[31mkey: its key is not a valid variable name; skipped"),
        format!(
            r"FEATURE: tag ({p}/ev\u{{1b}}[2Jil/feature) overrides shared ({p}/shared/feature)"
        ),
        format!(
            r"DB_HOST: {p}/y\u{{1b}}[1m/db-host and {p}/x\ny/db-host map to the same variable; using {p}/y\u{{1b}}[1m/db-host"
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = sync(&p, dir.path())
        .args(["--app", "api", "--include-tag", "env=prod"])
        .run();
    out.success();
    assert_eq!(
        read(&dir.path().join(".env")),
        "DB_HOST=\"tag-host-b-4408\"\nFEATURE=\"tag-feature-6651\"\nTOKEN=\"token-value-5512\"\n"
    );
    let strict_dir = tempfile::tempdir().unwrap();
    let strict = sync(&p, strict_dir.path())
        .args([
            "--app",
            "api",
            "--include-tag",
            "env=prod",
            "--strict",
            "-vvv",
        ])
        .run();
    strict.code(3);
    for (run, level) in [(&out, "warning"), (&strict, "error")] {
        let all = run.combined();
        assert!(!all.contains(esc), "a raw ESC was printed\n{all:?}");
        for line in run.stderr.lines() {
            assert!(
                line.starts_with("ssmm: "),
                "a stderr line was split: {line:?}\n{run}"
            );
        }
        for w in &want {
            let line = format!("ssmm: {level}: {w}");
            assert!(
                run.stderr.lines().any(|l| l == line),
                "missing {line:?}\n{run}"
            );
        }
        for v in values {
            assert!(!all.contains(v), "a value was printed\n{run}");
        }
    }
    assert!(!strict_dir.path().join(".env").exists());
}

#[test]
fn key_case_keep_keeps_the_case() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/Mixed-Key"), "v");
    let dir = tempfile::tempdir().unwrap();
    sync(&p, dir.path())
        .args(["--app", "api", "--key-case", "keep"])
        .run()
        .success();
    assert_eq!(read(&dir.path().join(".env")), "Mixed_Key=\"v\"\n");
}

#[test]
fn the_file_is_0600_and_a_second_run_changes_nothing() {
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/token"), "t0k3n");
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("deep/er/app.env");
    let out = sync(&p, dir.path())
        .args(["--app", "api", "--out", "deep/er/app.env"])
        .run();
    out.success();
    assert_eq!(
        out.stderr.trim_end(),
        "ssmm: wrote 1 variables to deep/er/app.env (app=1, shared=0, tag=0)"
    );
    assert_eq!(mode(&out_path), 0o600);
    assert_eq!(mode(&dir.path().join("deep")), 0o700);
    // SecureStrings are decrypted (moto would return "kms:...:" otherwise).
    assert_eq!(read(&out_path), "TOKEN=\"t0k3n\"\n");
    let ino = fs::metadata(&out_path).unwrap();
    let out = sync(&p, dir.path())
        .args(["--app", "api", "--out", "deep/er/app.env"])
        .run();
    out.success();
    assert_eq!(out.stderr.trim_end(), "ssmm: no change");
    let again = fs::metadata(&out_path).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(ino.ino(), again.ino(), "the file was replaced");
    assert_eq!(ino.mtime_nsec(), again.mtime_nsec());
    // Only the env file: no temporary file left behind.
    assert_eq!(fs::read_dir(dir.path().join("deep/er")).unwrap().count(), 1);
}

#[test]
fn same_content_with_a_loose_mode_is_rewritten_0600() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    fs::write(&env, "A=\"1\"\n").unwrap();
    fs::set_permissions(&env, fs::Permissions::from_mode(0o644)).unwrap();
    let out = sync(&p, dir.path()).args(["--app", "api"]).run();
    out.success().stderr_contains("wrote 1 variables");
    assert_eq!(mode(&env), 0o600);
}

#[test]
fn an_empty_app_is_an_error_unless_allowed() {
    let p = unique_prefix();
    moto().put(&format!("{p}/shared/a"), "1");
    let dir = tempfile::tempdir().unwrap();
    sync(&p, dir.path())
        .args(["--app", "typo"])
        .run()
        .code(1)
        .stderr_contains(&format!("no parameters under {p}/typo/"));
    assert!(!dir.path().join(".env").exists());
    sync(&p, dir.path())
        .args(["--app", "typo", "--allow-empty"])
        .run()
        .success();
    assert_eq!(read(&dir.path().join(".env")), "A=\"1\"\n");
}

#[test]
fn values_round_trip_through_sh() {
    let p = unique_prefix();
    let values = [
        ("multi", "line1\nline2\n"),
        ("quotes", "say \"hi\" and 'bye'"),
        ("dollar", "$HOME ${PATH} `id` $(id)"),
        ("backslash", "C:\\path\\"),
        ("spaces", "  padded  "),
        ("hash", "# not a comment; x=1"),
        ("tab", "a\tb"),
        ("cr", "a\r\nb"),
        ("unicode", "žluťoučký 🐴"),
    ];
    for (k, v) in values {
        moto().put_secure(&format!("{p}/api/{k}"), v);
    }
    let dir = tempfile::tempdir().unwrap();
    sync(&p, dir.path()).args(["--app", "api"]).run().success();
    let vars: Vec<String> = values.iter().map(|(k, _)| k.to_uppercase()).collect();
    let names: Vec<&str> = vars.iter().map(String::as_str).collect();
    let got = sh_read(&dir.path().join(".env"), &names);
    let want: Vec<String> = values.iter().map(|(_, v)| v.to_string()).collect();
    assert_eq!(got, want);
}

#[test]
fn formats_are_selectable_and_json_parses() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    moto().put(&format!("{p}/api/b"), "two words");
    let dir = tempfile::tempdir().unwrap();
    for (format, want) in [
        ("systemd", "A=\"1\"\nB=\"two words\"\n"),
        ("shell", "export A=\"1\"\nexport B=\"two words\"\n"),
        ("docker", "A=1\nB=two words\n"),
    ] {
        let file = format!("{format}.env");
        sync(&p, dir.path())
            .args(["--app", "api", "--format", format, "--out", &file])
            .run()
            .success();
        assert_eq!(read(&dir.path().join(&file)), want, "{format}");
        assert_eq!(mode(&dir.path().join(&file)), 0o600);
    }
    sync(&p, dir.path())
        .args(["--app", "api", "--format", "json", "--out", "env.json"])
        .run()
        .success();
    let json: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("env.json"))).unwrap();
    assert_eq!(json, serde_json::json!({"A": "1", "B": "two words"}));
    sync(&p, dir.path())
        .args(["--app", "api", "--format", "dotenv", "--out", "d.env"])
        .run()
        .success();
    assert!(read(&dir.path().join("d.env")).starts_with("A="));
}

#[test]
fn an_unrepresentable_value_names_the_key_and_writes_nothing() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/ok"), "fine");
    moto().put_secure(&format!("{p}/api/pem"), "SECRET-LINE-1\nSECRET-LINE-2");
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("d.env");
    fs::write(&env, "OLD=1\n").unwrap();
    let out = sync(&p, dir.path())
        .args(["--app", "api", "--format", "docker", "--out", "d.env"])
        .run();
    out.code(1).stderr_contains("PEM");
    assert!(!out.combined().contains("SECRET-LINE"));
    assert_eq!(read(&env), "OLD=1\n");
}

#[test]
fn unreachable_ssm_fails_closed_and_keep_on_error_keeps_the_file() {
    let p = unique_prefix();
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    fs::write(&env, "OLD=\"1\"\n").unwrap();
    fs::set_permissions(&env, fs::Permissions::from_mode(0o600)).unwrap();
    let before = fs::read(&env).unwrap();
    // Port 9 (discard) is below the ephemeral range, so no test server can
    // be given it; nothing listens there.
    let closed = "http://127.0.0.1:9";
    let run = |extra: &[&str]| {
        Ssmm::new()
            .endpoint(closed)
            .current_dir(dir.path())
            .args([
                "--prefix",
                &p,
                "sync",
                "--app",
                "api",
                "--max-attempts",
                "2",
            ])
            .args(extra)
            .run()
    };
    // Both layers fail; whichever fails first is the one named.
    run(&[])
        .code(1)
        .stderr_contains(&format!("GetParametersByPath {p}/"));
    assert_eq!(fs::read(&env).unwrap(), before);
    let out = run(&["--keep-on-error"]);
    out.success().stderr_contains("keeping the existing");
    assert_eq!(fs::read(&env).unwrap(), before);
    // Without an existing file there is nothing to keep.
    fs::remove_file(&env).unwrap();
    run(&["--keep-on-error"]).code(1);
    assert!(!env.exists());
}

#[test]
fn endpoint_flag_and_ssm_specific_variable_are_honoured() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    let dir = tempfile::tempdir().unwrap();
    Ssmm::new()
        .current_dir(dir.path())
        .args([
            "--endpoint-url",
            &moto().endpoint(),
            "--prefix",
            &p,
            "sync",
            "--app",
            "api",
        ])
        .run()
        .success();
    let dir2 = tempfile::tempdir().unwrap();
    Ssmm::new()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_SSM", moto().endpoint())
        .current_dir(dir2.path())
        .args(["--prefix", &p, "sync", "--app", "api"])
        .run()
        .success();
    assert_eq!(read(&dir2.path().join(".env")), "A=\"1\"\n");
}

#[test]
fn a_missing_region_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .env_remove("AWS_REGION")
        .current_dir(dir.path())
        .args(["--prefix", "/t", "sync", "--app", "api"])
        .run()
        .code(2)
        .stderr_contains("no AWS region");
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--read-concurrency", "0"],
        vec!["--max-attempts", "0"],
        vec!["--format", "yaml"],
        vec!["--include-tag", "novalue"],
        vec!["--app", "a/b"],
        vec!["--app", "shared"],
    ] {
        let out = sync("/t", dir.path()).args(&args).run();
        out.code(2);
    }
}

/// GetParametersByPath calls moto needs for `n` parameters: one per 10, and
/// moto answers a full last page with a token for one more, empty page.
fn expected_pages(n: usize) -> usize {
    n / 10 + 1
}

#[test]
fn pagination_reads_every_parameter_of_0_1_10_11_and_1000() {
    let proxy = FaultProxy::start(&moto().endpoint());
    for n in [0usize, 1, 10, 11, 1000] {
        let p = unique_prefix();
        let items: Vec<(String, String)> = (0..n)
            .map(|i| (format!("{p}/api/key-{i:04}"), format!("value {i}")))
            .collect();
        moto().put_many(&items);
        let dir = tempfile::tempdir().unwrap();
        proxy.reset_counts();
        let out = Ssmm::new()
            .endpoint(&proxy.endpoint())
            .current_dir(dir.path())
            .args([
                "--prefix",
                &p,
                "sync",
                "--app",
                "api",
                "--allow-empty",
                "--no-shared",
                "-v",
            ])
            .run();
        out.success();
        let want: String = (0..n)
            .map(|i| format!("KEY_{i:04}=\"value {i}\"\n"))
            .collect();
        assert_eq!(read(&dir.path().join(".env")), want, "n={n}");
        // Calls as the SDK made them (moto under parallel tests sometimes
        // answers 500, which the SDK retries: attempts may exceed calls).
        let calls = format!("API calls: GetParametersByPath={}", expected_pages(n));
        assert!(
            out.stderr
                .lines()
                .any(|l| l.ends_with(&calls) || l.contains(&format!("{calls} ("))),
            "n={n}: expected {calls:?} in\n{}",
            out.stderr
        );
        assert!(
            proxy.count("GetParametersByPath") >= expected_pages(n),
            "n={n}"
        );
    }
}

#[test]
fn tag_overlay_reads_values_in_batches_of_ten() {
    let p = unique_prefix();
    let proxy = FaultProxy::start(&moto().endpoint());
    for i in 0..25 {
        let name = format!("{p}/svc{}/flag-{i:02}", i % 3);
        moto().put(&name, &format!("v{i}"));
        moto().add_tags(&name, &[("team", "core"), ("env", "prod")]);
    }
    // Matches one tag only: not in the overlay.
    moto().put(&format!("{p}/svc0/other"), "x");
    moto().add_tags(&format!("{p}/svc0/other"), &[("team", "core")]);
    moto().put(&format!("{p}/api/a"), "1");
    let dir = tempfile::tempdir().unwrap();
    Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(dir.path())
        .args(["--prefix", &p, "sync", "--app", "api"])
        .args(["--include-tag", "team=core", "--include-tag", "env=prod"])
        .run()
        .success();
    let text = read(&dir.path().join(".env"));
    assert_eq!(text.lines().count(), 26, "{text}");
    assert!(text.contains("FLAG_24=\"v24\"\n") && !text.contains("OTHER"));
    assert_eq!(proxy.count("GetParameters"), 3);
}

#[test]
fn two_hundred_parameters_stay_exact_under_50_percent_throttling() {
    let p = unique_prefix();
    let items: Vec<(String, String)> = (0..200)
        .map(|i| (format!("{p}/api/k{i:03}"), format!("v{i}")))
        .collect();
    moto().put_many(&items);
    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(Plan::share(Fault::Throttle, 0.5, 42));
    let dir = tempfile::tempdir().unwrap();
    Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(dir.path())
        // One layer, so requests arrive one at a time and the seeded throttle
        // pattern is the same on every run (two concurrent layers reorder
        // which request gets which fault).
        // 20 attempts: at 50% a run of 10 throttles on one call (1 in 1,024) is
        // likely somewhere in a long suite; this test is about exactness.
        .args([
            "--prefix",
            &p,
            "sync",
            "--app",
            "api",
            "--no-shared",
            "--max-attempts",
            "20",
        ])
        .run()
        .success();
    let want: String = (0..200).map(|i| format!("K{i:03}=\"v{i}\"\n")).collect();
    assert_eq!(read(&dir.path().join(".env")), want);
    assert!(
        proxy.faults_injected() >= 5,
        "only {} throttles",
        proxy.faults_injected()
    );
}

#[test]
fn server_errors_and_dropped_connections_are_retried() {
    let p = unique_prefix();
    let items: Vec<(String, String)> = (0..30)
        .map(|i| (format!("{p}/api/k{i:02}"), format!("v{i}")))
        .collect();
    moto().put_many(&items);
    for fault in [Fault::Status(500), Fault::Status(503), Fault::Reset] {
        let proxy = FaultProxy::start(&moto().endpoint());
        proxy.set_plan(Plan::share(fault.clone(), 0.4, 7));
        let dir = tempfile::tempdir().unwrap();
        Ssmm::new()
            .endpoint(&proxy.endpoint())
            .current_dir(dir.path())
            .args(["--prefix", &p, "sync", "--app", "api", "--no-shared"])
            .run()
            .success();
        assert_eq!(
            read(&dir.path().join(".env")).lines().count(),
            30,
            "{fault:?}"
        );
        assert!(proxy.faults_injected() > 0, "{fault:?}");
    }
}

#[test]
fn persistent_throttling_fails_closed_after_max_attempts() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(Plan::always(Fault::Throttle));
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    fs::write(&env, "OLD=1\n").unwrap();
    let out = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(dir.path())
        .args([
            "--prefix",
            &p,
            "sync",
            "--app",
            "api",
            "--no-shared",
            "--max-attempts",
            "3",
        ])
        .run();
    out.code(1).stderr_contains("ThrottlingException");
    assert_eq!(read(&env), "OLD=1\n");
    assert_eq!(proxy.count("GetParametersByPath"), 3);
}

/// Regression: `--out -` wrote a file named `-`. `-` and `/dev/stdout` mean
/// standard output: the content there, no file, no `no change`, the summary
/// on stderr.
#[test]
fn out_dash_and_dev_stdout_write_standard_output() {
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/db-pass"), "s3cr3t \"quoted\"");
    let dir = tempfile::tempdir().unwrap();
    for out in ["-", "/dev/stdout"] {
        for _ in 0..2 {
            let run = sync(&p, dir.path())
                .args(["--app", "api", "--out", out])
                .run();
            run.success();
            assert_eq!(run.stdout, "DB_PASS=\"s3cr3t \\\"quoted\\\"\"\n", "{out}");
            assert!(
                run.stderr
                    .contains("wrote 1 variables to standard output (app=1, shared=0, tag=0)"),
                "{}",
                run.stderr
            );
            assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
            assert!(!run.stderr.contains("no change"), "{}", run.stderr);
        }
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a file was written"
    );
    // Another format, and exec: the same meaning.
    let run = sync(&p, dir.path())
        .args(["--app", "api", "--out", "-", "--format", "json"])
        .run();
    run.success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json, serde_json::json!({"DB_PASS": "s3cr3t \"quoted\""}));
    let run = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args([
            "--prefix", &p, "exec", "--app", "api", "--out", "-", "--", "true",
        ])
        .run();
    run.success();
    assert_eq!(run.stdout, "DB_PASS=\"s3cr3t \\\"quoted\\\"\"\n");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a file was written"
    );
}

/// Regression: `shared/files/common.conf` overridden by the app's
/// `files/common.conf` printed nothing and passed `--strict`. Now a line
/// names the path and both parameters, and `--strict` refuses it (exit 3).
#[test]
fn a_file_overridden_by_a_higher_layer_is_reported_and_strict_refuses_it() {
    let p = unique_prefix();
    let m = moto();
    m.put_secure(
        &format!("{p}/shared/files/common.conf"),
        "shared-conf-value",
    );
    m.put_secure(&format!("{p}/api/files/common.conf"), "app-conf-value");
    m.put(&format!("{p}/api/k"), "v");
    let dir = tempfile::tempdir().unwrap();
    let line = format!(
        "files/common.conf: app:api ({p}/api/files/common.conf) overrides shared ({p}/shared/files/common.conf)"
    );
    let out = sync(&p, dir.path())
        .args(["--app", "api", "--strict"])
        .run();
    out.code(3)
        .stderr_contains(&line)
        .stderr_contains("--strict: 1 problem(s) found (file overrides)");
    assert!(!out.combined().contains("conf-value"), "{}", out.combined());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);

    let out = sync(&p, dir.path()).args(["--app", "api"]).run();
    out.success()
        .stderr_contains(&format!("ssmm: warning: {line}"))
        .stderr_contains(", 1 file under ");
    assert!(!out.combined().contains("conf-value"), "{}", out.combined());
    assert_eq!(read(&dir.path().join("common.conf")), "app-conf-value");
    // --no-files: the files are not read, so nothing overrides anything.
    let out = sync(&p, dir.path())
        .args(["--app", "api", "--strict", "--no-files", "--out", "x.env"])
        .run();
    out.success();
    assert!(!out.stderr.contains("overrides"), "{}", out.stderr);
}
