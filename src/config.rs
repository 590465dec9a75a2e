//! Flags + environment -> a resolved `Config` that says exactly which SSM
//! paths to read and how to talk to SSM. Built once in `main`; nothing after
//! this reads flags or the environment for resolution.

use std::path::{Path, PathBuf};

use crate::cli::{GlobalArgs, SelectArgs};
use crate::ecs::{EcsInfo, Need};
use crate::error::{Error, Result};
use crate::names::{self, KeyCase};
use crate::ssm::{AwsSettings, FetchStrategy};

pub use crate::layout::Layout;

/// Which kind of layer, for summaries: the ecs layout's cluster layer counts
/// as `shared`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Shared,
    Tag,
    App,
}

/// Where a layer's parameters live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Variables are the direct children of `vars`; files are everything
    /// below `files` (any depth). When `base` is set, one recursive walk of
    /// it covers both (fewer API calls than two walks).
    Paths {
        vars: String,
        files: String,
        base: Option<String>,
    },
    /// Everything under `root` whose tags match all of `tags` (variables
    /// only).
    Tagged {
        root: String,
        tags: Vec<(String, String)>,
    },
}

/// One layer, lowest precedence first in a `Selection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    pub kind: LayerKind,
    /// `shared`, `cluster`, `tag` or `app:<name>`: used in messages.
    pub label: String,
    pub source: Source,
}

impl LayerSpec {
    fn paths(
        kind: LayerKind,
        label: String,
        vars: String,
        files: String,
        base: Option<String>,
    ) -> Self {
        LayerSpec {
            kind,
            label,
            source: Source::Paths { vars, files, base },
        }
    }

    /// The GetParametersByPath walks that read this layer: (path, recursive).
    pub fn walks(&self, with_files: bool) -> Vec<(String, bool)> {
        match &self.source {
            Source::Paths { vars, files, base } => match (with_files, base) {
                (false, _) => vec![(vars.clone(), false)],
                (true, Some(base)) => vec![(base.clone(), true)],
                (true, None) => vec![(vars.clone(), false), (files.clone(), true)],
            },
            Source::Tagged { .. } => Vec::new(),
        }
    }

    /// The path users look for when a layer is empty.
    pub fn shown_path(&self) -> String {
        match &self.source {
            Source::Paths { vars, .. } => format!("{vars}/"),
            Source::Tagged { root, .. } => format!("{root}/"),
        }
    }
}

/// The namespace a selection reads, as resolved (flags, environment or ECS
/// metadata): what `ssmm systemd` writes into a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    Team { prefix: String },
    Ecs { cluster: String },
}

/// Everything `sync` and `exec` need to know about what to read, resolved.
#[derive(Debug, Clone)]
pub struct Selection {
    pub layers: Vec<LayerSpec>,
    pub namespace: Namespace,
    /// The apps, in order, as resolved.
    pub apps: Vec<String>,
    pub strategy: FetchStrategy,
    pub key_case: KeyCase,
    pub strict: bool,
    pub allow_empty: bool,
    /// `--require` and `--require-from`: what must be delivered.
    pub required: Vec<String>,
}

/// Everything a command needs from the flags and the environment, resolved
/// once by [`Config::resolve`] before any command runs. Commands receive
/// this and their own subcommand's options, never the global flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// `None` when the working directory cannot be read; [`Config::cwd`]
    /// says so to the commands that need it.
    cwd: Option<PathBuf>,
    pub aws: AwsSettings,
    pub key_case: KeyCase,
    /// Where `files/` parameters go: `--root` (relative to the working
    /// directory), else the working directory; `None` with `--no-files`.
    pub files_root: Option<PathBuf>,
    pub max_file_size: u64,
    /// Whether `--root` was given (`ssmm systemd` writes only a given root
    /// into a unit: the working directory is not the service's).
    pub root_given: bool,
    /// What `sync` and `exec` read: layers, with ECS metadata consulted
    /// when it supplies a name. `None` for the other commands.
    pub selection: Option<Selection>,
    /// The team namespace the admin commands work on.
    pub team: Team,
}

/// The admin commands' view: the team prefix and the apps named. Resolved
/// on use, so a command that needs neither (`migrate /a/b /c/d`, `dirs`
/// without `--app`) is not refused for what it does not use.
#[derive(Debug, Clone)]
pub struct Team {
    layout: Option<Layout>,
    cluster_given: bool,
    prefix: Option<String>,
    apps: Vec<String>,
    env: Env,
    cwd: Option<PathBuf>,
}

/// The resolution variables, read once (see [`READ_VARS`]); empty values
/// count as unset.
#[derive(Debug, Clone, Default)]
pub struct Env(Vec<(&'static str, String)>);

impl Env {
    /// The process environment, refusing a variable that is set but not
    /// UTF-8.
    pub fn from_process() -> Result<Env> {
        check_env_encoding()?;
        Ok(Env(READ_VARS
            .iter()
            .filter_map(|&name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (name, v))
            })
            .collect()))
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

impl Config {
    /// Flags + environment (+ ECS metadata for `sync`/`exec`, when it is
    /// needed and present) -> the one resolved configuration.
    pub fn resolve(g: &GlobalArgs, select: Option<&SelectArgs>) -> Result<Config> {
        let env = Env::from_process()?;
        let cwd = std::env::current_dir().ok();
        let aws = aws_settings(g);
        let selection = match select {
            Some(sel) => {
                let cwd = cwd.as_deref().ok_or_else(no_cwd)?;
                Some(resolve_selection(g, sel, &env, cwd, &aws)?)
            }
            None => None,
        };
        let files_root = (!g.no_files).then(|| {
            let base = cwd.clone().unwrap_or_default();
            g.root
                .as_ref()
                .map_or_else(|| base.clone(), |r| base.join(r))
        });
        Ok(Config {
            aws,
            key_case: g.key_case,
            files_root,
            max_file_size: g.max_file_size,
            root_given: g.root.is_some(),
            selection,
            team: Team {
                layout: g.layout,
                cluster_given: g.cluster.is_some(),
                prefix: g.prefix.clone(),
                apps: g.apps.clone(),
                env,
                cwd: cwd.clone(),
            },
            cwd,
        })
    }

    /// [`Config::resolve`] for a command about a systemd unit (`systemd`,
    /// `onboard`): without `--app` and `$SSMM_APP`, the app is the unit's
    /// name (`api.service`: `api`; lower-cased, `_` -> `-`), not the
    /// working directory's.
    pub fn resolve_for_unit(
        g: &GlobalArgs,
        select: Option<&SelectArgs>,
        unit: &crate::systemd::UnitName,
    ) -> Result<Config> {
        let env = Env::from_process()?;
        if !g.apps.is_empty() || env.get("SSMM_APP").is_some() {
            return Config::resolve(g, select);
        }
        let app = names::normalize_detected(unit.stem());
        names::validate_app(&app, "app").map_err(|e| {
            Error::usage(format!("{e} (taken from the unit name {unit}); pass --app"))
        })?;
        let mut g = g.clone();
        g.apps = vec![app];
        Config::resolve(&g, select)
    }

    /// A resolution variable (see [`READ_VARS`]), `None` when unset or
    /// empty.
    pub fn var(&self, name: &str) -> Option<String> {
        self.team.env.get(name)
    }

    /// The working directory, for relative paths and the default app.
    pub fn cwd(&self) -> Result<&Path> {
        self.cwd.as_deref().ok_or_else(no_cwd)
    }

    /// The layers of `sync`/`exec` (resolved with `Some(select)`).
    pub fn selection(&self) -> &Selection {
        self.selection
            .as_ref()
            .expect("sync and exec resolve their selection")
    }
}

fn no_cwd() -> Error {
    let why = std::env::current_dir()
        .err()
        .map_or_else(String::new, |e| e.to_string());
    Error::usage(format!("cannot read the current directory: {why}"))
}

impl Team {
    /// The team prefix; refuses the ecs layout and `--cluster`.
    pub fn prefix(&self) -> Result<String> {
        let env = &|n: &str| self.env.get(n);
        if resolve_layout(self.layout, env)? != Layout::Team {
            return Err(Error::usage(
                "admin commands work on the team layout (/<team>/<app>/<key>); drop --layout ecs or unset SSMM_LAYOUT",
            ));
        }
        if self.cluster_given {
            return Err(Error::usage("--cluster is only used with --layout ecs"));
        }
        resolve_prefix(self.prefix.as_deref(), env)
    }

    /// The apps given with `--app`, as given.
    pub fn app_flags(&self) -> &[String] {
        &self.apps
    }

    /// Every app of `--app` (else `$SSMM_APP`, else the directory's name).
    /// `shared` is allowed here: it is the shared namespace.
    pub fn apps(&self) -> Result<Vec<String>> {
        let cwd = self.cwd.as_deref().ok_or_else(no_cwd)?;
        resolve_apps(&self.apps, &|n: &str| self.env.get(n), None, cwd)
    }

    /// The single app a command works on.
    pub fn one_app(&self, command: &str) -> Result<String> {
        let mut apps = self.apps()?;
        if apps.len() > 1 {
            return Err(Error::usage(format!("{command} takes one --app")));
        }
        Ok(apps.remove(0))
    }
}

/// The layers to read, consulting ECS metadata first when it supplies a
/// name that flags and environment do not (bounded by `--ecs-timeout` and
/// `--total-timeout`).
fn resolve_selection(
    g: &GlobalArgs,
    sel: &SelectArgs,
    env: &Env,
    cwd: &Path,
    aws: &AwsSettings,
) -> Result<Selection> {
    let lookup = &|n: &str| env.get(n);
    let ecs = match needs_ecs(g, lookup)? {
        Some(need) => {
            let file = env.get("ECS_CONTAINER_METADATA_FILE").map(PathBuf::from);
            let uri = env.get("ECS_CONTAINER_METADATA_URI_V4");
            let found = crate::ssm::block_on_within(
                aws.total_timeout,
                crate::ecs::discover(file.as_deref(), uri.as_deref(), g.ecs_timeout, need),
            )??;
            if let Some(info) = &found {
                crate::log::info!(
                    "ECS {}: cluster {}, container {}",
                    info.source,
                    info.cluster.as_deref().unwrap_or("-"),
                    info.container_name.as_deref().unwrap_or("-")
                );
            }
            found
        }
        None => None,
    };
    selection(g, sel, lookup, cwd, ecs.as_ref())
}

fn aws_settings(g: &GlobalArgs) -> AwsSettings {
    AwsSettings {
        region: g.region.clone(),
        profile: g.profile.clone(),
        endpoint_url: g.endpoint_url.clone(),
        read_concurrency: g.read_concurrency as usize,
        write_concurrency: g.write_concurrency as usize,
        max_attempts: g.max_attempts,
        retry_mode: g.retry_mode,
        attempt_timeout: g.timeout,
        total_timeout: g.total_timeout,
    }
}

/// Where the environment comes from; a closure so tests need not touch the
/// process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The variables ssmm reads for resolution and to reach AWS: one that is
/// set but not UTF-8 is an error, never silently "unset" (a garbled
/// `$SSMM_APP` must not sync the directory's app instead).
const READ_VARS: [&str; 11] = [
    "SSMM_PREFIX_ROOT",
    "SSMM_APP",
    "SSMM_LAYOUT",
    "SSMM_CLUSTER",
    "SSMM_SYSTEMD_UNIT_DIR",
    "ECS_CONTAINER_METADATA_FILE",
    "ECS_CONTAINER_METADATA_URI_V4",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SSM",
];

fn check_env_encoding() -> Result<()> {
    for name in READ_VARS {
        if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
            return Err(Error::usage(format!("${name} is not valid UTF-8")));
        }
    }
    Ok(())
}

/// `--prefix`, else `$SSMM_PREFIX_ROOT`, validated (docs/CONTRACT.md §2).
pub fn resolve_prefix(flag: Option<&str>, env: EnvLookup) -> Result<String> {
    let prefix = match flag {
        Some(p) => p.to_string(),
        None => env("SSMM_PREFIX_ROOT").ok_or(Error::NoPrefix)?,
    };
    names::validate_prefix(&prefix).map_err(Error::Usage)?;
    Ok(prefix)
}

/// `--app` (repeatable), else `$SSMM_APP`, else the ECS container name,
/// else the working directory's basename; detected names are lower-cased
/// with `_` -> `-`. The directory is the fall back only where there is no
/// ECS metadata: metadata read for the app without a container name is a
/// discovery error (`ecs::Need`).
pub fn resolve_apps(
    flags: &[String],
    env: EnvLookup,
    ecs_container: Option<&str>,
    cwd: &Path,
) -> Result<Vec<String>> {
    let apps: Vec<String> = if !flags.is_empty() {
        flags.to_vec()
    } else if let Some(app) = env("SSMM_APP") {
        vec![app]
    } else if let Some(name) = ecs_container {
        vec![detected_app(name, "the ECS container name")?]
    } else {
        let base = cwd
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::usage(
                    "cannot take the app name from the current directory (it has no name); pass --app",
                )
            })?;
        vec![detected_app(&base, "the current directory's name")?]
    };
    for app in &apps {
        names::validate_app(app, "app").map_err(Error::Usage)?;
    }
    Ok(apps)
}

/// A detected name, normalized and validated; `source` says where it came
/// from when it is unusable.
fn detected_app(name: &str, source: &str) -> Result<String> {
    let app = names::normalize_detected(name);
    names::validate_app(&app, "app")
        .map_err(|e| Error::usage(format!("{e} (taken from {source}); pass --app")))?;
    Ok(app)
}

/// `K=V` pairs of `--include-tag`.
pub fn parse_tags(raw: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.is_empty() && valid_tag_part(k) && valid_tag_part(v) => {
                Ok((k.to_string(), v.to_string()))
            }
            Some((k, _)) if !k.is_empty() => Err(Error::usage(format!(
                "invalid {flag} {}: tag keys and values may only hold letters, digits, spaces and the characters _ . : / = + - @ (up to 256 characters each)",
                names::quoted(t)
            ))),
            _ => Err(Error::usage(format!(
                "invalid {flag} {}: expected KEY=VALUE with a non-empty key",
                names::quoted(t)
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
pub fn team_layers(
    prefix: &str,
    apps: &[String],
    shared: bool,
    tags: Vec<(String, String)>,
) -> Vec<LayerSpec> {
    let mut layers = Vec::new();
    if shared {
        layers.push(LayerSpec::paths(
            LayerKind::Shared,
            "shared".into(),
            format!("{prefix}/shared"),
            format!("{prefix}/shared/files"),
            Some(format!("{prefix}/shared")),
        ));
    }
    if !tags.is_empty() {
        layers.push(LayerSpec {
            kind: LayerKind::Tag,
            label: "tag".into(),
            source: Source::Tagged {
                root: prefix.to_string(),
                tags,
            },
        });
    }
    for app in apps {
        layers.push(LayerSpec::paths(
            LayerKind::App,
            format!("app:{app}"),
            format!("{prefix}/{app}"),
            format!("{prefix}/{app}/files"),
            Some(format!("{prefix}/{app}")),
        ));
    }
    layers
}

/// ECS layout: `/C/environment` < `/C/A/environment`, files under `/C/files`
/// and `/C/A/files`.
pub fn ecs_layers(cluster: &str, apps: &[String], shared: bool) -> Vec<LayerSpec> {
    let mut layers = Vec::new();
    if shared {
        // No common base: /<cluster> also holds every app's parameters.
        layers.push(LayerSpec::paths(
            LayerKind::Shared,
            "cluster".into(),
            format!("/{cluster}/environment"),
            format!("/{cluster}/files"),
            None,
        ));
    }
    for app in apps {
        layers.push(LayerSpec::paths(
            LayerKind::App,
            format!("app:{app}"),
            format!("/{cluster}/{app}/environment"),
            format!("/{cluster}/{app}/files"),
            Some(format!("/{cluster}/{app}")),
        ));
    }
    layers
}

/// The layout in force: `--layout`, else `$SSMM_LAYOUT`, else team.
pub fn resolve_layout(flag: Option<Layout>, env: EnvLookup) -> Result<Layout> {
    if let Some(l) = flag {
        return Ok(l);
    }
    match env("SSMM_LAYOUT").as_deref() {
        None | Some("team") => Ok(Layout::Team),
        Some("ecs") => Ok(Layout::Ecs),
        Some(other) => Err(Error::usage(format!(
            "invalid $SSMM_LAYOUT {}: expected team or ecs",
            names::quoted(other)
        ))),
    }
}

/// Whether resolution needs ECS metadata, and what from it: only when a name
/// it could supply is not given by flags or environment. `None`: not read.
pub fn needs_ecs(g: &GlobalArgs, env: EnvLookup) -> Result<Option<Need>> {
    let app_missing = g.apps.is_empty() && env("SSMM_APP").is_none();
    let read = match resolve_layout(g.layout, env)? {
        Layout::Team => app_missing,
        Layout::Ecs => app_missing || (g.cluster.is_none() && env("SSMM_CLUSTER").is_none()),
    };
    Ok(read.then_some(Need {
        container_name: app_missing,
    }))
}

/// Flags + environment (+ ECS metadata when it was needed and present) ->
/// the layers to read.
pub fn selection(
    g: &GlobalArgs,
    sel: &SelectArgs,
    env: EnvLookup,
    cwd: &Path,
    ecs: Option<&EcsInfo>,
) -> Result<Selection> {
    let container = ecs.and_then(|e| e.container_name.as_deref());
    let (layers, namespace, apps) = match resolve_layout(g.layout, env)? {
        Layout::Team => {
            if g.cluster.is_some() {
                return Err(Error::usage("--cluster is only used with --layout ecs"));
            }
            let prefix = resolve_prefix(g.prefix.as_deref(), env)?;
            let apps = resolve_apps(&g.apps, env, container, cwd)?;
            if apps.iter().any(|a| a == "shared") {
                return Err(Error::usage(
                    "\"shared\" is the shared layer, not an app; drop --app shared (or pass --no-shared to skip it)",
                ));
            }
            let tags = parse_tags(&sel.include_tag, "--include-tag")?;
            let layers = team_layers(&prefix, &apps, !sel.no_shared, tags);
            (layers, Namespace::Team { prefix }, apps)
        }
        Layout::Ecs => {
            if !sel.include_tag.is_empty() {
                return Err(Error::usage(
                    "--include-tag is only used with the team layout",
                ));
            }
            let cluster = match g.cluster.clone().or_else(|| env("SSMM_CLUSTER")) {
                Some(c) => c,
                None => match ecs.and_then(|e| e.cluster.clone()) {
                    Some(c) => c,
                    None => {
                        return Err(Error::usage(
                            "no cluster: pass --cluster, set $SSMM_CLUSTER, or run where ECS metadata is available",
                        ));
                    }
                },
            };
            names::validate_app(&cluster, "cluster").map_err(Error::Usage)?;
            let apps = resolve_apps(&g.apps, env, container, cwd)?;
            let layers = ecs_layers(&cluster, &apps, !sel.no_shared);
            (layers, Namespace::Ecs { cluster }, apps)
        }
    };
    Ok(Selection {
        layers,
        namespace,
        apps,
        strategy: g.fetch_strategy,
        key_case: g.key_case,
        strict: sel.strict,
        allow_empty: sel.allow_empty,
        required: crate::require::names(&sel.require, &sel.require_from, cwd)?,
    })
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
            resolve_apps(&["a".into(), "b".into()], &env, Some("ecs"), cwd).unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            resolve_apps(&[], &env, Some("ecs"), cwd).unwrap(),
            ["from-env"]
        );
        assert_eq!(
            resolve_apps(&[], &env_of(&[]), Some("Web_Front"), cwd).unwrap(),
            ["web-front"]
        );
        assert_eq!(
            resolve_apps(&[], &env_of(&[]), None, cwd).unwrap(),
            ["my-api"]
        );
    }

    #[test]
    fn unusable_directory_names_ask_for_app() {
        let err = resolve_apps(&[], &env_of(&[]), None, Path::new("/srv/has space")).unwrap_err();
        assert!(err.to_string().contains("pass --app"), "{err}");
        assert!(resolve_apps(&[], &env_of(&[]), None, Path::new("/")).is_err());
    }

    #[test]
    fn layouts_build_the_spec_paths() {
        let team = team_layers("/t", &["api".into()], true, vec![("e".into(), "p".into())]);
        assert_eq!(team.len(), 3);
        assert_eq!(team[2].walks(false), [("/t/api".to_string(), false)]);
        assert_eq!(team[2].walks(true), [("/t/api".to_string(), true)]);
        assert!(
            team[1].walks(true).is_empty(),
            "the tag layer is not walked"
        );
        let ecs = ecs_layers("prod", &["web".into()], true);
        assert_eq!(ecs[0].label, "cluster");
        assert_eq!(
            ecs[0].walks(true),
            [
                ("/prod/environment".to_string(), false),
                ("/prod/files".to_string(), true)
            ]
        );
        assert_eq!(ecs[1].walks(true), [("/prod/web".to_string(), true)]);
        assert_eq!(
            ecs[1].walks(false),
            [("/prod/web/environment".to_string(), false)]
        );
    }

    #[test]
    fn layout_comes_from_flag_then_env() {
        assert_eq!(resolve_layout(None, &env_of(&[])).unwrap(), Layout::Team);
        assert_eq!(
            resolve_layout(None, &env_of(&[("SSMM_LAYOUT", "ecs")])).unwrap(),
            Layout::Ecs
        );
        assert_eq!(
            resolve_layout(Some(Layout::Team), &env_of(&[("SSMM_LAYOUT", "ecs")])).unwrap(),
            Layout::Team
        );
        assert!(resolve_layout(None, &env_of(&[("SSMM_LAYOUT", "k8s")])).is_err());
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
