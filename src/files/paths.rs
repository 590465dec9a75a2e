//! The path rule and root confinement for file parameters: which relative
//! paths are acceptable at all ([`check_rel`]), which may be written
//! together, and how `<root>/<rel>` is inspected and its directories made
//! so that nothing is ever created or written outside `--root`.
//!
//! # Root confinement
//! A file's relative path must be a plain relative path (see [`check_rel`]).
//! On disk, every component of `<root>/<rel>` that already exists is
//! inspected: a symlink (an intermediate directory or the final file) is
//! resolved with `canonicalize` and refused unless it stays inside the
//! canonicalized root; a dangling or looping symlink is refused because where
//! it leads cannot be checked. A symlink at the final path that stays inside
//! root is *replaced* by a regular file (write_atomic renames over it, never
//! following it). Missing directories are created one level at a time, 0700,
//! each only after its parent was checked, so a symlinked intermediate
//! directory can never make us create anything outside root.
//!
//! TOCTOU limit: the checks and the writes use paths, not directory handles,
//! so someone who can write inside root *while ssmm runs* could swap a
//! checked directory for a symlink between the check and the write. The
//! checks are repeated right before each write to keep that window small;
//! `--root` is assumed not to be writable by untrusted users.

use std::collections::HashMap;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::FileError;
use crate::names::printable;
use crate::write::{self, DIR_MODE};

/// Longest name one path segment may have on Linux (NAME_MAX).
const MAX_SEGMENT: usize = 255;

/// The path rule alone, without looking at the disk: a non-empty relative
/// path of non-empty segments, none `.` or `..`, no trailing `/`, no NUL or
/// control characters, no segment longer than 255 bytes.
pub fn check_rel(rel: &str) -> Result<(), String> {
    if rel.is_empty() {
        return Err("the path is empty".into());
    }
    if rel.starts_with('/') {
        return Err("absolute paths are not allowed".into());
    }
    if rel.ends_with('/') {
        return Err("a trailing '/' names no file".into());
    }
    if rel.chars().any(char::is_control) {
        return Err("NUL and control characters are not allowed".into());
    }
    for seg in rel.split('/') {
        match seg {
            "" => return Err("empty path segment ('//')".into()),
            "." => return Err("'.' segments are not allowed".into()),
            ".." => return Err("'..' segments are not allowed".into()),
            s if s.len() > MAX_SEGMENT => {
                return Err(format!("a segment is longer than {MAX_SEGMENT} bytes"));
            }
            _ => {}
        }
    }
    // The last segment is a file name: its temporary name must fit too.
    if rel.rsplit('/').next().map_or(0, str::len) > crate::write::MAX_NAME {
        return Err(format!(
            "the file name is longer than {} bytes",
            crate::write::MAX_NAME
        ));
    }
    Ok(())
}

/// Every check of one file's path under `root`: the path rule, the walk
/// (with `create`, making missing parents as it goes) and the target itself.
pub(super) fn confine(root: &Path, rel: &str, param: &str, create: bool) -> Result<(), FileError> {
    let path_err = |why: String| FileError::Path {
        param: printable(param),
        rel: printable(rel),
        why,
    };
    check_rel(rel).map_err(path_err)?;
    walk(root, rel, create).map_err(path_err)?;
    replaceable(root, rel, param)
}

/// A target that exists and is not a regular file or a symlink (a device,
/// a FIFO, a directory) is never replaced or opened.
fn replaceable(root: &Path, rel: &str, param: &str) -> Result<(), FileError> {
    let path = root.join(rel);
    write::check_replaceable(&path).map_err(|why| FileError::Target {
        param: printable(param),
        path: printable(&path.display().to_string()),
        why,
    })
}

/// Two parameters naming the same file, or one naming a directory of the
/// other (`a` and `a/b`), cannot both be written: refuse up front rather
/// than fail half-way through writing. `files` are `(rel, param)`: the path
/// written (a template's without `.tmpl`) and the parameter.
pub(super) fn check_conflicts<'a>(
    files: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> Result<(), FileError> {
    let by_rel: HashMap<&str, &str> = files.clone().collect();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (rel, param) in files {
        let conflict = |other: &str, why: &str| FileError::Path {
            param: printable(param),
            rel: printable(rel),
            why: format!("{why} {}", printable(other)),
        };
        if let Some(other) = seen.insert(rel, param) {
            return Err(conflict(other, "the same file comes from"));
        }
        for (i, _) in rel.match_indices('/') {
            if let Some(other) = by_rel.get(&rel[..i]) {
                return Err(conflict(other, "a parent directory is a file from"));
            }
        }
    }
    Ok(())
}

/// Inspect `<root>/<rel>` component by component (see the module docs).
/// With `create`, missing intermediate directories are made (0700) as the
/// walk reaches them; without it, the walk stops at the first missing one.
fn walk(root: &Path, rel: &str, create: bool) -> Result<(), String> {
    let root_canon = match fs::canonicalize(root) {
        Ok(c) => c,
        // Nothing exists under a missing root, so nothing can lead out.
        Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(()),
        Err(e) => return Err(format!("cannot resolve the root {}: {e}", root.display())),
    };
    if !root_canon.is_dir() {
        return Err(format!("the root {} is not a directory", root.display()));
    }
    let segments: Vec<&str> = rel.split('/').collect();
    let mut cur = root.to_path_buf();
    for (i, seg) in segments.iter().enumerate() {
        cur.push(seg);
        let last = i + 1 == segments.len();
        let meta = match fs::symlink_metadata(&cur) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if last {
                    return Ok(());
                }
                if !create {
                    // Nothing deeper exists either.
                    return Ok(());
                }
                make_dir(&cur)?;
                continue;
            }
            Err(e) => return Err(format!("cannot inspect {}: {e}", cur.display())),
        };
        let shown = cur.display();
        let is_dir = if meta.file_type().is_symlink() {
            let target = fs::canonicalize(&cur).map_err(|_| {
                format!("{shown} is a symlink that cannot be resolved (dangling or a loop)")
            })?;
            if !target.starts_with(&root_canon) {
                return Err(format!("{shown} is a symlink leading outside the root"));
            }
            target.is_dir()
        } else {
            meta.is_dir()
        };
        // The last component is checked by `replaceable`: a symlink there
        // is replaced, never followed, whatever it points at.
        if !last && !is_dir {
            return Err(format!("{shown} exists and is not a directory"));
        }
    }
    Ok(())
}

/// One directory level, 0700 whatever the umask. Not recursive on purpose:
/// its parent was just checked by [`walk`].
fn make_dir(path: &Path) -> Result<(), String> {
    let fail = |e: io::Error| format!("cannot create the directory {}: {e}", path.display());
    DirBuilder::new()
        .mode(DIR_MODE)
        .create(path)
        .map_err(fail)?;
    // fchmod through an O_NOFOLLOW handle: never chmod a swapped-in link.
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_DIRECTORY | nix::libc::O_CLOEXEC)
        .open(path)
        .map_err(fail)?;
    if dir.metadata().map_err(fail)?.permissions().mode() & 0o7777 != DIR_MODE {
        dir.set_permissions(fs::Permissions::from_mode(DIR_MODE))
            .map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rule_table() {
        for good in ["a", "a/b/c.pem", ".hidden", "a..b", "...", "dir/.x", "ü/ñ"] {
            assert_eq!(check_rel(good), Ok(()), "{good}");
        }
        let long = "x".repeat(256);
        for bad in [
            "", "/abs", "a//b", "a/", "./a", "a/.", "..", "a/../b", "a\0b", "a\nb", "a\x7fb",
            "a\u{85}b", &long,
        ] {
            assert!(check_rel(bad).is_err(), "{bad:?} was accepted");
        }
        // A directory name may have 255 bytes; a file name 228, so that its
        // temporary name (27 bytes longer) fits.
        assert_eq!(check_rel(&format!("{}/f", "x".repeat(255))), Ok(()));
        assert_eq!(check_rel(&"x".repeat(228)), Ok(()));
        assert!(check_rel(&"x".repeat(229)).is_err());
    }

    #[test]
    fn conflicting_paths_are_refused() {
        let check = |files: &[(&'static str, &'static str)]| check_conflicts(files.iter().copied());
        assert!(check(&[("a", "/p/a"), ("a/b", "/p/b")]).is_err());
        assert!(check(&[("a/b", "/p/b"), ("a", "/p/a")]).is_err());
        assert!(check(&[("x", "/p/1"), ("x", "/p/2")]).is_err());
        assert!(check(&[("a", "/p/a"), ("ab/c", "/p/c")]).is_ok());
    }
}
