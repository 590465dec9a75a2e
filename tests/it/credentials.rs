//! How ssmm reaches AWS when the credentials come from a profile: a
//! `credential_process` (a real script), an SSO profile, and no credentials
//! at all. Every failure is a configuration error (exit 2) naming the
//! profile and the source, and never shows what a process printed (it holds
//! the secret key), at any verbosity.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Ssmm, moto, unique_prefix};

/// Printed by the credential processes: it must never reach any output.
const CANARY: &str = "CANARY-cred-5b1e";

fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// A shared config file with the profiles these tests use.
fn config(dir: &Path) -> String {
    let ok = script(
        dir,
        "ok.sh",
        &format!(
            r#"echo '{{"Version":1,"AccessKeyId":"AKIAPROCESS","SecretAccessKey":"{CANARY}"}}'"#
        ),
    );
    let fail = script(
        dir,
        "fail.sh",
        &format!(
            r#"echo '{{"Version":1,"AccessKeyId":"AKIA","SecretAccessKey":"{CANARY}"'; echo "{CANARY} on stderr" >&2; exit 1"#
        ),
    );
    let garbage = script(dir, "garbage.sh", &format!("echo 'not json {CANARY}'"));
    let text = format!(
        "[profile ok]\ncredential_process = {ok}\n\
         [profile fail]\ncredential_process = {fail}\n\
         [profile garbage]\ncredential_process = {garbage}\n\
         [profile dev]\nsso_session = s\nsso_account_id = 123456789012\nsso_role_name = R\n\
         [sso-session s]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n"
    );
    let path = dir.join("config");
    fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `ssmm ARGS` with no credentials in the environment, the profiles of
/// [`config`], and IMDS off.
fn with_profiles(config: &str, dir: &Path) -> Ssmm {
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", config)
}

#[test]
fn credential_process_supplies_the_credentials() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/k"), "v");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let out = with_profiles(&config, dir.path())
        .args([
            "--profile",
            "ok",
            "--prefix",
            &p,
            "-vvv",
            "sync",
            "--app",
            "api",
        ])
        .run();
    out.success();
    assert!(!out.combined().contains(CANARY), "{}", out.combined());
    assert_eq!(
        fs::read_to_string(dir.path().join(".env")).unwrap(),
        "K=\"v\"\n"
    );
}

/// A failing `credential_process`, or one printing garbage: exit 2 naming
/// the profile, before anything is written or started, for every kind of
/// command; what the process printed is never shown.
#[test]
fn a_failing_credential_process_is_exit_2_and_its_output_is_never_shown() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/k"), "v");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let marker = dir.path().join("started");
    for profile in ["fail", "garbage"] {
        let commands: Vec<Vec<String>> = vec![
            vec!["sync".into(), "--app".into(), "api".into()],
            vec!["list".into(), "--all".into()],
            vec![
                "put".into(),
                "--app".into(),
                "api".into(),
                format!("NEW={CANARY}"),
            ],
            vec![
                "exec".into(),
                "--app".into(),
                "api".into(),
                "--".into(),
                "touch".into(),
                marker.display().to_string(),
            ],
        ];
        for command in commands {
            let out = with_profiles(&config, dir.path())
                .args(["--profile", profile, "--prefix", &p, "-vvv"])
                .args(&command)
                .run();
            out.code(2).stderr_contains(&format!(
                "ssmm: error: cannot get AWS credentials for profile \"{profile}\": its credential_process failed or printed no valid credentials (its output is not shown)"
            ));
            assert!(
                !out.combined().contains(CANARY),
                "{profile} {command:?}: {}",
                out.combined()
            );
        }
    }
    assert!(!marker.exists(), "the command was started");
    assert!(
        !dir.path().join(".env").exists(),
        "the env file was written"
    );
    assert_eq!(
        moto().get(&format!("{p}/api/new")),
        None,
        "a parameter was written"
    );
}

#[test]
fn an_sso_profile_without_a_token_says_to_run_aws_sso_login() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let out = with_profiles(&config, dir.path())
        .args(["--profile", "dev", "--prefix", "/t", "list", "--all"])
        .run();
    out.code(2).stderr_contains(
        "ssmm: error: cannot get AWS credentials for profile \"dev\" (SSO): the SSO token is missing or expired; run: aws sso login --profile dev",
    );
    // The same through $AWS_PROFILE.
    let out = with_profiles(&config, dir.path())
        .env("AWS_PROFILE", "dev")
        .args(["--prefix", "/t", "sync", "--app", "api"])
        .run();
    out.code(2)
        .stderr_contains("run: aws sso login --profile dev");
}

#[test]
fn no_credentials_at_all_is_exit_2_listing_the_sources_tried() {
    let dir = tempfile::tempdir().unwrap();
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["--prefix", "/t", "sync", "--app", "api"])
        .run();
    out.code(2).stderr_contains(
        "ssmm: error: no AWS credentials found (profile \"default\"): tried the environment (AWS_ACCESS_KEY_ID), the shared config and credentials files, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS/EKS container endpoint and EC2 instance metadata",
    );
    assert!(!dir.path().join(".env").exists());
}
