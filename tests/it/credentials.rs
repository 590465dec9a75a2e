//! How ssmm reaches AWS when the credentials come from a profile: a
//! `credential_process` (a real script), an SSO profile, and no credentials
//! at all. Every failure is a configuration error (exit 2) naming the
//! profile and the source, and never shows what a process printed (it holds
//! the secret key), at any verbosity.

use std::fs;
use std::path::Path;

use crate::support::creds::{
    FAR, Keys, MARK, PAST, container, imds, script, secret, sso_cache, sso_cache_path, sso_portal,
    sso_token_json, sts_refusing, write,
};
use crate::support::http::closed_port;
use crate::support::{Outcome, Plan, Run, Ssmm, Test, moto, unique_prefix};

/// Printed by the credential processes: it must never reach any output.
const CANARY: &str = MARK;

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

// ---------------------------------------------------------------- STS (moto)

/// `t.ssmm(ARGS)` with no keys in the environment and `config` as the shared
/// config file.
fn keyless<S: AsRef<std::ffi::OsStr>>(t: &Test, config: &str, args: &[S]) -> Run {
    t.ssmm(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", config)
}

/// The source profile's keys: moto knows no such key, so SSM calls signed
/// with it land in moto's default account (123456789012).
const SOURCE_KEY: &str = "AKIASOURCE0000000001";

/// Writes the profiles of the role tests: `src` (static keys), `deploy`
/// (`role_arn` in account 111111111111 from `src`), `envrole` (account
/// 222222222222, `credential_source = Environment`) and `webrole`
/// (account 333333333333, `web_identity_token_file`).
fn role_profiles(dir: &Path, token_file: &str) -> String {
    write(
        dir,
        "config",
        &format!(
            "[profile src]\naws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = {}\n\
             [profile deploy]\nrole_arn = arn:aws:iam::111111111111:role/deployer\n\
             source_profile = src\nrole_session_name = ssmm-deploy\n\
             [profile envrole]\nrole_arn = arn:aws:iam::222222222222:role/env\n\
             credential_source = Environment\n\
             [profile webrole]\nrole_arn = arn:aws:iam::444444444444:role/web\n\
             web_identity_token_file = {token_file}\nrole_session_name = ssmm-web\n",
            secret("source-secret")
        ),
    )
}

/// What a run through the proxy must show when its SSM calls were signed
/// with keys `op` (an STS operation) handed out: that operation was made
/// (signed by `sts_signer`, `-` for unsigned), and every SSM request was
/// signed by an `ASIA` key that is not the source's. None of what STS handed
/// out was printed.
#[track_caller]
fn signed_with_assumed_keys(t: &Test, out: &Outcome, op: &str, sts_signer: &str) {
    let proxy = t.proxy();
    let calls: Vec<_> = proxy.seen().into_iter().filter(|s| s.op == op).collect();
    assert!(!calls.is_empty(), "no {op}: {:?}\n{out}", proxy.seen());
    for call in &calls {
        assert_eq!(
            call.access_key.as_deref().unwrap_or("-"),
            sts_signer,
            "{op} signer"
        );
    }
    let ssm = proxy.signers("ssm");
    assert!(!ssm.is_empty(), "no SSM request: {:?}", proxy.seen());
    for key in &ssm {
        assert!(
            key.starts_with("ASIA") && key != SOURCE_KEY,
            "an SSM request was signed with {key}, not assumed keys: {:?}",
            proxy.seen()
        );
    }
    let issued = proxy.issued();
    assert!(
        !issued.is_empty(),
        "STS handed out no secret through the proxy"
    );
    for s in issued {
        assert!(
            !out.combined().contains(&s),
            "STS's secret was printed\n{out}"
        );
    }
}

/// Puts `DB_PASS` with `how` (`--profile NAME`, or variables), checks that
/// it landed in `account` and not in moto's default one, and syncs it back
/// the same way. Once per `t`.
#[track_caller]
fn put_and_sync_as(
    t: &Test,
    config: &str,
    how: &[(&str, &str)],
    account: &str,
    op: &str,
    signer: &str,
) {
    let value = secret(&format!("value-{account}"));
    t.secret(&value);
    let mut put =
        keyless(t, config, &["-vvv", "put", "--app", "api"]).arg(format!("DB_PASS={value}"));
    let mut sync = keyless(t, config, &["-vvv", "sync", "--app", "api"]);
    for (k, v) in how {
        if *k == "--profile" {
            put = put.args([k, v]);
            sync = sync.args([k, v]);
        } else {
            put = put.env(k, v);
            sync = sync.env(k, v);
        }
    }
    let name = t.name("api/db-pass");
    let out = put.success().secret(secret("source-secret")).go();
    signed_with_assumed_keys(t, &out, op, signer);
    assert_eq!(
        moto().get(&name),
        None,
        "put in the default account: the source keys signed it"
    );
    assert_eq!(
        moto().get_in(account, &name).as_deref(),
        Some(value.as_str())
    );
    t.proxy().reset_counts();
    let out = sync
        .success()
        .secret(secret("source-secret"))
        .file(".env", format!("DB_PASS=\"{value}\"\n"))
        .go();
    signed_with_assumed_keys(t, &out, op, signer);
}

#[test]
fn role_arn_with_a_source_profile_signs_ssm_with_the_assumed_role_keys() {
    // The flag, and $AWS_PROFILE: both assume the role.
    for how in [("--profile", "deploy"), ("AWS_PROFILE", "deploy")] {
        let t = Test::new().faults(Plan::none());
        let config = role_profiles(&t.scratch("aws"), "/nonexistent");
        put_and_sync_as(
            &t,
            &config,
            &[how],
            "111111111111",
            "AssumeRole",
            SOURCE_KEY,
        );
    }
}

#[test]
fn role_arn_with_credential_source_environment_uses_the_environment_keys_as_source() {
    let t = Test::new().faults(Plan::none());
    let config = role_profiles(&t.scratch("aws"), "/nonexistent");
    let env_key = "AKIAENVSOURCE0000001";
    let env_secret = secret("env-secret");
    t.secret(&env_secret);
    let with_env = |run: Run| {
        run.env("AWS_ACCESS_KEY_ID", env_key)
            .env("AWS_SECRET_ACCESS_KEY", &env_secret)
    };
    let value = secret("value-env");
    t.secret(&value);
    let name = t.name("api/db-pass");
    let out = with_env(keyless(
        &t,
        &config,
        &["--profile", "envrole", "-vvv", "put", "--app", "api"],
    ))
    .arg(format!("DB_PASS={value}"))
    .success()
    .go();
    signed_with_assumed_keys(&t, &out, "AssumeRole", env_key);
    assert_eq!(moto().get(&name), None);
    assert_eq!(
        moto().get_in("222222222222", &name).as_deref(),
        Some(value.as_str())
    );
    t.proxy().reset_counts();
    with_env(keyless(
        &t,
        &config,
        &["--profile", "envrole", "-vvv", "sync", "--app", "api"],
    ))
    .success()
    .file(".env", format!("DB_PASS=\"{value}\"\n"))
    .go();
    assert!(
        t.proxy()
            .signers("ssm")
            .iter()
            .all(|k| k.starts_with("ASIA"))
    );

    // $AWS_PROFILE keeps the SDK's order, as the AWS CLI does: the
    // environment's keys come first and are used as they are.
    t.proxy().reset_counts();
    with_env(keyless(&t, &config, &["-vvv", "list", "--all"]))
        .env("AWS_PROFILE", "envrole")
        .success()
        .go();
    assert_eq!(t.proxy().signers("ssm"), [env_key]);
    assert_eq!(t.proxy().count("AssumeRole"), 0);
}

#[test]
fn web_identity_from_the_environment_or_a_profile_assumes_the_role() {
    let fixture = || {
        let t = Test::new().faults(Plan::none());
        let dir = t.scratch("aws");
        let token = secret("web-identity-token");
        t.secret(&token);
        let token_file = write(&dir, "token", &token);
        let config = role_profiles(&dir, &token_file);
        (t, token_file, config)
    };
    let (t, token_file, config) = fixture();
    // The environment's AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (EKS
    // IRSA): the chain's web identity source; the call is unsigned.
    put_and_sync_as(
        &t,
        &config,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file),
            ("AWS_ROLE_ARN", "arn:aws:iam::333333333333:role/irsa"),
            ("AWS_ROLE_SESSION_NAME", "ssmm-irsa"),
        ],
        "333333333333",
        "AssumeRoleWithWebIdentity",
        "-",
    );
    // A profile's role_arn and web_identity_token_file.
    let (t, _, config) = fixture();
    put_and_sync_as(
        &t,
        &config,
        &[("--profile", "webrole")],
        "444444444444",
        "AssumeRoleWithWebIdentity",
        "-",
    );
}

/// STS refusing (403 AccessDenied, at `AWS_ENDPOINT_URL_STS`: SSM stays on
/// moto), for each way to assume a role: exit 2 naming the profile and that
/// assuming its role failed, before anything is written; neither the source
/// keys nor STS's message are shown.
#[test]
fn assume_role_refused_is_exit_2_naming_the_profile() {
    let t = Test::new().plain("api/k", "value-kept-5521");
    let dir = t.scratch("aws");
    let token_file = write(&dir, "token", &secret("web-identity-token"));
    let config = role_profiles(&dir, &token_file);
    let sts = sts_refusing();
    let refused = |run: Run| {
        run.env("AWS_ENDPOINT_URL_STS", sts.base())
            .secret(secret("source-secret"))
            .secret(secret("env-secret"))
            .secret(secret("web-identity-token"))
            .secret(MARK)
            .code(2)
            .writes_nothing()
            .ssm_untouched(t.prefix())
    };
    let role_failed = |profile: &str| {
        format!(
            "ssmm: error: cannot get AWS credentials for profile \"{profile}\": assuming its role_arn failed (AssumeRole refused, or its source_profile / credential_source has no credentials); check the role's trust policy and the source credentials, e.g. aws sts get-caller-identity --profile {profile}"
        )
    };
    for command in [
        &["sync", "--app", "api"][..],
        &["put", "--app", "api", "NEW=x-value-1"],
    ] {
        refused(keyless(&t, &config, &["--profile", "deploy", "-vvv"]).args(command))
            .stderr_line(role_failed("deploy"))
            .go();
        refused(
            keyless(&t, &config, &["-vvv"])
                .env("AWS_PROFILE", "deploy")
                .args(command),
        )
        .stderr_line(role_failed("deploy"))
        .go();
        refused(
            keyless(&t, &config, &["--profile", "envrole", "-vvv"])
                .env("AWS_ACCESS_KEY_ID", "AKIAENVSOURCE0000001")
                .env("AWS_SECRET_ACCESS_KEY", secret("env-secret"))
                .args(command),
        )
        .stderr_line(role_failed("envrole"))
        .go();
        refused(keyless(&t, &config, &["--profile", "webrole", "-vvv"]).args(command))
            .stderr_line("ssmm: error: cannot get AWS credentials for profile \"webrole\": the web identity token could not be exchanged (check AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN)")
            .go();
        refused(
            keyless(&t, &config, &["-vvv"])
                .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
                .env("AWS_ROLE_ARN", "arn:aws:iam::333333333333:role/irsa")
                .args(command),
        )
        .stderr_line("ssmm: error: cannot get AWS credentials for profile \"default\": the web identity token could not be exchanged (check AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN)")
        .go();
    }
    // Every one of them asked the refusing STS: AWS_ENDPOINT_URL_STS points
    // the chain's own STS client.
    assert!(sts.total_hits() >= 10, "{}", sts.total_hits());
    // A role whose source profile has no credentials at all.
    let broken = write(
        &dir,
        "broken",
        "[profile orphan]\nrole_arn = arn:aws:iam::111111111111:role/r\nsource_profile = nothing\n\
         [profile nothing]\nregion = us-east-1\n",
    );
    refused(keyless(
        &t,
        &broken,
        &["--profile", "orphan", "sync", "--app", "api"],
    ))
    .stderr_line(role_failed("orphan"))
    .go();
    // A web identity token file that is a FIFO (the environment's, and a
    // profile's web_identity_token_file): refused at once, no hang.
    let fifo = dir.join("token-fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo = fifo.display().to_string();
    let fifo_config = write(
        &dir,
        "fifo-config",
        &format!(
            "[profile webfifo]\nrole_arn = arn:aws:iam::444444444444:role/web\nweb_identity_token_file = {fifo}\n"
        ),
    );
    let not_regular = |profile: &str, what: &str| {
        format!(
            "ssmm: error: cannot get AWS credentials for profile \"{profile}\": {what} \"{fifo}\" is not a regular file (a FIFO or a device would block or never end)"
        )
    };
    refused(
        keyless(&t, &config, &["sync", "--app", "api"])
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &fifo)
            .env("AWS_ROLE_ARN", "arn:aws:iam::333333333333:role/irsa")
            .timeout(std::time::Duration::from_secs(60)),
    )
    .stderr_line(not_regular("default", "AWS_WEB_IDENTITY_TOKEN_FILE"))
    .go();
    refused(
        keyless(
            &t,
            &fifo_config,
            &["--profile", "webfifo", "sync", "--app", "api"],
        )
        .timeout(std::time::Duration::from_secs(60)),
    )
    .stderr_line(not_regular("webfifo", "its web_identity_token_file"))
    .go();
}

// ------------------------------------------------- container and IMDS

/// `t.ssmm(ARGS)` with nothing but `env` to find credentials with: no keys,
/// no profile files, IMDS off unless `env` sets its endpoint.
fn only<S: AsRef<std::ffi::OsStr>>(t: &Test, args: &[S], env: &[(&str, &str)]) -> Run {
    let mut run = t
        .ssmm(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    for (k, v) in env {
        run = run.env(k, v);
        if *k == "AWS_EC2_METADATA_SERVICE_ENDPOINT" {
            run = run.env_remove("AWS_EC2_METADATA_DISABLED");
        }
    }
    run
}

/// A synced `.env` whose SSM calls were all signed with `keys`.
#[track_caller]
fn synced_with(t: &Test, run: Run, keys: &Keys) -> Outcome {
    t.proxy().reset_counts();
    let [s1, s2] = keys.secrets();
    let out = run
        .success()
        .secret(s1)
        .secret(s2)
        .file(".env", "K=\"value-c-7711\"\n")
        .go();
    assert_eq!(
        t.proxy().signers("ssm"),
        std::slice::from_ref(&keys.id),
        "{:?}",
        t.proxy().seen()
    );
    out
}

#[test]
fn container_credentials_with_an_authorization_token_file_sign_ssm() {
    let t = Test::new()
        .faults(Plan::none())
        .param("api/k", "value-c-7711");
    let dir = t.scratch("ecs");
    let auth = secret("container-auth");
    let keys = Keys::new("ASIACONTAINER0000001", "container");
    let server = container(&auth, &keys);
    let token_file = write(&dir, "token", &auth);
    let uri = server.url("/creds");
    let sync = ["-vvv", "sync", "--app", "api"];
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.as_str(),
        ),
    ];
    synced_with(&t, only(&t, &sync, &env).secret(&auth), &keys);
    assert!(server.hits("/creds") >= 1);
    // The token in AWS_CONTAINER_AUTHORIZATION_TOKEN instead of a file.
    let _ = fs::remove_file(t.path(".env"));
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", auth.as_str()),
    ];
    synced_with(&t, only(&t, &sync, &env).secret(&auth), &keys);
}

/// A wrong or missing token: the endpoint answers 401 and ssmm says which
/// source failed; neither token is shown. A token file that is missing, a
/// directory or a FIFO with no writer: the same, and no hang.
#[test]
fn container_credentials_refused_or_unreadable_are_exit_2_naming_the_endpoint() {
    let t = Test::new().plain("api/k", "value-c-7711");
    let dir = t.scratch("ecs");
    let auth = secret("container-auth");
    let keys = Keys::new("ASIACONTAINER0000001", "container");
    let server = container(&auth, &keys);
    let uri = server.url("/creds");
    let wrong = write(&dir, "wrong", &secret("wrong-auth"));
    let directory = dir.join("a-dir");
    fs::create_dir(&directory).unwrap();
    let fifo = dir.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let failed = "ssmm: error: cannot get AWS credentials (profile \"default\"): the ECS/EKS container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI) refused or failed (its answer is not shown); check the task or pod role and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    let fifo_line = format!(
        "ssmm: error: cannot get AWS credentials for profile \"default\": AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \"{}\" is not a regular file (a FIFO or a device would block or never end)",
        fifo.display()
    );
    let files = [
        (wrong, failed.to_string()),
        (
            dir.join("missing").display().to_string(),
            failed.to_string(),
        ),
        (directory.display().to_string(), failed.to_string()),
        (fifo.display().to_string(), fifo_line.clone()),
        (
            "/dev/zero".to_string(),
            fifo_line.replace(&fifo.display().to_string(), "/dev/zero"),
        ),
    ];
    let mut cases: Vec<(Vec<(&str, &str)>, &str)> =
        vec![(vec![("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)], failed)];
    for (f, line) in &files {
        cases.push((
            vec![
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", f),
            ],
            line,
        ));
    }
    for (env, line) in cases {
        let (out, wrong) = only(&t, &["-vvv", "sync", "--app", "api"], &env)
            .timeout(std::time::Duration::from_secs(60))
            .code(2)
            .stderr_line(line)
            .secret(&auth)
            .secret(secret("wrong-auth"))
            .secret(MARK)
            .writes_nothing()
            .verdict();
        assert!(wrong.is_empty(), "{env:?}: {}\n{out}", wrong.join("\n"));
        assert!(out.elapsed.as_secs() < 30, "{env:?} took {:?}", out.elapsed);
    }
    assert!(server.hits("/creds") >= 2, "{}", server.hits("/creds"));
}

#[test]
fn imds_v2_credentials_sign_ssm_and_every_metadata_read_carries_the_token() {
    let t = Test::new()
        .faults(Plan::none())
        .param("api/k", "value-c-7711");
    let imds_token = secret("imds-token");
    let keys = Keys::new("ASIAIMDS000000000001", "imds");
    let server = imds(&imds_token, Some("web-role"), &keys);
    let base = server.base();
    let env = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", base.as_str())];
    synced_with(
        &t,
        only(&t, &["-vvv", "sync", "--app", "api"], &env).secret(&imds_token),
        &keys,
    );
    assert!(server.hits("/latest/api/token") >= 1);
    assert!(server.hits("/latest/meta-data/iam/security-credentials/web-role") >= 1);
}

/// No role on the instance (404), IMDS unreachable, or IMDS failing (500):
/// with no other source, exit 2. The first two are "no credentials",
/// listing every source tried; the last names IMDS.
#[test]
fn imds_without_a_role_unreachable_or_failing_is_exit_2() {
    let t = Test::new();
    let imds_token = secret("imds-token");
    let keys = Keys::new("ASIAIMDS000000000001", "imds");
    let no_role = imds(&imds_token, None, &keys);
    let failing =
        crate::support::http::Server::start(|_| crate::support::http::Reply::new(500, "oops"));
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let none = "ssmm: error: no AWS credentials found (profile \"default\"): tried the environment (AWS_ACCESS_KEY_ID), the shared config and credentials files, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS/EKS container endpoint and EC2 instance metadata; configure one, e.g. aws configure --profile default, or aws sso login --profile default";
    let failed = "ssmm: error: cannot get AWS credentials (profile \"default\"): EC2 instance metadata (IMDSv2) failed to give the instance role's credentials (its answer is not shown); check the instance profile";
    for (endpoint, line) in [
        (no_role.base(), none),
        (closed, none),
        (failing.base(), failed),
    ] {
        only(
            &t,
            &["-vvv", "sync", "--app", "api"],
            &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)],
        )
        .code(2)
        .stderr_line(line)
        .secret(&imds_token)
        .secret(MARK)
        .writes_nothing()
        .go();
    }
    assert!(no_role.hits("/latest/meta-data/iam/security-credentials/") >= 1);
}

// ------------------------------------------------------------------- SSO

const START_URL: &str = "https://example.awsapps.com/start";

/// `[profile sess]` (an `sso_session`) and `[profile legacy]` (its own
/// `sso_start_url`), both for account 123456789012, role `R`.
fn sso_profiles(dir: &Path) -> String {
    write(
        dir,
        "config",
        &format!(
            "[profile sess]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = R\n\
             [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
             sso_registration_scopes = sso:account:access\n\
             [profile legacy]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
             sso_account_id = 123456789012\nsso_role_name = R\n"
        ),
    )
}

/// A cached token (`HOME/.aws/sso/cache/<sha1>.json`) that is valid: the
/// SDK asks the portal (`AWS_ENDPOINT_URL_SSO`) for the role's credentials
/// with it as the bearer token, and SSM is signed with what it answers.
#[test]
fn sso_profiles_with_a_cached_token_get_role_credentials_from_the_portal() {
    let t = Test::new()
        .faults(Plan::none())
        .param("api/k", "value-c-7711");
    let home = t.scratch("home");
    let config = sso_profiles(&home);
    let token = secret("sso-access-token");
    let keys = Keys::new("ASIASSO0000000000001", "sso");
    let portal = sso_portal(&token, &keys);
    for (profile, identifier) in [("sess", "corp"), ("legacy", START_URL)] {
        let _ = fs::remove_dir_all(home.join(".aws"));
        sso_cache(&home, identifier, &token, FAR);
        let _ = fs::remove_file(t.path(".env"));
        let run = keyless(
            &t,
            &config,
            &["--profile", profile, "-vvv", "sync", "--app", "api"],
        )
        .env("HOME", &home)
        .env("AWS_ENDPOINT_URL_SSO", portal.base())
        .secret(&token);
        synced_with(&t, run, &keys);
    }
    assert!(portal.hits_matching("/federation/credentials") >= 2);
}

/// An expired token, none, or a cache file that is not JSON, is a directory
/// or a FIFO: exit 2 saying to run `aws sso login` for the profile; no hang,
/// no token shown. An expired `sso_session` token is refused before any
/// call; an expired legacy one is sent, and the portal refuses it.
#[test]
fn sso_tokens_expired_missing_or_unreadable_say_to_run_aws_sso_login() {
    let t = Test::new().plain("api/k", "value-c-7711");
    let home = t.scratch("home");
    let config = sso_profiles(&home);
    let token = secret("sso-access-token");
    let keys = Keys::new("ASIASSO0000000000001", "sso");
    let portal = sso_portal(&secret("only-this-one-is-valid"), &keys);
    type Make<'a> = &'a dyn Fn(&Path);
    let states: [(&str, Make); 5] = [
        ("expired", &|p| {
            fs::write(p, sso_token_json(&token, PAST)).unwrap()
        }),
        ("missing", &|_| {}),
        ("not JSON", &|p| {
            fs::write(p, format!("{{not json {token}")).unwrap()
        }),
        ("a directory", &|p| fs::create_dir(p).unwrap()),
        ("a FIFO", &|p| {
            assert!(
                std::process::Command::new("mkfifo")
                    .arg(p)
                    .status()
                    .unwrap()
                    .success()
            )
        }),
    ];
    for (profile, identifier) in [("sess", "corp"), ("legacy", START_URL)] {
        for (state, make) in &states {
            let _ = fs::remove_dir_all(home.join(".aws"));
            let path = sso_cache_path(&home, identifier);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            make(&path);
            let line = if *state == "a FIFO" {
                format!(
                    "ssmm: error: cannot get AWS credentials for profile \"{profile}\": its SSO token cache file \"{}\" is not a regular file (a FIFO or a device would block or never end)",
                    path.display()
                )
            } else {
                format!(
                    "ssmm: error: cannot get AWS credentials for profile \"{profile}\" (SSO): the SSO token is missing or expired; run: aws sso login --profile {profile}"
                )
            };
            let (out, wrong) = keyless(
                &t,
                &config,
                &["--profile", profile, "-vvv", "sync", "--app", "api"],
            )
            .env("HOME", &home)
            .env("AWS_ENDPOINT_URL_SSO", portal.base())
            .timeout(std::time::Duration::from_secs(60))
            .code(2)
            .stderr_line(line)
            .secret(&token)
            .secret(MARK)
            .writes_nothing()
            .verdict();
            assert!(
                wrong.is_empty(),
                "{profile}, {state}: {}\n{out}",
                wrong.join("\n")
            );
            assert!(
                out.elapsed.as_secs() < 30,
                "{profile}, {state} took {:?}",
                out.elapsed
            );
        }
    }
    // The legacy profile's expired token was sent, and refused.
    assert!(portal.hits_matching("/federation/credentials") >= 1);
}

// ------------------------------------------------------------- attacks

/// A `credential_process` that never answers: the SDK sets it no time
/// limit of its own; `--total-timeout` ends the wait with exit 2 naming the
/// profile and the process. (The process itself is left running: the SDK
/// does not kill it.)
#[test]
fn a_hanging_credential_process_ends_at_the_total_timeout_with_exit_2() {
    let t = Test::new().plain("api/k", "value-c-7711");
    let dir = t.scratch("aws");
    let pid = dir.join("pid");
    let hang = script(
        &dir,
        "hang.sh",
        &format!("echo $$ > {}\nexec sleep 120", pid.display()),
    );
    let config = write(
        &dir,
        "config",
        &format!("[profile hang]\ncredential_process = {hang}\n"),
    );
    let out = keyless(&t, &config, &["--profile", "hang", "--total-timeout", "3s", "sync", "--app", "api"])
        .code(2)
        .stderr_line("ssmm: error: cannot get AWS credentials for profile \"hang\": its credential_process did not answer within 3s (--total-timeout)")
        .writes_nothing()
        .go();
    assert!(out.elapsed.as_secs() < 10, "{:?}", out.elapsed);
    if let Ok(pid) = fs::read_to_string(&pid) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
}

/// Megabytes on stdout: parsed, refused, never shown.
#[test]
fn a_credential_process_printing_megabytes_is_exit_2_and_none_of_it_is_shown() {
    let t = Test::new().plain("api/k", "value-c-7711");
    let dir = t.scratch("aws");
    let big = script(
        &dir,
        "big.sh",
        &format!(
            "i=0; while [ $i -lt 100000 ]; do echo '{MARK} {MARK} {MARK} {MARK} {MARK}'; i=$((i+1)); done"
        ),
    );
    let config = write(
        &dir,
        "config",
        &format!("[profile big]\ncredential_process = {big}\n"),
    );
    keyless(&t, &config, &["--profile", "big", "-vvv", "sync", "--app", "api"])
        .code(2)
        .stderr_line("ssmm: error: cannot get AWS credentials for profile \"big\": its credential_process failed or printed no valid credentials (its output is not shown); run the command by hand to see why")
        .secret(MARK)
        .writes_nothing()
        .go();
}

/// A FIFO where the SDK reads synchronously, on the runtime's one thread:
/// the token cache of the profile in force is checked first (exit 2 at
/// once, in `sso_tokens_expired_missing_or_unreadable_...`), but one reached
/// through a `source_profile` is not. Then the read blocks the runtime, its
/// timer too, and a watchdog ends the process a moment after
/// `--total-timeout`.
#[test]
fn a_read_that_blocks_the_runtime_still_ends_at_the_total_timeout() {
    let t = Test::new().plain("api/k", "value-c-7711");
    let home = t.scratch("home");
    let config = write(
        &home,
        "config",
        &format!(
            "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = R\n\
             [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
             [profile viasso]\nrole_arn = arn:aws:iam::111111111111:role/r\nsource_profile = sso\n"
        ),
    );
    let fifo = sso_cache_path(&home, "corp");
    fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = keyless(&t, &config, &["--profile", "viasso", "--total-timeout", "3s", "sync", "--app", "api"])
        .env("HOME", &home)
        .timeout(std::time::Duration::from_secs(60))
        .code(2)
        .stderr_line("ssmm: error: cannot get AWS credentials for profile \"viasso\": STS (AssumeRole for its role_arn) did not answer within 3s (--total-timeout)")
        .writes_nothing()
        .go();
    assert!(out.elapsed.as_secs() < 15, "{:?}", out.elapsed);
}
