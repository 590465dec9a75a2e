//! Flags + environment -> a resolved `Config` that says exactly which SSM
//! paths to read and how to talk to SSM. Built once in `main`; nothing after
//! this reads flags or the environment for resolution.

use std::path::{Path, PathBuf};

use crate::cli::{GlobalArgs, RetryModeArg, SelectArgs};
use crate::error::{Error, Result};
use crate::names::{self, KeyCase};

/// How to reach SSM; see `ssm::connect`.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub read_concurrency: usize,
    pub write_concurrency: usize,
    pub max_attempts: u32,
    /// `None`: each purpose's default (standard for reads, adaptive for writes).
    pub retry_mode: Option<RetryModeArg>,
}

/// One layer of the team layout, lowest precedence first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerSpec {
    /// `R/shared/*`
    Shared { path: String },
    /// Everything under `R` whose tags match all of `tags`.
    Tagged {
        root: String,
        tags: Vec<(String, String)>,
    },
    /// `R/A/*`
    App { app: String, path: String },
}

impl LayerSpec {
    /// Short label used in summaries and conflict lines.
    pub fn label(&self) -> String {
        match self {
            LayerSpec::Shared { .. } => "shared".to_string(),
            LayerSpec::Tagged { .. } => "tag".to_string(),
            LayerSpec::App { app, .. } => format!("app:{app}"),
        }
    }
}

/// Everything `sync` (and later `exec`) needs to know, resolved.
#[derive(Debug, Clone)]
pub struct Selection {
    pub prefix: String,
    pub layers: Vec<LayerSpec>,
    pub key_case: KeyCase,
    pub strict: bool,
    pub allow_empty: bool,
}

pub fn aws_settings(g: &GlobalArgs) -> AwsSettings {
    AwsSettings {
        region: g.region.clone(),
        profile: g.profile.clone(),
        endpoint_url: g.endpoint_url.clone(),
        read_concurrency: g.read_concurrency as usize,
        write_concurrency: g.write_concurrency as usize,
        max_attempts: g.max_attempts,
        retry_mode: g.retry_mode,
    }
}

/// Where the environment comes from; a closure so tests need not touch the
/// process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `--prefix`, else `$SSMM_PREFIX_ROOT`, validated (SPEC §2).
pub fn resolve_prefix(flag: Option<&str>, env: EnvLookup) -> Result<String> {
    let prefix = match flag {
        Some(p) => p.to_string(),
        None => env("SSMM_PREFIX_ROOT").ok_or(Error::NoPrefix)?,
    };
    names::validate_prefix(&prefix).map_err(Error::Usage)?;
    Ok(prefix)
}

/// `--app` (repeatable), else `$SSMM_APP`, else the working directory's
/// basename, lower-cased with `_` -> `-`.
pub fn resolve_apps(flags: &[String], env: EnvLookup, cwd: &Path) -> Result<Vec<String>> {
    let apps: Vec<String> = if !flags.is_empty() {
        flags.to_vec()
    } else if let Some(app) = env("SSMM_APP") {
        vec![app]
    } else {
        let base = cwd
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::usage(
                    "cannot take the app name from the current directory (it has no name); pass --app",
                )
            })?;
        let app = names::normalize_detected(&base);
        names::validate_app(&app, "app").map_err(|e| {
            Error::usage(format!(
                "{e} (taken from the current directory's name); pass --app"
            ))
        })?;
        vec![app]
    };
    for app in &apps {
        names::validate_app(app, "app").map_err(Error::Usage)?;
        if app == "shared" {
            return Err(Error::usage(
                "\"shared\" is the shared layer, not an app; drop --app shared (or pass --no-shared to skip it)",
            ));
        }
    }
    Ok(apps)
}

/// `K=V` pairs of `--include-tag`.
pub fn parse_tags(raw: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.is_empty() && valid_tag_part(k) && valid_tag_part(v) => {
                Ok((k.to_string(), v.to_string()))
            }
            _ => Err(Error::usage(format!(
                "invalid {flag} {:?}: expected KEY=VALUE with a non-empty key",
                names::printable(t)
            ))),
        })
        .collect()
}

/// SSM tag keys and values: letters, digits, spaces and `_ . : / = + - @`.
fn valid_tag_part(s: &str) -> bool {
    s.len() <= 256
        && s.chars().all(|c| {
            c.is_alphanumeric()
                || c == ' '
                || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
        })
}

/// Team layout: which layers to read for the given selection flags.
pub fn team_selection(
    g: &GlobalArgs,
    sel: &SelectArgs,
    env: EnvLookup,
    cwd: &Path,
) -> Result<Selection> {
    let prefix = resolve_prefix(g.prefix.as_deref(), env)?;
    let apps = resolve_apps(&g.apps, env, cwd)?;
    let tags = parse_tags(&sel.include_tag, "--include-tag")?;
    let mut layers = Vec::new();
    if !sel.no_shared {
        layers.push(LayerSpec::Shared {
            path: format!("{prefix}/shared"),
        });
    }
    if !tags.is_empty() {
        layers.push(LayerSpec::Tagged {
            root: prefix.clone(),
            tags,
        });
    }
    for app in apps {
        layers.push(LayerSpec::App {
            path: format!("{prefix}/{app}"),
            app,
        });
    }
    Ok(Selection {
        prefix,
        layers,
        key_case: g.key_case,
        strict: sel.strict,
        allow_empty: sel.allow_empty,
    })
}

/// The current directory, for the default app name and relative paths.
pub fn current_dir() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| Error::usage(format!("cannot read the current directory: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn prefix_flag_wins_over_env() {
        let env = env_of(&[("SSMM_PREFIX_ROOT", "/env")]);
        assert_eq!(resolve_prefix(Some("/flag"), &env).unwrap(), "/flag");
        assert_eq!(resolve_prefix(None, &env).unwrap(), "/env");
    }

    #[test]
    fn missing_prefix_is_the_exact_spec_error() {
        let env = env_of(&[]);
        let err = resolve_prefix(None, &env).unwrap_err();
        assert!(matches!(err, Error::NoPrefix));
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn bad_prefix_from_env_is_a_usage_error() {
        let env = env_of(&[("SSMM_PREFIX_ROOT", "team/")]);
        assert_eq!(resolve_prefix(None, &env).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn apps_resolve_in_order() {
        let env = env_of(&[("SSMM_APP", "from-env")]);
        let cwd = Path::new("/srv/My_Api");
        assert_eq!(
            resolve_apps(&["a".into(), "b".into()], &env, cwd).unwrap(),
            ["a", "b"]
        );
        assert_eq!(resolve_apps(&[], &env, cwd).unwrap(), ["from-env"]);
        assert_eq!(resolve_apps(&[], &env_of(&[]), cwd).unwrap(), ["my-api"]);
    }

    #[test]
    fn unusable_directory_names_ask_for_app() {
        let err = resolve_apps(&[], &env_of(&[]), Path::new("/srv/has space")).unwrap_err();
        assert!(err.to_string().contains("pass --app"), "{err}");
        assert!(resolve_apps(&[], &env_of(&[]), Path::new("/")).is_err());
    }

    #[test]
    fn shared_is_not_an_app() {
        assert!(resolve_apps(&["shared".into()], &env_of(&[]), Path::new("/x")).is_err());
    }

    #[test]
    fn tags_parse_and_validate() {
        assert_eq!(
            parse_tags(&["env=prod".into(), "team=a=b".into()], "--include-tag").unwrap(),
            vec![("env".into(), "prod".into()), ("team".into(), "a=b".into())]
        );
        for bad in ["novalue", "=v", "k=\n"] {
            assert!(parse_tags(&[bad.into()], "--include-tag").is_err(), "{bad}");
        }
    }
}
