//! Secrets never leak: every parameter carries a unique canary marker, and
//! every command of the core and every admin command, at every verbosity,
//! with `RUST_LOG=trace`, in every failure path, must keep that marker out
//! of stdout and stderr; only `show` and `check --show-values` print it.
//! `set` runs on a pseudo-terminal, where a value typed with the marker
//! must not show either.

use std::path::Path;

use crate::support::pty::{Pty, PtyOutcome};
use crate::support::{Fault, FaultProxy, Outcome, Plan, Ssmm, moto, unique_prefix};

const MARK: &str = "CANARY-7f3a9c";

/// Seeds shared, app, tagged, duplicate, invalid and multi-line parameters,
/// each value holding the marker. Returns the prefix.
fn seed() -> String {
    let p = unique_prefix();
    let m = moto();
    m.put_secure(
        &format!("{p}/shared/db-password"),
        &format!("{MARK}-shared-pw"),
    );
    m.put(
        &format!("{p}/shared/db-host"),
        &format!("{MARK}-shared-host"),
    );
    m.put_secure(&format!("{p}/api/db-host"), &format!("{MARK}-app-host"));
    m.put_secure(&format!("{p}/api/token"), &format!("{MARK}-token"));
    m.put_secure(&format!("{p}/api/db.password"), &format!("{MARK}-dup"));
    m.put_secure(&format!("{p}/api/9lives"), &format!("{MARK}-invalid"));
    m.put_secure(
        &format!("{p}/api/pem"),
        &format!("-----BEGIN-----\n{MARK}-pem\n-----END-----"),
    );
    m.put_secure(&format!("{p}/ops/flag"), &format!("{MARK}-tagged"));
    m.add_tags(&format!("{p}/ops/flag"), &[("env", "prod")]);
    p
}

fn assert_clean(what: &str, out: &Outcome) {
    let all = out.combined();
    assert!(
        !all.contains(MARK) && !all.contains("7f3a9c"),
        "{what}: a value leaked into the output:\n{all}"
    );
}

fn run(what: &str, endpoint: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Ssmm::new().endpoint(endpoint).current_dir(dir).args(args);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = cmd.run();
    assert_clean(what, &out);
    out
}

/// Like `run`, for the commands meant to reveal a value (`show`, `check
/// --show-values`): the marker must be in the output.
fn run_showing(
    what: &str,
    endpoint: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Outcome {
    let mut cmd = Ssmm::new().endpoint(endpoint).current_dir(dir).args(args);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = cmd.run();
    assert!(
        out.stdout.contains(MARK),
        "{what}: the value was not shown on stdout\n{out}"
    );
    out
}

#[test]
fn successful_syncs_leak_nothing_at_any_verbosity_or_log_format() {
    let p = seed();
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "--prefix",
        &p,
        "sync",
        "--app",
        "api",
        "--include-tag",
        "env=prod",
    ];
    let mut ran = 0;
    for verbosity in [&[][..], &["-v"], &["-vv"], &["-vvv"]] {
        for log_format in ["text", "json"] {
            for rust_log in ["", "trace"] {
                let mut args: Vec<&str> = base.to_vec();
                args.extend_from_slice(verbosity);
                args.extend_from_slice(&["--log-format", log_format]);
                let env: Vec<(&str, &str)> = if rust_log.is_empty() {
                    vec![]
                } else {
                    vec![("RUST_LOG", rust_log), ("RUST_BACKTRACE", "full")]
                };
                let out = run("sync", &moto().endpoint(), dir.path(), &args, &env);
                out.success();
                ran += 1;
            }
        }
    }
    assert_eq!(ran, 16);
    // The file does hold the values: the marker is really there to find.
    let written = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert_eq!(written.matches(MARK).count(), 5, "{written}");
    // -vvv really says more than the default: the check covers real output.
    let loud = run(
        "sync -vvv",
        &moto().endpoint(),
        dir.path(),
        &[&base[..], &["-vvv", "--out", "x.env"]].concat(),
        &[("RUST_LOG", "trace")],
    );
    assert!(loud.stderr.lines().count() > 8, "{}", loud.stderr);
}

#[test]
fn failure_paths_leak_nothing() {
    let p = seed();
    let dir = tempfile::tempdir().unwrap();
    let trace = [("RUST_LOG", "trace")];
    let ep = moto().endpoint();

    // --strict: overrides, duplicates and invalid names, all listed.
    let out = run(
        "strict",
        &ep,
        dir.path(),
        &["--prefix", &p, "sync", "--app", "api", "--strict", "-vvv"],
        &trace,
    );
    out.code(3);

    // A value the format cannot hold (the PEM's newlines in docker format).
    let out = run(
        "docker",
        &ep,
        dir.path(),
        &[
            "--prefix", &p, "sync", "--app", "api", "--format", "docker", "-vvv",
        ],
        &trace,
    );
    out.code(1).stderr_contains("PEM");

    // SSM unreachable.
    let out = run(
        "closed port",
        "http://127.0.0.1:9",
        dir.path(),
        &[
            "--prefix",
            &p,
            "sync",
            "--app",
            "api",
            "--max-attempts",
            "2",
            "-vvv",
        ],
        &trace,
    );
    out.code(1);

    // Bad prefix and bad flags.
    run(
        "bad prefix",
        &ep,
        dir.path(),
        &["--prefix", "nope/", "sync", "-vvv"],
        &trace,
    )
    .code(2);
    run(
        "bad flag",
        &ep,
        dir.path(),
        &["--prefix", &p, "sync", "--format", "yaml"],
        &trace,
    )
    .code(2);

    // Throttling, server errors and resets that end in failure or success.
    for fault in [
        Fault::Throttle,
        Fault::Status(500),
        Fault::Status(503),
        Fault::Reset,
    ] {
        let proxy = FaultProxy::start(&ep);
        proxy.set_plan(Plan::always(fault.clone()));
        let what = format!("{fault:?} always");
        run(
            &what,
            &proxy.endpoint(),
            dir.path(),
            &[
                "--prefix",
                &p,
                "sync",
                "--app",
                "api",
                "--max-attempts",
                "2",
                // Throttling is sent again until this limit.
                "--total-timeout",
                "2s",
                "-vvv",
            ],
            &trace,
        )
        .code(1);
        proxy.set_plan(Plan::share(fault.clone(), 0.5, 3));
        let what = format!("{fault:?} half");
        run(
            &what,
            &proxy.endpoint(),
            dir.path(),
            &[
                "--prefix",
                &p,
                "sync",
                "--app",
                "api",
                "--include-tag",
                "env=prod",
                "-vvv",
            ],
            &trace,
        )
        .success();
    }
}

#[test]
fn exec_and_files_leak_nothing() {
    let p = seed();
    let m = moto();
    m.put_secure(
        &format!("{p}/api/files/conf/app.yml"),
        &format!("token: {MARK}-file"),
    );
    m.put_secure(
        &format!("{p}/api/files/key.der"),
        "base64:Q0FOQVJZLTdmM2E5Yy1iNjQ=",
    );
    m.put_secure(&format!("{p}/refs/db-url"), &format!("{MARK}-ref"));
    let dir = tempfile::tempdir().unwrap();
    let trace = [("RUST_LOG", "trace")];
    let ep = moto().endpoint();
    let with_ref = |cmd: Ssmm| cmd.env("DB_URL", format!("ssm://{p}/refs/db-url"));

    // Success, plain exec and --init, at the highest verbosity.
    for init in [&[][..], &["--init"]] {
        let args = [
            &[
                "--prefix",
                &p,
                "exec",
                "--app",
                "api",
                "--include-tag",
                "env=prod",
                "-vvv",
            ][..],
            init,
            &["--root", "root", "--out", "app.env", "--", "true"],
        ]
        .concat();
        let out = with_ref(
            Ssmm::new()
                .endpoint(&ep)
                .current_dir(dir.path())
                .args(&args),
        )
        .env("RUST_LOG", "trace")
        .run();
        assert_clean("exec", &out);
        out.success();
    }
    // The files and the env file do hold the marker.
    let file = std::fs::read_to_string(dir.path().join("root/conf/app.yml")).unwrap();
    assert!(file.contains(MARK));
    assert!(
        std::fs::read(dir.path().join("root/key.der"))
            .unwrap()
            .starts_with(MARK.as_bytes())
    );

    // Failure paths: missing command, unresolvable reference, strict, a
    // download that fails with the marker in the URL's query, a bad hash,
    // and a path outside the root.
    run(
        "127",
        &ep,
        dir.path(),
        &[
            "--prefix",
            &p,
            "exec",
            "--app",
            "api",
            "-vvv",
            "--",
            "no-such-command-xyz",
        ],
        &trace,
    )
    .code(127);
    let out = Ssmm::new()
        .endpoint(&ep)
        .current_dir(dir.path())
        .env("RUST_LOG", "trace")
        .env("GONE", format!("ssm://{p}/refs/gone"))
        .args(["--prefix", &p, "exec", "--app", "api", "-vvv", "--", "true"])
        .run();
    assert_clean("unresolvable reference", &out);
    out.code(1);
    run(
        "exec strict",
        &ep,
        dir.path(),
        &[
            "--prefix", &p, "exec", "--app", "api", "--strict", "-vvv", "--", "true",
        ],
        &trace,
    )
    .code(3);

    let p2 = seed();
    m.put_secure(
        &format!("{p2}/api/files/big.bin"),
        &format!("url:http://127.0.0.1:9/obj?X-Amz-Signature={MARK}-sig"),
    );
    run(
        "download failure",
        &ep,
        dir.path(),
        &[
            "--prefix", &p2, "sync", "--app", "api", "--root", "r2", "-vvv",
        ],
        &trace,
    )
    .code(1)
    .stderr_contains("big.bin");

    let p3 = seed();
    m.put_secure(
        &format!("{p3}/api/files/sub/../../escape"),
        &format!("{MARK}-escape"),
    );
    run(
        "path outside root",
        &ep,
        dir.path(),
        &[
            "--prefix", &p3, "exec", "--app", "api", "--root", "r3", "-vvv", "--", "true",
        ],
        &trace,
    )
    .code(1);
}

/// RUST_LOG=trace on every admin run: ssmm installs no tracing subscriber,
/// and these tests hold it to that.
const TRACE: [(&str, &str); 2] = [("RUST_LOG", "trace"), ("RUST_BACKTRACE", "full")];

/// Default verbosity and the loudest (text and JSON lines), for every admin
/// command.
const LOUDNESS: [&[&str]; 3] = [&[], &["-vvv"], &["-vvv", "--log-format", "json"]];

fn traced(mut cmd: Ssmm) -> Ssmm {
    for (k, v) in TRACE {
        cmd = cmd.env(k, v);
    }
    cmd
}

fn args_with<'a>(base: &[&'a str], loud: &[&'a str]) -> Vec<&'a str> {
    [base, loud].concat()
}

/// `seed()` plus a second app sharing a value and a key with `api`, so
/// `check` has identical values and keys in several apps to report.
fn seed_admin() -> String {
    let p = seed();
    let m = moto();
    m.put_secure(&format!("{p}/web/token"), &format!("{MARK}-token"));
    m.put_secure(&format!("{p}/web/db-host"), &format!("{MARK}-web-host"));
    m.add_tags(&format!("{p}/web/token"), &[("app", "web")]);
    p
}

#[test]
fn admin_reads_leak_nothing_at_any_verbosity() {
    let p = seed_admin();
    let dir = tempfile::tempdir().unwrap();
    let ep = moto().endpoint();
    let full = format!("{p}/ops/flag");
    let reads: Vec<(&str, Vec<&str>)> = vec![
        ("list app", vec!["list", "--app", "api"]),
        (
            "list apps json",
            vec!["list", "--app", "api", "--app", "web", "--json"],
        ),
        ("list all", vec!["list", "--all"]),
        ("list keys", vec!["list", "--all", "--keys-only"]),
        ("list json", vec!["list", "--all", "--json"]),
        ("list tag", vec!["list", "--all", "--tag", "env=prod"]),
        (
            "list tag keys",
            vec!["list", "--app", "ops", "--tag", "env=prod", "--keys-only"],
        ),
        ("tag list", vec!["tag", "list", "token", "--app", "web"]),
        ("tag list json", vec!["tag", "list", &full, "--json"]),
        ("dirs", vec!["dirs"]),
        ("dirs json", vec!["dirs", "--json"]),
        ("check", vec!["check"]),
        ("check dups", vec!["check", "--duplicates"]),
        ("check values", vec!["check", "--values"]),
        ("check json", vec!["check", "--json"]),
        ("check values json", vec!["check", "--values", "--json"]),
    ];
    let mut said_more = false;
    for loud in LOUDNESS {
        for (what, base) in &reads {
            let args = args_with(&[&["--prefix", &p][..], base].concat(), loud);
            let out = run(what, &ep, dir.path(), &args, &TRACE);
            out.success();
            said_more |= out.stderr.contains("ssmm: debug:");
        }
    }
    assert!(
        said_more,
        "-vvv printed no debug lines: the check saw no loud output"
    );
    // The reports did find what the marker-holding values have in common.
    let out = run("check", &ep, dir.path(), &["--prefix", &p, "check"], &TRACE);
    out.stdout_contains("Identical values: 1")
        .stdout_contains("  db-host: api, shared, web");

    // diff, equal and changed, against a file sync wrote.
    let sync = [
        "--prefix",
        &p,
        "sync",
        "--app",
        "api",
        "--no-shared",
        "--out",
        "api.env",
    ];
    run("sync", &ep, dir.path(), &sync, &TRACE).success();
    let written = std::fs::read_to_string(dir.path().join("api.env")).unwrap();
    assert!(written.contains(MARK));
    let changed = written.replace(&format!("{MARK}-token"), &format!("{MARK}-local"))
        + &format!("NEW_ONE=\"{MARK}-new\"\n");
    std::fs::write(dir.path().join("changed.env"), changed).unwrap();
    for loud in LOUDNESS {
        for json in [&[][..], &["--json"]] {
            let base = ["--prefix", &p, "diff", "--app", "api", "--env"];
            let args = [&base[..], &["api.env"], json, loud].concat();
            run("diff equal", &ep, dir.path(), &args, &TRACE).success();
            let args = [&base[..], &["changed.env"], json, loud].concat();
            let out = run("diff changed", &ep, dir.path(), &args, &TRACE);
            out.code(1);
            assert!(
                out.stdout.contains("TOKEN") && out.stdout.contains("NEW_ONE"),
                "{out}"
            );
        }
    }
}

#[test]
fn show_and_check_show_values_print_the_value() {
    let p = seed_admin();
    let dir = tempfile::tempdir().unwrap();
    let ep = moto().endpoint();
    let full = format!("{p}/ops/flag");
    // show prints the value as it is, check --show-values quoted.
    let bare = [
        ("show var", vec!["show", "TOKEN", "--app", "api"], "-token"),
        (
            "show key json",
            vec!["show", "db-host", "--app", "web", "--json"],
            "-web-host",
        ),
        ("show full name", vec!["show", &full], "-tagged"),
    ];
    let quoted = [
        ("check show", vec!["check", "--show-values"]),
        ("check show json", vec!["check", "--show-values", "--json"]),
        (
            "check values show",
            vec!["check", "--values", "--show-values"],
        ),
    ];
    let shows: Vec<(&str, Vec<&str>, String)> = bare
        .into_iter()
        .map(|(what, args, suffix)| (what, args, format!("{MARK}{suffix}")))
        .chain(
            quoted
                .into_iter()
                .map(|(what, args)| (what, args, format!("\"{MARK}-token\""))),
        )
        .collect();
    for loud in LOUDNESS {
        for (what, base, value) in &shows {
            let args = args_with(&[&["--prefix", &p][..], base].concat(), loud);
            let out = run_showing(what, &ep, dir.path(), &args, &TRACE);
            out.success().stdout_contains(value);
            // Shown once, on stdout; diagnostics still carry no value.
            assert!(!out.stderr.contains(MARK), "{what}: value on stderr\n{out}");
        }
    }
}

#[test]
fn admin_writes_leak_nothing_at_any_verbosity() {
    let p = unique_prefix();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let ep = moto().endpoint();
    std::fs::write(
        dir.path().join("in.env"),
        format!(
            "# {MARK} in a comment\nexport API_KEY=\"{MARK}-file \\\"q\\\"\nline two\"\nSLACK_CHANNEL='{MARK}-chan'\n"
        ),
    )
    .unwrap();
    for (i, loud) in LOUDNESS.iter().enumerate() {
        let app = format!("w{i}");
        let pre = ["--prefix", &p];
        let tok = format!("TOKEN={MARK}-arg-{i}");
        let host = format!("DB_HOST={MARK}-host");
        let put = [&pre[..], &["put", "--app", &app, &tok, &host]].concat();
        run("put args", &ep, dir.path(), &args_with(&put, loud), &TRACE).success();
        run(
            "put exists",
            &ep,
            dir.path(),
            &args_with(&put, loud),
            &TRACE,
        )
        .code(1);
        let over = [&put[..], &["--overwrite", "--tag", "owner=x"]].concat();
        run(
            "put overwrite",
            &ep,
            dir.path(),
            &args_with(&over, loud),
            &TRACE,
        )
        .success();
        let env = [&pre[..], &["put", "--app", &app, "--env", "in.env"]].concat();
        run("put env", &ep, dir.path(), &args_with(&env, loud), &TRACE).success();
        run(
            "put env exists",
            &ep,
            dir.path(),
            &args_with(&env, loud),
            &TRACE,
        )
        .code(1);
        assert_eq!(
            m.get(&format!("{p}/{app}/api-key")),
            Some(format!("{MARK}-file \"q\"\nline two")),
            "the marker is really in SSM"
        );
        // Set twice, in the file and as an argument: a warning, no value.
        let twice = format!("API_KEY={MARK}-twice");
        let both = [&env[..], &[&twice, "--overwrite"]].concat();
        run(
            "put twice",
            &ep,
            dir.path(),
            &args_with(&both, loud),
            &TRACE,
        )
        .success()
        .stderr_contains("API_KEY");
        let stdin = traced(Ssmm::new().endpoint(&ep).current_dir(dir.path()))
            .args(args_with(
                &[
                    &pre[..],
                    &["put", "--app", &app, "--env", "-", "--overwrite"],
                ]
                .concat(),
                loud,
            ))
            .stdin_bytes(format!("STDIN_SECRET={MARK}-stdin\n"))
            .run();
        assert_clean("put stdin", &stdin);
        stdin.success();
        assert_eq!(
            m.get(&format!("{p}/{app}/slack-channel")),
            Some(format!("{MARK}-chan")),
            "the marker is really in SSM"
        );
        assert_eq!(
            m.get(&format!("{p}/{app}/api-key")),
            Some(format!("{MARK}-twice")),
            "the argument wins over the file"
        );

        let tag = [
            &pre[..],
            &["tag", "add", "TOKEN", "team=core", "--app", &app],
        ]
        .concat();
        run("tag add", &ep, dir.path(), &args_with(&tag, loud), &TRACE).success();
        let untag = [&pre[..], &["tag", "remove", "TOKEN", "team", "--app", &app]].concat();
        run(
            "tag remove",
            &ep,
            dir.path(),
            &args_with(&untag, loud),
            &TRACE,
        )
        .success();

        // migrate: a conflict, --overwrite, a rerun, both delete steps and a
        // verification failure.
        let (old, new) = (format!("m{i}"), format!("n{i}"));
        m.put_secure(&format!("{p}/{old}/token"), &format!("{MARK}-mig"));
        m.put_secure(&format!("{p}/{old}/files/a.pem"), &format!("{MARK}-pem\nx"));
        m.add_tags(&format!("{p}/{old}/token"), &[("app", &old)]);
        m.put_secure(&format!("{p}/{new}/token"), &format!("{MARK}-other"));
        let mig = [&pre[..], &["migrate", &old, &new]].concat();
        let tmp = [("TMPDIR", dir.path().to_str().unwrap())];
        let env: Vec<(&str, &str)> = [&TRACE[..], &tmp].concat();
        run(
            "migrate conflict",
            &ep,
            dir.path(),
            &args_with(&mig, loud),
            &env,
        )
        .code(1);
        let over = [&mig[..], &["--overwrite"]].concat();
        run(
            "migrate overwrite",
            &ep,
            dir.path(),
            &args_with(&over, loud),
            &env,
        )
        .success();
        run(
            "migrate again",
            &ep,
            dir.path(),
            &args_with(&mig, loud),
            &env,
        )
        .success();
        let step2 = [&mig[..], &["--delete-old"]].concat();
        run(
            "migrate step 2",
            &ep,
            dir.path(),
            &args_with(&step2, loud),
            &env,
        )
        .success();
        let step3 = [&mig[..], &["--delete-old", "--confirm"]].concat();
        m.put_secure(&format!("{p}/{new}/token"), &format!("{MARK}-tampered"));
        run(
            "migrate verify fails",
            &ep,
            dir.path(),
            &args_with(&step3, loud),
            &env,
        )
        .code(1);
        run(
            "migrate repair",
            &ep,
            dir.path(),
            &args_with(&over, loud),
            &env,
        )
        .success();
        run(
            "migrate step 3",
            &ep,
            dir.path(),
            &args_with(&step3, loud),
            &env,
        )
        .success();
        assert!(m.names_under(&format!("{p}/{old}")).is_empty());

        let del = [&pre[..], &["delete", "TOKEN", "--app", &app]].concat();
        run(
            "delete key",
            &ep,
            dir.path(),
            &args_with(&del, loud),
            &TRACE,
        )
        .success();
        let del_all = [&pre[..], &["delete", "--app", &app, "--all", "-y"]].concat();
        run(
            "delete all",
            &ep,
            dir.path(),
            &args_with(&del_all, loud),
            &TRACE,
        )
        .success();
        assert!(m.names_under(&format!("{p}/{app}")).is_empty());
    }
    // The backups hold the marker: it was there to leak.
    let backups: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("ssmm-migrate-backup-"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(
        backups.len(),
        2 * LOUDNESS.len(),
        "two backups per loudness"
    );
    assert!(backups.iter().all(|b| b.contains(MARK)));
}

#[test]
fn admin_write_failures_leak_nothing() {
    let p = unique_prefix();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let ep = moto().endpoint();
    std::fs::write(
        dir.path().join("in.env"),
        format!("API_KEY=\"{MARK}-file\"\n"),
    )
    .unwrap();
    m.put_secure(&format!("{p}/old/token"), &format!("{MARK}-mig"));
    m.put_secure(&format!("{p}/exists/token"), &format!("{MARK}-old"));

    // SSM's ValidationException repeats the refused value.
    let proxy = FaultProxy::start(&ep);
    let echo = Fault::Error {
        status: 400,
        code: "ValidationException".into(),
        message: format!(
            "1 validation error detected: Value '{MARK}-arg' at 'value' failed to satisfy constraint: Member must have length less than or equal to 4096"
        ),
    };
    proxy.set_plan(Plan::always(echo).only(&["PutParameter"]));
    let tok = format!("TOKEN={MARK}-arg");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("put args", vec!["put", "--app", "api", &tok]),
        ("put env", vec!["put", "--app", "api", "--env", "in.env"]),
        (
            "put overwrite",
            vec!["put", "--app", "exists", &tok, "--overwrite"],
        ),
        ("migrate", vec!["migrate", "old", "new"]),
        (
            "rollback",
            vec!["rollback", "token", "--app", "exists", "--to-version", "1"],
        ),
    ];
    for loud in LOUDNESS {
        // set through the same refusals: the value it sends is echoed back.
        let args = args_with(&["--prefix", &p, "set", "TOKEN", "--app", "api"], loud);
        let typed = format!("{MARK}-arg");
        let name = format!("{p}/api/token");
        let out = set_on_pty(
            "set refused",
            &proxy.endpoint(),
            &args,
            &[(&name, &typed)],
            None,
        );
        assert_eq!(out.code, Some(1), "{}", out.text);
        assert!(out.text.contains("ValidationException"), "{}", out.text);
        for (what, base) in &cases {
            let before = proxy.count("PutParameter");
            let args = args_with(&[&["--prefix", &p][..], base].concat(), loud);
            let out = run(what, &proxy.endpoint(), dir.path(), &args, &TRACE);
            out.code(1).stderr_contains("ValidationException");
            assert!(
                proxy.count("PutParameter") > before,
                "{what}: no PutParameter refused"
            );
        }
    }
    assert!(m.names_under(&format!("{p}/api")).is_empty());
    assert!(m.names_under(&format!("{p}/new")).is_empty());

    // A server error on every attempt.
    proxy.set_plan(Plan::always(Fault::Status(500)).only(&["PutParameter"]));
    for loud in LOUDNESS {
        let args = args_with(
            &[
                "--prefix",
                &p,
                "put",
                "--app",
                "api",
                &tok,
                "--max-attempts",
                "2",
            ],
            loud,
        );
        let out = run("put 500", &proxy.endpoint(), dir.path(), &args, &TRACE);
        out.code(1).stderr_contains("PutParameter");
    }
    drop(proxy);

    // Usage errors that hold the marker: a bad env file line (file and
    // stdin, put and diff), an argument without `=`, a value too large.
    std::fs::write(
        dir.path().join("bad.env"),
        format!("OK=1\n{MARK} pasted without a name\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad-name.env"),
        format!("BAD NAME={MARK}-v\n"),
    )
    .unwrap();
    let big = format!("BIG={MARK}{}", "x".repeat(5000));
    let usage: Vec<(&str, Vec<&str>)> = vec![
        (
            "put bad line",
            vec!["put", "--app", "api", "--env", "bad.env"],
        ),
        (
            "put bad name",
            vec!["put", "--app", "api", "--env", "bad-name.env"],
        ),
        (
            "diff bad line",
            vec!["diff", "--app", "api", "--env", "bad.env"],
        ),
        ("put no =", vec!["put", "--app", "api", MARK]),
        (
            "put no = second",
            vec!["put", "--app", "api", "A=1", "x-CANARY-7f3a9c-y"],
        ),
        ("put too big", vec!["put", "--app", "api", &big]),
    ];
    for loud in LOUDNESS {
        for (what, base) in &usage {
            let args = args_with(&[&["--prefix", &p][..], base].concat(), loud);
            run(what, &ep, dir.path(), &args, &TRACE).code(2);
        }
        let out = traced(Ssmm::new().endpoint(&ep).current_dir(dir.path()))
            .args(args_with(
                &["--prefix", &p, "put", "--app", "api", "--env", "-"],
                loud,
            ))
            .stdin_bytes(format!("{MARK}\n"))
            .run();
        assert_clean("put stdin bad line", &out);
        out.code(2).stderr_contains("line 1");
    }
    assert!(m.names_under(&format!("{p}/api")).is_empty());
}

/// References with versions, labels and `#KEY`, and `--require`, in every
/// outcome at the highest verbosity: a JSON value holding the marker never
/// shows, whether its key is found, missing, or the value is not JSON; nor
/// does a `--require-from` file's values.
#[test]
fn references_and_required_variables_leak_nothing() {
    let p = seed();
    let m = moto();
    m.put_secure(
        &format!("{p}/refs/db"),
        &format!(r#"{{"password":"{MARK}-json","user":"{MARK}-user"}}"#),
    );
    m.put_secure(&format!("{p}/refs/db"), &format!("{MARK}-not-json-v2"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env.example"),
        format!("TOKEN={MARK}-example\nMISSING_ONE='{MARK}'\n"),
    )
    .unwrap();
    let ep = moto().endpoint();
    let cases: [(&str, &str, i32); 6] = [
        ("key found", ":1#password", 0),
        ("label missing", ":blue#password", 1),
        ("version missing", ":9", 1),
        ("not JSON", "#password", 1),
        ("no such key", ":1#nope", 1),
        ("whole value", ":2", 0),
    ];
    for (what, selector, code) in cases {
        for cmd in [
            &["exec", "--app", "api"][..],
            &["exec", "--init", "--app", "api"],
        ] {
            let args = [&["--prefix", &p][..], cmd, &["-vvv", "--", "true"]].concat();
            let out = Ssmm::new()
                .endpoint(&ep)
                .current_dir(dir.path())
                .env("RUST_LOG", "trace")
                .env("DB", format!("ssm:{p}/refs/db{selector}"))
                .args(&args)
                .run();
            assert_clean(what, &out);
            out.code(code);
        }
    }
    for cmd in [&["sync"][..], &["exec"]] {
        let tail: &[&str] = if cmd == ["exec"] {
            &["--", "true"]
        } else {
            &[]
        };
        let args = [
            &["--prefix", &p][..],
            cmd,
            &["--app", "api", "-vvv", "--require", "TOKEN"],
            &["--require-from", ".env.example"],
            tail,
        ]
        .concat();
        let out = run("required", &ep, dir.path(), &args, &[("RUST_LOG", "trace")]);
        out.code(1).stderr_contains("missing from");
    }
}

/// `--watch` and `--on-change` at the highest verbosity: change lines name
/// variables and files, never their old or new values; failed checks
/// neither.
#[test]
fn watching_leaks_nothing() {
    let p = seed();
    let m = moto();
    m.put_secure(
        &format!("{p}/api/files/conf/app.conf"),
        &format!("{MARK}-file-v1"),
    );
    let dir = tempfile::tempdir().unwrap();
    let ep = moto().endpoint();
    let log = dir.path().join("log");
    let script = format!(
        "echo start >> {}; trap 'exit 0' TERM; trap : HUP; while :; do sleep 0.05; done",
        log.display()
    );
    let watchers = [
        vec![
            "exec", "--init", "--app", "api", "--watch", "200ms", "--out", "app.env",
        ],
        vec![
            "exec",
            "--init",
            "--app",
            "api",
            "--watch",
            "200ms",
            "--on-change",
            "signal:HUP",
        ],
        vec![
            "sync",
            "--app",
            "api",
            "--watch",
            "200ms",
            "--on-change",
            "true",
        ],
    ];
    for (i, watcher) in watchers.iter().enumerate() {
        let mut args = vec!["--prefix", &p, "-vvv"];
        args.extend(watcher);
        if watcher[0] == "exec" {
            args.extend(["--", "sh", "-c", &script]);
        }
        let running = Ssmm::new()
            .endpoint(&ep)
            .current_dir(dir.path())
            .env("RUST_LOG", "trace")
            .args(&args)
            .spawn();
        std::thread::sleep(std::time::Duration::from_millis(700));
        // A change of a variable and of a file, then a value sync's format
        // refuses (a failed check).
        m.put_secure(&format!("{p}/api/token"), &format!("{MARK}-token-v{i}"));
        m.put_secure(
            &format!("{p}/api/files/conf/app.conf"),
            &format!("{MARK}-file-v2-{i}"),
        );
        std::thread::sleep(std::time::Duration::from_millis(900));
        m.put_secure(&format!("{p}/api/nul"), &format!("{MARK}-\u{0}-nul"));
        std::thread::sleep(std::time::Duration::from_millis(900));
        m.delete(&format!("{p}/api/nul"));
        running.signal(15);
        let out = running.wait();
        assert_clean(&format!("watch {watcher:?}"), &out);
        assert!(
            out.stderr.contains("change: changed TOKEN") && out.stderr.contains("check failed"),
            "{watcher:?}: {}",
            out.stderr
        );
    }
}

/// `ssmm ARGS` on a pseudo-terminal with `RUST_LOG=trace`, typing each
/// `(name, value)`'s value at the prompt naming it; then `ctrl` if any.
/// Fails if the marker shows on the terminal.
fn set_on_pty(
    what: &str,
    endpoint: &str,
    args: &[&str],
    typed: &[(&str, &str)],
    ctrl: Option<&[u8]>,
) -> PtyOutcome {
    let cmd = traced(
        Ssmm::new()
            .endpoint(endpoint)
            .current_dir(std::env::temp_dir())
            .args(args),
    );
    let mut pty = Pty::spawn(cmd);
    for (name, value) in typed {
        pty.wait_for(&format!("Value for {name} ("));
        pty.send(format!("{value}\n").as_bytes());
    }
    if let Some(bytes) = ctrl {
        pty.wait_for(" not echoed): ");
        pty.send(bytes);
    }
    let out = pty.wait();
    assert!(
        !out.text.contains(MARK) && !out.text.contains("7f3a9c"),
        "{what}: a value showed on the terminal:\n{}",
        out.text
    );
    assert!(out.echo_after, "{what}: echo left off\n{}", out.text);
    out
}

#[test]
fn set_history_and_rollback_leak_nothing_at_any_verbosity() {
    let p = seed();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let ep = moto().endpoint();
    let token = format!("{p}/api/token");
    m.put_secure(&token, &format!("{MARK}-token-v2"));
    m.label(&token, 1, &["first"]);
    for (i, loud) in LOUDNESS.iter().enumerate() {
        let pre = ["--prefix", &p];
        let reads: Vec<(&str, Vec<&str>)> = vec![
            ("history var", vec!["history", "TOKEN", "--app", "api"]),
            (
                "history json",
                vec!["history", "token", "--app", "api", "--json"],
            ),
            ("history full", vec!["history", &token]),
            ("history pem", vec!["history", "pem", "--app", "api"]),
        ];
        for (what, base) in &reads {
            let args = args_with(&[&pre[..], base].concat(), loud);
            run(what, &ep, dir.path(), &args, &TRACE).success();
        }
        let back = [
            &pre[..],
            &["rollback", "TOKEN", "--app", "api", "--to-version", "1"],
        ]
        .concat();
        run("rollback", &ep, dir.path(), &args_with(&back, loud), &TRACE)
            .success()
            .stdout_contains("rolled back");
        assert_eq!(
            m.get(&token),
            Some(format!("{MARK}-token")),
            "the marker is really in SSM"
        );
        let pem = [
            &pre[..],
            &["rollback", "pem", "--app", "api", "--to-version", "1"],
        ]
        .concat();
        run(
            "rollback pem",
            &ep,
            dir.path(),
            &args_with(&pem, loud),
            &TRACE,
        )
        .success();
        let missing = [
            &pre[..],
            &["rollback", "TOKEN", "--app", "api", "--to-version", "999"],
        ]
        .concat();
        run(
            "rollback missing version",
            &ep,
            dir.path(),
            &args_with(&missing, loud),
            &TRACE,
        )
        .code(1);
        let nope = [&pre[..], &["history", "nope", "--app", "api"]].concat();
        run(
            "history missing",
            &ep,
            dir.path(),
            &args_with(&nope, loud),
            &TRACE,
        )
        .code(1);

        // set: a new key, an existing one with --overwrite, then aborts.
        let app = format!("s{i}");
        let (a, b) = (format!("{p}/{app}/api-token"), format!("{p}/{app}/db-host"));
        let (va, vb) = (format!("{MARK}-set-a-{i}"), format!("{MARK}-set-b-{i}"));
        let set = [&pre[..], &["set", "API_TOKEN", "DB_HOST", "--app", &app]].concat();
        let out = set_on_pty(
            "set",
            &ep,
            &args_with(&set, loud),
            &[(&a, &va), (&b, &vb)],
            None,
        );
        assert_eq!(out.code, Some(0), "{}", out.text);
        assert_eq!(m.get(&a), Some(va.clone()), "the marker is really in SSM");
        let out = set_on_pty("set exists", &ep, &args_with(&set, loud), &[], None);
        assert_eq!(out.code, Some(1), "{}", out.text);
        let over = [&set[..], &["--overwrite"]].concat();
        let (va2, vb2) = (format!("{MARK}-over-a-{i}"), format!("{MARK}-over-b-{i}"));
        let out = set_on_pty(
            "set overwrite",
            &ep,
            &args_with(&over, loud),
            &[(&a, &va2), (&b, &vb2)],
            None,
        );
        assert_eq!(out.code, Some(0), "{}", out.text);
        assert_eq!(m.get(&b), Some(vb2), "the marker is really in SSM");
        let out = set_on_pty(
            "set empty",
            &ep,
            &args_with(&over, loud),
            &[(&a, &va), (&b, "")],
            None,
        );
        assert_eq!(out.code, Some(1), "{}", out.text);
        let partial = format!("{MARK}-half");
        let out = set_on_pty(
            "set ctrl-c",
            &ep,
            &args_with(&over, loud),
            &[(&a, &va)],
            Some(format!("{partial}\x03").as_bytes()),
        );
        assert_eq!(out.code, Some(130), "{}", out.text);
        assert_eq!(m.get(&a), Some(va2.clone()), "an aborted set wrote nothing");
        // After set, history and rollback of what it wrote.
        let hist = [&pre[..], &["history", "API_TOKEN", "--app", &app, "--json"]].concat();
        run(
            "history of set",
            &ep,
            dir.path(),
            &args_with(&hist, loud),
            &TRACE,
        )
        .success();
        let back = [
            &pre[..],
            &["rollback", "API_TOKEN", "--app", &app, "--to-version", "1"],
        ]
        .concat();
        run(
            "rollback of set",
            &ep,
            dir.path(),
            &args_with(&back, loud),
            &TRACE,
        )
        .success();
        assert_eq!(m.get(&a), Some(va), "the marker is really in SSM");
    }
}

/// The credentials formats at the highest verbosity, writing, unchanged
/// and failing (no systemd-creds; a value systemd refuses): the files hold
/// the marker, the output never.
#[test]
fn credentials_formats_leak_nothing() {
    let p = seed();
    let dir = tempfile::tempdir().unwrap();
    let ep = moto().endpoint();
    let trace = [("RUST_LOG", "trace")];
    for format in ["credentials", "credentials-encrypted"] {
        for _ in 0..2 {
            let args = [
                "--prefix", &p, "sync", "--app", "api", "-vvv", "--format", format, "--out", format,
            ];
            run(format, &ep, dir.path(), &args, &trace).success();
        }
        let args = [
            "--prefix", &p, "exec", "--app", "api", "-vvv", "--format", format, "--out", format,
            "--", "true",
        ];
        run(format, &ep, dir.path(), &args, &trace).success();
    }
    assert!(
        std::fs::read_to_string(dir.path().join("credentials/TOKEN"))
            .unwrap()
            .contains(MARK)
    );
    let empty = dir.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let p2 = seed();
    let args = [
        "--prefix",
        &p2,
        "sync",
        "--app",
        "api",
        "-vvv",
        "--format",
        "credentials-encrypted",
        "--out",
        "enc2",
    ];
    let out = run(
        "no systemd-creds",
        &ep,
        dir.path(),
        &args,
        &[("RUST_LOG", "trace"), ("PATH", empty.to_str().unwrap())],
    );
    out.code(1).stderr_contains("systemd-creds was not found");
    moto().put_secure(&format!("{p2}/api/nul"), &format!("{MARK}\u{0}"));
    let args = [
        "--prefix",
        &p2,
        "sync",
        "--app",
        "api",
        "-vvv",
        "--format",
        "credentials",
        "--out",
        "plain2",
    ];
    run("NUL credential", &ep, dir.path(), &args, &trace)
        .code(1)
        .stderr_contains("cannot write NUL as a credential");
}

#[test]
fn templates_leak_nothing() {
    let p = seed();
    let m = moto();
    // A template holding the marker in its own text, rendering the marked
    // variables (shared, app, multi-line) with a condition, a filter, a loop.
    m.put_secure(
        &format!("{p}/api/files/conf/app.ini.tmpl"),
        &format!(
            "# {MARK}-template-text\npassword={{{{ DB_PASSWORD }}}}\n\
             {{% if TOKEN is defined %}}token={{{{ TOKEN | upper }}}}{{% endif %}}\n\
             {{% for l in PEM | split('\\n') %}}{{{{ l }}}};{{% endfor %}}\n"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let trace = [("RUST_LOG", "trace"), ("RUST_BACKTRACE", "full")];
    let ep = moto().endpoint();
    for verbosity in [&[][..], &["-vvv"], &["-vvv", "--log-format", "json"]] {
        let args = [&["--prefix", &p, "sync", "--app", "api"][..], verbosity].concat();
        run("template sync", &ep, dir.path(), &args, &trace).success();
        let args = [
            &["--prefix", &p, "exec", "--app", "api", "--root", "x"][..],
            verbosity,
            &["--", "true"],
        ]
        .concat();
        run("template exec", &ep, dir.path(), &args, &trace).success();
    }
    let rendered = std::fs::read_to_string(dir.path().join("conf/app.ini")).unwrap();
    // The app layer's DB_PASSWORD (from `db.password`) wins over shared.
    assert!(
        rendered.contains(&format!("password={MARK}-dup\n")),
        "{rendered}"
    );
    assert!(rendered.contains(&format!("token={}", format!("{MARK}-token").to_uppercase())));
    assert!(rendered.contains(&format!("{MARK}-pem;")));

    // Every error with the marker in the template's text, around and inside
    // the broken part: none may quote it.
    let broken = [
        format!("{MARK}\n{{{{ '{MARK}' + }}}}"),
        format!("{{% if '{MARK}' == %}}"),
        format!("{{{{ '{MARK}' | nosuchfilter }}}}"),
        format!("{MARK}{{{{ NOPE }}}}{MARK}"),
        format!("{{% include '{MARK}' %}}"),
        format!("{{% import '/{MARK}' as x %}}"),
        format!("{{{{ DB_PASSWORD ~ '{MARK}' + 1 }}}}"),
        format!("{{{{ DB_PASSWORD.{} }}}}", MARK.replace('-', "_")),
        format!(
            "{{# {MARK} #}}{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}"
        ),
        "{% for i in range(100000) %}{{ DB_PASSWORD }}{% endfor %}".to_string(),
    ];
    for (i, template) in broken.iter().enumerate() {
        let p = seed();
        m.put_secure(&format!("{p}/api/files/t{i}.tmpl"), template);
        let args = [
            "--prefix",
            &p,
            "sync",
            "--app",
            "api",
            "--root",
            "broken",
            "--max-file-size",
            "4KiB",
            "-vvv",
        ];
        let out = run("broken template", &ep, dir.path(), &args, &trace);
        out.code(1).stderr_contains(&format!("t{i}.tmpl"));
    }
    assert!(!dir.path().join("broken").exists());
}

/// Every credential source, failing and succeeding, at `-vvv` with
/// `RUST_LOG=trace`: none of its material (secret keys, session tokens, the
/// web identity token, the container authorization token, the IMDS token,
/// the SSO access token, what a `credential_process` printed) and no
/// parameter value is printed. Each of these holds `creds::MARK`; the
/// sources are the real local parts of `support::creds` and moto's STS.
#[test]
fn credential_sources_leak_nothing_failing_or_succeeding() {
    use crate::support::creds::{self, FAR, Keys, PAST, script, secret, write};
    use crate::support::http::{Reply, Server};

    let p = seed();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    std::fs::create_dir(&home).unwrap();
    let ep = moto().endpoint();

    let fail = script(
        d,
        "fail.sh",
        &format!(
            "echo '{{\"Version\":1,\"AccessKeyId\":\"AKIA\",\"SecretAccessKey\":\"{}\"'; echo '{}' >&2; exit 1",
            secret("p1"),
            secret("p2")
        ),
    );
    let garbage = script(
        d,
        "garbage.sh",
        &format!("echo 'not json {}'", secret("p3")),
    );
    let ok = script(
        d,
        "ok.sh",
        &format!(
            "echo '{{\"Version\":1,\"AccessKeyId\":\"AKIAPROCESS\",\"SecretAccessKey\":\"{}\"}}'",
            secret("p4")
        ),
    );
    let web_token = write(d, "web-token", &secret("web"));
    let start = "https://example.awsapps.com/start";
    let config = write(
        d,
        "config",
        &format!(
            "[profile fail]\ncredential_process = {fail}\n[profile garbage]\ncredential_process = {garbage}\n\
             [profile ok]\ncredential_process = {ok}\n\
             [profile src]\naws_access_key_id = AKIASOURCE0000000001\naws_secret_access_key = {}\n\
             [profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = src\n\
             [profile web]\nrole_arn = arn:aws:iam::123456789012:role/w\nweb_identity_token_file = {web_token}\n\
             [profile sess]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = R\n\
             [sso-session corp]\nsso_start_url = {start}\nsso_region = us-east-1\n\
             [profile legacy]\nsso_start_url = {start}\nsso_region = us-east-1\nsso_account_id = 123456789012\nsso_role_name = R\n",
            secret("source")
        ),
    );
    let sso_token = secret("sso-token");
    let keys = Keys::new("ASIACANARY0000000001", "issued");
    let portal = creds::sso_portal(&sso_token, &keys);
    let sts = creds::sts_refusing();
    let auth = secret("container-auth");
    let container = creds::container(&auth, &keys);
    let auth_file = write(d, "auth", &auth);
    let wrong_auth = write(d, "wrong-auth", &secret("wrong-auth"));
    let imds_token = secret("imds-token");
    let imds = creds::imds(&imds_token, Some("role"), &keys);
    let imds_failing = Server::start(|_| Reply::new(500, secret("imds-500")));
    let uri = container.url("/creds");

    // The portal knows `sso_token` only: an expired legacy token, which
    // the SDK sends anyway, is another one (the real portal refuses it).
    let old_token = secret("sso-old-token");
    let sso_state = |id: &str, expires: &str| {
        let _ = std::fs::remove_dir_all(home.join(".aws"));
        let token = if expires == PAST {
            &old_token
        } else {
            &sso_token
        };
        creds::sso_cache(&home, id, token, expires);
    };
    // (what, prepare, environment, exit code)
    type Prep<'a> = Box<dyn Fn() + 'a>;
    type Row<'a> = (&'a str, Prep<'a>, Vec<(&'a str, String)>, i32);
    let rows: Vec<Row> = vec![
        (
            "process failing",
            Box::new(|| {}),
            vec![("AWS_PROFILE", "fail".into())],
            2,
        ),
        (
            "process garbage",
            Box::new(|| {}),
            vec![("AWS_PROFILE", "garbage".into())],
            2,
        ),
        (
            "process ok",
            Box::new(|| {}),
            vec![("AWS_PROFILE", "ok".into())],
            0,
        ),
        (
            "assume role refused",
            Box::new(|| {}),
            vec![
                ("AWS_PROFILE", "deploy".into()),
                ("AWS_ENDPOINT_URL_STS", sts.base()),
            ],
            2,
        ),
        (
            "assume role ok",
            Box::new(|| {}),
            vec![("AWS_PROFILE", "deploy".into())],
            0,
        ),
        (
            "web identity refused",
            Box::new(|| {}),
            vec![
                ("AWS_PROFILE", "web".into()),
                ("AWS_ENDPOINT_URL_STS", sts.base()),
            ],
            2,
        ),
        (
            "web identity ok",
            Box::new(|| {}),
            vec![("AWS_PROFILE", "web".into())],
            0,
        ),
        (
            "sso expired",
            Box::new(|| sso_state("corp", PAST)),
            vec![("AWS_PROFILE", "sess".into())],
            2,
        ),
        (
            "sso ok",
            Box::new(|| sso_state("corp", FAR)),
            vec![("AWS_PROFILE", "sess".into())],
            0,
        ),
        (
            "legacy sso expired, refused",
            Box::new(|| sso_state(start, PAST)),
            vec![("AWS_PROFILE", "legacy".into())],
            2,
        ),
        (
            "legacy sso ok",
            Box::new(|| sso_state(start, FAR)),
            vec![("AWS_PROFILE", "legacy".into())],
            0,
        ),
        (
            "container wrong token",
            Box::new(|| {}),
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.clone()),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", wrong_auth.clone()),
            ],
            2,
        ),
        (
            "container ok",
            Box::new(|| {}),
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.clone()),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", auth_file.clone()),
            ],
            0,
        ),
        (
            "imds failing",
            Box::new(|| {}),
            vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_failing.base())],
            2,
        ),
        (
            "imds ok",
            Box::new(|| {}),
            vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.base())],
            0,
        ),
    ];
    for (what, prepare, env, code) in rows {
        for args in [&["sync", "--app", "api"][..], &["list", "--all"]] {
            prepare();
            let mut cmd = traced(Ssmm::new())
                .endpoint(&ep)
                .current_dir(d)
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env("AWS_CONFIG_FILE", &config)
                .env("HOME", &home)
                .env("AWS_ENDPOINT_URL_SSO", portal.base())
                .args(["--prefix", &p, "-vvv"])
                .args(args);
            for (k, v) in &env {
                cmd = cmd.env(k, v);
                if *k == "AWS_EC2_METADATA_SERVICE_ENDPOINT" {
                    cmd = cmd.env_remove("AWS_EC2_METADATA_DISABLED");
                }
            }
            let out = cmd.run();
            let what = format!("{what} {args:?}");
            assert_eq!(out.code, Some(code), "{what}\n{out}");
            assert_clean(&what, &out);
            assert!(
                !out.combined().contains(creds::MARK),
                "{what}: credential material leaked:\n{out}"
            );
        }
    }
    assert!(portal.total_hits() > 0 && sts.total_hits() > 0 && imds.total_hits() > 0);
}

#[test]
fn systemd_units_and_onboard_leak_nothing_at_any_verbosity() {
    use crate::support::units::{calls, fake_systemctl, path_with};
    let p = seed();
    let dir = tempfile::tempdir().unwrap();
    let ep = moto().endpoint();
    let (fake, log) = fake_systemctl(dir.path(), 0);
    let units = dir.path().join("units");
    let path = path_with(&fake);
    let units_s = units.to_str().unwrap().to_string();
    let env = [
        ("RUST_LOG", "trace"),
        ("RUST_BACKTRACE", "full"),
        ("PATH", path.as_str()),
        ("SSMM_SYSTEMD_UNIT_DIR", units_s.as_str()),
    ];
    std::fs::write(
        dir.path().join("onboard.env"),
        format!("ONBOARD_TOKEN=\"{MARK}-onboard\"\nDB_HOST={MARK}-onboard-host\n"),
    )
    .unwrap();
    let modes: [&[&str]; 4] = [
        &["--mode", "sync"],
        &["--mode", "sync", "--user"],
        &["--mode", "exec", "--exec-cmd", "/bin/api --x $DB_HOST"],
        &["--mode", "credentials", "--include-tag", "env=prod"],
    ];
    for loud in LOUDNESS {
        for mode in modes {
            for apply in [&[][..], &["--apply"]] {
                let args = [&["--prefix", &p, "systemd", "api"][..], mode, apply, loud].concat();
                let out = run("systemd", &ep, dir.path(), &args, &env);
                out.success();
            }
        }
        // A refusal after the fetch: a required variable that is missing.
        let args = [
            &["--prefix", &p, "systemd", "api", "--mode", "credentials"][..],
            &["--require", "MISSING"],
            loud,
        ]
        .concat();
        run("systemd require", &ep, dir.path(), &args, &env).code(1);
    }
    let written = std::fs::read_to_string(units.join("api.service.d/ssmm.conf")).unwrap();
    assert!(
        written.contains("LoadCredentialEncrypted=TOKEN:"),
        "{written}"
    );
    assert!(!written.contains(MARK), "{written}");
    assert!(calls(&log).contains("--user daemon-reload"));

    // onboard: the plan, a refusal, the apply, at every loudness.
    for (i, loud) in LOUDNESS.iter().enumerate() {
        let app = format!("onboard{i}");
        let base = [
            "--prefix",
            &p,
            "onboard",
            &app,
            "--env",
            "onboard.env",
            "--mode",
            "credentials",
        ];
        run(
            "onboard plan",
            &ep,
            dir.path(),
            &args_with(&base, loud),
            &env,
        )
        .success();
        run(
            "onboard apply",
            &ep,
            dir.path(),
            &[&base[..], &["--apply"], loud].concat(),
            &env,
        )
        .success();
        run(
            "onboard plan, keys exist",
            &ep,
            dir.path(),
            &args_with(&base, loud),
            &env,
        )
        .code(1);
        run(
            "onboard apply, keys exist",
            &ep,
            dir.path(),
            &[&base[..], &["--apply"], loud].concat(),
            &env,
        )
        .code(1);
        run(
            "onboard plan --overwrite",
            &ep,
            dir.path(),
            &[&base[..], &["--overwrite"], loud].concat(),
            &env,
        )
        .success();
    }
    // The values did go to SSM: the marker was there to leak.
    assert!(
        moto()
            .params_under(&format!("{p}/onboard0"))
            .iter()
            .any(|(_, v)| v.contains(MARK))
    );
}
