//! The deliver step `sync` and `exec` share: check every target before
//! anything is written (`--out` and the `files/` targets, alone and against
//! each other), then write the files and then `--out`, with stop signals
//! held until the writes are done (see `stop.rs`).
//!
//! Targets that are not regular files or symlinks (a device, a FIFO, a
//! socket, a directory) are refused with exit 2, as are `files/` targets
//! that collide with `--out`: the same path written twice by two renames,
//! or a file where `--out` needs a directory.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::creds::{self, CredsKey};
use crate::encode::Format;
use crate::error::{Error, Result};
use crate::files::{self, FileError, Prepared};
use crate::names::printable;
use crate::stop;
use crate::write::{self, Outcome};

/// Where the env file goes.
#[derive(Debug, Clone)]
pub enum Out {
    /// `--out -` or `--out /dev/stdout`: printed, no file, no mode.
    Stdout,
    File {
        /// As given, for messages.
        shown: PathBuf,
        /// Joined to the working directory.
        path: PathBuf,
    },
    /// A directory of credential files (`--format credentials*`).
    Dir { shown: PathBuf, path: PathBuf },
}

/// The env file's content, or the credential files of a directory.
pub enum Encoded {
    Text(String),
    Dir(Vec<creds::Credential>),
}

impl Out {
    pub fn new(cwd: &Path, given: &Path) -> Out {
        if given == Path::new("-") || given == Path::new("/dev/stdout") {
            Out::Stdout
        } else {
            Out::File {
                shown: given.to_path_buf(),
                path: cwd.join(given),
            }
        }
    }

    /// `--out` for `format`: a directory for the credentials formats
    /// (standard output cannot be one: a usage error).
    pub fn for_format(cwd: &Path, given: &Path, format: Format) -> Result<Out> {
        match Out::new(cwd, given) {
            Out::Stdout if format.is_directory() => Err(Error::usage(format!(
                "--format {format} writes a directory: give --out DIR, not standard output"
            ))),
            Out::File { shown, path } if format.is_directory() => Ok(Out::Dir { shown, path }),
            out => Ok(out),
        }
    }

    /// "standard output" or the path as given.
    pub fn shown(&self) -> String {
        match self {
            Out::Stdout => "standard output".to_string(),
            Out::File { shown, .. } | Out::Dir { shown, .. } => shown.display().to_string(),
        }
    }

    /// The file or directory, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Out::Stdout => None,
            Out::File { path, .. } | Out::Dir { path, .. } => Some(path),
        }
    }

    /// Whether what `--keep-on-error` keeps is there: a regular file (or a
    /// symlink to one), or the credentials directory.
    pub fn exists_as_file(&self) -> bool {
        match self {
            Out::Dir { path, .. } => path.is_dir(),
            _ => self.path().is_some_and(Path::is_file),
        }
    }
}

/// `--watch` rewrites `--out` at every change: standard output cannot be
/// compared with what is there, and would get the env file again and again.
pub fn refuse_stdout_for_watch(out: &Out) -> Result<()> {
    match out {
        Out::Stdout => Err(Error::usage(
            "--watch writes a file: give --out a path, not standard output",
        )),
        _ => Ok(()),
    }
}

/// The first check, before anything is fetched and without touching the
/// disk: an `--out` that exists and must never be replaced (for a
/// directory: one that is a symlink or not a directory).
pub fn refuse_irreplaceable_out(out: &Out) -> Result<()> {
    match out {
        Out::Stdout => Ok(()),
        Out::File { path, .. } => {
            write::check_replaceable(path).map_err(|e| Error::usage(writing(out, &e)))
        }
        Out::Dir { path, .. } => creds::check_dir(path).map_err(|e| Error::usage(writing(out, &e))),
    }
}

/// Encodes `pairs` for `out` in `format`, before anything is written: the
/// env file's text, or the credential files (encrypted ones by
/// `systemd-creds`, which may keep files that already hold their value).
/// A value the format cannot hold is an error naming the variable.
pub fn encode(out: &Out, pairs: &[(&str, &str)], format: Format, key: CredsKey) -> Result<Encoded> {
    match (out, format) {
        (Out::Dir { path, .. }, Format::CredentialsEncrypted) => creds::encrypted(pairs, path, key)
            .map(Encoded::Dir)
            .map_err(Error::runtime),
        (Out::Dir { .. }, _) => creds::plain(pairs)
            .map(Encoded::Dir)
            .map_err(Error::runtime),
        _ => crate::encode::encode(format, pairs)
            .map(Encoded::Text)
            .map_err(|e| Error::Runtime(e.into())),
    }
}

fn writing(out: &Out, e: &dyn std::fmt::Display) -> String {
    format!("writing {}: {e}", out.shown())
}

/// Refuse, before anything is written: an `--out` that cannot be written
/// (creating its missing parent directories, 0700), and `files/` targets
/// that collide with it.
pub fn check(out: Option<(&Out, &Encoded)>, files: &[Prepared]) -> Result<()> {
    let Some((out, encoded, path)) = out.and_then(|(o, e)| Some((o, e, o.path()?))) else {
        return Ok(());
    };
    collisions(out, path, files)?;
    match (out, encoded) {
        (Out::Dir { .. }, Encoded::Dir(creds)) => creds::check_dir(path)
            .and_then(|()| creds::check_targets(path, creds))
            .map_err(|e| Error::usage(writing(out, &e))),
        _ => write::preflight(path).map_err(|e| out_error(out, e)),
    }
}

fn out_error(out: &Out, e: std::io::Error) -> Error {
    match write::not_regular(&e) {
        Some(nr) => Error::usage(writing(out, nr)),
        None => Error::runtime(writing(out, &e)),
    }
}

/// A `files/` target that is `--out`, lies under it, or is one of its
/// parent directories. Paths are compared after resolving the directories
/// that exist (so `--root .` and `--out ./x`, or a symlinked directory,
/// still match); the last component is never followed, as writes never
/// follow it.
fn collisions(out: &Out, out_path: &Path, files: &[Prepared]) -> Result<()> {
    let out_at = resolved(out_path);
    for f in files {
        let at = resolved(&f.path);
        let why = if at == out_at {
            "is the --out file itself"
        } else if at.starts_with(&out_at) {
            "would need the --out file to be a directory"
        } else if out_at.starts_with(&at) {
            "is a parent directory of the --out file"
        } else {
            continue;
        };
        return Err(Error::usage(format!(
            "file parameter {}: path \"{}\" {why} ({}); nothing written: use another --out or move the parameter",
            printable(&f.param),
            printable(&f.rel),
            out.shown()
        )));
    }
    Ok(())
}

/// `path` made absolute and lexically clean (`.` dropped, `..` applied),
/// its parent directories resolved as far as they exist.
fn resolved(path: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    let Some(name) = clean.file_name().map(ToOwned::to_owned) else {
        return clean;
    };
    let mut parent = clean.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&parent) {
            let mut at = real;
            at.extend(rest.iter().rev());
            at.push(name);
            return at;
        }
        match (parent.file_name().map(ToOwned::to_owned), parent.parent()) {
            (Some(last), Some(up)) => {
                rest.push(last);
                parent = up.to_path_buf();
            }
            _ => return clean,
        }
    }
}

/// What was written.
#[derive(Debug, Default)]
pub struct Delivered {
    pub files_written: usize,
    /// The `files/` paths written (relative to the root), in order.
    pub written: Vec<String>,
    pub files_unchanged: usize,
    /// `None`: no `--out`, or standard output.
    pub out: Option<Outcome>,
}

/// Write the files under `root`, then `--out` (or print it), with stop
/// signals held until the writes are done. Call [`check`] first.
pub fn deliver(
    out: Option<(&Out, &Encoded)>,
    files: &[Prepared],
    root: Option<&Path>,
) -> Result<Delivered> {
    stop::deferred(|| {
        let mut done = Delivered::default();
        if let Some(root) = root {
            let (written, unchanged) = files::write_all(files, root).map_err(file_error)?;
            done.files_written = written.len();
            done.written = written;
            done.files_unchanged = unchanged;
        }
        match out {
            Some((Out::Stdout, Encoded::Text(content))) => {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(content.as_bytes())
                    .and_then(|()| stdout.flush())
                    .map_err(|e| Error::runtime(format!("writing to standard output: {e}")))?;
            }
            Some((out @ Out::File { path, .. }, Encoded::Text(content))) => {
                let outcome =
                    write::write_atomic(path, content.as_bytes()).map_err(|e| out_error(out, e))?;
                done.out = Some(outcome);
            }
            Some((out @ Out::Dir { path, .. }, Encoded::Dir(files))) => {
                let outcome = creds::write(path, files).map_err(|e| out_error(out, e))?;
                done.out = Some(outcome.outcome());
            }
            Some((out, _)) => {
                return Err(Error::usage(format!(
                    "{}: the format does not match --out",
                    out.shown()
                )));
            }
            None => {}
        }
        Ok(done)
    })
}

/// A `files/` failure as the error to exit with: a target that must not be
/// replaced is exit 2, like `--out`; anything else exit 1.
pub fn file_error(e: anyhow::Error) -> Error {
    match e.downcast_ref::<FileError>() {
        Some(FileError::Target { .. }) => Error::usage(format!("{e:#}")),
        _ => Error::Runtime(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_and_dev_stdout_mean_standard_output() {
        let cwd = Path::new("/w");
        assert!(matches!(Out::new(cwd, Path::new("-")), Out::Stdout));
        assert!(matches!(
            Out::new(cwd, Path::new("/dev/stdout")),
            Out::Stdout
        ));
        match Out::new(cwd, Path::new("./-x")) {
            Out::File { path, .. } => assert_eq!(path, Path::new("/w/./-x")),
            other => panic!("a file, not {other:?}"),
        }
        let dir = Out::for_format(cwd, Path::new("creds"), Format::Credentials).unwrap();
        assert!(matches!(dir, Out::Dir { .. }));
        let err = Out::for_format(cwd, Path::new("-"), Format::CredentialsEncrypted).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn resolved_paths_are_clean_and_keep_the_last_component() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let link = real.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(resolved(&real.join("./a/../b")), real.join("b"));
        assert_eq!(resolved(&link.join("x/y")), real.join("x/y"));
        // The final link itself is kept, not followed.
        assert_eq!(resolved(&link), link);
    }
}
