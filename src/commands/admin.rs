//! What the team admin commands share: the team prefix (admin commands use
//! the team layout only), the one app a command works on, turning a KEY
//! argument into a parameter name, and the salted hashes that stand in for
//! values in `check` and `diff`.

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::log;
use crate::names;
use crate::ssm::{self, Purpose, Ssm};

/// Run `f` with a client for `purpose` on a runtime dropped afterwards;
/// `-vv` shows the API calls it made.
pub fn on_ssm<T, F, Fut>(cfg: &Config, purpose: Purpose, f: F) -> Result<T>
where
    F: FnOnce(Ssm) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    ssm::block_on_within(cfg.aws.total_timeout, async {
        let client = ssm::connect(&cfg.aws, purpose).await?;
        let stats = client.stats.clone();
        let result = f(client).await;
        log::debug!("API calls: {}", stats.summary());
        result
    })
    .map_err(Error::Runtime)?
}

/// A KEY argument -> parameter name:
/// - `/acme/api/db-url`: a full name, which must lie under the prefix;
/// - `files/tls/cert.pem`: a path below the app;
/// - `DB_URL`: a variable, mapped like `put` does (`db-url`);
/// - `db-url`, `db.host`: a key, used as is.
pub fn param_name(prefix: &str, app: &str, key: &str) -> Result<String> {
    let bad = |why: &str| Error::usage(format!("invalid KEY {}: {why}", names::quoted(key)));
    if let Some(rest) = key.strip_prefix('/') {
        let under = prefix.trim_start_matches('/');
        let inside = rest
            .strip_prefix(under)
            .is_some_and(|tail| tail.starts_with('/') && tail.len() > 1);
        if !inside {
            return Err(bad(&format!(
                "a full name must lie under the prefix {prefix}/"
            )));
        }
        check_segments(rest).map_err(&bad)?;
        return Ok(key.to_string());
    }
    check_segments(key).map_err(bad)?;
    let key = if names::is_valid_var(key) {
        names::var_to_key(key)
    } else {
        key.to_string()
    };
    Ok(format!("{prefix}/{app}/{key}"))
}

/// The parameter a KEY argument of `command` names; the app is resolved
/// only for a KEY that is not a full name.
pub fn key_name(cfg: &Config, prefix: &str, key: &str, command: &str) -> Result<String> {
    let app = if key.starts_with('/') {
        String::new()
    } else {
        cfg.team.one_app(command)?
    };
    param_name(prefix, &app, key)
}

fn check_segments(path: &str) -> std::result::Result<(), &'static str> {
    if names::is_valid_path(path) {
        Ok(())
    } else {
        Err("segments may only use A-Z a-z 0-9 _ . - (and not be '.', '..' or empty)")
    }
}

/// A path argument of `migrate`: an app name under the prefix, or a full
/// path. Returns the path and, for an app, its name.
pub fn namespace(prefix: Option<&str>, arg: &str) -> Result<(String, Option<String>)> {
    if arg.starts_with('/') {
        names::validate_prefix(arg)
            .map_err(|e| Error::usage(e.replacen("invalid prefix", "invalid path", 1)))?;
        return Ok((arg.to_string(), None));
    }
    names::validate_app(arg, "app").map_err(Error::Usage)?;
    let prefix = prefix.ok_or(Error::NoPrefix)?;
    Ok((format!("{prefix}/{arg}"), Some(arg.to_string())))
}

/// The part of `name` after `base/`.
pub fn relative<'a>(base: &str, name: &'a str) -> &'a str {
    name.strip_prefix(base)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(name)
}

/// Hash prefixes that group equal values within one report without letting
/// anyone test guesses offline: SHA-256 over a random per-run salt and the
/// value. The same value gets the same prefix within a run, a different one
/// in the next.
pub struct Hasher {
    salt: [u8; 32],
}

impl Hasher {
    pub fn new() -> Result<Hasher> {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt)
            .map_err(|e| Error::runtime(format!("no randomness for the hash salt: {e}")))?;
        Ok(Hasher { salt })
    }

    /// 12 hex digits (48 bits): collisions are negligible within a team.
    pub fn short(&self, value: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(value.as_bytes());
        let digest = h.finalize();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_names() {
        let p = "/acme";
        assert_eq!(param_name(p, "api", "DB_URL").unwrap(), "/acme/api/db-url");
        assert_eq!(param_name(p, "api", "db-url").unwrap(), "/acme/api/db-url");
        assert_eq!(
            param_name(p, "api", "db.host").unwrap(),
            "/acme/api/db.host"
        );
        assert_eq!(
            param_name(p, "api", "files/tls/cert.pem").unwrap(),
            "/acme/api/files/tls/cert.pem"
        );
        assert_eq!(
            param_name(p, "api", "/acme/shared/x").unwrap(),
            "/acme/shared/x"
        );
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_control_characters() {
        for bad in [
            "/other/x", "/acme", "/acme/", "/acmex/y", "a/../b", "a//b", "", "a b", "x\n",
        ] {
            let e = param_name("/acme", "api", bad).unwrap_err().to_string();
            assert!(e.contains("invalid KEY"), "{bad}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn hashes_group_equal_values_and_change_between_runs() {
        let a = Hasher::new().unwrap();
        let b = Hasher::new().unwrap();
        assert_eq!(a.short("x"), a.short("x"));
        assert_ne!(a.short("x"), a.short("y"));
        assert_ne!(a.short("x"), b.short("x"));
        assert_eq!(a.short("x").len(), 12);
    }

    #[test]
    fn namespaces_are_apps_or_full_paths() {
        assert_eq!(
            namespace(Some("/acme"), "api").unwrap(),
            ("/acme/api".to_string(), Some("api".to_string()))
        );
        assert_eq!(namespace(None, "/x/y").unwrap(), ("/x/y".to_string(), None));
        assert!(matches!(namespace(None, "api"), Err(Error::NoPrefix)));
        assert!(namespace(Some("/acme"), "a/b").is_err());
        assert!(namespace(None, "/x/../y").is_err());
    }
}
