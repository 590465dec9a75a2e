//! Bad input, row by row: the rows of the bad-input table in `SECURITY.md`
//! that no other test file checks end to end through the real binary.
//!
//! Every row runs `ssmm` and checks, besides its exit code and the stable
//! beginning of its message, that it changed nothing: the watched
//! directories (the working directory with an existing `.env`, the files
//! root, anything a symlink points at) are byte-for-byte and mode-for-mode
//! what they were, no parameter appeared or vanished under the watched
//! prefix, no panic was printed, and no seeded value (all of them carry
//! [`LEAK`]) reached stdout or stderr. A table-driven test runs all its rows
//! and then fails once, listing every failing row by its id (the id in the
//! table's `test` column).
//!
//! The tests under "known product bugs" at the end of the file fail until
//! the bug is fixed; each says what it expects and what happens instead.
//!
//! Network: only moto and servers this file starts, all on 127.0.0.1. URLs
//! with other hosts (`http://10.0.0.1/...`, `https://example.invalid/...`) are
//! refused by ssmm before any connection (see `files::parse_remote` and the
//! redirect policy), which is what those rows check.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use crate::support::expect::raw_controls;
use crate::support::http::{Reply, Server, closed_port};
use crate::support::rows::{self, ROW_TIMEOUT};
use crate::support::{
    Fault, FaultProxy, Outcome, Plan, Rows, Ssmm, Watch, block_on, moto, unique_prefix,
};
use aws_sdk_ssm::types::{ParameterTier, ParameterType};

/// Carried by every seeded value and value argument: it must never be
/// printed by a refusal.
const LEAK: &str = "zq-leak-7391";

/// The `.env` every working directory starts with: a refusal leaves it as is.
const OLD_ENV: &str = "OLD=\"1\"\n";

// ------------------------------------------------------------ row machinery

/// A working directory holding an `.env` that refusals must leave alone.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    fs::write(&env, OLD_ENV).unwrap();
    fs::set_permissions(&env, fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

/// `ssmm ARGS` in `dir` against moto.
fn ssmm(dir: &Path) -> Ssmm {
    Ssmm::new().endpoint(&moto().endpoint()).current_dir(dir)
}

fn args(cmd: Ssmm, list: &[&str]) -> Ssmm {
    cmd.args(list)
}

// ------------------------------------------------------------------- tests

/// Prefix, layout, app and cluster: refused before SSM is asked anything.
#[test]
fn prefix_layout_app_and_cluster_errors_change_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let sync = |prefix: &str| args(ssmm(d), &["--prefix", prefix, "sync", "--app", "api"]);

    for (id, prefix, why) in [
        ("prefix-no-slash", "team", "it must start with '/'"),
        ("prefix-root", "/", "it must name at least one folder"),
        (
            "prefix-trailing-slash",
            "/team/",
            "it must not end with '/'",
        ),
        (
            "prefix-empty-segment",
            "/a//b",
            "it must not contain empty segments",
        ),
        (
            "prefix-bad-char",
            "/a b",
            "its segments may only use A-Z a-z 0-9 _ . -",
        ),
        (
            "prefix-dotdot",
            "/a/../b",
            "its segments may only use A-Z a-z 0-9 _ . -",
        ),
    ] {
        let msg = format!("ssmm: error: invalid prefix {prefix:?}: {why}");
        rows.check(id, sync(prefix), 2, &msg, &watch);
        let from_env = args(ssmm(d), &["sync", "--app", "api"]).env("SSMM_PREFIX_ROOT", prefix);
        rows.check(&format!("{id}-env"), from_env, 2, &msg, &watch);
    }
    // A prefix variable that is not UTF-8 reads as unset (see the report).
    let cmd = args(ssmm(d), &["sync", "--app", "api"])
        .env("SSMM_PREFIX_ROOT", OsStr::from_bytes(b"/team\xff"));
    rows.check(
        "prefix-env-not-utf8",
        cmd,
        2,
        "ssmm: error: $SSMM_PREFIX_ROOT is not valid UTF-8",
        &watch,
    );
    rows.check(
        "keep-on-error-config",
        args(ssmm(d), &["--prefix", "team", "sync", "--app", "api"]).arg("--keep-on-error"),
        2,
        "ssmm: error: invalid prefix \"team\"",
        &watch,
    );

    let cmd = sync("/t").env("SSMM_LAYOUT", "k8s");
    rows.check(
        "layout-env-invalid",
        cmd,
        2,
        "ssmm: error: invalid $SSMM_LAYOUT \"k8s\": expected team or ecs",
        &watch,
    );
    rows.check(
        "layout-flag-invalid",
        args(ssmm(d), &["--layout", "k8s", "sync"]),
        2,
        "error: invalid value 'k8s' for '--layout <LAYOUT>'",
        &watch,
    );
    for (id, cmd) in [
        (
            "cluster-with-team-layout",
            sync("/t").args(["--cluster", "prod"]),
        ),
        (
            "cluster-with-team-layout-admin",
            args(
                ssmm(d),
                &[
                    "--prefix",
                    "/t",
                    "list",
                    "--app",
                    "api",
                    "--cluster",
                    "prod",
                ],
            ),
        ),
    ] {
        rows.check(
            id,
            cmd,
            2,
            "ssmm: error: --cluster is only used with --layout ecs",
            &watch,
        );
    }
    rows.check(
        "include-tag-with-ecs-layout",
        args(
            ssmm(d),
            &[
                "--layout",
                "ecs",
                "--cluster",
                "prod",
                "sync",
                "--app",
                "web",
            ],
        )
        .args(["--include-tag", "env=prod"]),
        2,
        "ssmm: error: --include-tag is only used with the team layout",
        &watch,
    );

    for (id, app) in [
        ("app-slash", "a/b"),
        ("app-empty", ""),
        ("app-dot", "."),
        ("app-dotdot", ".."),
        ("app-space", "a b"),
    ] {
        let msg = format!(
            "ssmm: error: invalid app name {app:?}: use one path segment of A-Z a-z 0-9 _ . -"
        );
        let cmd = args(ssmm(d), &["--prefix", "/t", "sync", "--app", app]);
        rows.check(id, cmd, 2, &msg, &watch);
    }
    // Non-ASCII names are escaped once: the bug showed `--app wéb` as
    // "w\\u{e9}b" (Debug of the already escaped name).
    for (id, cmd) in [
        (
            "app-non-ascii",
            args(ssmm(d), &["--prefix", "/t", "sync", "--app", "wéb"]),
        ),
        (
            "app-non-ascii-put",
            args(ssmm(d), &["--prefix", "/t", "put", "--app", "wéb", "A=1"]),
        ),
    ] {
        rows.check(
            id,
            cmd,
            2,
            r#"ssmm: error: invalid app name "w\u{e9}b": use one path segment"#,
            &watch,
        );
    }
    rows.check(
        "prefix-non-ascii",
        sync("/wéb"),
        2,
        r#"ssmm: error: invalid prefix "/w\u{e9}b": its segments may only use"#,
        &watch,
    );
    let cmd = args(ssmm(d), &["--prefix", "/t", "sync"]).env("SSMM_APP", "a/b");
    rows.check(
        "app-env-invalid",
        cmd,
        2,
        "ssmm: error: invalid app name \"a/b\"",
        &watch,
    );
    rows.check(
        "app-shared",
        sync("/t").args(["--app", "shared"]),
        2,
        "ssmm: error: \"shared\" is the shared layer, not an app",
        &watch,
    );

    let spaced = d.join("has space");
    fs::create_dir(&spaced).unwrap();
    let cmd = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(&spaced)
        .args(["--prefix", "/t", "sync"]);
    rows.check(
        "app-from-directory-invalid",
        cmd,
        2,
        "ssmm: error: invalid app name \"has space\": use one path segment of A-Z a-z 0-9 _ . - (taken from the current directory's name); pass --app",
        &watch,
    );
    let out = d.join("x.env");
    let cmd = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir("/")
        .args(["--prefix", "/t", "sync", "--no-files", "--out"])
        .arg(&out);
    rows.check(
        "app-from-root-directory",
        cmd,
        2,
        "ssmm: error: cannot take the app name from the current directory (it has no name); pass --app",
        &watch,
    );
    for (id, command) in [
        ("one-app-put", vec!["put", "A_TOKEN=zq-leak-7391"]),
        ("one-app-show", vec!["show", "A"]),
        ("one-app-diff", vec!["diff"]),
        ("one-app-tag", vec!["tag", "list", "A"]),
    ] {
        let name = command[0];
        let cmd = args(ssmm(d), &["--prefix", "/t"])
            .args(&command)
            .args(["--app", "a", "--app", "b"]);
        let msg = format!("ssmm: error: {name} takes one --app");
        rows.check(id, cmd, 2, &msg, &watch);
    }

    let ecs = |cluster: &str| {
        args(
            ssmm(d),
            &[
                "--layout",
                "ecs",
                "--cluster",
                cluster,
                "sync",
                "--app",
                "web",
            ],
        )
    };
    for (id, cluster) in [("cluster-slash", "a/b"), ("cluster-empty", "")] {
        let msg = format!("ssmm: error: invalid cluster name {cluster:?}");
        rows.check(id, ecs(cluster), 2, &msg, &watch);
    }
    let cmd =
        args(ssmm(d), &["--layout", "ecs", "sync", "--app", "web"]).env("SSMM_CLUSTER", "a b");
    rows.check(
        "cluster-env-invalid",
        cmd,
        2,
        "ssmm: error: invalid cluster name \"a b\"",
        &watch,
    );
    rows.finish();
}

/// The parser's refusals and flag values: exit 2 before anything runs.
#[test]
fn cli_misuse_and_bad_flag_values_change_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/a"), LEAK);
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]).ssm(&p);
    // id | arguments (split on whitespace) | the message (`\n`: a newline)
    let table = r#"
unknown-flag                          | sync --bogus                                        | error: unexpected argument '--bogus' found
unknown-subcommand                    | frobnicate                                          | error: unrecognized subcommand 'frobnicate'
no-subcommand                         |                                                     | error: 'ssmm' requires a subcommand but one was not provided
tag-without-action                    | tag                                                 | Usage: ssmm tag [OPTIONS] <COMMAND>
root-with-no-files                    | sync --app api --root r --no-files                  | error: the argument '--root <DIR>' cannot be used with '--no-files'
verbose-with-quiet                    | sync --app api -v -q                                | error: the argument '--verbose...' cannot be used with '--quiet'
exec-without-command                  | exec --app api                                      | error: the following required arguments were not provided:\n  <CMD>...
exec-format-without-out               | exec --app api --format json -- true                | error: the following required arguments were not provided:\n  --out <PATH>
migrate-confirm-without-delete-old    | migrate api api-v2 --confirm                        | error: the following required arguments were not provided:\n  --delete-old
migrate-backup-dir-without-delete-old | migrate api api-v2 --backup-dir b                   | error: the following required arguments were not provided:\n  --delete-old
migrate-overwrite-with-delete-old     | migrate api api-v2 --overwrite --delete-old         | error: the argument '--overwrite' cannot be used with '--delete-old'
migrate-one-argument                  | migrate api                                         | error: the following required arguments were not provided:\n  <NEW>
list-keys-only-with-json              | list --app api --keys-only --json                   | error: the argument '--keys-only' cannot be used with '--json'
list-all-with-app                     | list --all --app api                                | ssmm: error: --all lists every app; drop --app
delete-key-with-all                   | delete A --all --app api -y                         | error: the argument '[KEY]' cannot be used with '--all'
delete-nothing-named                  | delete                                              | error: the following required arguments were not provided:\n  <KEY>
put-plain-all-with-secure             | put --app api A=zq-leak-7391 --plain-all --secure A | error: the argument '--plain-all' cannot be used with '--secure <KEY>'
tag-add-without-tags                  | tag add A --app api                                 | error: the following required arguments were not provided:\n  <K=V>...
duration-not-a-number                 | sync --app api --ecs-timeout soon                   | error: invalid value 'soon' for '--ecs-timeout <DURATION>': invalid duration "soon": expected e.g. 10s, 500ms, 2m
duration-negative                     | sync --app api --ecs-timeout=-1s                    | error: invalid value '-1s' for '--ecs-timeout <DURATION>': invalid duration "-1s"
duration-bad-unit                     | sync --app api --ecs-timeout 10h                    | invalid duration unit in "10h": use ms, s or m
duration-out-of-range                 | sync --app api --ecs-timeout 100000s                | duration "100000s" out of range
timeout-zero                          | sync --app api --timeout 0                          | error: invalid value '0' for '--timeout <DURATION>': timeout "0" must be more than 0
total-timeout-zero                    | sync --app api --total-timeout 0s                   | timeout "0s" must be more than 0
size-not-a-number                     | sync --app api --max-file-size MiB                  | error: invalid value 'MiB' for '--max-file-size <SIZE>': invalid size "MiB": expected e.g. 64MiB, 512KiB, 1048576
size-bad-unit                         | sync --app api --max-file-size 1TiB                 | invalid size unit in "1TiB": use B, KiB, MiB, GiB, KB, MB or GB
size-overflow                         | sync --app api --max-file-size 20000000000GB        | size "20000000000GB" out of range
size-too-many-digits                  | sync --app api --max-file-size 99999999999999999999 | invalid size "99999999999999999999"
read-concurrency-zero                 | sync --app api --read-concurrency 0                 | error: invalid value '0' for '--read-concurrency <N>': 0 is not in 1..=256
write-concurrency-too-high            | put --app api A=zq-leak-7391 --write-concurrency 65 | error: invalid value '65' for '--write-concurrency <N>': 65 is not in 1..=64
max-attempts-too-high                 | sync --app api --max-attempts 101                   | error: invalid value '101' for '--max-attempts <N>': 101 is not in 1..=100
format-unknown                        | sync --app api --format yaml                        | error: invalid value 'yaml' for '--format <FORMAT>'
retry-mode-unknown                    | sync --app api --retry-mode fast                    | error: invalid value 'fast' for '--retry-mode <RETRY_MODE>'
key-case-unknown                      | sync --app api --key-case lower                     | error: invalid value 'lower' for '--key-case <KEY_CASE>'
fetch-strategy-unknown                | sync --app api --fetch-strategy x                   | error: invalid value 'x' for '--fetch-strategy <FETCH_STRATEGY>'
log-format-unknown                    | sync --app api --log-format xml                     | error: invalid value 'xml' for '--log-format <LOG_FORMAT>'
env-syntax-unknown                    | put --app api --env-syntax x A=zq-leak-7391         | error: invalid value 'x' for '--env-syntax <SYNTAX>'
completions-unknown-shell             | completions nosh                                    | error: invalid value 'nosh' for '<SHELL>'
include-tag-no-value                  | sync --app api --include-tag novalue                | ssmm: error: invalid --include-tag "novalue": expected KEY=VALUE with a non-empty key
include-tag-empty-key                 | sync --app api --include-tag =v                     | ssmm: error: invalid --include-tag "=v"
include-tag-bad-character             | sync --app api --include-tag k=a;b                  | ssmm: error: invalid --include-tag "k=a;b"
list-tag-no-value                     | list --app api --tag x                              | ssmm: error: invalid --tag "x": expected KEY=VALUE with a non-empty key
"#;
    let mut cases = rows::table(table);
    cases.push((
        "out-empty",
        vec!["sync", "--app", "api", "--out", ""],
        "error: a value is required for '--out <PATH>' but none was supplied".to_owned(),
    ));
    for (id, list, msg) in cases {
        let cmd = args(ssmm(d), &["--prefix", &p]).args(&list);
        rows.check(id, cmd, 2, &msg, &watch);
    }
    let cmd = ssmm(d)
        .args(["--prefix", &p, "sync", "--app"])
        .arg(OsStr::from_bytes(b"api\xff"));
    rows.check(
        "argument-not-utf8",
        cmd,
        2,
        "error: invalid UTF-8 was detected in one or more arguments",
        &watch,
    );
    // No argument at all: the whole help text on stderr, not the error that
    // options without a subcommand get (`no-subcommand` above).
    let out = rows.check_all(
        "no-subcommand-bare",
        ssmm(d),
        2,
        &[
            "AWS SSM Parameter Store as the source of truth",
            "\nUsage: ssmm [OPTIONS] <COMMAND>\n",
            "\nCommands:\n",
        ],
        &watch,
    );
    if out.stderr.contains("error:") || !out.stdout.is_empty() {
        rows.fail(
            "no-subcommand-bare",
            format!("expected only the help text, on stderr\n{out}"),
        );
    }
    rows.finish();
}

/// `--strict`: every problem listed, then one summary line; exit 3.
#[test]
fn strict_violations_exit_3_listing_every_problem() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    let m = moto();
    m.put_secure(&format!("{p}/api/1password"), LEAK);
    m.put_secure(&format!("{p}/api/db.host"), LEAK);
    m.put_secure(&format!("{p}/api/db-host"), LEAK);
    m.put_secure(&format!("{p}/shared/db-host"), LEAK);
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let out = rows.check(
        "strict-all-kinds",
        args(ssmm(d), &["--prefix", &p, "sync", "--app", "api", "--strict"]),
        3,
        "ssmm: error: --strict: 3 problem(s) found (duplicate keys, invalid names, overrides); nothing written or started",
        &watch,
    );
    for line in [
        format!("ssmm: error: {p}/api/1password: its key is not a valid variable name"),
        format!(
            "ssmm: error: DB_HOST: {p}/api/db.host and {p}/api/db-host map to the same variable"
        ),
        format!(
            "ssmm: error: DB_HOST: app:api ({p}/api/db.host) overrides shared ({p}/shared/db-host)"
        ),
    ] {
        if !out.stderr.contains(&line) {
            rows.fail("strict-all-kinds", format!("stderr lacks {line:?}\n{out}"));
        }
    }
    let marker = d.join("started");
    let cmd = args(
        ssmm(d),
        &["--prefix", &p, "exec", "--app", "api", "--strict"],
    )
    .args(["--no-shared", "--", "touch"])
    .arg(&marker);
    rows.check(
        "strict-exec",
        cmd,
        3,
        "ssmm: error: --strict: 2 problem(s) found (duplicate keys, invalid names)",
        &watch,
    );
    rows.finish();
}

/// Names with control characters (moto accepts them, AWS does not) in
/// `exec`'s warnings (invalid and duplicate keys), its `--strict` errors
/// and an SSM error: escaped, one line each, never raw.
#[test]
fn exec_warnings_and_ssm_errors_escape_control_characters_in_names() {
    let mut rows = Rows::new();
    let m = moto();
    let p = unique_prefix();
    m.put_secure(&format!("{p}/api/ok"), LEAK);
    m.put_secure(&format!("{p}/api/bad\u{1b}[31mkey"), LEAK);
    m.put_secure(&format!("{p}/api/two\nlines"), LEAK);
    // Two tagged parameters of other apps, one variable.
    for name in [
        format!("{p}/x\ny/db-host"),
        format!("{p}/y\u{1b}[1m/db-host"),
    ] {
        m.put_secure(&name, LEAK);
        m.add_tags(&name, &[("env", "prod")]);
    }
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let problems = [
        format!(r"{p}/api/bad\u{{1b}}[31mkey: its key is not a valid variable name; skipped"),
        format!(r"{p}/api/two\nlines: its key is not a valid variable name; skipped"),
        format!(
            r"DB_HOST: {p}/y\u{{1b}}[1m/db-host and {p}/x\ny/db-host map to the same variable; using {p}/y\u{{1b}}[1m/db-host"
        ),
    ];
    let one_line_each = |rows: &mut Rows, id: &str, out: &Outcome| {
        for why in raw_controls(out) {
            rows.fail(id, format!("{why}\n{out}"));
        }
    };
    let exec = |extra: &[&str]| {
        args(ssmm(d), &["--prefix", &p, "exec", "--app", "api"])
            .args(["--include-tag", "env=prod"])
            .args(extra)
    };

    let warnings: Vec<String> = problems
        .iter()
        .map(|w| format!("ssmm: warning: {w}"))
        .collect();
    let needles: Vec<&str> = warnings.iter().map(String::as_str).collect();
    let out = rows.check_all(
        "exec-warnings-escaped",
        exec(&["--", "true"]),
        0,
        &needles,
        &watch,
    );
    one_line_each(&mut rows, "exec-warnings-escaped", &out);

    let marker = d.join("started");
    let errors: Vec<String> = problems
        .iter()
        .map(|w| format!("ssmm: error: {w}"))
        .collect();
    let needles: Vec<&str> = errors.iter().map(String::as_str).collect();
    let cmd = exec(&["--strict", "--", "touch"]).arg(&marker);
    let out = rows.check_all("exec-strict-errors-escaped", cmd, 3, &needles, &watch);
    one_line_each(&mut rows, "exec-strict-errors-escaped", &out);

    // An SSM error naming such a parameter: GetParameters (the describe
    // strategy) failing for the only one of its layer.
    let q = unique_prefix();
    m.put_secure(&format!("{q}/api/red\u{1b}[31m-key"), LEAK);
    let proxy = FaultProxy::start(&m.endpoint());
    proxy.set_plan(Plan::always(Fault::Status(500)).only(&["GetParameters"]));
    let cmd = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(d)
        .args(["--prefix", &q, "sync", "--app", "api", "--no-shared"])
        // Two attempts: the injected 500s fail GetParameters all the same,
        // and a 500 of moto's own under load does not fail the listing.
        .args(["--fetch-strategy", "describe", "--max-attempts", "2"]);
    let msg = format!(r"ssmm: error: GetParameters {q}/api/red\u{{1b}}[31m-key (and 0 more): ");
    let out = rows.check("ssm-error-escaped", cmd, 1, &msg, &watch);
    one_line_each(&mut rows, "ssm-error-escaped", &out);
    rows.finish();
}

/// Values a format (or the environment) cannot carry: exit 1 naming the
/// variable, never the value, nothing written or started.
#[test]
fn values_the_output_cannot_hold_name_the_key_and_change_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let m = moto();
    let seed = |key: &str, value: &str| {
        let p = unique_prefix();
        m.put_secure(&format!("{p}/api/ok"), "fine");
        m.put_secure(&format!("{p}/api/{key}"), value);
        m.put(&format!("{p}/api/files/conf.yml"), "a: 1\n");
        p
    };
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let sync = |p: &str, format: &str| {
        args(
            ssmm(d),
            &["--prefix", p, "sync", "--app", "api", "--root", "root"],
        )
        .args(["--format", format, "--out", "out.env"])
    };

    let nul = seed("tok", &format!("{LEAK}\0x"));
    for format in ["systemd", "shell", "docker", "dotenv", "json"] {
        let msg = format!(
            "ssmm: error: cannot write TOK in {format} format: the value contains a NUL byte"
        );
        rows.check(
            &format!("nul-{format}"),
            sync(&nul, format),
            1,
            &msg,
            &watch,
        );
    }
    let marker = d.join("started");
    let cmd = args(ssmm(d), &["--prefix", &nul, "exec", "--app", "api"])
        .args(["--root", "root", "--", "touch"])
        .arg(&marker);
    rows.check(
        "nul-exec-environment",
        cmd,
        1,
        "ssmm: error: TOK: the value contains a NUL byte and cannot be passed in the environment",
        &watch,
    );

    for (id, key, value, format, reason) in [
        (
            "docker-newline",
            "pem",
            format!("{LEAK}\nline2"),
            "docker",
            "docker env files cannot hold a newline or carriage return",
        ),
        (
            "docker-carriage-return",
            "pem",
            format!("{LEAK}\rx"),
            "docker",
            "docker env files cannot hold a newline or carriage return",
        ),
        (
            "docker-quote-wrapped",
            "pem",
            format!("'{LEAK}'"),
            "docker",
            "the value starts and ends with the same quote character",
        ),
        (
            "docker-double-quote-wrapped",
            "pem",
            format!("\"{LEAK}\""),
            "docker",
            "the value starts and ends with the same quote character",
        ),
        (
            "dotenv-interpolation",
            "pem",
            format!("{LEAK}${{HOME}}"),
            "dotenv",
            "python-dotenv would expand the ${...} reference in the value",
        ),
        (
            "dotenv-no-quoting",
            "pem",
            format!("{LEAK} it's \"x\"\nline2"),
            "dotenv",
            "no quoting reads back the same in python-dotenv and npm dotenv",
        ),
    ] {
        let p = seed(key, &value);
        let msg = format!("ssmm: error: cannot write PEM in {format} format: {reason}");
        rows.check(id, sync(&p, format), 1, &msg, &watch);
    }

    // Over docker's 64 KiB line: more than SSM stores, but moto takes it.
    let p = unique_prefix();
    let call = m
        .client()
        .put_parameter()
        .name(format!("{p}/api/long"))
        .value(format!("{LEAK}{}", "x".repeat(70_000)))
        .r#type(ParameterType::String)
        .tier(ParameterTier::Advanced)
        .overwrite(true)
        .send();
    block_on(call).expect("moto takes a 70 KB value");
    rows.check(
        "docker-line-too-long",
        sync(&p, "docker"),
        1,
        "ssmm: error: cannot write LONG in docker format: docker env files cannot hold a line longer than 65535 bytes",
        &watch,
    );
    rows.finish();
}

/// SSM's JSON carries Unicode strings; an answer whose value is not (an
/// unpaired surrogate escape, raw bytes that are not UTF-8) fails the whole
/// page: exit 1 naming the path (not the key, which the SDK never hands
/// over), nothing written.
#[test]
fn an_ssm_answer_with_a_value_that_is_not_unicode_fails_closed() {
    let mut rows = Rows::new().secret(LEAK);
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let bodies: [(&str, Vec<u8>); 2] = [
        (
            "value-unpaired-surrogate",
            format!(r#"{{"Parameters":[{{"Name":"/t/api/tok","Value":"{LEAK}\ud800x","Type":"SecureString"}}]}}"#).into_bytes(),
        ),
        (
            "value-invalid-utf8",
            [
                br#"{"Parameters":[{"Name":"/t/api/tok","Value":"zq-leak-7391"#.as_slice(),
                b"\xff\xfe",
                br#"x","Type":"SecureString"}]}"#.as_slice(),
            ]
            .concat(),
        ),
    ];
    for (id, body) in bodies {
        let srv = Server::start(move |_| {
            Reply::new(200, body.clone()).header("Content-Type", "application/x-amz-json-1.1")
        });
        let endpoint = srv.base();
        let cmd = Ssmm::new()
            .endpoint(&endpoint)
            .current_dir(d)
            .args(["--prefix", "/t", "sync", "--app", "api", "--no-shared"])
            .args(["--max-attempts", "1"]);
        // The stable part: the operation and path, then the status.
        rows.check_all(
            id,
            cmd,
            1,
            &["ssmm: error: GetParametersByPath /t/api: ", "(HTTP 200"],
            &watch,
        );
    }
    rows.finish();
}

/// `put`'s own checks: names, flags and tags, before any write.
#[test]
fn put_argument_and_flag_errors_write_no_parameter() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]).ssm(&p);
    // One byte over each tier's limit, the canary included.
    let over_standard = format!("A={LEAK}{}", "x".repeat(4097 - LEAK.len()));
    let over_advanced = format!("A={LEAK}{}", "x".repeat(8193 - LEAK.len()));
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "put-name-starts-with-digit",
            vec!["1BAD=zq-leak-7391"],
            "ssmm: error: argument 1: invalid variable name (use A-Z a-z 0-9 _ not starting with a digit, or a key of A-Z a-z 0-9 _ . -)",
        ),
        (
            "put-name-with-space",
            vec!["OK=zq-leak-7391", "A B=zq-leak-7391"],
            "ssmm: error: argument 2: invalid variable name",
        ),
        (
            "put-name-empty",
            vec!["=zq-leak-7391"],
            "ssmm: error: argument 1: invalid variable name",
        ),
        (
            "put-nothing",
            vec![],
            "ssmm: error: nothing to put: give KEY=VALUE arguments or --env FILE",
        ),
        (
            "put-plain-key-invalid",
            vec!["A=zq-leak-7391", "--plain-key", "bad key"],
            "ssmm: error: invalid --plain-key \"bad key\": expected a variable name or key",
        ),
        (
            "put-secure-invalid",
            vec!["A=zq-leak-7391", "--secure", "1x"],
            "ssmm: error: invalid --secure \"1x\": expected a variable name or key",
        ),
        (
            "put-tag-no-value",
            vec!["A=zq-leak-7391", "--tag", "bad"],
            "ssmm: error: invalid --tag \"bad\": expected KEY=VALUE with a non-empty key",
        ),
        (
            "put-tag-app",
            vec!["A=zq-leak-7391", "--tag", "app=x"],
            "ssmm: error: --tag app=... is not needed: every parameter is tagged app=api",
        ),
        (
            "put-empty-value",
            vec!["A_TOKEN="],
            "ssmm: error: A_TOKEN (argument 1): empty value; SSM cannot store an empty parameter",
        ),
        (
            "put-value-over-standard",
            vec![over_standard.as_str()],
            "ssmm: error: A: the value is 4097 bytes, over the 4096 of a standard parameter (pass --advanced for up to 8192)",
        ),
        (
            "put-value-over-advanced",
            vec!["--advanced", over_advanced.as_str()],
            "ssmm: error: A: the value is 8193 bytes, over the 8192 of an advanced parameter (the most SSM stores; use a files/ parameter with url: instead)",
        ),
        (
            "put-plain-key-names-nothing",
            vec!["A=zq-leak-7391", "--plain-key", "B"],
            "ssmm: error: --plain-key B names no variable being put",
        ),
        (
            "put-plain-key-and-secure",
            vec!["A=zq-leak-7391", "--plain-key", "A", "--secure", "a"],
            "ssmm: error: A is given to both --plain-key and --secure",
        ),
        (
            "put-env-missing-file",
            vec!["--env", "nope.env"],
            "ssmm: error: reading nope.env: No such file or directory",
        ),
        (
            "put-env-directory",
            vec!["--env", "."],
            "ssmm: error: reading .: Is a directory",
        ),
    ];
    for (id, list, msg) in cases {
        let code = if id.starts_with("put-env-") { 1 } else { 2 };
        let cmd = args(ssmm(d), &["--prefix", &p, "put", "--app", "api"]).args(&list);
        rows.check(id, cmd, code, msg, &watch);
    }
    let cmd = args(
        ssmm(d),
        &["--prefix", &p, "put", "--app", "api", "--env", "-"],
    )
    .stdin_bytes("");
    rows.check(
        "put-env-stdin-empty",
        cmd,
        2,
        "ssmm: error: nothing to put",
        &watch,
    );
    rows.finish();
}

/// SSM refuses a write: the variable, the parameter and SSM's error code
/// with a fixed explanation, never SSM's message (it repeats the value).
#[test]
fn a_write_ssm_refuses_names_the_parameter_and_the_code_only() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(
        Plan::always(Fault::Error {
            status: 400,
            code: "ValidationException".into(),
            message: format!("Value '{LEAK}' at 'value' failed to satisfy constraint"),
        })
        .only(&["PutParameter"]),
    );
    let dir = workdir();
    let d = dir.path();
    let cmd = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(d)
        .args(["--prefix", &p, "put", "--app", "api", "TOKEN=zq-leak-7391"]);
    let name = format!("ssmm: error: TOKEN: PutParameter {p}/api/token: ValidationException: ");
    rows.check_all(
        "put-refused-by-ssm",
        cmd,
        1,
        &[&name, "ssmm: error: 1 of 1 parameters were not written"],
        &Watch::dirs(&[d]).ssm(&p),
    );
    rows.finish();
}

/// The same variable twice (file and argument, or two spellings): a
/// warning naming both places, and the last one is written.
#[test]
fn put_of_a_variable_set_twice_warns_and_keeps_the_last() {
    let p = unique_prefix();
    let dir = workdir();
    let d = dir.path();
    fs::write(d.join("in.env"), format!("A_B={LEAK}-file\n")).unwrap();
    let out = ssmm(d)
        .args(["--prefix", &p, "put", "--app", "api", "--env", "in.env"])
        .arg(format!("a-b={LEAK}-arg"))
        .timeout(ROW_TIMEOUT)
        .run();
    out.success().stderr_contains(
        "ssmm: warning: A_B: set in in.env line 1 and argument 1; the last one wins",
    );
    assert!(!out.combined().contains(LEAK), "[put-set-twice] {out}");
    assert!(
        !out.combined().contains("panicked"),
        "[put-set-twice] {out}"
    );
    assert_eq!(
        moto().get(&format!("{p}/api/a-b")),
        Some(format!("{LEAK}-arg")),
        "[put-set-twice]"
    );
}

/// Every `.env` parse error, for `put --env` (file and stdin) and `diff
/// --env`: `FILE: line N: reason`, exit 2, never the line's text.
#[test]
fn env_file_parse_errors_name_the_file_and_line_for_put_and_diff() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/a"), LEAK);
    let dir = workdir();
    let d = dir.path();
    let cases: [(&str, &[u8], usize, &str); 11] = [
        (
            "env-not-utf8",
            b"A=zq-leak-7391\nB=zq-leak-7391\xff\n",
            2,
            "not valid UTF-8",
        ),
        (
            "env-nul",
            b"A=zq-leak-7391\nB=zq-leak-7391\0x\n",
            2,
            "NUL byte",
        ),
        (
            "env-lone-cr",
            b"A=zq-leak-7391\nB=zq-leak-7391\rx\n",
            2,
            "carriage return outside quotes",
        ),
        (
            "env-cr-line-ending",
            b"A=zq-leak-7391\r",
            1,
            "carriage return outside quotes",
        ),
        (
            "env-no-equals",
            b"A=zq-leak-7391\n\nzq-leak-7391 pasted alone\n",
            3,
            "expected NAME=VALUE",
        ),
        (
            "env-bad-name",
            b"A-B=zq-leak-7391\n",
            1,
            "invalid variable name",
        ),
        (
            "env-name-starts-with-digit",
            b"1A=zq-leak-7391\n",
            1,
            "invalid variable name",
        ),
        (
            "env-bom-inside",
            b"A=zq-leak-7391\n\xef\xbb\xbfB=zq-leak-7391\n",
            2,
            "invalid variable name",
        ),
        (
            "env-text-after-quote",
            b"A=\"zq-leak-7391\" zq-leak-7391\n",
            1,
            "unexpected text after the closing quote",
        ),
        (
            "env-unterminated-single",
            b"A=1\nB='zq-leak-7391\nmore\n",
            2,
            "unterminated single quote",
        ),
        (
            "env-unterminated-double",
            b"A=1\n\nB=\"zq-leak-7391\n",
            3,
            "unterminated double quote",
        ),
    ];
    let watch = Watch::dirs(&[d]).ssm(&p);
    for (id, bytes, line, reason) in cases {
        let file = format!("{id}.env");
        fs::write(d.join(&file), bytes).unwrap();
        let msg = format!("ssmm: error: {file}: line {line}: {reason}");
        let put = args(
            ssmm(d),
            &["--prefix", &p, "put", "--app", "api", "--env", &file],
        );
        rows.check(&format!("{id}-put"), put, 2, &msg, &watch);
        let diff = args(
            ssmm(d),
            &["--prefix", &p, "diff", "--app", "api", "--env", &file],
        );
        rows.check(&format!("{id}-diff"), diff, 2, &msg, &watch);
        let stdin = args(
            ssmm(d),
            &["--prefix", &p, "put", "--app", "api", "--env", "-"],
        )
        .stdin_bytes(bytes);
        let msg = format!("ssmm: error: -: line {line}: {reason}");
        rows.check(&format!("{id}-stdin"), stdin, 2, &msg, &watch);
    }
    // A file that is not there is a runtime error (exit 1), not a parse error.
    let diff = args(
        ssmm(d),
        &["--prefix", &p, "diff", "--app", "api", "--env", "nope.env"],
    );
    rows.check(
        "diff-env-missing-file",
        diff,
        1,
        "ssmm: error: reading nope.env: No such file or directory (os error 2)",
        &watch,
    );
    rows.finish();
}

/// `files/` paths that are not plain relative paths, or that the disk under
/// the root makes unusable: exit 1 naming the parameter, nothing written
/// (neither the other files nor the env file).
#[test]
fn file_parameter_paths_that_leave_or_break_the_root_change_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let m = moto();
    let dir = workdir();
    let d = dir.path();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("victim"), "keep").unwrap();
    let root = d.join("root");
    fs::create_dir(&root).unwrap();
    symlink(outside.path(), root.join("out-link")).unwrap();
    symlink(outside.path().join("victim"), root.join("victim-link")).unwrap();
    symlink("/nonexistent-ssmm-target", root.join("dangling")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    fs::write(root.join("plainfile"), "x").unwrap();
    fs::create_dir(root.join("adir")).unwrap();
    let watch = Watch::dirs(&[d, outside.path()]);
    let long = "s".repeat(256);
    // A row refusing the one path `rel` for `why`...
    let bad = |id, rel: &str, why: String| {
        let msg = format!("path {rel:?} refused: {why}");
        (id, vec![rel.to_owned()], msg)
    };
    // ...or for what is at `target` under the root.
    let at = |id, rel: &str, target: &str, what: &str| {
        bad(id, rel, format!("{} {what}", root.join(target).display()))
    };
    let cases: Vec<(&str, Vec<String>, String)> = vec![
        bad(
            "file-absolute",
            "/etc/abs",
            "absolute paths are not allowed".into(),
        ),
        bad(
            "file-dotdot",
            "../up",
            "'..' segments are not allowed".into(),
        ),
        bad(
            "file-dotdot-inside",
            "sub/../../up",
            "'..' segments are not allowed".into(),
        ),
        bad("file-dot", "./dot", "'.' segments are not allowed".into()),
        bad(
            "file-empty-segment",
            "a//b",
            "empty path segment ('//')".into(),
        ),
        bad(
            "file-trailing-slash",
            "a/",
            "a trailing '/' names no file".into(),
        ),
        bad(
            "file-control-character",
            "a\tb",
            "NUL and control characters are not allowed".into(),
        ),
        bad(
            "file-segment-too-long",
            &long,
            "a segment is longer than 255 bytes".into(),
        ),
        at(
            "file-symlinked-dir-outside",
            "out-link/f",
            "out-link",
            "is a symlink leading outside the root",
        ),
        at(
            "file-symlink-outside",
            "victim-link",
            "victim-link",
            "is a symlink leading outside the root",
        ),
        at(
            "file-dangling-symlink",
            "dangling/f",
            "dangling",
            "is a symlink that cannot be resolved (dangling or a loop)",
        ),
        at(
            "file-looping-symlink",
            "loop/f",
            "loop",
            "is a symlink that cannot be resolved (dangling or a loop)",
        ),
        at(
            "file-parent-is-a-file",
            "plainfile/f",
            "plainfile",
            "exists and is not a directory",
        ),
    ];
    for (id, rels, why) in cases {
        let p = unique_prefix();
        m.put_secure(&format!("{p}/api/a"), LEAK);
        // Sorted first, so a half-done write would show.
        m.put_secure(&format!("{p}/api/files/0-first.txt"), LEAK);
        for rel in &rels {
            m.put_secure(&format!("{p}/api/files/{rel}"), LEAK);
        }
        let name = ssmm::names::printable(&format!("{p}/api/files/{}", rels[0]));
        let msg = format!("ssmm: error: file parameter {name}: {why}");
        let cmd = args(
            ssmm(d),
            &["--prefix", &p, "sync", "--app", "api", "--root", "root"],
        );
        rows.check(id, cmd, 1, &msg, &watch);
    }

    // A file and a file below it: one of them cannot be written.
    let p = unique_prefix();
    m.put_secure(&format!("{p}/api/files/a"), LEAK);
    m.put_secure(&format!("{p}/api/files/a/b"), LEAK);
    let cmd = args(
        ssmm(d),
        &["--prefix", &p, "sync", "--app", "api", "--root", "root"],
    );
    let msg = format!(
        "ssmm: error: file parameter {p}/api/files/a/b: path \"a/b\" refused: a parent directory is a file from {p}/api/files/a"
    );
    rows.check("file-and-its-parent", cmd, 1, &msg, &watch);

    // The root itself is a regular file.
    let p = unique_prefix();
    m.put_secure(&format!("{p}/api/files/conf.yml"), LEAK);
    let cmd = args(
        ssmm(d),
        &[
            "--prefix",
            &p,
            "sync",
            "--app",
            "api",
            "--root",
            "root/plainfile",
        ],
    );
    let msg = format!(
        "ssmm: error: file parameter {p}/api/files/conf.yml: path \"conf.yml\" refused: the root {} is not a directory",
        root.join("plainfile").display()
    );
    rows.check("file-root-not-a-directory", cmd, 1, &msg, &watch);

    // The same through exec: nothing written, nothing started.
    let p = unique_prefix();
    m.put_secure(&format!("{p}/api/files/../up"), LEAK);
    let marker = d.join("started");
    let cmd = args(
        ssmm(d),
        &["--prefix", &p, "exec", "--app", "api", "--root", "root"],
    )
    .args(["--", "touch"])
    .arg(&marker);
    rows.check(
        "file-dotdot-exec",
        cmd,
        1,
        "'..' segments are not allowed",
        &watch,
    );
    rows.finish();
}

/// `base64:` and `url:` values refused before any download.
#[test]
fn file_parameter_contents_and_urls_are_refused_before_any_download() {
    let mut rows = Rows::new().secret(LEAK);
    let m = moto();
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let cases: [(&str, String, &str); 9] = [
        (
            "base64-bad-character",
            format!("base64:{LEAK}!!"),
            // `z`, `q` are base64, `-` at offset 2 is not.
            "the value is not valid base64 (invalid character at offset 2, whitespace ignored)",
        ),
        (
            "base64-truncated",
            "base64:abcde".into(),
            "the value is not valid base64 (truncated input)",
        ),
        (
            "url-plain-http-not-loopback",
            format!("url:http://10.0.0.1/x?X-Amz-Signature={LEAK}"),
            "url: plain http:// is allowed only to loopback addresses (127.0.0.0/8, ::1, localhost); use https://",
        ),
        (
            "url-other-scheme",
            format!("url:ftp://example.invalid/x?{LEAK}"),
            "url: scheme \"ftp\" is not allowed; use https://",
        ),
        (
            "url-file-scheme",
            "url:file:///etc/shadow".into(),
            "url: scheme \"file\" is not allowed; use https://",
        ),
        (
            "url-not-a-url",
            format!("url:not a url {LEAK}"),
            "url: not a valid URL (",
        ),
        (
            "url-other-fragment",
            format!("url:https://example.invalid/x?{LEAK}#md5=abc"),
            "url: the only fragment understood is #sha256=<64 hex digits>",
        ),
        (
            "url-sha256-too-short",
            format!("url:https://example.invalid/x?{LEAK}#sha256=abc"),
            "url: #sha256= needs exactly 64 hex digits",
        ),
        (
            "url-sha256-not-hex",
            format!(
                "url:https://example.invalid/x?{LEAK}#sha256={}",
                "g".repeat(64)
            ),
            "url: #sha256= needs exactly 64 hex digits",
        ),
    ];
    for (id, value, why) in cases {
        let p = unique_prefix();
        m.put_secure(&format!("{p}/api/files/0-first.txt"), LEAK);
        m.put_secure(&format!("{p}/api/files/f.bin"), &value);
        let msg = format!("ssmm: error: file parameter {p}/api/files/f.bin: {why}");
        let cmd = args(
            ssmm(d),
            &["--prefix", &p, "sync", "--app", "api", "--root", "root"],
        );
        rows.check(id, cmd, 1, &msg, &watch);
    }
    rows.finish();
}

/// `.tmpl` templates that cannot be rendered, or name no file: exit 1
/// naming the parameter (and the line or the variable), never the template.
#[test]
fn templates_that_cannot_be_rendered_change_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let m = moto();
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let name_needed = "a template needs a file name before \".tmpl\"";
    let cases: [(&str, &str, String, &str, &[&str]); 11] = [
        (
            "template-undefined-variable",
            "app.conf.tmpl",
            format!("{LEAK}\n{{{{ NOPE }}}}"),
            "undefined variable NOPE in the template on line 2",
            &[],
        ),
        (
            "template-syntax-error",
            "app.conf.tmpl",
            format!("ok\n{{% if '{LEAK}' == %}}"),
            "syntax error in the template on line 2",
            &[],
        ),
        (
            "template-include",
            "app.conf.tmpl",
            format!("{{% include '/etc/passwd' %}}{LEAK}"),
            "syntax error in the template on line 1",
            &[],
        ),
        (
            "template-unknown-filter",
            "app.conf.tmpl",
            format!("{{{{ '{LEAK}' | nosuch }}}}"),
            "template error on line 1: unknown filter",
            &[],
        ),
        (
            "template-not-utf8",
            "app.conf.tmpl",
            "base64:/w==".into(),
            "the template is not valid UTF-8 text (at byte 0)",
            &[],
        ),
        (
            "template-out-of-fuel",
            "loop.tmpl",
            format!(
                "{{% for i in range(100000) %}}{{% for j in range(100000) %}}{LEAK}{{% endfor %}}{{% endfor %}}"
            ),
            "the template did not finish rendering within its limit of",
            &["--max-file-size", "1GiB"],
        ),
        (
            "template-over-max-file-size",
            "big.tmpl",
            format!("{{% for i in range(1000) %}}{LEAK}{{% endfor %}}"),
            "the rendered file is larger than the limit of 4096 bytes (--max-file-size)",
            &["--max-file-size", "4KiB"],
        ),
        (
            "template-name-only-suffix",
            ".tmpl",
            LEAK.into(),
            &format!("path \".tmpl\" refused: {name_needed}"),
            &[],
        ),
        (
            "template-dir-name-only-suffix",
            "conf/.tmpl",
            LEAK.into(),
            &format!("path \"conf/.tmpl\" refused: {name_needed}"),
            &[],
        ),
        (
            "template-dotdot",
            "../up.tmpl",
            LEAK.into(),
            "path \"../up.tmpl\" refused: '..' segments are not allowed",
            &[],
        ),
        (
            "template-renders-to-out",
            ".env.tmpl",
            LEAK.into(),
            "path \".env\" is the --out file itself (root/.env); nothing written",
            &["--out", "root/.env"],
        ),
    ];
    for (id, rel, value, why, extra) in cases {
        let p = unique_prefix();
        m.put_secure(&format!("{p}/api/a"), LEAK);
        m.put_secure(&format!("{p}/api/files/0-first.txt"), LEAK);
        m.put_secure(&format!("{p}/api/files/{rel}"), &value);
        let msg = format!("ssmm: error: file parameter {p}/api/files/{rel}: {why}");
        let mut cmd = args(
            ssmm(d),
            &["--prefix", &p, "sync", "--app", "api", "--root", "root"],
        );
        cmd = cmd.args(extra);
        let code = if id == "template-renders-to-out" {
            2
        } else {
            1
        };
        rows.check(id, cmd, code, &msg, &watch);
    }

    // A template and a plain file for one path in one layer.
    let p = unique_prefix();
    m.put_secure(&format!("{p}/api/files/a.conf"), LEAK);
    m.put_secure(&format!("{p}/api/files/a.conf.tmpl"), LEAK);
    let cmd = args(
        ssmm(d),
        &["--prefix", &p, "sync", "--app", "api", "--root", "root"],
    );
    let msg = format!(
        "ssmm: error: file parameter {p}/api/files/a.conf: path \"a.conf\" refused: the same file comes from {p}/api/files/a.conf.tmpl"
    );
    rows.check("template-and-plain-one-layer", cmd, 1, &msg, &watch);

    // The same through exec: nothing written, nothing started.
    let p = unique_prefix();
    m.put_secure(&format!("{p}/api/files/app.conf.tmpl"), "{{ NOPE }}");
    let marker = d.join("started");
    let cmd = args(
        ssmm(d),
        &["--prefix", &p, "exec", "--app", "api", "--root", "root"],
    )
    .args(["--", "touch"])
    .arg(&marker);
    rows.check(
        "template-undefined-variable-exec",
        cmd,
        1,
        "undefined variable NOPE in the template on line 1",
        &watch,
    );
    rows.finish();
}

/// `url:` downloads from a loopback server that go wrong: exit 1 naming the
/// parameter and the URL without its query, nothing written.
#[test]
fn url_downloads_that_go_wrong_change_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let m = moto();
    let srv = Server::start(|req| {
        let path = req.target.as_str();
        if path.starts_with("/ok") {
            Reply::new(200, "hello\n")
        } else if path.starts_with("/big") {
            Reply::new(200, vec![b'x'; 5000])
        } else if path.starts_with("/forbidden") {
            Reply::new(403, format!("<Error>{LEAK}</Error>"))
        } else if path.starts_with("/redirect-out") {
            Reply::redirect(302, "http://10.0.0.1/x")
        } else if path.starts_with("/stall") {
            Reply::stall(Duration::from_secs(30))
        } else {
            Reply::new(404, "")
        }
    });
    let base = srv.base();
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let q = format!("?X-Amz-Signature={LEAK}");
    let cases: Vec<(&str, String, String, Vec<&str>)> = vec![
        (
            "url-sha256-mismatch",
            format!("url:{base}/ok{q}#sha256={}", "0".repeat(64)),
            format!(
                "sha256 of the download from {base}/ok does not match (expected 000000000000..., got "
            ),
            vec![],
        ),
        (
            "url-over-max-file-size",
            format!("url:{base}/big{q}"),
            format!(
                "download from {base}/big is larger than the limit of 4096 bytes (--max-file-size)"
            ),
            vec!["--max-file-size", "4KiB"],
        ),
        (
            "url-http-error",
            format!("url:{base}/forbidden{q}"),
            format!("download from {base}/forbidden: HTTP 403 Forbidden"),
            vec![],
        ),
        (
            "url-connection-refused",
            format!("url:{refused}/x{q}"),
            format!("download from {refused}/x failed: error sending request"),
            vec![],
        ),
        (
            "url-redirect-to-plain-http",
            format!("url:{base}/redirect-out{q}"),
            format!(
                "download from {base}/redirect-out failed: error following redirect: redirect to http://10.0.0.1/x refused: plain http:// is allowed only to loopback addresses"
            ),
            vec![],
        ),
    ];
    for (id, value, why, extra) in cases {
        let p = unique_prefix();
        m.put_secure(&format!("{p}/api/files/0-first.txt"), LEAK);
        m.put_secure(&format!("{p}/api/files/f.bin"), &value);
        let msg = format!("ssmm: error: file parameter {p}/api/files/f.bin: {why}");
        let cmd = args(
            ssmm(d),
            &["--prefix", &p, "sync", "--app", "api", "--root", "root"],
        )
        .args(&extra);
        rows.check(id, cmd, 1, &msg, &watch);
    }
    // A download that never ends is cut by --total-timeout.
    let p = unique_prefix();
    m.put_secure(
        &format!("{p}/api/files/f.bin"),
        &format!("url:{base}/stall{q}"),
    );
    let cmd = args(
        ssmm(d),
        &["--prefix", &p, "sync", "--app", "api", "--root", "root"],
    )
    .args(["--total-timeout", "2s"]);
    rows.check(
        "url-stalls",
        cmd,
        1,
        "ssmm: error: gave up after 2s (--total-timeout): SSM or a download did not finish in time",
        &watch,
    );
    rows.finish();
}

/// `ssm:` references in the inherited environment of `exec`.
#[test]
fn ssm_reference_errors_start_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/a"), LEAK);
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let marker = d.join("started");
    let exec = |var: &str, value: &str| {
        args(
            ssmm(d),
            &["--prefix", &p, "exec", "--app", "api", "--out", "x.env"],
        )
        .env(var, value)
        .args(["--", "touch"])
        .arg(&marker)
    };
    for (id, value, shown) in [
        (
            "ref-name-with-space",
            "ssm:/bad name".to_string(),
            "/bad name".to_string(),
        ),
        (
            "ref-trailing-slash",
            format!("ssm:{p}/api/"),
            format!("{p}/api/"),
        ),
        (
            "ref-empty-segment",
            format!("ssm:{p}//a"),
            format!("{p}//a"),
        ),
        ("ref-root-only", "ssm:///".to_string(), "/".to_string()),
    ] {
        let msg = format!(
            "ssmm: error: $REF holds an ssm: reference to an invalid parameter name {shown:?}"
        );
        rows.check(id, exec("REF", &value), 2, &msg, &watch);
    }
    let msg =
        format!("ssmm: error: $REF refers to {p}/api/nope, which does not exist or cannot be read");
    rows.check(
        "ref-missing",
        exec("REF", &format!("ssm://{p}/api/nope")),
        1,
        &msg,
        &watch,
    );
    rows.finish();
}

/// `$ECS_CONTAINER_METADATA_FILE` set but unusable: exit 1 naming the file.
#[test]
fn ecs_metadata_file_problems_exit_1_and_change_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let mut big = br#"{"MetadataFileStatus":"READY","Cluster":"prod","Pad":""#.to_vec();
    big.resize(2 * 1024 * 1024, b'a');
    big.extend_from_slice(b"\"}");
    let cases: Vec<(&str, Vec<u8>, &str, i32)> = vec![
        (
            "ecs-file-never-ready",
            br#"{"Cluster":"prod","ContainerName":"web"}"#.to_vec(),
            "not READY after 500ms",
            1,
        ),
        (
            "ecs-file-status-pending",
            br#"{"Cluster":"prod","MetadataFileStatus":"PENDING"}"#.to_vec(),
            "not READY after 500ms",
            1,
        ),
        (
            "ecs-file-not-json",
            b"{ not json".to_vec(),
            "not valid JSON after 500ms",
            1,
        ),
        (
            "ecs-file-not-an-object",
            b"[1, 2]".to_vec(),
            "not a JSON object after 500ms",
            1,
        ),
        (
            "ecs-file-missing-cluster",
            br#"{"ContainerName":"web","MetadataFileStatus":"READY"}"#.to_vec(),
            "missing Cluster",
            1,
        ),
        (
            "ecs-file-cluster-not-a-string",
            br#"{"Cluster":42,"MetadataFileStatus":"READY"}"#.to_vec(),
            "Cluster is not a string",
            1,
        ),
        ("ecs-file-too-large", big, "larger than 1 MiB", 1),
    ];
    for (id, content, why, code) in cases {
        let meta = d.join(format!("{id}.json"));
        fs::write(&meta, content).unwrap();
        let msg = format!("ssmm: error: ECS metadata file {}: {why}", meta.display());
        let cmd = args(
            ssmm(d),
            &["--layout", "ecs", "--ecs-timeout", "500ms", "sync"],
        )
        .env("ECS_CONTAINER_METADATA_FILE", &meta);
        rows.check(id, cmd, code, &msg, &watch);
    }
    let missing = d.join("missing.json");
    let cmd = args(
        ssmm(d),
        &["--layout", "ecs", "--ecs-timeout", "500ms", "sync"],
    )
    .env("ECS_CONTAINER_METADATA_FILE", &missing);
    let msg = format!(
        "ssmm: error: ECS metadata file {}: does not exist after 500ms",
        missing.display()
    );
    rows.check("ecs-file-never-appears", cmd, 1, &msg, &watch);
    let sub = d.join("adir");
    fs::create_dir(&sub).unwrap();
    let cmd = args(ssmm(d), &["--layout", "ecs", "sync"]).env("ECS_CONTAINER_METADATA_FILE", &sub);
    let msg = format!(
        "ssmm: error: ECS metadata file {}: not a regular file",
        sub.display()
    );
    rows.check("ecs-file-is-a-directory", cmd, 1, &msg, &watch);
    // Never opened: opening a FIFO would block until a writer came.
    let fifo = d.join("fifo.json");
    make_fifo(&fifo);
    let device = d.join("nul.json");
    make_null_device(&device);
    for (id, path) in [
        ("ecs-file-is-a-fifo", &fifo),
        ("ecs-file-is-a-device", &device),
    ] {
        let cmd =
            args(ssmm(d), &["--layout", "ecs", "sync"]).env("ECS_CONTAINER_METADATA_FILE", path);
        let msg = format!(
            "ssmm: error: ECS metadata file {}: not a regular file",
            path.display()
        );
        rows.check(id, cmd, 1, &msg, &watch);
    }

    // Names ECS gave that cannot be used: exit 2, like the same names given
    // on the command line.
    for (id, content, msg) in [
        (
            "ecs-container-name-invalid",
            r#"{"Cluster":"prod","ContainerName":"my app","MetadataFileStatus":"READY"}"#,
            "ssmm: error: invalid app name \"my app\": use one path segment of A-Z a-z 0-9 _ . - (taken from the ECS container name); pass --app",
        ),
        (
            "ecs-cluster-name-invalid",
            r#"{"Cluster":"a b","ContainerName":"web","MetadataFileStatus":"READY"}"#,
            "ssmm: error: invalid cluster name \"a b\"",
        ),
    ] {
        let meta = d.join(format!("{id}.json"));
        fs::write(&meta, content).unwrap();
        let cmd =
            args(ssmm(d), &["--layout", "ecs", "sync"]).env("ECS_CONTAINER_METADATA_FILE", &meta);
        rows.check(id, cmd, 2, msg, &watch);
    }
    rows.finish();
}

/// `$ECS_CONTAINER_METADATA_URI_V4` set but broken: exit 1 naming the URL.
#[test]
fn ecs_metadata_endpoint_problems_exit_1_and_change_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let srv = Server::start(|req| {
        let path = req.target.as_str();
        let task = path.ends_with("/task");
        let mode = path
            .trim_start_matches("/v4/")
            .split('/')
            .next()
            .unwrap_or("");
        match mode {
            "e404" => Reply::new(404, "{}"),
            "e500" => Reply::new(500, "oops"),
            "html" => Reply::new(200, "<html>"),
            "array" => Reply::new(200, "[]"),
            "nocluster" if task => Reply::new(200, r#"{"Family":"f"}"#),
            "nocluster" => Reply::new(200, r#"{"Name":"web","Labels":{}}"#),
            "slow" => Reply::stall(Duration::from_secs(5)),
            _ => Reply::new(404, "{}"),
        }
    });
    let base = srv.base();
    let refused = format!("http://127.0.0.1:{}/v4", closed_port());
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    // The container and task requests run at once; either may be the one
    // that fails first, so the URL is checked up to the base.
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "ecs-endpoint-http-4xx",
            format!("{base}/v4/e404"),
            ": HTTP 404",
        ),
        (
            "ecs-endpoint-http-5xx",
            format!("{base}/v4/e500"),
            ": HTTP 500 after 3 attempts",
        ),
        (
            "ecs-endpoint-not-json",
            format!("{base}/v4/html"),
            ": not valid JSON",
        ),
        (
            "ecs-endpoint-not-an-object",
            format!("{base}/v4/array"),
            ": not a JSON object",
        ),
        (
            "ecs-endpoint-missing-cluster",
            format!("{base}/v4/nocluster"),
            ": missing Cluster (task) and label com.amazonaws.ecs.cluster (container)",
        ),
        (
            "ecs-endpoint-timeout",
            format!("{base}/v4/slow"),
            ": timed out, no answer within 1s",
        ),
        (
            "ecs-endpoint-refused",
            refused.clone(),
            ": cannot connect (",
        ),
        (
            "ecs-endpoint-not-http",
            "ftp://127.0.0.1/v4".into(),
            ": not an http(s) URL",
        ),
    ];
    for (id, uri, why) in cases {
        let cmd = args(ssmm(d), &["--layout", "ecs", "--ecs-timeout", "1s", "sync"])
            .env("ECS_CONTAINER_METADATA_URI_V4", &uri);
        let named = if uri.starts_with("ftp") {
            format!("ssmm: error: ECS metadata endpoint {uri:?}")
        } else {
            format!("ssmm: error: ECS metadata endpoint {uri}")
        };
        rows.check_all(id, cmd, 1, &[&named, why], &watch);
    }
    rows.finish();
}

/// Admin KEY arguments, tags and migrate paths: refused before SSM changes.
#[test]
fn admin_key_tag_and_path_errors_change_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/k"), LEAK);
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]).ssm(&p);
    let nested = format!("{p}/api/x");
    let key_why = "segments may only use A-Z a-z 0-9 _ . - (and not be '.', '..' or empty)";
    let cases: Vec<(&str, Vec<&str>, String, i32)> = vec![
        (
            "key-with-space",
            vec!["show", "a b", "--app", "api"],
            format!("ssmm: error: invalid KEY \"a b\": {key_why}"),
            2,
        ),
        (
            "key-dotdot",
            vec!["delete", "a/../b", "--app", "api"],
            format!("ssmm: error: invalid KEY \"a/../b\": {key_why}"),
            2,
        ),
        (
            "key-empty-segment",
            vec!["tag", "list", "a//b", "--app", "api"],
            format!("ssmm: error: invalid KEY \"a//b\": {key_why}"),
            2,
        ),
        (
            "key-non-ascii",
            vec!["show", "wéb", "--app", "api"],
            format!("ssmm: error: invalid KEY \"w\\u{{e9}}b\": {key_why}"),
            2,
        ),
        (
            "key-outside-prefix",
            vec!["show", "/elsewhere/api/k"],
            format!(
                "ssmm: error: invalid KEY \"/elsewhere/api/k\": a full name must lie under the prefix {p}/"
            ),
            2,
        ),
        (
            "show-missing",
            vec!["show", "NOPE", "--app", "api"],
            format!("ssmm: error: parameter {p}/api/nope not found"),
            1,
        ),
        (
            "delete-missing",
            vec!["delete", "NOPE", "--app", "api"],
            format!("ssmm: error: parameter {p}/api/nope not found"),
            1,
        ),
        (
            "tag-missing-parameter",
            vec!["tag", "add", "NOPE", "a=b", "--app", "api"],
            format!("ssmm: error: AddTagsToResource {p}/api/nope: InvalidResourceId"),
            1,
        ),
        (
            "tag-list-missing-parameter",
            vec!["tag", "list", "NOPE", "--app", "api"],
            format!(
                "ssmm: error: ListTagsForResource {p}/api/nope: InvalidResourceId: it does not exist"
            ),
            1,
        ),
        (
            "tag-remove-missing-parameter",
            vec!["tag", "remove", "NOPE", "owner", "--app", "api"],
            format!(
                "ssmm: error: ListTagsForResource {p}/api/nope: InvalidResourceId: it does not exist"
            ),
            1,
        ),
        (
            "tag-add-no-value",
            vec!["tag", "add", "k", "novalue", "--app", "api"],
            "ssmm: error: invalid tag \"novalue\": expected KEY=VALUE with a non-empty key".into(),
            2,
        ),
        (
            "tag-remove-pair",
            vec!["tag", "remove", "k", "a=b", "--app", "api"],
            "ssmm: error: invalid tag key \"a=b\": give keys only (tag remove KEY K...)".into(),
            2,
        ),
        (
            "tag-remove-empty",
            vec!["tag", "remove", "k", "", "--app", "api"],
            "ssmm: error: invalid tag key \"\"".into(),
            2,
        ),
        (
            "delete-all-app-invalid",
            vec!["delete", "--all", "--app", "a/b", "-y"],
            "ssmm: error: invalid app name \"a/b\"".into(),
            2,
        ),
        (
            "delete-all-two-apps",
            vec!["delete", "--all", "-y", "--app", "api", "--app", "web"],
            "ssmm: error: delete --all needs exactly one --app on the command line".into(),
            2,
        ),
        (
            "migrate-app-with-slash",
            vec!["migrate", "api", "api/x"],
            "ssmm: error: invalid app name \"api/x\"".into(),
            2,
        ),
        (
            "migrate-path-trailing-slash",
            vec!["migrate", "api", "/x/a/"],
            "ssmm: error: invalid path \"/x/a/\": it must not end with '/'".into(),
            2,
        ),
        (
            "migrate-same",
            vec!["migrate", "api", "api"],
            format!(
                "ssmm: error: {p}/api and {p}/api overlap: migrate between separate namespaces"
            ),
            2,
        ),
        (
            "migrate-nested",
            vec!["migrate", "api", &nested],
            format!("ssmm: error: {p}/api and {p}/api/x overlap"),
            2,
        ),
        (
            "migrate-nothing-under-old",
            vec!["migrate", "nothing-here", "api-v3"],
            format!("ssmm: error: no parameters under {p}/nothing-here/"),
            1,
        ),
    ];
    for (id, list, msg, code) in cases {
        let cmd = args(ssmm(d), &["--prefix", &p]).args(&list);
        rows.check(id, cmd, code, &msg, &watch);
    }
    // Full paths need no prefix; an app name does.
    let cmd = args(ssmm(d), &["migrate", "api", "api-v2"]);
    rows.check(
        "migrate-app-without-prefix",
        cmd,
        2,
        "Error: no prefix configured.",
        &watch,
    );
    // `$SSMM_APP` does not count: the app to wipe is typed out.
    let cmd = args(ssmm(d), &["--prefix", &p, "delete", "--all", "-y"]).env("SSMM_APP", "api");
    rows.check(
        "delete-all-app-from-env",
        cmd,
        2,
        "ssmm: error: delete --all needs exactly one --app on the command line",
        &watch,
    );
    // The copy made, the backup cannot be written: nothing is deleted.
    let copy = args(ssmm(d), &["--prefix", &p, "migrate", "api", "api-v2"]).run();
    if copy.code != Some(0) || copy.combined().contains(LEAK) {
        rows.fail(
            "migrate-backup-dir-missing",
            format!("the copy failed\n{copy}"),
        );
    }
    let cmd = args(ssmm(d), &["--prefix", &p, "migrate", "api", "api-v2"]).args([
        "--delete-old",
        "--confirm",
        "--backup-dir",
        "no/such",
    ]);
    let backup = format!(
        "ssmm: error: creating the backup {}/ssmm-migrate-backup-",
        d.join("no/such").display()
    );
    rows.check_all(
        "migrate-backup-dir-missing",
        cmd,
        1,
        &[&backup, ".json: No such file or directory (os error 2)"],
        &watch,
    );
    rows.finish();
}

/// Reaching SSM: an endpoint that is not a URL, no credentials anywhere.
#[test]
fn aws_configuration_errors_fail_closed() {
    let mut rows = Rows::new().secret(LEAK);
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let cmd = Ssmm::new()
        .current_dir(d)
        .args([
            "--endpoint-url",
            "not a url",
            "--prefix",
            "/t",
            "sync",
            "--app",
            "api",
        ])
        .args(["--max-attempts", "1"]);
    rows.check(
        "endpoint-not-a-url",
        cmd,
        1,
        "request failed: other: failed to apply endpoint `not a url`: endpoint is not a valid URI",
        &watch,
    );
    // No credentials in the environment or profile files, IMDS disabled:
    // the chain fails without a network call.
    let cmd = ssmm(d)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([
            "--prefix",
            "/t",
            "sync",
            "--app",
            "api",
            "--max-attempts",
            "1",
        ]);
    rows.check(
        "no-credentials",
        cmd,
        2,
        "ssmm: error: no AWS credentials found (profile \"default\"): tried the environment",
        &watch,
    );
    rows.finish();
}

/// A script without `#!` is not retried through /bin/sh: 126.
#[test]
fn exec_of_a_script_without_a_shebang_is_126() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/a"), LEAK);
    let dir = workdir();
    let d = dir.path();
    let script = d.join("no-shebang.sh");
    fs::write(
        &script,
        format!("touch '{}'\n", d.join("started").display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let cmd = args(ssmm(d), &["--prefix", &p, "exec", "--app", "api", "--"]).arg(&script);
    let msg = format!(
        "ssmm: error: {}: cannot execute: exec format error (a script needs a #! line)",
        script.display()
    );
    rows.check("exec-no-shebang", cmd, 126, &msg, &Watch::dirs(&[d]));
    rows.finish();
}

/// An `--out` that cannot be written: exit 1 naming it, or 2 when it is a
/// directory (without files/ parameters, so no partial write is possible; see the
/// bug test below).
#[test]
fn an_out_path_that_cannot_be_written_is_an_error() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/a"), LEAK);
    let dir = workdir();
    let d = dir.path();
    fs::write(d.join("plain"), "x").unwrap();
    fs::create_dir(d.join("sub")).unwrap();
    let watch = Watch::dirs(&[d]);
    let under_a_file = format!(
        "ssmm: error: writing plain/x.env: {} is not a directory",
        d.join("plain").display()
    );
    for (id, out, code, msg) in [
        (
            "out-is-a-directory",
            "sub",
            2,
            "ssmm: error: writing sub: it is a directory, not a regular file; ssmm replaces only regular files and symlinks",
        ),
        ("out-under-a-file", "plain/x.env", 1, under_a_file.as_str()),
    ] {
        let cmd = args(
            ssmm(d),
            &["--prefix", &p, "sync", "--app", "api", "--out", out],
        );
        rows.check(id, cmd, code, msg, &watch);
    }
    rows.finish();
}

// ------------------------------------------- known product bugs (failing)

/// Regression (fixed 2026-11-26): an empty region (`AWS_REGION=` or `--region ''`)
/// is not reported as a missing region (exit 2, "no AWS region configured")
/// but fails the first request with "could not build the request", exit 1,
/// which names neither the region nor the fix.
#[test]
fn an_empty_region_is_the_missing_region_usage_error() {
    let mut rows = Rows::new().secret(LEAK);
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let msg = "ssmm: error: no AWS region configured: pass --region or set AWS_REGION";
    let cmd = ssmm(d)
        .env("AWS_REGION", "")
        .args(["--prefix", "/t", "sync", "--app", "api"]);
    rows.check("region-empty-env", cmd, 2, msg, &watch);
    let cmd = ssmm(d)
        .env_remove("AWS_REGION")
        .args(["--region", "", "--prefix", "/t", "sync", "--app", "api"]);
    rows.check("region-empty-flag", cmd, 2, msg, &watch);
    rows.finish();
}

/// Regression (fixed 2026-11-26): `$SSMM_APP` and `$SSMM_LAYOUT` values that are
/// not UTF-8 are treated as unset (`config::process_env` uses
/// `std::env::var(..).ok()`), so ssmm silently falls back to the directory's
/// name and the team layout and syncs another app's parameters, exit 0.
/// Expected: a usage error (exit 2), nothing written.
#[test]
fn resolution_variables_that_are_not_utf8_are_refused_not_ignored() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/a"), LEAK);
    moto().put_secure(&format!("{p}/other/a"), LEAK);
    for (id, var, value) in [
        ("app-env-not-utf8", "SSMM_APP", b"api\xff".as_slice()),
        ("layout-env-not-utf8", "SSMM_LAYOUT", b"ecs\xff".as_slice()),
    ] {
        let top = tempfile::tempdir().unwrap();
        // The directory's name is an app that exists: the wrong one.
        let d = top.path().join("other");
        fs::create_dir(&d).unwrap();
        let cmd = ssmm(&d)
            .env(var, OsStr::from_bytes(value))
            .args(["--prefix", &p, "sync"]);
        let msg = format!("ssmm: error: ${var} is not valid UTF-8");
        rows.check(id, cmd, 2, &msg, &Watch::dirs(&[&d]));
    }
    rows.finish();
}

/// Regression (fixed 2026-11-26): `exec` writes `--out` and the files/ parameters
/// and only then finds that CMD does not exist (127) or cannot be run
/// (126). CMD is looked up in the PATH the child gets, which is known once
/// the layers are merged, before anything is written; a typo in CMD should
/// leave the disk as it was, like every other refusal.
#[test]
fn exec_with_a_command_it_cannot_run_writes_nothing() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/a"), LEAK);
    moto().put_secure(&format!("{p}/api/files/conf.yml"), LEAK);
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("not-executable");
    fs::write(&script, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    let cases: [(&str, &OsStr, i32, &str); 2] = [
        (
            "exec-command-not-found",
            OsStr::new("no-such-command-xyz"),
            127,
            "ssmm: error: no-such-command-xyz: command not found",
        ),
        (
            "exec-command-not-executable",
            script.as_os_str(),
            126,
            "permission denied",
        ),
    ];
    for (id, command, code, msg) in cases {
        // A fresh directory each: the first row's writes must not hide the
        // second's.
        let dir = workdir();
        let d = dir.path();
        let cmd = args(
            ssmm(d),
            &[
                "--prefix", &p, "exec", "--app", "api", "--root", "root", "--out", "app.env", "--",
            ],
        )
        .arg(command);
        rows.check(id, cmd, code, msg, &Watch::dirs(&[d]));
    }
    rows.finish();
}

/// Regression (fixed 2026-11-26): `sync` writes the files/ parameters before the
/// env file, so an `--out` it cannot write (a directory, a path under a
/// regular file) fails with exit 1 after the files under `--root` were
/// already replaced. README: "Fail closed: any failure exits non-zero ...
/// and leaves existing files untouched."
#[test]
fn an_out_path_that_cannot_be_written_leaves_the_files_untouched() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/a"), LEAK);
    moto().put_secure(&format!("{p}/api/files/conf.yml"), LEAK);
    let dir = workdir();
    let d = dir.path();
    fs::create_dir(d.join("sub")).unwrap();
    let cmd = args(
        ssmm(d),
        &[
            "--prefix", &p, "sync", "--app", "api", "--root", "root", "--out", "sub",
        ],
    );
    rows.check(
        "out-is-a-directory-with-files",
        cmd,
        2,
        "ssmm: error: writing sub: it is a directory",
        &Watch::dirs(&[d]),
    );
    rows.finish();
}

/// Regression (fixed 2026-11-26): a files/ path segment of 229 to 255 bytes passes
/// the path check (at most 255 bytes) but cannot be written: the temporary
/// name `.<name>.ssmm-<16 hex>.tmp` is 27 bytes longer and over NAME_MAX.
/// The failure comes at write time, after the files sorted before it were
/// written: exit 1 with a partial write. Expected: refused with the other
/// path errors, before anything is written.
#[test]
fn a_file_name_too_long_for_its_temporary_name_is_refused_before_writing() {
    let mut rows = Rows::new().secret(LEAK);
    let m = moto();
    let p = unique_prefix();
    let long = "z".repeat(240);
    m.put_secure(&format!("{p}/api/a"), LEAK);
    m.put_secure(&format!("{p}/api/files/a.txt"), LEAK);
    m.put_secure(&format!("{p}/api/files/{long}"), LEAK);
    let dir = workdir();
    let d = dir.path();
    let cmd = args(
        ssmm(d),
        &["--prefix", &p, "sync", "--app", "api", "--root", "root"],
    );
    let msg = format!("ssmm: error: file parameter {p}/api/files/{long}");
    rows.check(
        "file-name-too-long-for-temp",
        cmd,
        1,
        &msg,
        &Watch::dirs(&[d]),
    );
    rows.finish();
}

/// Regression (fixed 2026-11-26), unclear error: a tag whose key and value are
/// present but hold a character SSM does not allow in tags (`k=a;b`) is
/// refused with "expected KEY=VALUE with a non-empty key", which it is; the
/// message should say which characters are allowed.
#[test]
fn a_tag_with_a_disallowed_character_says_which_characters_are_allowed() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]).ssm(&p);
    for (id, list) in [
        (
            "include-tag-bad-character-message",
            vec!["sync", "--app", "api", "--include-tag", "k=a;b"],
        ),
        (
            "put-tag-bad-character-message",
            vec!["put", "--app", "api", "A=zq-leak-7391", "--tag", "k=a;b"],
        ),
    ] {
        let cmd = args(ssmm(d), &["--prefix", &p]).args(&list);
        rows.check(id, cmd, 2, "character", &watch);
    }
    rows.finish();
}

// ------------------------- found by trying it as a user would (regressions)

/// A character device made in `dir` (the null device's numbers): what
/// `--out /dev/null` would meet, without going near the real one.
fn make_null_device(path: &Path) {
    let status = std::process::Command::new("mknod")
        .arg(path)
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(status.success(), "mknod needs root");
}

fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Regression: as root, `sync --out X` where X was a character device or a
/// FIFO replaced it with a 0600 file of secrets, exit 0 (on a real host,
/// `--out /dev/null` would replace /dev/null itself). An existing target
/// that is neither a regular file nor a symlink is never replaced or
/// opened: exit 2 naming it, nothing written, nothing started.
#[test]
fn a_device_fifo_socket_or_directory_at_out_is_never_replaced() {
    let mut rows = Rows::new().secret(LEAK);
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/a"), LEAK);
    let dir = workdir();
    let d = dir.path();
    make_null_device(&d.join("nul"));
    make_fifo(&d.join("fifo"));
    let _socket = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    fs::create_dir(d.join("sub")).unwrap();
    let watch = Watch::dirs(&[d]);
    let marker = d.join("started");
    for (id, out, kind) in [
        ("out-is-a-character-device", "nul", "a character device"),
        ("out-is-a-fifo", "fifo", "a FIFO"),
        ("out-is-a-socket", "sock", "a socket"),
        ("out-is-a-directory-exec", "sub", "a directory"),
    ] {
        let msg = format!(
            "ssmm: error: writing {out}: it is {kind}, not a regular file; ssmm replaces only regular files and symlinks"
        );
        let cmd = args(
            ssmm(d),
            &["--prefix", &p, "sync", "--app", "api", "--out", out],
        );
        rows.check(&format!("{id}-sync"), cmd, 2, &msg, &watch);
        let cmd = args(
            ssmm(d),
            &["--prefix", &p, "exec", "--app", "api", "--out", out, "--"],
        )
        .arg("touch")
        .arg(&marker);
        rows.check(&format!("{id}-exec"), cmd, 2, &msg, &watch);
    }
    rows.finish();
    assert!(!marker.exists(), "the command was started");
}

/// Regression: a device node at a `files/` target was replaced by a file
/// holding the value. Now it is refused like `--out`: exit 2 naming the
/// parameter and the path, before any file is written.
#[test]
fn a_device_fifo_or_directory_at_a_files_target_is_never_replaced() {
    let mut rows = Rows::new().secret(LEAK);
    let m = moto();
    let dir = workdir();
    let d = dir.path();
    let root = d.join("root");
    fs::create_dir_all(root.join("conf")).unwrap();
    make_null_device(&root.join("conf/nul"));
    make_fifo(&root.join("pipe"));
    fs::create_dir(root.join("adir")).unwrap();
    let watch = Watch::dirs(&[d]);
    for (id, rel, kind) in [
        (
            "file-target-is-a-character-device",
            "conf/nul",
            "a character device",
        ),
        ("file-target-is-a-fifo", "pipe", "a FIFO"),
        ("file-target-is-a-directory", "adir", "a directory"),
    ] {
        let p = unique_prefix();
        m.put_secure(&format!("{p}/api/a"), LEAK);
        // Sorted first, so a half-done write would show.
        m.put_secure(&format!("{p}/api/files/0-first.txt"), LEAK);
        m.put_secure(&format!("{p}/api/files/{rel}"), LEAK);
        let msg = format!(
            "ssmm: error: file parameter {p}/api/files/{rel}: {}: it is {kind}, not a regular file",
            root.join(rel).display()
        );
        let cmd = args(
            ssmm(d),
            &["--prefix", &p, "sync", "--app", "api", "--root", "root"],
        );
        rows.check(id, cmd, 2, &msg, &watch);
    }
    rows.finish();
}

/// Regression: a `files/d/x` parameter with `--out d` wrote the files and
/// then failed on `--out` (fail-open), and a `files/app.env` parameter with
/// `--out app.env` was written and then overwritten by the env file on
/// every run. Both, and a file where `--out` needs a parent directory, are
/// refused before anything is written, naming the parameter.
#[test]
fn files_colliding_with_out_are_refused_before_anything_is_written() {
    let mut rows = Rows::new().secret(LEAK);
    let m = moto();
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let marker = d.join("started");
    for (id, rel, out, why) in [
        (
            "file-is-out",
            "app.env",
            "app.env",
            "is the --out file itself",
        ),
        (
            "file-is-out-spelt-otherwise",
            "app.env",
            "./x/../app.env",
            "is the --out file itself",
        ),
        (
            "file-is-the-default-out",
            ".env",
            ".env",
            "is the --out file itself",
        ),
        (
            "file-under-out",
            "d/x",
            "d",
            "would need the --out file to be a directory",
        ),
        (
            "file-is-a-parent-of-out",
            "conf",
            "conf/app.env",
            "is a parent directory of the --out file",
        ),
    ] {
        let p = unique_prefix();
        m.put_secure(&format!("{p}/api/a"), LEAK);
        m.put_secure(&format!("{p}/api/files/0-first.txt"), LEAK);
        m.put_secure(&format!("{p}/api/files/{rel}"), LEAK);
        let msg = format!(
            "ssmm: error: file parameter {p}/api/files/{rel}: path \"{rel}\" {why} ({out}); nothing written"
        );
        let cmd = args(
            ssmm(d),
            &["--prefix", &p, "sync", "--app", "api", "--out", out],
        );
        rows.check(&format!("{id}-sync"), cmd, 2, &msg, &watch);
        let cmd = args(
            ssmm(d),
            &["--prefix", &p, "exec", "--app", "api", "--out", out, "--"],
        )
        .arg("touch")
        .arg(&marker);
        rows.check(&format!("{id}-exec"), cmd, 2, &msg, &watch);
    }
    // --root given as another spelling of the working directory.
    let p = unique_prefix();
    m.put_secure(&format!("{p}/api/a"), LEAK);
    m.put_secure(&format!("{p}/api/files/app.env"), LEAK);
    let cmd = args(
        ssmm(d),
        &[
            "--prefix", &p, "sync", "--app", "api", "--root", "./", "--out", "app.env",
        ],
    );
    rows.check(
        "file-is-out-through-root",
        cmd,
        2,
        "path \"app.env\" is the --out file itself",
        &watch,
    );
    rows.finish();
    assert!(!marker.exists(), "the command was started");
}

/// Regression: with an existing `.env`, `--keep-on-error` turned bad data
/// and configuration errors into "keeping the existing .env", exit 0, so a
/// unit started on stale configuration forever. Only outages are ridden
/// out now; everything else fails as without the flag, `.env` untouched.
#[test]
fn keep_on_error_rides_out_outages_only() {
    let mut rows = Rows::new().secret(LEAK);
    let m = moto();
    let srv = Server::start(|req| {
        let path = req.target.as_str();
        if path.starts_with("/ok") {
            Reply::new(200, "hello\n")
        } else if path.starts_with("/unavailable") {
            Reply::new(503, "")
        } else {
            Reply::new(404, "")
        }
    });
    let base = srv.base();
    let dir = workdir();
    let d = dir.path();
    let watch = Watch::dirs(&[d]);
    let keep = [
        "sync",
        "--app",
        "api",
        "--keep-on-error",
        "--max-attempts",
        "2",
        // Throttling is sent again until this limit.
        "--total-timeout",
        "2s",
    ];

    // Bad data under files/: each fails, flag or not.
    let q = format!("?X-Amz-Signature={LEAK}");
    for (id, rel, value, code, msg) in [
        (
            "keep-dotdot-path",
            "x/../y".to_string(),
            LEAK.to_string(),
            1,
            "'..' segments are not allowed".to_string(),
        ),
        (
            "keep-bad-base64",
            "b.bin".into(),
            format!("base64:{LEAK}!!"),
            1,
            "is not valid base64".into(),
        ),
        (
            "keep-malformed-sha256",
            "u.txt".into(),
            format!("url:{base}/ok{q}#sha256=xyz"),
            1,
            "#sha256= needs exactly 64 hex digits".into(),
        ),
        (
            "keep-sha256-mismatch",
            "u.txt".into(),
            format!("url:{base}/ok{q}#sha256={}", "0".repeat(64)),
            1,
            format!("sha256 of the download from {base}/ok does not match"),
        ),
        (
            "keep-url-refused-by-policy",
            "u.txt".into(),
            "url:http://10.0.0.1/x".into(),
            1,
            "plain http:// is allowed only to loopback".into(),
        ),
    ] {
        let p = unique_prefix();
        m.put_secure(&format!("{p}/api/a"), LEAK);
        m.put_secure(&format!("{p}/api/files/{rel}"), &value);
        let cmd = ssmm(d).args(["--prefix", &p]).args(keep);
        rows.check(id, cmd, code, &msg, &watch);
    }

    let p = unique_prefix();
    m.put_secure(&format!("{p}/api/a"), LEAK);
    // Configuration: credentials, a profile, a directory at --out.
    let cmd = ssmm(d)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["--prefix", &p])
        .args(keep);
    rows.check(
        "keep-no-credentials",
        cmd,
        2,
        "no AWS credentials found",
        &watch,
    );
    // A profile that does not exist (no keys in the environment either:
    // with `--profile` they would not be used anyway).
    let cmd = ssmm(d)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["--prefix", &p, "--profile", "does-not-exist"])
        .args(keep);
    rows.check(
        "keep-missing-profile",
        cmd,
        2,
        "profile \"does-not-exist\" is in neither the shared config file nor the credentials file",
        &watch,
    );
    fs::create_dir(d.join("sub")).unwrap();
    let watch_sub = Watch::dirs(&[d]);
    let cmd = ssmm(d)
        .args(["--prefix", &p])
        .args(keep)
        .args(["--out", "sub", "--endpoint-url"])
        .arg(format!("http://127.0.0.1:{}", closed_port()));
    rows.check(
        "keep-out-is-a-directory",
        cmd,
        2,
        "writing sub: it is a directory",
        &watch_sub,
    );

    // AccessDenied from SSM.
    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(Plan::always(Fault::Error {
        status: 400,
        code: "AccessDeniedException".into(),
        message: "User is not authorized to perform ssm:GetParametersByPath".into(),
    }));
    let cmd = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(d)
        .args(["--prefix", &p])
        .args(keep);
    rows.check(
        "keep-access-denied",
        cmd,
        1,
        "AccessDeniedException",
        &watch_sub,
    );

    // Outages are kept: exit 0, a warning naming the failure, .env as it was.
    let kept = "keeping the existing .env (--keep-on-error)";
    for (id, plan, msg) in [
        (
            "keep-ssm-500",
            Plan::always(Fault::Status(500)),
            "InternalServerError",
        ),
        (
            "keep-ssm-throttled",
            Plan::always(Fault::Throttle),
            "ThrottlingException",
        ),
        (
            "keep-ssm-reset",
            Plan::always(Fault::Reset),
            "GetParametersByPath",
        ),
    ] {
        proxy.set_plan(plan);
        let cmd = Ssmm::new()
            .endpoint(&proxy.endpoint())
            .current_dir(d)
            .args(["--prefix", &p, "--retry-mode", "standard"])
            .args(keep);
        rows.check_all(id, cmd, 0, &[msg, kept], &watch_sub);
    }
    let cmd = ssmm(d)
        .args(["--prefix", &p])
        .args(keep)
        .args(["--endpoint-url"])
        .arg(format!("http://127.0.0.1:{}", closed_port()));
    rows.check_all(
        "keep-ssm-unreachable",
        cmd,
        0,
        &["Connection refused", kept],
        &watch_sub,
    );
    for (id, url, msg) in [
        (
            "keep-download-503",
            format!("url:{base}/unavailable{q}"),
            "HTTP 503".to_string(),
        ),
        (
            "keep-download-unreachable",
            format!("url:http://127.0.0.1:{}/x{q}", closed_port()),
            "failed".to_string(),
        ),
    ] {
        let p = unique_prefix();
        m.put_secure(&format!("{p}/api/a"), LEAK);
        m.put_secure(&format!("{p}/api/files/u.txt"), &url);
        let cmd = ssmm(d).args(["--prefix", &p]).args(keep);
        rows.check_all(id, cmd, 0, &[&msg, kept], &watch_sub);
    }
    // Without an existing .env nothing can be kept: the outage fails.
    let empty = tempfile::tempdir().unwrap();
    let cmd = Ssmm::new()
        .current_dir(empty.path())
        .args(["--prefix", &p])
        .args(keep)
        .args(["--endpoint-url"])
        .arg(format!("http://127.0.0.1:{}", closed_port()));
    rows.check(
        "keep-nothing-to-keep",
        cmd,
        1,
        "Connection refused",
        &Watch::dirs(&[empty.path()]),
    );
    rows.finish();
}

/// Regression: `exec` with an environment too large to exec (E2BIG) wrote
/// `--out` before execve failed. The size is checked first: exit 126,
/// nothing written, nothing started. The stack limit is lowered to 1 MiB so
/// that execve's room (a quarter of it) is 256 KiB, and the parameters take
/// more.
#[test]
fn exec_with_an_environment_too_large_to_exec_writes_nothing() {
    let p = unique_prefix();
    let items: Vec<(String, String)> = (0..70)
        .map(|i| {
            (
                format!("{p}/api/big-{i:02}"),
                format!("{LEAK}{}", "v".repeat(4000)),
            )
        })
        .collect();
    moto().put_many(&items);
    let dir = workdir();
    let d = dir.path();
    let marker = d.join("started");
    let mut rows = Rows::new().secret(LEAK);
    let cmd = Ssmm::with_program("sh")
        .endpoint(&moto().endpoint())
        .current_dir(d)
        .args(["-c", "ulimit -s 1024 && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_ssmm"))
        .args([
            "--prefix", &p, "exec", "--app", "api", "--out", "app.env", "--root", "root", "--",
        ])
        .arg("touch")
        .arg(&marker);
    rows.check(
        "exec-environment-too-large",
        cmd,
        126,
        "cannot execute: the arguments and environment take",
        &Watch::dirs(&[d]),
    );
    rows.finish();
    assert!(!marker.exists(), "the command was started");
}
