//! When AWS credentials cannot be had (`docs/CONTRACT.md` §3 "Credentials"):
//! one message naming the profile and the source that failed, and what to
//! do; exit 2, a configuration error.
//!
//! The SDK's own text is never shown: a failing `credential_process` is
//! reported with its standard error, and its output (which holds the secret
//! key) can reach a parse error. So the message is built here from the kind
//! of failure and from what the profile says it uses (`sso_session`,
//! `credential_process`, `role_arn`, ...), read from the shared config file.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_config::SdkConfig;
use aws_config::ecs::EcsCredentialsProvider;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::names::quoted;

/// A credentials failure, as its whole message. `error::Error::exit_code`
/// gives it 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoCredentials(pub String);

/// What the profile in force says about where its credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Sso,
    Process,
    AssumeRole,
    WebIdentity,
    StaticKeys,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` / `_RELATIVE_URI` (ECS, EKS).
    Container,
    /// EC2 instance metadata, the chain's last source.
    Imds,
    /// A profile named (not `default`) that neither file has.
    Missing,
    /// Nothing in the profile: the rest of the default chain.
    Chain,
}

#[derive(Debug, Clone)]
struct Context {
    profile: String,
    /// Named by `--profile`: the environment's keys are not tried.
    explicit: bool,
    source: Source,
}

static CONTEXT: OnceLock<Context> = OnceLock::new();

/// Whether an SSM request was signed yet: until then, a call is waiting
/// for the credentials.
static SIGNED: AtomicBool = AtomicBool::new(false);

/// A request was signed (`stats::Counter`).
pub fn note_signed() {
    SIGNED.store(true, Ordering::Relaxed);
}

/// `--total-timeout` (`shown`) passed: when a client was built and no
/// request was signed yet, it was the credentials that did not come, and
/// that is the message (exit 2), naming the profile and the source.
pub fn timed_out(shown: &str) -> Option<NoCredentials> {
    let ctx = CONTEXT.get()?;
    if SIGNED.load(Ordering::Relaxed) {
        return None;
    }
    Some(NoCredentials(format!(
        "cannot get AWS credentials for profile {}: {} did not answer within {shown} (--total-timeout)",
        quoted(&ctx.profile),
        source_label(&ctx.source)
    )))
}

/// The source as the subject of "did not answer".
fn source_label(source: &Source) -> &'static str {
    match source {
        Source::Sso => "the SSO portal",
        Source::Process => "its credential_process",
        Source::AssumeRole => "STS (AssumeRole for its role_arn)",
        Source::WebIdentity => "STS (AssumeRoleWithWebIdentity)",
        Source::Container => "the ECS/EKS container credentials endpoint",
        Source::Imds => "EC2 instance metadata",
        _ => "the credential provider",
    }
}

/// Note, once per run, which profile is in force and what it uses: the
/// `--profile` flag, else `$AWS_PROFILE`, else `default`.
pub fn remember(profile_flag: Option<&str>) {
    CONTEXT.get_or_init(|| {
        let profile = profile_flag
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
            .unwrap_or_else(|| "default".to_string());
        let source = profile_source(&profile);
        Context {
            profile,
            explicit: profile_flag.is_some(),
            source,
        }
    });
}

/// The chain for `--profile NAME`: NAME's profile, then web identity, the
/// container endpoint and IMDS, as the SDK's default chain but without its
/// first link, the environment's keys. The SDK tries those first even when
/// a profile is named (`profile_name` only picks the profile), so a named
/// profile's `role_arn` with `credential_source = Environment` was never
/// assumed (the keys were used as they are), and stray keys in the
/// environment silently won over `--profile`. The AWS CLI's `--profile`
/// works this way too. `$AWS_PROFILE` keeps the SDK's order (the CLI's too).
/// The inner STS, SSO and HTTP clients get ssmm's region, FIPS and
/// dual-stack choice, retry and timeout settings, as `aws_config::defaults`
/// gives them.
pub fn profile_first(
    profile: &str,
    shared: &SdkConfig,
    retry: RetryConfig,
    timeouts: TimeoutConfig,
) -> SharedCredentialsProvider {
    let conf = ProviderConfig::default()
        .with_region(shared.region().cloned())
        .with_use_fips(shared.use_fips())
        .with_use_dual_stack(shared.use_dual_stack())
        .with_behavior_version(shared.behavior_version())
        .with_retry_config(retry)
        .with_timeout_config(timeouts);
    let profile = ProfileFileCredentialsProvider::builder()
        .configure(&conf)
        .profile_name(profile)
        .build();
    let chain = CredentialsProviderChain::first_try("Profile", profile)
        .or_else(
            "WebIdentityToken",
            WebIdentityTokenCredentialsProvider::builder()
                .configure(&conf)
                .build(),
        )
        .or_else(
            "EcsContainer",
            EcsCredentialsProvider::builder().configure(&conf).build(),
        )
        .or_else(
            "Ec2InstanceMetadata",
            ImdsCredentialsProvider::builder().configure(&conf).build(),
        );
    SharedCredentialsProvider::new(chain)
}

/// The credentials error somewhere in `err`'s sources, as our message.
pub fn failure(err: &(dyn std::error::Error + 'static)) -> Option<NoCredentials> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(ce) = e.downcast_ref::<CredentialsError>() {
            return Some(NoCredentials(message(ce)));
        }
        cur = e.source();
    }
    None
}

fn message(err: &CredentialsError) -> String {
    let ctx = CONTEXT.get().cloned().unwrap_or(Context {
        profile: "default".into(),
        explicit: false,
        source: Source::Chain,
    });
    let p = quoted(&ctx.profile);
    let plain = &ctx.profile;
    match (err, &ctx.source) {
        (CredentialsError::ProviderTimedOut(_), source) => format!(
            "cannot get AWS credentials for profile {p}: {} did not answer in time",
            source_label(source)
        ),
        (_, Source::Sso) => format!(
            "cannot get AWS credentials for profile {p} (SSO): the SSO token is missing or expired; run: aws sso login --profile {plain}"
        ),
        (_, Source::Process) => format!(
            "cannot get AWS credentials for profile {p}: its credential_process failed or printed no valid credentials (its output is not shown); run the command by hand to see why"
        ),
        (_, Source::AssumeRole) => format!(
            "cannot get AWS credentials for profile {p}: assuming its role_arn failed (AssumeRole refused, or its source_profile / credential_source has no credentials); check the role's trust policy and the source credentials, e.g. aws sts get-caller-identity --profile {plain}"
        ),
        (_, Source::WebIdentity) => format!(
            "cannot get AWS credentials for profile {p}: the web identity token could not be exchanged (check AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN)"
        ),
        (_, Source::Missing) => format!(
            "cannot get AWS credentials: profile {p} is in neither the shared config file nor the credentials file (check --profile / AWS_PROFILE, or AWS_CONFIG_FILE)"
        ),
        (_, Source::StaticKeys) => format!(
            "cannot get AWS credentials for profile {p}: its aws_access_key_id / aws_secret_access_key are incomplete"
        ),
        (
            CredentialsError::CredentialsNotLoaded(_),
            Source::Chain | Source::Container | Source::Imds,
        ) => format!(
            "no AWS credentials found (profile {p}): tried {}the shared config and credentials files, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS/EKS container endpoint and EC2 instance metadata; configure one, e.g. aws configure --profile {plain}, or aws sso login --profile {plain}",
            if ctx.explicit {
                ""
            } else {
                "the environment (AWS_ACCESS_KEY_ID), "
            }
        ),
        (_, Source::Container) => format!(
            "cannot get AWS credentials (profile {p}): the ECS/EKS container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI) refused or failed (its answer is not shown); check the task or pod role and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
        ),
        (_, Source::Imds) => format!(
            "cannot get AWS credentials (profile {p}): EC2 instance metadata (IMDSv2) failed to give the instance role's credentials (its answer is not shown); check the instance profile"
        ),
        (_, Source::Chain) => format!(
            "cannot get AWS credentials (profile {p}): a credential provider of the default chain failed"
        ),
    }
}

/// The shared config and credentials files: `$AWS_CONFIG_FILE`,
/// `$AWS_SHARED_CREDENTIALS_FILE`, else under `~/.aws`.
fn profile_files() -> [String; 2] {
    let home = std::env::var("HOME").unwrap_or_default();
    let file = |var: &str, default: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| format!("{home}/.aws/{default}"))
    };
    [
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    ]
}

/// The text of `path` when it is a regular file; "" otherwise (missing, or
/// a FIFO or a device, which would block or never end: see [`check_files`]).
fn read_regular(path: &str) -> String {
    if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        std::fs::read_to_string(path).unwrap_or_default()
    } else {
        String::new()
    }
}

/// `profile`'s keys in both files (see [`profile_keys`]); `None` when
/// neither file has the profile.
fn profile_entries(profile: &str) -> Option<Vec<(String, String)>> {
    let [config, credentials] = profile_files();
    let config = profile_keys(&read_regular(&config), profile, true);
    let credentials = profile_keys(&read_regular(&credentials), profile, false);
    if config.is_none() && credentials.is_none() {
        return None;
    }
    Some(config.into_iter().chain(credentials).flatten().collect())
}

/// What `profile` uses, from the shared config and credentials files.
/// Key names only, but for the few values of [`PATH_KEYS`].
fn profile_source(profile: &str) -> Source {
    let entries = profile_entries(profile);
    if entries.is_none() && profile != "default" {
        return Source::Missing;
    }
    let keys: Vec<String> = entries.into_iter().flatten().map(|(k, _)| k).collect();
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    let has = |k: &str| keys.iter().any(|key| key == k);
    if has("sso_session") || has("sso_start_url") {
        Source::Sso
    } else if has("credential_process") {
        Source::Process
    } else if has("role_arn") && has("web_identity_token_file") {
        Source::WebIdentity
    } else if has("role_arn") {
        Source::AssumeRole
    } else if has("aws_access_key_id") || has("aws_secret_access_key") {
        Source::StaticKeys
    } else if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        Source::WebIdentity
    } else if set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    {
        Source::Container
    } else if !std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"))
    {
        Source::Imds
    } else {
        Source::Chain
    }
}

/// The keys whose values [`profile_keys`] keeps: names and paths, never a
/// credential.
const PATH_KEYS: [&str; 3] = ["sso_session", "sso_start_url", "web_identity_token_file"];

/// The files the SDK's chain may read for the profile in force, which it
/// reads whole and synchronously, on the runtime's one thread: when one is
/// a FIFO (no writer: the read blocks forever, and `--total-timeout` with
/// it) or a device (`/dev/zero` never ends), refuse before the SDK starts.
/// A missing file or a directory fails at once in the SDK and is left to
/// it.
pub fn check_files() -> Result<(), NoCredentials> {
    let profile = CONTEXT
        .get()
        .map_or_else(|| "default".to_string(), |c| c.profile.clone());
    let [config, credentials] = profile_files();
    let mut files: Vec<(&str, String)> = vec![
        ("the shared config file", config),
        ("the shared credentials file", credentials),
    ];
    for var in [
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ] {
        if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            files.push((var, path.to_string_lossy().into_owned()));
        }
    }
    // The blocking check first: the profile's own files are read next.
    check_regular(&profile, &files)?;
    let entries = profile_entries(&profile).unwrap_or_default();
    let value = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let home = std::env::var("HOME").unwrap_or_default();
    let mut more: Vec<(&str, String)> = Vec::new();
    if let Some(path) = value("web_identity_token_file") {
        more.push(("its web_identity_token_file", path.clone()));
    }
    // The token cache `aws sso login` writes: named after the sso_session,
    // or for a legacy profile after its start URL.
    if let Some(id) = value("sso_session").or_else(|| value("sso_start_url")) {
        more.push(("its SSO token cache file", sso_cache_file(&home, id)));
    }
    check_regular(&profile, &more)
}

fn check_regular(profile: &str, files: &[(&str, String)]) -> Result<(), NoCredentials> {
    for (what, path) in files {
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            return Err(NoCredentials(format!(
                "cannot get AWS credentials for profile {}: {what} {} is not a regular file (a FIFO or a device would block or never end)",
                quoted(profile),
                quoted(path)
            )));
        }
    }
    Ok(())
}

/// `HOME/.aws/sso/cache/<sha1 hex of id>.json`, as aws-config names it.
fn sso_cache_file(home: &str, id: &str) -> String {
    use sha1::Digest;
    let hash: String = sha1::Sha1::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{home}/.aws/sso/cache/{hash}.json")
}

/// The keys of `profile`'s section in an INI text: `[profile NAME]` (or
/// `[default]`) in the config file, `[NAME]` in the credentials file;
/// `None` when there is no such section. Each with its value for
/// [`PATH_KEYS`], an empty one for any other key.
fn profile_keys(text: &str, profile: &str, config_file: bool) -> Option<Vec<(String, String)>> {
    let wanted = |header: &str| {
        let name = header.trim();
        if config_file {
            name == format!("profile {profile}") || (profile == "default" && name == "default")
        } else {
            name == profile
        }
    };
    let mut inside = false;
    let mut found = false;
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = wanted(header);
            found |= inside;
        } else if inside
            && !line.starts_with('#')
            && !line.starts_with(';')
            && let Some((key, value)) = line.split_once('=')
        {
            let key = key.trim().to_ascii_lowercase();
            let value = if PATH_KEYS.contains(&key.as_str()) {
                value.trim().to_string()
            } else {
                String::new()
            };
            keys.push((key, value));
        }
    }
    found.then_some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_sections_are_found_in_both_files() {
        let config = "[default]\nregion = x\n[profile dev]\nsso_session = s\n[sso-session s]\nsso_start_url = u\n";
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            profile_keys(config, "dev", true).unwrap(),
            [pair("sso_session", "s")]
        );
        assert_eq!(
            profile_keys(config, "default", true).unwrap(),
            [pair("region", "")]
        );
        let creds = "[dev]\naws_access_key_id = A\naws_secret_access_key = S\n# comment = x\n";
        assert_eq!(
            profile_keys(creds, "dev", false).unwrap(),
            [
                pair("aws_access_key_id", ""),
                pair("aws_secret_access_key", "")
            ]
        );
        assert_eq!(profile_keys(creds, "other", false), None);
        assert_eq!(profile_keys("[profile x]\n", "x", true), Some(vec![]));
    }
}
