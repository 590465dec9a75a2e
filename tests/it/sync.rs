//! End-to-end tests of `ssmm sync` against a real moto server through the
//! real SDK: configuration resolution, layers and precedence, strictness,
//! the write rules of docs/CONTRACT.md §3, formats, pagination and fault tolerance.

use std::fs;
use std::os::unix::fs::MetadataExt;

use crate::support::fs::{entries, mode};
use crate::support::readers::sh_source;
use crate::support::{Fault, FaultProxy, Plan, Run, Ssmm, Test, moto};

/// `ssmm --prefix PREFIX sync --app APP ARGS` in the test's directory.
fn sync(t: &Test, app: &str, args: &[&str]) -> Run {
    t.ssmm(["sync", "--app", app]).args(args)
}

#[test]
fn missing_prefix_prints_the_exact_message_and_exits_2() {
    let t = Test::new();
    t.bare(["sync", "--app", "api"])
        .code(2)
        .stderr_is(
            "Error: no prefix configured. Pass --prefix /<your-team> or set $SSMM_PREFIX_ROOT=/<your-team>.",
        )
        .absent(".env")
        .go();
}

#[test]
fn bad_prefixes_are_usage_errors() {
    let t = Test::new();
    for bad in ["team", "/team/", "/", "//x", "/a b", "/a/../b", "/ä"] {
        for run in [
            t.bare(["--prefix", bad, "sync", "--app", "api"]),
            t.bare(["sync", "--app", "api"])
                .env("SSMM_PREFIX_ROOT", bad),
        ] {
            run.code(2).stderr_has("invalid prefix").absent(".env").go();
        }
    }
}

#[test]
fn prefix_and_app_come_from_the_environment_and_flags_work_after_the_subcommand() {
    let t = Test::new().plain("api/port", "8080");
    t.bare(["sync"])
        .env("SSMM_PREFIX_ROOT", t.prefix())
        .env("SSMM_APP", "api")
        .success()
        .file(".env", "PORT=\"8080\"\n")
        .go();
    let dir2 = t.scratch("second");
    t.bare([
        "sync",
        "--prefix",
        t.prefix(),
        "--app",
        "api",
        "--out",
        "x.env",
    ])
    .current_dir(&dir2)
    .success()
    .go();
    assert_eq!(
        crate::support::fs::read(&dir2.join("x.env")),
        "PORT=\"8080\"\n"
    );
}

#[test]
fn app_defaults_to_the_directory_name_lowercased_with_dashes() {
    let t = Test::new().in_dir("My_Api").plain("my-api/k", "v");
    t.ssmm(["sync"]).success().file(".env", "K=\"v\"\n").go();
}

#[test]
fn layers_merge_with_precedence_and_overrides_are_reported_without_values() {
    let t = Test::new()
        .plain("shared/db-host", "shared-host-value")
        .plain("shared/log-level", "info")
        .plain("other/feature", "tag-value")
        .tags("other/feature", &[("env", "prod")])
        .plain("other/untagged", "nope")
        .plain("shared/feature", "shared-feature")
        .param("api/db-host", "api-host-value")
        .plain("canary/db-host", "canary-host-value");
    let p = t.prefix();
    let out = sync(&t, "api", &["--app", "canary", "--include-tag", "env=prod"])
        .success()
        .file(
            ".env",
            "DB_HOST=\"canary-host-value\"\nFEATURE=\"tag-value\"\nLOG_LEVEL=\"info\"\n",
        )
        .stderr_line(format!(
            "ssmm: warning: FEATURE: tag ({p}/other/feature) overrides shared ({p}/shared/feature)"
        ))
        .stderr_line(format!(
            "ssmm: warning: DB_HOST: app:api ({p}/api/db-host) overrides shared ({p}/shared/db-host)"
        ))
        .stderr_line(format!(
            "ssmm: warning: DB_HOST: app:canary ({p}/canary/db-host) overrides app:api ({p}/api/db-host)"
        ))
        .go();
    assert_eq!(
        out.stderr.lines().last().unwrap(),
        "ssmm: wrote 3 variables to .env (app=1, shared=1, tag=1)"
    );
}

#[test]
fn no_shared_skips_the_shared_layer() {
    let t = Test::new().plain("shared/a", "1").plain("api/b", "2");
    sync(&t, "api", &["--no-shared"])
        .success()
        .file(".env", "B=\"2\"\n")
        .go();
}

#[test]
fn strict_refuses_overrides_and_writes_nothing() {
    let t = Test::new()
        .plain("shared/db-host", "s")
        .plain("api/db-host", "a")
        .file(".env", "OLD=1\n");
    sync(&t, "api", &["--strict"])
        .code(3)
        .stderr_has("DB_HOST: app:api")
        .untouched(".env")
        .go();
}

#[test]
fn invalid_and_duplicate_keys_warn_or_fail_under_strict() {
    let t = Test::new()
        .plain("api/1password", "x")
        .plain("api/db.host", "dotted")
        .plain("api/db-host", "dashed");
    let p = t.prefix();
    sync(&t, "api", &[])
        .success()
        .stderr_has(format!("{p}/api/1password: its key is not a valid variable name; skipped"))
        .stderr_has(format!(
            "DB_HOST: {p}/api/db.host and {p}/api/db-host map to the same variable; using {p}/api/db.host"
        ))
        .file(".env", "DB_HOST=\"dotted\"\n")
        .go();

    let dir2 = t.scratch("strict");
    sync(&t, "api", &["--strict"])
        .current_dir(&dir2)
        .code(3)
        .go();
    assert!(!dir2.join(".env").exists());
}

/// The bug: names with control characters (moto accepts them, AWS does
/// not) reached the warnings raw, an ESC sequence straight to the terminal
/// and a newline splitting a warning in two. Each kind of warning shows
/// them escaped, as do the `--strict` errors at any verbosity.
#[test]
fn sync_warnings_escape_control_characters_in_parameter_names() {
    let esc = '\u{1b}';
    let mut t = Test::new()
        .plain("api/token", "token-value-5512")
        .plain(&format!("api/bad{esc}[31mkey"), "invalid-value-2210")
        .plain("shared/feature", "shared-feature-1183");
    for (name, value) in [
        (format!("ev{esc}[2Jil/feature"), "tag-feature-6651"),
        ("x\ny/db-host".to_owned(), "tag-host-a-7730"),
        (format!("y{esc}[1m/db-host"), "tag-host-b-4408"),
    ] {
        t = t.plain(&name, value).tags(&name, &[("env", "prod")]);
    }
    let p = t.prefix();
    let want = [
        format!(r"{p}/api/bad\u{{1b}}[31mkey: its key is not a valid variable name; skipped"),
        format!(
            r"FEATURE: tag ({p}/ev\u{{1b}}[2Jil/feature) overrides shared ({p}/shared/feature)"
        ),
        format!(
            r"DB_HOST: {p}/y\u{{1b}}[1m/db-host and {p}/x\ny/db-host map to the same variable; using {p}/y\u{{1b}}[1m/db-host"
        ),
    ];
    let strict_dir = t.scratch("strict");
    let runs = [
        (
            "warning",
            sync(&t, "api", &["--include-tag", "env=prod"])
                .success()
                .file(
                    ".env",
                    "DB_HOST=\"tag-host-b-4408\"\nFEATURE=\"tag-feature-6651\"\nTOKEN=\"token-value-5512\"\n",
                ),
        ),
        (
            "error",
            sync(&t, "api", &["--include-tag", "env=prod", "--strict", "-vvv"])
                .current_dir(&strict_dir)
                .code(3),
        ),
    ];
    for (level, run) in runs {
        let run = want
            .iter()
            .fold(run, |run, w| run.stderr_line(format!("ssmm: {level}: {w}")));
        run.escaped().go();
    }
    assert!(!strict_dir.join(".env").exists());
}

#[test]
fn key_case_keep_keeps_the_case() {
    let t = Test::new().plain("api/Mixed-Key", "v");
    sync(&t, "api", &["--key-case", "keep"])
        .success()
        .file(".env", "Mixed_Key=\"v\"\n")
        .go();
}

#[test]
fn the_file_is_0600_and_a_second_run_changes_nothing() {
    let t = Test::new().param("api/token", "t0k3n");
    let out_path = t.path("deep/er/app.env");
    let run = || sync(&t, "api", &["--out", "deep/er/app.env"]).success();
    // SecureStrings are decrypted (moto would return "kms:...:" otherwise).
    run()
        .stderr_is("ssmm: wrote 1 variables to deep/er/app.env (app=1, shared=0, tag=0)")
        .file("deep/er/app.env", "TOKEN=\"t0k3n\"\n")
        .go();
    assert_eq!(mode(&t.path("deep")), 0o700);
    let ino = fs::metadata(&out_path).unwrap();
    run().stderr_is("ssmm: no change").go();
    let again = fs::metadata(&out_path).unwrap();
    assert_eq!(ino.ino(), again.ino(), "the file was replaced");
    assert_eq!(ino.mtime_nsec(), again.mtime_nsec());
    // Only the env file: no temporary file left behind.
    assert_eq!(entries(&t.path("deep/er")), ["app.env"]);
}

#[test]
fn same_content_with_a_loose_mode_is_rewritten_0600() {
    let t = Test::new()
        .plain("api/a", "1")
        .file_mode(".env", "A=\"1\"\n", 0o644);
    sync(&t, "api", &[])
        .success()
        .stderr_has("wrote 1 variables")
        .file(".env", "A=\"1\"\n")
        .go();
}

#[test]
fn an_empty_app_is_an_error_unless_allowed() {
    let t = Test::new().plain("shared/a", "1");
    sync(&t, "typo", &[])
        .code(1)
        .stderr_has(format!("no parameters under {}/typo/", t.prefix()))
        .absent(".env")
        .go();
    sync(&t, "typo", &["--allow-empty"])
        .success()
        .file(".env", "A=\"1\"\n")
        .go();
}

#[test]
fn values_round_trip_through_sh() {
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
    let values: Vec<(String, &str)> = values
        .iter()
        .map(|(k, v)| (format!("api/{k}"), *v))
        .collect();
    let t = Test::new().params(&values);
    sync(&t, "api", &[]).success().go();
    let got = sh_source(&t.path(".env"));
    for (k, v) in &values {
        let var = k.trim_start_matches("api/").to_uppercase();
        assert_eq!(got.get(&var).map(String::as_str), Some(*v), "{var}");
    }
}

#[test]
fn formats_are_selectable_and_json_parses() {
    let t = Test::new().plain("api/a", "1").plain("api/b", "two words");
    for (format, want) in [
        ("systemd", "A=\"1\"\nB=\"two words\"\n"),
        ("shell", "export A=\"1\"\nexport B=\"two words\"\n"),
        ("docker", "A=1\nB=two words\n"),
    ] {
        let file = format!("{format}.env");
        sync(&t, "api", &["--format", format, "--out", &file])
            .success()
            .file(&file, want)
            .go();
    }
    sync(&t, "api", &["--format", "json", "--out", "env.json"])
        .success()
        .go();
    let json: serde_json::Value = serde_json::from_str(&t.read("env.json")).unwrap();
    assert_eq!(json, serde_json::json!({"A": "1", "B": "two words"}));
    sync(&t, "api", &["--format", "dotenv", "--out", "d.env"])
        .success()
        .go();
    assert!(t.read("d.env").starts_with("A="));
}

#[test]
fn an_unrepresentable_value_names_the_key_and_writes_nothing() {
    let t = Test::new()
        .plain("api/ok", "fine")
        .param("api/pem", "SECRET-LINE-1\nSECRET-LINE-2")
        .file("d.env", "OLD=1\n");
    sync(&t, "api", &["--format", "docker", "--out", "d.env"])
        .code(1)
        .stderr_has("PEM")
        .stdout_lacks("SECRET-LINE")
        .stderr_lacks("SECRET-LINE")
        .untouched("d.env")
        .go();
}

#[test]
fn unreachable_ssm_fails_closed_and_keep_on_error_keeps_the_file() {
    let t = Test::new().file(".env", "OLD=\"1\"\n");
    // Port 9 (discard) is below the ephemeral range, so no test server can
    // be given it; nothing listens there.
    let run = |extra: &[&str]| {
        sync(&t, "api", &["--max-attempts", "2"])
            .args(extra)
            .endpoint("http://127.0.0.1:9")
    };
    // Both layers fail; whichever fails first is the one named.
    run(&[])
        .code(1)
        .stderr_has(format!("GetParametersByPath {}/", t.prefix()))
        .untouched(".env")
        .go();
    run(&["--keep-on-error"])
        .success()
        .stderr_has("keeping the existing")
        .untouched(".env")
        .go();
    // Without an existing file there is nothing to keep.
    fs::remove_file(t.path(".env")).unwrap();
    run(&["--keep-on-error"]).code(1).absent(".env").go();
}

#[test]
fn endpoint_flag_and_ssm_specific_variable_are_honoured() {
    let t = Test::new().plain("api/a", "1");
    let run = |args: &[&str]| {
        Run::of(Ssmm::new().current_dir(t.dir()), t.dir())
            .args(args)
            .args(["--prefix", t.prefix(), "sync", "--app", "api"])
    };
    run(&["--endpoint-url", &moto().endpoint()]).success().go();
    fs::remove_file(t.path(".env")).unwrap();
    run(&[])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_SSM", moto().endpoint())
        .success()
        .file(".env", "A=\"1\"\n")
        .go();
}

#[test]
fn a_missing_region_is_a_configuration_error() {
    Test::new()
        .bare(["--prefix", "/t", "sync", "--app", "api"])
        .env_remove("AWS_REGION")
        .code(2)
        .stderr_has("no AWS region")
        .go();
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let t = Test::new();
    for args in [
        vec!["--read-concurrency", "0"],
        vec!["--max-attempts", "0"],
        vec!["--format", "yaml"],
        vec!["--include-tag", "novalue"],
        vec!["--app", "a/b"],
        vec!["--app", "shared"],
    ] {
        t.bare(["--prefix", "/t", "sync"]).args(&args).code(2).go();
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
        let t = Test::new().series(n, |i| (format!("api/key-{i:04}"), format!("value {i}")));
        proxy.reset_counts();
        let want: String = (0..n)
            .map(|i| format!("KEY_{i:04}=\"value {i}\"\n"))
            .collect();
        let out = sync(&t, "api", &["--allow-empty", "--no-shared", "-v"])
            .via(&proxy)
            .success()
            .file(".env", want)
            .go();
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
    let mut t = Test::new().faults(Plan::none());
    for i in 0..25 {
        let name = format!("svc{}/flag-{i:02}", i % 3);
        t = t
            .plain(&name, &format!("v{i}"))
            .tags(&name, &[("team", "core"), ("env", "prod")]);
    }
    // Matches one tag only: not in the overlay.
    let t = t
        .plain("svc0/other", "x")
        .tags("svc0/other", &[("team", "core")])
        .plain("api/a", "1");
    sync(
        &t,
        "api",
        &["--include-tag", "team=core", "--include-tag", "env=prod"],
    )
    .success()
    .go();
    let text = t.read(".env");
    assert_eq!(text.lines().count(), 26, "{text}");
    assert!(text.contains("FLAG_24=\"v24\"\n") && !text.contains("OTHER"));
    assert_eq!(t.proxy().count("GetParameters"), 3);
}

/// `n` parameters `api/kNNN` = `vN` (`width` digits), behind `plan`.
fn numbered(n: usize, width: usize, plan: Plan) -> Test {
    Test::new()
        .series(n, |i| (format!("api/k{i:0width$}"), format!("v{i}")))
        .faults(plan)
}

/// A third of the requests throttled, whatever the rate: the file is exact,
/// and `--max-attempts 1` does not bound the throttled sends. (Throttling
/// that does not ease as a host slows down paces it to seconds a throttle:
/// at half the requests a 5-page layer takes minutes.)
#[test]
fn fifty_parameters_stay_exact_under_heavy_throttling() {
    let t = numbered(50, 2, Plan::share(Fault::Throttle, 0.3, 42));
    let want: String = (0..50).map(|i| format!("K{i:02}=\"v{i}\"\n")).collect();
    // One layer, so requests arrive one at a time and the seeded throttle
    // pattern is the same on every run (two concurrent layers reorder
    // which request gets which fault).
    sync(&t, "api", &["--no-shared", "--max-attempts", "1"])
        .timeout(std::time::Duration::from_secs(120))
        .success()
        .file(".env", want)
        .go();
    let injected = t.proxy().faults_injected();
    assert!(injected >= 2, "only {injected} throttles");
}

#[test]
fn server_errors_and_dropped_connections_are_retried() {
    let t = numbered(30, 2, Plan::none());
    for fault in [Fault::Status(500), Fault::Status(503), Fault::Reset] {
        let proxy = FaultProxy::start(&moto().endpoint());
        proxy.set_plan(Plan::share(fault.clone(), 0.4, 7));
        let dir = t.scratch(&format!("{fault:?}").replace(['(', ')'], ""));
        sync(&t, "api", &["--no-shared"])
            .via(&proxy)
            .current_dir(&dir)
            .success()
            .go();
        let env = crate::support::fs::read(&dir.join(".env"));
        assert_eq!(env.lines().count(), 30, "{fault:?}");
        assert!(proxy.faults_injected() > 0, "{fault:?}");
    }
}

/// Reads send a throttled call again until `--total-timeout`, whatever
/// `--max-attempts` says (it bounds the other errors). The failure names
/// the call, how often it was throttled and the limit, and leaves the file
/// alone. Paced: the second send waits the first gap (0.75 s, jittered to
/// 0.53-0.98 s), the third 3 s more, past the 2 s limit.
#[test]
fn persistent_throttling_is_sent_again_until_the_total_timeout_then_fails_closed() {
    let t = Test::new()
        .plain("api/a", "1")
        .file(".env", "OLD=1\n")
        .faults(Plan::always(Fault::Throttle));
    let started = std::time::Instant::now();
    sync(
        &t,
        "api",
        &[
            "--no-shared",
            "--max-attempts",
            "1",
            "--total-timeout",
            "2s",
        ],
    )
    .code(1)
    .stderr_has("gave up after 2s (--total-timeout)")
    .stderr_has("still pending: GetParametersByPath ")
    .stderr_has("(throttled 2 times, last: ThrottlingException: Rate exceeded)")
    .untouched(".env")
    .go();
    let took = started.elapsed();
    assert_eq!(t.proxy().count("GetParametersByPath"), 2);
    assert!(
        took >= std::time::Duration::from_secs(2) && took < std::time::Duration::from_secs(5),
        "{took:?}"
    );
}

/// Throttled more often than `--max-attempts`, a read still gets through,
/// and the summary counts one call with all its attempts.
#[test]
fn throttling_beyond_max_attempts_is_ridden_out_as_one_call() {
    let t = Test::new()
        .plain("api/a", "1")
        .faults(Plan::first(Fault::Throttle, 2));
    sync(&t, "api", &["--no-shared", "--max-attempts", "1", "-v"])
        .success()
        .stderr_has("API calls: GetParametersByPath=1 (3 attempts)")
        .file(".env", "A=\"1\"\n")
        .go();
    assert_eq!(t.proxy().count("GetParametersByPath"), 3);
}

/// A host throttled once, alone, waits about the first gap and then reads
/// its other pages at once: throttling does not make it slow.
#[test]
fn a_host_throttled_once_is_not_slowed_down() {
    let t = numbered(25, 2, Plan::first(Fault::Throttle, 1));
    let started = std::time::Instant::now();
    sync(&t, "api", &["--no-shared", "-v"])
        .success()
        .stderr_has("API calls: GetParametersByPath=3 (4 attempts)")
        .go();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
}

/// Regression: `--out -` wrote a file named `-`. `-` and `/dev/stdout` mean
/// standard output: the content there, no file, no `no change`, the summary
/// on stderr.
#[test]
fn out_dash_and_dev_stdout_write_standard_output() {
    let value = "s3cr3t \"quoted\"";
    let t = Test::new().param("api/db-pass", value);
    let line = "DB_PASS=\"s3cr3t \\\"quoted\\\"\"\n";
    for out in ["-", "/dev/stdout"] {
        for _ in 0..2 {
            sync(&t, "api", &["--out", out])
                .success()
                .stdout_is(line)
                .stderr_has("wrote 1 variables to standard output (app=1, shared=0, tag=0)")
                .stderr_lacks("s3cr3t")
                .stderr_lacks("no change")
                .reveals(value)
                .writes_nothing()
                .go();
        }
    }
    // Another format, and exec: the same meaning.
    let run = sync(&t, "api", &["--out", "-", "--format", "json"])
        .success()
        .reveals(value)
        .writes_nothing()
        .go();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json, serde_json::json!({"DB_PASS": value}));
    t.ssmm(["exec", "--app", "api", "--out", "-", "--", "true"])
        .success()
        .stdout_is(line)
        .reveals(value)
        .writes_nothing()
        .go();
    assert!(entries(t.dir()).is_empty(), "a file was written");
}

/// Regression: `shared/files/common.conf` overridden by the app's
/// `files/common.conf` printed nothing and passed `--strict`. Now a line
/// names the path and both parameters, and `--strict` refuses it (exit 3).
#[test]
fn a_file_overridden_by_a_higher_layer_is_reported_and_strict_refuses_it() {
    let t = Test::new()
        .param("shared/files/common.conf", "shared-conf-value")
        .param("api/files/common.conf", "app-conf-value")
        .plain("api/k", "v");
    let p = t.prefix();
    let line = format!(
        "files/common.conf: app:api ({p}/api/files/common.conf) overrides shared ({p}/shared/files/common.conf)"
    );
    sync(&t, "api", &["--strict"])
        .code(3)
        .stderr_has(&line)
        .stderr_has("--strict: 1 problem(s) found (file overrides)")
        .stdout_lacks("conf-value")
        .stderr_lacks("conf-value")
        .writes_nothing()
        .go();
    assert!(entries(t.dir()).is_empty());

    sync(&t, "api", &[])
        .success()
        .stderr_has(format!("ssmm: warning: {line}"))
        .stderr_has(", 1 file under ")
        .stdout_lacks("conf-value")
        .stderr_lacks("conf-value")
        .file("common.conf", "app-conf-value")
        .go();
    // --no-files: the files are not read, so nothing overrides anything.
    sync(&t, "api", &["--strict", "--no-files", "--out", "x.env"])
        .success()
        .stderr_lacks("overrides")
        .go();
}
