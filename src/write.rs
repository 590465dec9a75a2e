//! Atomic, private file writes (SPEC §3 `sync`, §5): a temporary file in the
//! target's directory, created 0600 with O_EXCL|O_NOFOLLOW under an
//! unpredictable name, fsync-ed, renamed over the target, then the directory
//! fsync-ed. A reader sees the old content or the new, never a mix; a crash
//! leaves at most a stray temporary file.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o700;
/// Marks our temporary files: `.<name>.ssmm-<16 hex>.tmp`.
pub const TMP_MARK: &str = ".ssmm-";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Same bytes and already 0600: nothing was touched.
    Unchanged,
    Written,
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Create missing parent directories of `path` with mode 0700.
pub fn ensure_parent(path: &Path) -> io::Result<()> {
    let parent = parent_of(path);
    if parent.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(parent)
}

/// True when `path` is a regular file (not a link) with mode 0600 and
/// exactly `content`.
pub fn is_current(path: &Path, content: &[u8]) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if !meta.is_file()
        || meta.permissions().mode() & 0o7777 != FILE_MODE
        || meta.len() != content.len() as u64
    {
        return Ok(false);
    }
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)?;
    let mut existing = Vec::with_capacity(content.len());
    file.read_to_end(&mut existing)?;
    Ok(existing == content)
}

fn temp_path(target: &Path) -> io::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!("{TMP_MARK}{hex}.tmp"));
    Ok(parent_of(target).join(tmp))
}

/// Write `content` to `path` atomically with mode 0600, unless it is already
/// there. The owner and group of an existing file are kept when we may.
pub fn write_atomic(path: &Path, content: &[u8]) -> io::Result<Outcome> {
    if is_current(path, content)? {
        return Ok(Outcome::Unchanged);
    }
    let old = fs::symlink_metadata(path).ok();
    if old.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        ));
    }
    ensure_parent(path)?;
    let tmp = temp_path(path)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true) // O_CREAT|O_EXCL
            .mode(FILE_MODE)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&tmp)?;
        // The umask may have taken bits away; make it exactly 0600 before
        // the first byte goes in.
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        if let Some(m) = old.as_ref().filter(|m| m.is_file()) {
            // Keep the previous owner (root writing a service user's file);
            // refused for non-root, which is fine.
            let _ = std::os::unix::fs::fchown(&file, Some(m.uid()), Some(m.gid()));
        }
        file.write_all(content)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        File::open(parent_of(path))?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| Outcome::Written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn writes_0600_and_reports_no_change_the_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/.env");
        assert_eq!(write_atomic(&p, b"X=\"1\"\n").unwrap(), Outcome::Written);
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        assert_eq!(write_atomic(&p, b"X=\"1\"\n").unwrap(), Outcome::Unchanged);
        assert_eq!(fs::read(&p).unwrap(), b"X=\"1\"\n");
        // No temporary files left behind.
        assert_eq!(fs::read_dir(dir.path().join("a/b")).unwrap().count(), 1);
    }

    #[test]
    fn a_wrong_mode_is_rewritten_even_with_the_same_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        fs::write(&p, b"same").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(write_atomic(&p, b"same").unwrap(), Outcome::Written);
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn a_symlink_target_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let p = dir.path().join(".env");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&p).unwrap().is_file());
    }

    #[test]
    fn temp_names_are_unpredictable_and_marked() {
        let a = temp_path(Path::new("/x/.env")).unwrap();
        let b = temp_path(Path::new("/x/.env")).unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("..env.ssmm-") && name.ends_with(".tmp"),
            "{name}"
        );
    }

    #[test]
    fn a_directory_at_the_target_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(dir.path(), b"x").is_err());
    }
}
