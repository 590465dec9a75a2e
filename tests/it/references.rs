//! `ssm:` references in `exec` (versions, labels, `#KEY` of JSON values,
//! Secrets Manager) and `--require`/`--require-from` on `sync` and `exec`
//! (`docs/CONTRACT.md` §3 "References"), against moto through the real
//! binary. Errors name the variable and the key, never a value.

use std::collections::BTreeMap;

use crate::support::fs::entries;
use crate::support::readers::env0;
use crate::support::{Run, Test, moto};

/// `ssmm exec --app api -- env -0` with `refs` as inherited `ssm:`
/// references (values printed by design).
fn exec_env(t: &Test, refs: &[(&str, String)]) -> BTreeMap<String, String> {
    env0(&exec_env_run(t, refs).stdout)
}

/// [`exec_env`]'s whole run, with `-v -v` (its last `API calls:` line
/// counts them all).
fn exec_env_run(t: &Test, refs: &[(&str, String)]) -> crate::support::Outcome {
    let mut run = t
        .ssmm(["-v", "-v", "exec", "--app", "api", "--", "env", "-0"])
        .reveals_all();
    for (var, target) in refs {
        run = run.env(var, format!("ssm:{target}"));
    }
    run.success().go()
}

/// `ssmm exec --app api ARGS -- touch started`, which must not start.
fn exec_touch(t: &Test, args: &[&str]) -> Run {
    t.ssmm(["exec", "--app", "api"])
        .args(args)
        .args(["--", "touch", "started"])
        .absent("started")
}

/// Labels version `version` of `name` with `label`.
fn label(name: &str, version: i64, label: &str) {
    let call = moto()
        .client()
        .label_parameter_version()
        .name(name)
        .parameter_version(version)
        .labels(label)
        .send();
    crate::support::moto::block_on(call).expect("LabelParameterVersion");
}

/// Creates a Secrets Manager secret holding `value` in moto; its id.
fn secret(t: &Test, value: &str) -> String {
    let id = format!("sm{}", &t.prefix()[2..]);
    t.secret(value);
    let python = crate::support::moto::cache_dir().join("moto-venv/bin/python");
    let status = std::process::Command::new(python)
        .arg("-c")
        .arg(format!(
            "import boto3,sys; boto3.client('secretsmanager', endpoint_url='{}', region_name='us-east-1', \
             aws_access_key_id='testing', aws_secret_access_key='testing')\
             .create_secret(Name='{id}', SecretString=sys.stdin.read())",
            moto().endpoint()
        ))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(value.as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(status.success());
    id
}

#[test]
fn versions_and_labels_select_the_value_and_each_is_fetched_once() {
    let t = Test::new().plain("api/a", "1");
    let db = t.name("db/password");
    for v in ["version-one", "version-two", "version-three"] {
        t.put_secure("db/password", v);
    }
    label(&db, 1, "stable");
    label(&db, 2, "live");
    let out = exec_env_run(
        &t,
        &[
            ("CURRENT", db.clone()),
            ("FIRST", format!("{db}:1")),
            ("FIRST_AGAIN", format!("//{db}:1")),
            ("STABLE", format!("{db}:stable")),
            ("LIVE", format!("{db}:live")),
        ],
    );
    // Four names of one parameter: four requests (SSM answers each with the
    // plain name, so no two may share a request), `:1` asked once.
    let calls = out.stderr.lines().rfind(|l| l.contains("API calls:"));
    assert!(
        calls.is_some_and(|l| l.contains("GetParameters=4,") || l.ends_with("GetParameters=4")),
        "{}",
        out.stderr
    );
    let env = env0(&out.stdout);
    assert_eq!(env["CURRENT"], "version-three");
    assert_eq!(env["FIRST"], "version-one");
    assert_eq!(env["FIRST_AGAIN"], "version-one");
    assert_eq!(env["STABLE"], "version-one");
    assert_eq!(env["LIVE"], "version-two");
}

#[test]
fn a_version_or_label_that_does_not_exist_starts_nothing() {
    let t = Test::new().plain("api/a", "1");
    t.put_secure("db", "only-version");
    let db = t.name("db");
    for selector in ["7", "blue"] {
        exec_touch(&t, &[])
            .env("DB", format!("ssm:{db}:{selector}"))
            .code(1)
            .stderr_has(format!(
                "$DB refers to {db}:{selector}, which does not exist or cannot be read"
            ))
            .writes_nothing()
            .go();
    }
}

#[test]
fn invalid_versions_labels_and_keys_are_usage_errors_before_ssm_is_asked() {
    let t = Test::new().plain("api/a", "1");
    for target in [
        "/a/b:0",
        "/a/b:aws-x",
        "/a/b:l l",
        "/a/b#",
        "/a/b:",
        "/a/b:1:2",
    ] {
        exec_touch(&t, &[])
            .endpoint("http://127.0.0.1:9")
            .env("REF", format!("ssm:{target}"))
            .code(2)
            .stderr_has("$REF holds an ssm: reference to an invalid")
            .writes_nothing()
            .go();
    }
}

#[test]
fn a_json_key_selects_a_string_as_is_and_other_json_compact() {
    let t = Test::new().plain("api/a", "1");
    t.put_secure(
        "db",
        r#"{"user": "admin", "password": "p@ss \"quoted\"", "port": 5432,
            "big": 123456789012345678901234567890, "opts": {"ssl": true, "hosts": ["a", "b"]}}"#,
    );
    let db = t.name("db");
    let sm = secret(&t, r#"{"username":"sm-user","password":"sm-pass"}"#);
    let env = exec_env(
        &t,
        &[
            ("USER", format!("{db}#user")),
            ("PASSWORD", format!("{db}#password")),
            ("PORT", format!("{db}:1#port")),
            ("BIG", format!("{db}#big")),
            ("OPTS", format!("{db}#opts")),
            (
                "SM_PASSWORD",
                format!("///aws/reference/secretsmanager/{sm}#password"),
            ),
            (
                "SM_USER",
                format!("/aws/reference/secretsmanager/{sm}#username"),
            ),
        ],
    );
    assert_eq!(env["USER"], "admin");
    assert_eq!(env["PASSWORD"], "p@ss \"quoted\"");
    assert_eq!(env["PORT"], "5432");
    assert_eq!(env["BIG"], "123456789012345678901234567890");
    assert_eq!(env["OPTS"], r#"{"ssl":true,"hosts":["a","b"]}"#);
    assert_eq!(env["SM_PASSWORD"], "sm-pass");
    assert_eq!(env["SM_USER"], "sm-user");
}

#[test]
fn a_key_that_cannot_be_selected_names_the_variable_and_the_key_never_the_value() {
    let t = Test::new().plain("api/a", "1");
    t.put_secure("text", "not-json-canary-7d1");
    t.put_secure("list", r#"["list-canary-7d1"]"#);
    t.put_secure("object", r#"{"other":"object-canary-7d1"}"#);
    for (rel, why) in [
        ("text", "whose value is not JSON"),
        ("list", "whose value is not a JSON object"),
        ("object", "which has no such key"),
    ] {
        exec_touch(&t, &["-v", "-v", "-v"])
            .env("PW", format!("ssm:{}#password", t.name(rel)))
            .code(1)
            .stderr_has(format!(
                "$PW selects key \"password\" of {}, {why}",
                t.name(rel)
            ))
            .stderr_lacks("canary-7d1")
            .writes_nothing()
            .go();
    }
}

// ---- --require / --require-from ----------------------------------------------

#[test]
fn sync_lists_every_missing_required_name_and_writes_nothing() {
    let t = Test::new()
        .plain("api/db-host", "db")
        .plain("api/port", "80")
        .file(".env", "OLD=1\n")
        .file(
            ".env.example",
            "# what the app reads\nDB_HOST=\nAPI_KEY=changeme\nexport SENTRY_DSN=\n",
        );
    t.ssmm([
        "sync",
        "--app",
        "api",
        "--require",
        "PORT",
        "--require",
        "TOKEN",
    ])
    .args(["--require-from", ".env.example"])
    .code(1)
    .stderr_has(
        "3 required variables missing from .env: TOKEN, API_KEY, SENTRY_DSN; nothing written",
    )
    .stderr_lacks("changeme")
    .writes_nothing()
    .go();
    t.ssmm([
        "sync",
        "--app",
        "api",
        "--require",
        "PORT",
        "--require-from",
        ".env.example",
    ])
    .args(["--out", "app.env"])
    .code(1)
    .stderr_has("missing from app.env: API_KEY, SENTRY_DSN;")
    .absent("app.env")
    .go();
    t.put("api/api-key", "k");
    t.put("api/sentry-dsn", "d");
    t.ssmm([
        "sync",
        "--app",
        "api",
        "--require",
        "PORT",
        "--require-from",
        ".env.example",
    ])
    .success()
    .go();
    assert!(t.read(".env").contains("API_KEY="));
}

#[test]
fn exec_requires_names_in_the_final_environment() {
    let t = Test::new().plain("api/db-host", "db");
    t.put_secure("token", "tok");
    let token = format!("ssm:{}", t.name("token"));
    // Parameters, inherited variables and resolved references all count.
    let out = t
        .ssmm([
            "exec",
            "--app",
            "api",
            "--require",
            "DB_HOST",
            "--require",
            "INHERITED",
        ])
        .args(["--require", "TOKEN", "--", "env", "-0"])
        .env("INHERITED", "x")
        .env("TOKEN", &token)
        .reveals_all()
        .success()
        .go();
    assert_eq!(env0(&out.stdout)["TOKEN"], "tok");
    // --pristine drops the inherited ones, references included.
    let args = [
        "--pristine",
        "--require",
        "DB_HOST",
        "--require",
        "INHERITED",
    ];
    exec_touch(&t, &[&args[..], &["--require", "TOKEN", "--out", "app.env"]].concat())
        .env("INHERITED", "x")
        .env("TOKEN", &token)
        .code(1)
        .stderr_has("2 required variables missing from the environment of touch: INHERITED, TOKEN; nothing written or started")
        .writes_nothing()
        .go();
}

#[test]
fn bad_require_input_is_a_usage_error_before_anything_is_fetched() {
    let t = Test::new()
        .file(".env", "OLD=1\n")
        .file("broken.env", "A='never closed secret-5c2\n");
    std::fs::create_dir(t.path("dir")).unwrap();
    nix::unistd::mkfifo(
        &t.path("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["--require", "a b"], "invalid --require \"a b\""),
        (&["--require", ""], "invalid --require \"\""),
        (
            &["--require-from", "missing.env"],
            "--require-from missing.env: No such file",
        ),
        (
            &["--require-from", "dir"],
            "--require-from dir: is a directory",
        ),
        (
            &["--require-from", "/dev/zero"],
            "--require-from /dev/zero: is a device",
        ),
        (
            &["--require-from", "broken.env"],
            "--require-from broken.env: line 1: unterminated single quote",
        ),
        // A FIFO nobody writes to cannot hang ssmm.
        (
            &["--require-from", "fifo"],
            "--require-from fifo: a pipe with nothing in it",
        ),
    ];
    for (args, message) in cases {
        t.ssmm(["sync", "--app", "api", "--allow-empty"])
            .args(args)
            .endpoint("http://127.0.0.1:9")
            .timeout(std::time::Duration::from_secs(20))
            .code(2)
            .stderr_has(message)
            .stderr_lacks("secret-5c2")
            .untouched(".env")
            .go();
    }
    assert_eq!(entries(t.dir()).len(), 4);
}

#[test]
fn require_from_reads_a_pipe() {
    let t = Test::new().plain("api/a", "1").file(".env", "OLD=1\n");
    let script = format!(
        "exec {} --prefix {} sync --app api --require-from <(printf 'A=x\\nFROM_PIPE=\\n')",
        env!("CARGO_BIN_EXE_ssmm"),
        t.prefix()
    );
    let cmd = crate::support::Ssmm::with_program("bash")
        .endpoint(&t.endpoint())
        .current_dir(t.dir())
        .args(["-c", &script]);
    Run::of(cmd, t.dir())
        .code(1)
        .stderr_has("1 required variable missing from .env: FROM_PIPE; nothing written")
        .untouched(".env")
        .go();
}
