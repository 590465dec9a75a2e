//! End-to-end tests of `ssmm exec` (environment rules, `ssm:` references,
//! fail-closed) and of the `ecs` layout with its discovery sources, against
//! moto through the real binary. Signals and PID 1 are in `init.rs`.

use std::collections::BTreeMap;
use std::fs;

use crate::support::fs::{entries, mode};
use crate::support::readers::env0;
use crate::support::{Outcome, Run, Test, moto};

/// Parses `env -0` output.
fn env_of(out: &Outcome) -> BTreeMap<String, String> {
    env0(&out.stdout)
}

/// `ssmm --prefix PREFIX exec --app APP ARGS`.
fn exec(t: &Test, app: &str, args: &[&str]) -> Run {
    t.ssmm(["exec", "--app", app]).args(args)
}

/// [`exec`] of `env -0`: the environment the command got (values printed by
/// design).
fn exec_env(t: &Test, args: &[&str]) -> Run {
    exec(t, "api", args).args(["--", "env", "-0"]).reveals_all()
}

/// [`exec`] of `touch started`, which must not run.
fn exec_touch(t: &Test, app: &str, args: &[&str]) -> Run {
    exec(t, app, args)
        .args(["--", "touch", "started"])
        .absent("started")
}

fn python() -> std::path::PathBuf {
    crate::support::moto::cache_dir().join("moto-venv/bin/python")
}

#[test]
fn parameters_overlay_the_inherited_environment() {
    let t = Test::new()
        .plain("shared/region", "eu-west-1")
        .param("api/db-password", "pw with spaces\nand a newline")
        .plain("api/home", "/from/ssm");
    let out = exec_env(&t, &[])
        .env("KEEP_ME", "inherited")
        .env("HOME", "/inherited/home")
        .success()
        // Nothing written by default besides what files/ asks for.
        .writes_nothing()
        .go();
    let env = env_of(&out);
    assert_eq!(env["REGION"], "eu-west-1");
    assert_eq!(env["DB_PASSWORD"], "pw with spaces\nand a newline");
    assert_eq!(env["HOME"], "/from/ssm", "parameters win by default");
    assert_eq!(env["KEEP_ME"], "inherited");
    assert!(entries(t.dir()).is_empty());
}

#[test]
fn no_override_lets_inherited_values_win_and_pristine_starts_empty() {
    let t = Test::new()
        .plain("api/home", "/from/ssm")
        .plain("api/only-ssm", "x");
    let out = exec_env(&t, &["--no-override"])
        .env("HOME", "/inherited/home")
        .success()
        .go();
    let env = env_of(&out);
    assert_eq!(env["HOME"], "/inherited/home");
    assert_eq!(env["ONLY_SSM"], "x");

    // --pristine: only the parameters, not even PATH. `env` is found through
    // ssmm's own PATH lookup, so give its absolute path.
    let env_bin = which("env");
    let out = exec(&t, "api", &["--pristine", "--", &env_bin, "-0"])
        .env("KEEP_ME", "inherited")
        .reveals_all()
        .success()
        .go();
    let env = env_of(&out);
    assert_eq!(
        env.keys().collect::<Vec<_>>(),
        ["HOME", "ONLY_SSM"],
        "{env:?}"
    );
}

fn which(cmd: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn ssm_references_in_inherited_variables_are_resolved() {
    let t = Test::new()
        .plain("api/a", "1")
        .param("secrets/db-url", "postgres://u:p@h/db")
        .plain("secrets/plain", "plain-value");
    let out = exec_env(&t, &[])
        .env("DB_URL", format!("ssm://{}", t.name("secrets/db-url")))
        .env("PLAIN", format!("ssm:{}", t.name("secrets/plain")))
        .env("NOT_A_REF", "ssm-like: no")
        .success()
        .go();
    let env = env_of(&out);
    assert_eq!(env["DB_URL"], "postgres://u:p@h/db");
    assert_eq!(env["PLAIN"], "plain-value");
    assert_eq!(env["NOT_A_REF"], "ssm-like: no");
    assert_eq!(env["A"], "1");
}

/// Regression: two variables referring to one parameter failed with "the
/// answer does not match the request" (SSM answers a name asked twice in
/// one request once). Each parameter is now asked for once.
#[test]
fn the_same_parameter_referenced_by_several_variables_is_fetched_once() {
    let t = Test::new()
        .plain("api/a", "1")
        .param("secrets/token", "tok-3f9")
        .plain("secrets/other", "other-value");
    let token = format!("ssm://{}", t.name("secrets/token"));
    let out = exec_env(&t, &[])
        .env("TOKEN", &token)
        .env("TOKEN_AGAIN", &token)
        .env("TOKEN_THIRD", format!("ssm:{}", t.name("secrets/token")))
        .env("OTHER", format!("ssm:{}", t.name("secrets/other")))
        .success()
        .go();
    let env = env_of(&out);
    assert_eq!(env["TOKEN"], "tok-3f9");
    assert_eq!(env["TOKEN_AGAIN"], "tok-3f9");
    assert_eq!(env["TOKEN_THIRD"], "tok-3f9");
    assert_eq!(env["OTHER"], "other-value");
}

#[test]
fn more_than_ten_references_are_fetched_in_batches() {
    let t = Test::new()
        .plain("api/a", "1")
        .series(23, |i| (format!("refs/r{i:02}"), format!("value-{i}")));
    let mut run = exec_env(&t, &[]);
    for i in 0..23 {
        run = run.env(
            format!("REF_{i:02}"),
            format!("ssm:///{}/refs/r{i:02}", &t.prefix()[1..]),
        );
    }
    let env = env_of(&run.success().go());
    for i in 0..23 {
        assert_eq!(env[&format!("REF_{i:02}")], format!("value-{i}"));
    }
}

#[test]
fn secrets_manager_references_resolve_through_ssm() {
    let t = Test::new().plain("api/a", "1");
    let secret_id = format!("sm{}", &t.prefix()[2..]);
    let status = std::process::Command::new(python())
        .arg("-c")
        .arg(format!(
            "import boto3; boto3.client('secretsmanager', endpoint_url='{}', region_name='us-east-1', \
             aws_access_key_id='testing', aws_secret_access_key='testing')\
             .create_secret(Name='{secret_id}', SecretString='from-secrets-manager')",
            moto().endpoint()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let out = exec_env(&t, &[])
        .env(
            "SM",
            format!("ssm:///aws/reference/secretsmanager/{secret_id}"),
        )
        .env("OTHER", format!("ssm://{}", t.name("api/a")))
        .success()
        .go();
    let env = env_of(&out);
    assert_eq!(env["SM"], "from-secrets-manager");
    assert_eq!(env["OTHER"], "1");
}

#[test]
fn an_unresolvable_reference_starts_nothing() {
    let t = Test::new().plain("api/a", "1");
    let nope = t.name("nope");
    exec_touch(&t, "api", &[])
        .env("MISSING", format!("ssm://{nope}"))
        .code(1)
        .stderr_has(format!("$MISSING refers to {nope}"))
        .go();
    exec_touch(&t, "api", &[])
        .env("BAD", "ssm:/bad name")
        .code(2)
        .stderr_has("$BAD")
        .go();
}

#[test]
fn fetch_failures_start_nothing_and_leave_no_trace() {
    let t = Test::new();
    exec_touch(&t, "api", &["--max-attempts", "2", "--out", "app.env"])
        .endpoint("http://127.0.0.1:9")
        .code(1)
        .stderr_has("GetParametersByPath")
        .writes_nothing()
        .go();
    assert!(entries(t.dir()).is_empty());

    // Empty app and --strict also start nothing.
    t.put("shared/x", "1");
    t.put("api/x", "2");
    exec_touch(&t, "typo", &[]).code(1).go();
    exec_touch(&t, "api", &["--strict"]).code(3).go();
}

#[test]
fn exec_writes_out_when_asked() {
    let t = Test::new().plain("api/a", "1");
    let args = ["--out", "run/app.env", "--format", "shell", "--", "true"];
    exec(&t, "api", &args)
        .success()
        .file("run/app.env", "export A=\"1\"\n")
        .go();
}

#[test]
fn exec_requires_a_command() {
    Test::new()
        .bare(["--prefix", "/t", "exec", "--app", "api"])
        .code(2)
        .go();
}

// ---- ecs layout -------------------------------------------------------------

/// A cluster named after the test's prefix: shared and `web` variables, and
/// another app's that must not appear.
fn ecs_test() -> Test {
    let t = Test::new();
    let c = t.cluster().to_owned();
    for (name, value) in [
        ("environment/region", "eu-west-1"),
        ("environment/log-level", "info"),
        ("web/environment/log-level", "debug"),
        ("other/environment/leak", "must not appear"),
    ] {
        moto().put(&format!("/{c}/{name}"), value);
    }
    moto().put_secure(&format!("/{c}/web/environment/api-key"), "k3y");
    t
}

/// An ECS container metadata file at `rel` in the test's directory.
fn metadata(t: &Test, rel: &str, json: &str) -> String {
    fs::write(t.path(rel), json).unwrap();
    t.path(rel).display().to_string()
}

#[test]
fn ecs_layout_from_flags_and_environment() {
    let t = ecs_test();
    let out = t
        .ecs(["exec", "--app", "web", "--", "env", "-0"])
        .reveals_all()
        .success()
        .stderr_has("LOG_LEVEL: app:web")
        .go();
    let env = env_of(&out);
    assert_eq!(env["REGION"], "eu-west-1");
    assert_eq!(env["LOG_LEVEL"], "debug");
    assert_eq!(env["API_KEY"], "k3y");
    assert!(!env.contains_key("LEAK"));

    // The same through SSMM_LAYOUT / SSMM_CLUSTER / SSMM_APP, with sync.
    t.bare(["sync"])
        .env("SSMM_LAYOUT", "ecs")
        .env("SSMM_CLUSTER", t.cluster())
        .env("SSMM_APP", "web")
        .success()
        .stderr_has("wrote 3 variables to .env (app=2, shared=1, tag=0)")
        .file(
            ".env",
            "API_KEY=\"k3y\"\nLOG_LEVEL=\"debug\"\nREGION=\"eu-west-1\"\n",
        )
        .go();
}

#[test]
fn ecs_layout_finds_cluster_and_app_in_the_metadata_file() {
    let t = ecs_test();
    let json = serde_json::json!({
        "Cluster": format!("arn:aws:ecs:us-east-1:123456789012:cluster/{}", t.cluster()),
        "ContainerName": "Web",
        "TaskDefinitionFamily": "web",
        "MetadataFileStatus": "READY"
    });
    let meta = metadata(&t, "ecs-metadata.json", &json.to_string());
    let out = t
        .bare(["exec", "--", "env", "-0"])
        .env("SSMM_LAYOUT", "ecs")
        .env("ECS_CONTAINER_METADATA_FILE", &meta)
        .reveals_all()
        .success()
        .go();
    let env = env_of(&out);
    assert_eq!(
        env["LOG_LEVEL"], "debug",
        "app 'web' from the container name 'Web'"
    );
    assert_eq!(env["API_KEY"], "k3y");
}

#[test]
fn broken_ecs_metadata_is_an_error_and_starts_nothing() {
    let t = Test::new();
    let meta = metadata(&t, "ecs-metadata.json", "{ not json");
    t.bare(["--ecs-timeout", "1s", "exec", "--", "touch", "started"])
        .env("SSMM_LAYOUT", "ecs")
        .env("ECS_CONTAINER_METADATA_FILE", &meta)
        .code(1)
        .stderr_has("ecs-metadata.json")
        .absent("started")
        .go();
}

#[test]
fn ecs_layout_without_any_cluster_source_is_a_usage_error() {
    Test::new()
        .bare(["--layout", "ecs", "sync", "--app", "web"])
        .code(2)
        .stderr_has("no cluster")
        .go();
}

#[test]
fn team_layout_takes_the_app_from_ecs_metadata() {
    let t = Test::new().plain("billing-api/a", "1");
    let meta = metadata(
        &t,
        "meta.json",
        r#"{"Cluster":"prod","ContainerName":"billing_api","MetadataFileStatus":"READY"}"#,
    );
    t.ssmm(["sync"])
        .env("ECS_CONTAINER_METADATA_FILE", &meta)
        .success()
        .file(".env", "A=\"1\"\n")
        .go();
}

// ---- files ------------------------------------------------------------------

#[test]
fn sync_and_exec_write_files_under_the_root() {
    let t = Test::new()
        .plain("shared/files/conf/common.yml", "shared: true\n")
        .plain("api/files/conf/common.yml", "app: wins\n")
        .param("api/files/certs/key.der", "base64:AAEC/w==")
        .plain("api/a", "1");
    t.ssmm(["sync", "--app", "api", "--root", "srv"])
        .success()
        .stderr_has("2 files under")
        .file("srv/conf/common.yml", "app: wins\n")
        .file("srv/certs/key.der", [0u8, 1, 2, 255])
        // Files are not variables.
        .file(".env", "A=\"1\"\n")
        .go();
    assert_eq!(mode(&t.path("srv/certs")), 0o700);

    // --no-files: neither read nor written.
    let dir2 = t.scratch("no-files");
    exec(&t, "api", &["--no-files", "--", "true"])
        .current_dir(&dir2)
        .success()
        .go();
    assert!(entries(&dir2).is_empty());

    // exec writes them under its working directory by default.
    let dir3 = t.scratch("default-root");
    exec(&t, "api", &["--", "true"])
        .current_dir(&dir3)
        .success()
        .go();
    assert!(dir3.join("conf/common.yml").exists());
}

#[test]
fn a_file_path_escaping_the_root_writes_nothing_and_starts_nothing() {
    let t = Test::new()
        .plain("api/a", "1")
        .plain("api/files/ok.txt", "fine")
        .plain("api/files/sub/../../escape.txt", "bad");
    fs::create_dir(t.path("root")).unwrap();
    exec_touch(&t, "api", &["--root", "root"])
        .code(1)
        .stderr_has("escape.txt")
        // ok.txt must not be written either.
        .writes_nothing()
        .absent("escape.txt")
        .go();
    assert!(entries(&t.path("root")).is_empty());
}

#[test]
fn an_out_value_its_format_cannot_hold_leaves_the_files_unwritten() {
    let t = Test::new()
        .plain("api/files/conf.yml", "a: 1\n")
        .param("api/pem", "line1\nline2");
    let args = ["--root", "root", "--out", "app.env", "--format", "docker"];
    exec_touch(&t, "api", &args)
        .code(1)
        .stderr_has("PEM")
        // No files written.
        .absent("root")
        .absent("app.env")
        .go();
}
