//! End-to-end tests of `ssmm exec` (environment rules, `ssm:` references,
//! fail-closed) and of the `ecs` layout with its discovery sources, against
//! moto through the real binary. Signals and PID 1 are in `init.rs`.

use crate::support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::support::{Outcome, Ssmm, moto, unique_prefix};

/// Parses `env -0` output.
fn env_of(out: &Outcome) -> BTreeMap<String, String> {
    out.stdout
        .split('\0')
        .filter(|e| !e.is_empty())
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn exec(prefix: &str, dir: &Path) -> Ssmm {
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir)
        .args(["--prefix", prefix, "exec"])
}

fn python() -> std::path::PathBuf {
    support::moto::cache_dir().join("moto-venv/bin/python")
}

#[test]
fn parameters_overlay_the_inherited_environment() {
    let p = unique_prefix();
    moto().put(&format!("{p}/shared/region"), "eu-west-1");
    moto().put_secure(
        &format!("{p}/api/db-password"),
        "pw with spaces\nand a newline",
    );
    moto().put(&format!("{p}/api/home"), "/from/ssm");
    let dir = tempfile::tempdir().unwrap();
    let out = exec(&p, dir.path())
        .env("KEEP_ME", "inherited")
        .env("HOME", "/inherited/home")
        .args(["--app", "api", "--", "env", "-0"])
        .run();
    out.success();
    let env = env_of(&out);
    assert_eq!(env["REGION"], "eu-west-1");
    assert_eq!(env["DB_PASSWORD"], "pw with spaces\nand a newline");
    assert_eq!(env["HOME"], "/from/ssm", "parameters win by default");
    assert_eq!(env["KEEP_ME"], "inherited");
    // Nothing written by default besides what files/ asks for.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn no_override_lets_inherited_values_win_and_pristine_starts_empty() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/home"), "/from/ssm");
    moto().put(&format!("{p}/api/only-ssm"), "x");
    let dir = tempfile::tempdir().unwrap();
    let out = exec(&p, dir.path())
        .env("HOME", "/inherited/home")
        .args(["--app", "api", "--no-override", "--", "env", "-0"])
        .run();
    out.success();
    let env = env_of(&out);
    assert_eq!(env["HOME"], "/inherited/home");
    assert_eq!(env["ONLY_SSM"], "x");

    // --pristine: only the parameters, not even PATH. `env` is found through
    // ssmm's own PATH lookup, so give its absolute path.
    let env_bin = which("env");
    let out = exec(&p, dir.path())
        .env("KEEP_ME", "inherited")
        .args(["--app", "api", "--pristine", "--"])
        .arg(&env_bin)
        .arg("-0")
        .run();
    out.success();
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
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    moto().put_secure(&format!("{p}/secrets/db-url"), "postgres://u:p@h/db");
    moto().put(&format!("{p}/secrets/plain"), "plain-value");
    let dir = tempfile::tempdir().unwrap();
    let out = exec(&p, dir.path())
        .env("DB_URL", format!("ssm://{p}/secrets/db-url"))
        .env("PLAIN", format!("ssm:{p}/secrets/plain"))
        .env("NOT_A_REF", "ssm-like: no")
        .args(["--app", "api", "--", "env", "-0"])
        .run();
    out.success();
    let env = env_of(&out);
    assert_eq!(env["DB_URL"], "postgres://u:p@h/db");
    assert_eq!(env["PLAIN"], "plain-value");
    assert_eq!(env["NOT_A_REF"], "ssm-like: no");
    assert_eq!(env["A"], "1");
}

#[test]
fn more_than_ten_references_are_fetched_in_batches() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    let mut cmd = exec(&p, tempfile::tempdir().unwrap().keep().as_path());
    for i in 0..23 {
        moto().put_secure(&format!("{p}/refs/r{i:02}"), &format!("value-{i}"));
        cmd = cmd.env(
            format!("REF_{i:02}"),
            format!("ssm:///{}/refs/r{i:02}", &p[1..]),
        );
    }
    let out = cmd.args(["--app", "api", "--", "env", "-0"]).run();
    out.success();
    let env = env_of(&out);
    for i in 0..23 {
        assert_eq!(env[&format!("REF_{i:02}")], format!("value-{i}"));
    }
}

#[test]
fn secrets_manager_references_resolve_through_ssm() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    let secret_id = format!("sm{}", &p[2..]);
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
    let dir = tempfile::tempdir().unwrap();
    let out = exec(&p, dir.path())
        .env(
            "SM",
            format!("ssm:///aws/reference/secretsmanager/{secret_id}"),
        )
        .env("OTHER", format!("ssm://{p}/api/a"))
        .args(["--app", "api", "--", "env", "-0"])
        .run();
    out.success();
    let env = env_of(&out);
    assert_eq!(env["SM"], "from-secrets-manager");
    assert_eq!(env["OTHER"], "1");
}

#[test]
fn an_unresolvable_reference_starts_nothing() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let out = exec(&p, dir.path())
        .env("MISSING", format!("ssm://{p}/nope"))
        .args(["--app", "api", "--", "touch"])
        .arg(&marker)
        .run();
    out.code(1)
        .stderr_contains(&format!("$MISSING refers to {p}/nope"));
    assert!(!marker.exists(), "the command ran");
    let out = exec(&p, dir.path())
        .env("BAD", "ssm:/bad name")
        .args(["--app", "api", "--", "touch"])
        .arg(&marker)
        .run();
    out.code(2).stderr_contains("$BAD");
    assert!(!marker.exists());
}

#[test]
fn fetch_failures_start_nothing_and_leave_no_trace() {
    let p = unique_prefix();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let out = Ssmm::new()
        .endpoint("http://127.0.0.1:9")
        .current_dir(dir.path())
        .args([
            "--prefix",
            &p,
            "exec",
            "--app",
            "api",
            "--max-attempts",
            "2",
        ])
        .args(["--out", "app.env", "--", "touch"])
        .arg(&marker)
        .run();
    out.code(1).stderr_contains("GetParametersByPath");
    assert!(!marker.exists());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);

    // Empty app and --strict also start nothing.
    moto().put(&format!("{p}/shared/x"), "1");
    moto().put(&format!("{p}/api/x"), "2");
    exec(&p, dir.path())
        .args(["--app", "typo", "--", "touch"])
        .arg(&marker)
        .run()
        .code(1);
    exec(&p, dir.path())
        .args(["--app", "api", "--strict", "--", "touch"])
        .arg(&marker)
        .run()
        .code(3);
    assert!(!marker.exists());
}

#[test]
fn exec_writes_out_when_asked() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    let dir = tempfile::tempdir().unwrap();
    exec(&p, dir.path())
        .args([
            "--app",
            "api",
            "--out",
            "run/app.env",
            "--format",
            "shell",
            "--",
            "true",
        ])
        .run()
        .success();
    assert_eq!(
        fs::read_to_string(dir.path().join("run/app.env")).unwrap(),
        "export A=\"1\"\n"
    );
}

#[test]
fn exec_requires_a_command() {
    let dir = tempfile::tempdir().unwrap();
    exec("/t", dir.path()).args(["--app", "api"]).run().code(2);
}

// ---- ecs layout -------------------------------------------------------------

fn seed_cluster(cluster: &str) {
    let m = moto();
    m.put(&format!("/{cluster}/environment/region"), "eu-west-1");
    m.put(&format!("/{cluster}/environment/log-level"), "info");
    m.put(&format!("/{cluster}/web/environment/log-level"), "debug");
    m.put_secure(&format!("/{cluster}/web/environment/api-key"), "k3y");
    m.put(
        &format!("/{cluster}/other/environment/leak"),
        "must not appear",
    );
}

#[test]
fn ecs_layout_from_flags_and_environment() {
    let cluster = format!("c{}", &unique_prefix()[2..]);
    seed_cluster(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args([
            "--layout",
            "ecs",
            "--cluster",
            &cluster,
            "exec",
            "--app",
            "web",
            "--",
            "env",
            "-0",
        ])
        .run();
    out.success().stderr_contains("LOG_LEVEL: app:web");
    let env = env_of(&out);
    assert_eq!(env["REGION"], "eu-west-1");
    assert_eq!(env["LOG_LEVEL"], "debug");
    assert_eq!(env["API_KEY"], "k3y");
    assert!(!env.contains_key("LEAK"));

    // The same through SSMM_LAYOUT / SSMM_CLUSTER / SSMM_APP, with sync.
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .env("SSMM_LAYOUT", "ecs")
        .env("SSMM_CLUSTER", &cluster)
        .env("SSMM_APP", "web")
        .args(["sync"])
        .run();
    out.success()
        .stderr_contains("wrote 3 variables to .env (app=2, shared=1, tag=0)");
    assert_eq!(
        fs::read_to_string(dir.path().join(".env")).unwrap(),
        "API_KEY=\"k3y\"\nLOG_LEVEL=\"debug\"\nREGION=\"eu-west-1\"\n"
    );
}

#[test]
fn ecs_layout_finds_cluster_and_app_in_the_metadata_file() {
    let cluster = format!("c{}", &unique_prefix()[2..]);
    seed_cluster(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("ecs-metadata.json");
    fs::write(
        &meta,
        serde_json::json!({
            "Cluster": format!("arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"),
            "ContainerName": "Web",
            "TaskDefinitionFamily": "web",
            "MetadataFileStatus": "READY"
        })
        .to_string(),
    )
    .unwrap();
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .env("SSMM_LAYOUT", "ecs")
        .env("ECS_CONTAINER_METADATA_FILE", &meta)
        .args(["exec", "--", "env", "-0"])
        .run();
    out.success();
    let env = env_of(&out);
    assert_eq!(
        env["LOG_LEVEL"], "debug",
        "app 'web' from the container name 'Web'"
    );
    assert_eq!(env["API_KEY"], "k3y");
}

#[test]
fn broken_ecs_metadata_is_an_error_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("ecs-metadata.json");
    fs::write(&meta, "{ not json").unwrap();
    let marker = dir.path().join("started");
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .env("SSMM_LAYOUT", "ecs")
        .env("ECS_CONTAINER_METADATA_FILE", &meta)
        .args(["--ecs-timeout", "1s", "exec", "--", "touch"])
        .arg(&marker)
        .run();
    out.code(1).stderr_contains("ecs-metadata.json");
    assert!(!marker.exists());
}

#[test]
fn ecs_layout_without_any_cluster_source_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args(["--layout", "ecs", "sync", "--app", "web"])
        .run()
        .code(2)
        .stderr_contains("no cluster");
}

#[test]
fn team_layout_takes_the_app_from_ecs_metadata() {
    let p = unique_prefix();
    moto().put(&format!("{p}/billing-api/a"), "1");
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("meta.json");
    fs::write(
        &meta,
        r#"{"Cluster":"prod","ContainerName":"billing_api","MetadataFileStatus":"READY"}"#,
    )
    .unwrap();
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .env("ECS_CONTAINER_METADATA_FILE", &meta)
        .args(["--prefix", &p, "sync"])
        .run()
        .success();
    assert_eq!(
        fs::read_to_string(dir.path().join(".env")).unwrap(),
        "A=\"1\"\n"
    );
}

// ---- files ------------------------------------------------------------------

#[test]
fn sync_and_exec_write_files_under_the_root() {
    let p = unique_prefix();
    moto().put(
        &format!("{p}/shared/files/conf/common.yml"),
        "shared: true\n",
    );
    moto().put(&format!("{p}/api/files/conf/common.yml"), "app: wins\n");
    moto().put_secure(&format!("{p}/api/files/certs/key.der"), "base64:AAEC/w==");
    moto().put(&format!("{p}/api/a"), "1");
    let dir = tempfile::tempdir().unwrap();
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args(["--prefix", &p, "sync", "--app", "api", "--root", "srv"])
        .run();
    out.success().stderr_contains("2 files under");
    let root = dir.path().join("srv");
    assert_eq!(
        fs::read_to_string(root.join("conf/common.yml")).unwrap(),
        "app: wins\n"
    );
    assert_eq!(
        fs::read(root.join("certs/key.der")).unwrap(),
        [0u8, 1, 2, 255]
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&root.join("certs/key.der")), 0o600);
    assert_eq!(mode(&root.join("certs")), 0o700);
    // Files are not variables.
    assert_eq!(
        fs::read_to_string(dir.path().join(".env")).unwrap(),
        "A=\"1\"\n"
    );

    // --no-files: neither read nor written.
    let dir2 = tempfile::tempdir().unwrap();
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir2.path())
        .args([
            "--prefix",
            &p,
            "exec",
            "--app",
            "api",
            "--no-files",
            "--",
            "true",
        ])
        .run()
        .success();
    assert_eq!(fs::read_dir(dir2.path()).unwrap().count(), 0);

    // exec writes them under its working directory by default.
    let dir3 = tempfile::tempdir().unwrap();
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir3.path())
        .args(["--prefix", &p, "exec", "--app", "api", "--", "true"])
        .run()
        .success();
    assert!(dir3.path().join("conf/common.yml").exists());
}

#[test]
fn a_file_path_escaping_the_root_writes_nothing_and_starts_nothing() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "1");
    moto().put(&format!("{p}/api/files/ok.txt"), "fine");
    moto().put(&format!("{p}/api/files/sub/../../escape.txt"), "bad");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let marker = dir.path().join("started");
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args([
            "--prefix", &p, "exec", "--app", "api", "--root", "root", "--", "touch",
        ])
        .arg(&marker)
        .run();
    out.code(1).stderr_contains("escape.txt");
    assert!(!marker.exists());
    assert_eq!(
        fs::read_dir(&root).unwrap().count(),
        0,
        "ok.txt must not be written either"
    );
    assert!(!dir.path().join("escape.txt").exists());
}

#[test]
fn an_out_value_its_format_cannot_hold_leaves_the_files_unwritten() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/files/conf.yml"), "a: 1\n");
    moto().put_secure(&format!("{p}/api/pem"), "line1\nline2");
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let out = exec(&p, dir.path())
        .args([
            "--app", "api", "--root", "root", "--out", "app.env", "--format", "docker",
        ])
        .args(["--", "touch"])
        .arg(&marker)
        .run();
    out.code(1).stderr_contains("PEM");
    assert!(!marker.exists());
    assert!(!dir.path().join("root").exists(), "files were written");
    assert!(!dir.path().join("app.env").exists());
}
