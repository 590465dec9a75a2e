//! `ssmm systemd UNIT --mode sync|exec|credentials` (docs/CONTRACT.md §3
//! "systemd units"): the drop-in (and, for credentials, the oneshot unit)
//! that gives a service its parameters, printed, or with `--apply` written
//! atomically (0644: units hold no secret) and followed by `systemctl
//! daemon-reload`. `onboard` uses the same pieces after its `put`.
//!
//! What goes into a unit is resolved here, never taken from the
//! environment the unit will run in: the layout, the prefix or cluster and
//! the apps in effect, the selection options given. Credentials mode reads
//! the layers now for the variables' names; values are dropped unseen.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::ValueEnum;

use super::pipeline::Session;
use crate::cli::{SelectArgs, SystemdArgs, UnitArgs};
use crate::config::{Config, Namespace};
use crate::error::{Error, Result};
use crate::log;
use crate::names::{self, KeyCase};
use crate::ssm::FetchStrategy;
use crate::systemd::{self, Mode, Spec, UNIT_NAME_MAX, UnitFile, UnitName};
use crate::write::{self, Outcome};

/// Units are read by systemd and `systemctl cat` users: they hold names and
/// paths, never a value.
pub const UNIT_MODE: u32 = 0o644;
/// Directories ssmm makes for units (`UNIT.d`, a missing unit directory).
const UNIT_DIR_MODE: u32 = 0o755;
/// Where system units go, unless `$SSMM_SYSTEMD_UNIT_DIR`.
const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";

pub fn run(cfg: &Config, args: &SystemdArgs) -> Result<()> {
    let target = Target::new(&args.unit, args.mode, &args.units, &args.select, cfg)?;
    let vars = match args.mode {
        Mode::Credentials => variables(cfg)?,
        _ => Vec::new(),
    };
    let files = target.files(cfg, &vars)?;
    if args.units.apply {
        return target.apply(cfg, &files);
    }
    print(&files)?;
    log::notice!(
        "nothing written: pass --apply to install {} and run systemctl{} daemon-reload",
        shown_list(&files),
        if target.opts.user { " --user" } else { "" }
    );
    Ok(())
}

/// A unit to generate: the command's options, checked, and the ssmm it
/// runs.
pub struct Target<'a> {
    pub unit: &'a UnitName,
    pub mode: Mode,
    pub opts: &'a UnitArgs,
    /// The selection options, as arguments for the unit's command line.
    select: Vec<String>,
    ssmm: PathBuf,
}

impl<'a> Target<'a> {
    /// Checks what clap cannot (option combinations, this binary's path)
    /// before anything is read or written; warns about `$NAME` in
    /// `--exec-cmd`.
    pub fn new(
        unit: &'a UnitName,
        mode: Mode,
        opts: &'a UnitArgs,
        select: &SelectArgs,
        cfg: &Config,
    ) -> Result<Target<'a>> {
        match (mode, &opts.exec_cmd) {
            (Mode::Exec, None) => {
                return Err(Error::usage("--mode exec needs --exec-cmd CMD"));
            }
            (Mode::Sync | Mode::Credentials, Some(_)) => {
                return Err(Error::usage("--exec-cmd is only used with --mode exec"));
            }
            _ => {}
        }
        if mode == Mode::Credentials {
            if opts.user {
                return Err(Error::usage(
                    "--mode credentials writes system units: the host key needs root, and per-user credentials (systemd-creds --user) came only in systemd 256; drop --user",
                ));
            }
            if unit.helper().len() > UNIT_NAME_MAX {
                return Err(Error::usage(format!(
                    "the unit name is too long for its oneshot {}: systemd allows at most {UNIT_NAME_MAX} characters",
                    unit.helper()
                )));
            }
        }
        let ssmm = match &opts.ssmm_path {
            Some(path) => path.clone(),
            None => this_binary()?,
        };
        if let Some(cmd) = &opts.exec_cmd {
            for note in systemd::exec_cmd_notes(cmd) {
                log::warning!("{note}");
            }
        }
        Ok(Target {
            unit,
            mode,
            opts,
            select: select_args(select, cfg.cwd()?)?,
            ssmm,
        })
    }

    /// The units for the names in effect (and, credentials mode, `vars`).
    pub fn files(&self, cfg: &Config, vars: &[String]) -> Result<Vec<UnitFile>> {
        let sel = cfg.selection();
        let mut global = Vec::new();
        let mut summary = Vec::new();
        match &sel.namespace {
            Namespace::Team { prefix } => {
                global.extend(["--layout".into(), "team".into(), "--prefix".into()]);
                global.push(prefix.clone());
                summary.push(format!("Layout team, prefix {prefix}"));
            }
            Namespace::Ecs { cluster } => {
                global.extend(["--layout".into(), "ecs".into(), "--cluster".into()]);
                global.push(cluster.clone());
                summary.push(format!("Layout ecs, cluster {cluster}"));
            }
        }
        for app in &sel.apps {
            global.extend(["--app".to_string(), app.clone()]);
        }
        summary.push(format!(
            "{} {}",
            if sel.apps.len() == 1 { "app" } else { "apps" },
            sel.apps.join(", ")
        ));
        if cfg.key_case == KeyCase::Keep {
            global.extend(["--key-case".into(), "keep".into()]);
        }
        if sel.strategy != FetchStrategy::default() {
            let name = sel
                .strategy
                .to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default();
            global.extend(["--fetch-strategy".into(), name]);
        }
        let aws = &cfg.aws;
        for (flag, value) in [
            ("--region", &aws.region),
            ("--profile", &aws.profile),
            ("--endpoint-url", &aws.endpoint_url),
        ] {
            if let Some(v) = value {
                global.extend([flag.to_string(), v.clone()]);
            }
        }
        match &cfg.files_root {
            Some(root) if cfg.root_given => {
                let root = root.to_str().ok_or_else(|| {
                    Error::usage("--root: the path is not valid UTF-8, which a unit cannot hold")
                })?;
                global.extend(["--root".into(), root.to_string()]);
            }
            _ => global.push("--no-files".into()),
        }
        let spec = Spec {
            unit: self.unit,
            mode: self.mode,
            user: self.opts.user,
            ssmm: &self.ssmm,
            global,
            select: self.select.clone(),
            exec_cmd: self.opts.exec_cmd.as_deref(),
            vars,
            summary: summary.join(", "),
        };
        Ok(systemd::generate(&spec))
    }

    /// Where the units go: `$SSMM_SYSTEMD_UNIT_DIR`, else
    /// `/etc/systemd/system`, or `~/.config/systemd/user` with `--user`.
    pub fn unit_dir(&self, cfg: &Config) -> Result<PathBuf> {
        if let Some(dir) = cfg.var("SSMM_SYSTEMD_UNIT_DIR") {
            if !dir.starts_with('/') {
                return Err(Error::usage(format!(
                    "$SSMM_SYSTEMD_UNIT_DIR {} must be an absolute path",
                    names::quoted(&dir)
                )));
            }
            return Ok(PathBuf::from(dir));
        }
        if !self.opts.user {
            return Ok(PathBuf::from(SYSTEM_UNIT_DIR));
        }
        match std::env::var_os("HOME").map(PathBuf::from) {
            Some(home) if home.is_absolute() => Ok(home.join(".config/systemd/user")),
            _ => Err(Error::usage(
                "--user: $HOME is not set to an absolute path, so there is no ~/.config/systemd/user",
            )),
        }
    }

    /// Writes `files` under the unit directory (every target checked
    /// before the first write), then runs `systemctl [--user]
    /// daemon-reload`. A failing systemctl is exit 1 with the units
    /// written.
    pub fn apply(&self, cfg: &Config, files: &[UnitFile]) -> Result<()> {
        let dir = self.unit_dir(cfg)?;
        for f in files {
            check_target(&dir, &f.rel)?;
        }
        for f in files {
            let path = dir.join(&f.rel);
            let shown = path.display();
            if let Some(parent) = path.parent() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(UNIT_DIR_MODE)
                    .create(parent)
                    .map_err(|e| Error::runtime(format!("creating {}: {e}", parent.display())))?;
            }
            match write::write_atomic_with_mode(&path, f.content.as_bytes(), UNIT_MODE) {
                Ok(Outcome::Written) => log::notice!("wrote {shown}"),
                Ok(Outcome::Unchanged) => log::notice!("{shown}: no change"),
                Err(e) if write::not_regular(&e).is_some() => {
                    return Err(Error::usage(format!("writing {shown}: {e}")));
                }
                Err(e) => return Err(Error::runtime(format!("writing {shown}: {e}"))),
            }
        }
        self.warn_left_behind(&dir);
        daemon_reload(self.opts.user)?;
        let user = if self.opts.user { "--user " } else { "" };
        log::notice!(
            "restart {} to use it: systemctl {user}restart {}",
            self.unit,
            self.unit
        );
        Ok(())
    }
}

impl Target<'_> {
    /// Another mode replacing credentials mode's drop-in leaves its oneshot
    /// (and the encrypted files) behind, no longer required by the unit:
    /// said, not removed.
    fn warn_left_behind(&self, dir: &Path) {
        if self.mode == Mode::Credentials {
            return;
        }
        let helper = self.unit.helper();
        let path = dir.join(&helper);
        let ours = fs::read_to_string(&path)
            .is_ok_and(|text| text.starts_with(&format!("# {helper}: written by `ssmm systemd")));
        if ours {
            log::warning!(
                "{} (from --mode credentials) is still there, no longer required by {}: remove it, and {}/, if nothing else uses them",
                path.display(),
                self.unit,
                systemd::credstore(self.unit)
            );
        }
    }
}

/// The running binary's absolute path, checked like `--ssmm-path`.
fn this_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| {
        Error::usage(format!(
            "cannot tell this binary's path ({e}); pass --ssmm-path"
        ))
    })?;
    let shown = names::quoted(&exe.to_string_lossy());
    let raw = exe.to_str().ok_or_else(|| {
        Error::usage(format!(
            "this binary's path {shown} is not valid UTF-8; pass --ssmm-path"
        ))
    })?;
    systemd::parse_ssmm_path(raw)
        .map_err(|e| Error::usage(format!("this binary's path {shown}: {e}; pass --ssmm-path")))
}

/// The selection options given, as arguments of the unit's `sync`/`exec`
/// (a `--require-from` file made absolute: the unit runs elsewhere).
fn select_args(sel: &SelectArgs, cwd: &Path) -> Result<Vec<String>> {
    let mut args = Vec::new();
    if sel.no_shared {
        args.push("--no-shared".to_string());
    }
    for tag in &sel.include_tag {
        args.extend(["--include-tag".to_string(), tag.clone()]);
    }
    if sel.strict {
        args.push("--strict".into());
    }
    if sel.allow_empty {
        args.push("--allow-empty".into());
    }
    for var in &sel.require {
        args.extend(["--require".to_string(), var.clone()]);
    }
    for file in &sel.require_from {
        let path = cwd.join(file);
        let path = path.to_str().ok_or_else(|| {
            Error::usage("--require-from: the path is not valid UTF-8, which a unit cannot hold")
        })?;
        args.extend(["--require-from".to_string(), path.to_string()]);
    }
    Ok(args)
}

/// Credentials mode: the variables the layers hold now, by name, sorted
/// (`files/` parameters are not read). `--strict`, `--allow-empty` and
/// `--require` apply as they will when the oneshot runs.
pub fn variables(cfg: &Config) -> Result<Vec<String>> {
    let mut cfg = cfg.clone();
    cfg.files_root = None;
    let gathered = Session::new().gather(&cfg, &[])?;
    let vars = &gathered.merged.vars;
    crate::require::check(
        &cfg.selection().required,
        |name| vars.contains_key(name),
        "the layers",
        "no unit written",
    )?;
    log::info!(
        "{} in the layers for LoadCredentialEncrypted=",
        crate::output::count(vars.len(), "variable")
    );
    Ok(vars.keys().cloned().collect())
}

/// The files on standard output, the oneshot first, a blank line between.
pub fn print(files: &[UnitFile]) -> Result<()> {
    use std::io::Write;
    let text: Vec<&str> = files.iter().map(|f| f.content.as_str()).collect();
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.join("\n").as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::runtime(format!("writing to standard output: {e}")))
}

/// `a, b` for messages.
pub fn shown_list(files: &[UnitFile]) -> String {
    files
        .iter()
        .map(|f| f.rel.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Refuses (exit 2), before anything is written, a target `--apply` must
/// not write: a unit directory that is not a directory, a `UNIT.d` that is
/// a symlink (never written through) or not a directory, a unit file that
/// is a symlink (a masked unit links to /dev/null: replacing it would
/// unmask it) or anything but a regular file.
fn check_target(dir: &Path, rel: &Path) -> Result<()> {
    let refuse = |path: &Path, why: &str| {
        Error::usage(format!(
            "not writing {}: {} {why}",
            dir.join(rel).display(),
            path.display()
        ))
    };
    if let Ok(meta) = fs::metadata(dir) {
        if !meta.is_dir() {
            return Err(refuse(dir, "is not a directory"));
        }
    }
    let mut path = dir.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            return Ok(());
        };
        let last = i + 1 == parts.len();
        if meta.file_type().is_symlink() {
            let why = if last {
                "is a symlink (a masked unit is one, to /dev/null); ssmm replaces only regular files: remove it first"
            } else {
                "is a symlink; ssmm does not write through one"
            };
            return Err(refuse(&path, why));
        }
        if !last && !meta.is_dir() {
            return Err(refuse(&path, "is not a directory"));
        }
        if last {
            if let Some(kind) = write::irreplaceable(&meta) {
                return Err(refuse(
                    &path,
                    &format!("is {kind}; ssmm replaces only regular files"),
                ));
            }
        }
    }
    Ok(())
}

/// `systemctl [--user] daemon-reload`, found in PATH; its output goes to
/// stderr.
fn daemon_reload(user: bool) -> Result<()> {
    let mut cmd = Command::new("systemctl");
    if user {
        cmd.arg("--user");
    }
    cmd.arg("daemon-reload");
    let shown = if user {
        "systemctl --user daemon-reload"
    } else {
        "systemctl daemon-reload"
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::from(io::stderr()));
    match cmd.status() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::runtime(format!(
            "the units were written, but systemctl was not found in PATH: run `{shown}` yourself"
        ))),
        Err(e) => Err(Error::runtime(format!(
            "the units were written, but `{shown}` could not run: {e}"
        ))),
        Ok(status) if !status.success() => {
            let how = match status.code() {
                Some(code) => format!("exited with {code}"),
                None => "was killed".to_string(),
            };
            Err(Error::runtime(format!(
                "the units were written, but `{shown}` {how}: run it again"
            )))
        }
        Ok(_) => {
            log::notice!("ran {shown}");
            Ok(())
        }
    }
}
