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

use aws_credential_types::provider::error::CredentialsError;

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
    /// A profile named (not `default`) that neither file has.
    Missing,
    /// Nothing in the profile: the rest of the default chain.
    Chain,
}

#[derive(Debug, Clone)]
struct Context {
    profile: String,
    source: Source,
}

static CONTEXT: OnceLock<Context> = OnceLock::new();

/// Note, once per run, which profile is in force and what it uses: the
/// `--profile` flag, else `$AWS_PROFILE`, else `default`.
pub fn remember(profile_flag: Option<&str>) {
    CONTEXT.get_or_init(|| {
        let profile = profile_flag
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
            .unwrap_or_else(|| "default".to_string());
        let source = profile_source(&profile);
        Context { profile, source }
    });
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
        source: Source::Chain,
    });
    let p = quoted(&ctx.profile);
    let plain = &ctx.profile;
    match (err, &ctx.source) {
        (CredentialsError::ProviderTimedOut(_), _) => format!(
            "cannot get AWS credentials for profile {p}: the credential provider did not answer in time"
        ),
        (_, Source::Sso) => format!(
            "cannot get AWS credentials for profile {p} (SSO): the SSO token is missing or expired; run: aws sso login --profile {plain}"
        ),
        (_, Source::Process) => format!(
            "cannot get AWS credentials for profile {p}: its credential_process failed or printed no valid credentials (its output is not shown); run the command by hand to see why"
        ),
        (_, Source::AssumeRole) => format!(
            "cannot get AWS credentials for profile {p}: assuming its role_arn failed (AssumeRole refused, or its source_profile / credential_source has no credentials)"
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
        (CredentialsError::CredentialsNotLoaded(_), Source::Chain) => format!(
            "no AWS credentials found (profile {p}): tried the environment (AWS_ACCESS_KEY_ID), the shared config and credentials files, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS/EKS container endpoint and EC2 instance metadata; configure one, e.g. aws configure --profile {plain}, or aws sso login --profile {plain}"
        ),
        (_, Source::Chain) => format!(
            "cannot get AWS credentials (profile {p}): a credential provider of the default chain (web identity, container endpoint or EC2 instance metadata) failed"
        ),
    }
}

/// What `profile` uses, from the shared config and credentials files
/// (`$AWS_CONFIG_FILE`, `$AWS_SHARED_CREDENTIALS_FILE`, else under
/// `~/.aws`). Keys only: no value is kept.
fn profile_source(profile: &str) -> Source {
    let home = std::env::var("HOME").unwrap_or_default();
    let file = |var: &str, default: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| format!("{home}/.aws/{default}"))
    };
    let config = profile_keys(
        &std::fs::read_to_string(file("AWS_CONFIG_FILE", "config")).unwrap_or_default(),
        profile,
        true,
    );
    let credentials = profile_keys(
        &std::fs::read_to_string(file("AWS_SHARED_CREDENTIALS_FILE", "credentials"))
            .unwrap_or_default(),
        profile,
        false,
    );
    if config.is_none() && credentials.is_none() && profile != "default" {
        return Source::Missing;
    }
    let keys: Vec<String> = config.into_iter().chain(credentials).flatten().collect();
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
    } else if std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() {
        Source::WebIdentity
    } else {
        Source::Chain
    }
}

/// The key names of `profile`'s section in an INI text: `[profile NAME]`
/// (or `[default]`) in the config file, `[NAME]` in the credentials file;
/// `None` when there is no such section.
fn profile_keys(text: &str, profile: &str, config_file: bool) -> Option<Vec<String>> {
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
            && let Some((key, _)) = line.split_once('=')
        {
            keys.push(key.trim().to_ascii_lowercase());
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
        assert_eq!(profile_keys(config, "dev", true).unwrap(), ["sso_session"]);
        assert_eq!(profile_keys(config, "default", true).unwrap(), ["region"]);
        let creds = "[dev]\naws_access_key_id = A\n# comment = x\n";
        assert_eq!(
            profile_keys(creds, "dev", false).unwrap(),
            ["aws_access_key_id"]
        );
        assert_eq!(profile_keys(creds, "other", false), None);
        assert_eq!(profile_keys("[profile x]\n", "x", true), Some(vec![]));
    }
}
