//! `--require VAR` and `--require-from FILE` on `sync` and `exec`
//! (`docs/CONTRACT.md` §3 "References"): the variables that must be in what
//! is delivered. The names are read once, before anything is fetched; the
//! check runs after everything is resolved and before anything is written
//! or started, and lists every missing name at once.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::envfile;
use crate::error::{Error, Result};
use crate::names;

/// The most a `--require-from` file may hold: it lists names, and a device
/// such as /dev/zero must not be read forever.
const MAX_FILE: u64 = 1024 * 1024;

/// The required names, in order, each once: the `--require` names, then
/// those of each `--require-from` file (relative to `cwd`). A name that
/// cannot be a variable, or a file that cannot be read or parsed, is a
/// usage error (exit 2).
pub fn names(vars: &[String], files: &[PathBuf], cwd: &Path) -> Result<Vec<String>> {
    let mut required: Vec<String> = Vec::new();
    let mut add = |name: String| {
        if !required.contains(&name) {
            required.push(name);
        }
    };
    for var in vars {
        if !names::is_valid_var(var) {
            return Err(Error::usage(format!(
                "invalid --require {}: expected a variable name ([A-Za-z_][A-Za-z0-9_]*)",
                names::quoted(var)
            )));
        }
        add(var.clone());
    }
    for file in files {
        for entry in read_names(&cwd.join(file), file)? {
            add(entry);
        }
    }
    Ok(required)
}

/// The variable names of the env file at `path` (shown as `given`); its
/// values are ignored and never shown.
fn read_names(path: &Path, given: &Path) -> Result<Vec<String>> {
    let shown = names::printable(&given.display().to_string());
    let fail = |why: String| Error::usage(format!("--require-from {shown}: {why}"));
    // Opened without blocking, so that a FIFO nobody writes to cannot hang
    // ssmm; a pipe (`--require-from <(...)`) is then read normally.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    let kind = file
        .metadata()
        .map_err(|e| fail(e.to_string()))?
        .file_type();
    if kind.is_dir() {
        return Err(fail("is a directory".into()));
    }
    if kind.is_char_device() || kind.is_block_device() {
        return Err(fail("is a device, not a file".into()));
    }
    if kind.is_fifo() {
        let flags = nix::fcntl::OFlag::from_bits_truncate(
            nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GETFL)
                .map_err(|e| fail(e.to_string()))?,
        );
        nix::fcntl::fcntl(
            &file,
            nix::fcntl::FcntlArg::F_SETFL(flags - nix::fcntl::OFlag::O_NONBLOCK),
        )
        .map_err(|e| fail(e.to_string()))?;
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.is_empty() && kind.is_fifo() {
        return Err(fail("a pipe with nothing in it".into()));
    }
    if bytes.len() as u64 > MAX_FILE {
        return Err(fail(format!("larger than {MAX_FILE} bytes")));
    }
    let entries = envfile::parse(&bytes).map_err(|e| fail(e.to_string()))?;
    Ok(entries.into_iter().map(|e| e.var).collect())
}

/// Fails (exit 1) unless every name of `required` is `present`, naming all
/// the missing ones, `target` (what they were looked for in) and `then`
/// (what was not done).
pub fn check(
    required: &[String],
    present: impl Fn(&str) -> bool,
    target: &str,
    then: &str,
) -> Result<()> {
    let missing: Vec<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|name| !present(name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::runtime(format!(
        "{} required {} missing from {target}: {}; {then}",
        missing.len(),
        if missing.len() == 1 {
            "variable"
        } else {
            "variables"
        },
        missing.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_flags_then_files_each_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env.example"),
            "# example\nDB_URL=postgres://...\nexport API_KEY=\nDB_URL=again\n",
        )
        .unwrap();
        let got = names(
            &["API_KEY".into(), "PORT".into()],
            &[PathBuf::from(".env.example")],
            dir.path(),
        )
        .unwrap();
        assert_eq!(got, ["API_KEY", "PORT", "DB_URL"]);
    }

    #[test]
    fn bad_names_and_unreadable_files_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "1X", "A-B", "A B"] {
            assert_eq!(
                names(&[bad.into()], &[], dir.path())
                    .unwrap_err()
                    .exit_code(),
                2
            );
        }
        std::fs::write(dir.path().join("broken"), "A='hunter2\n").unwrap();
        for file in ["missing", ".", "broken"] {
            let err = names(&[], &[PathBuf::from(file)], dir.path()).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{file}");
            assert!(
                err.to_string()
                    .contains(&format!("--require-from {file}: ")),
                "{err}"
            );
            assert!(!err.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn every_missing_name_is_listed() {
        let required = ["A".to_string(), "B".into(), "C".into()];
        assert!(check(&required, |_| true, "x", "y").is_ok());
        let err = check(&required, |n| n == "B", ".env", "nothing written").unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            err.to_string(),
            "2 required variables missing from .env: A, C; nothing written"
        );
        let err = check(&required[..1], |_| false, ".env", "nothing written").unwrap_err();
        assert_eq!(
            err.to_string(),
            "1 required variable missing from .env: A; nothing written"
        );
    }
}
