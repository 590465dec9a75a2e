//! Secrets never leak: every parameter carries a unique canary marker, and
//! every command of the core, at every verbosity, with `RUST_LOG=trace`, in
//! every failure path, must keep that marker out of stdout and stderr.

mod support;

use std::path::Path;

use support::{Fault, FaultProxy, Outcome, Plan, Ssmm, moto, unique_prefix};

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
