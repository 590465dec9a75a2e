//! Atomic, private file writes (docs/CONTRACT.md §3 `sync`, §5): a temporary file in the
//! target's directory, created 0600 with O_EXCL|O_NOFOLLOW under an
//! unpredictable name, fsync-ed, renamed over the target, then the directory
//! fsync-ed. A reader sees the old content or the new, never a mix.
//!
//! A writer holds an exclusive `flock` on its temporary file until the rename,
//! so a run killed mid-write leaves a temporary file nobody holds; the next
//! write to the same target removes such leftovers (its own pattern only,
//! regular files owned by us, never through a symlink) and leaves alone the
//! ones a concurrent run is still writing.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::log;

pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o700;
/// Marks our temporary files: `.<name>.ssmm-<16 hex>.tmp`.
pub const TMP_MARK: &str = ".ssmm-";
/// The longest file name we can write: its temporary name is 27 bytes
/// longer and must fit the 255 bytes a name may have on Linux.
pub const MAX_NAME: usize = 255 - (1 + TMP_MARK.len() + 16 + ".tmp".len());

/// An existing target that is neither a regular file nor a symlink: a
/// directory, a device (`/dev/null`), a FIFO or a socket. ssmm never
/// replaces or opens one (replacing `/dev/null` with a file of secrets, or
/// blocking on a FIFO, are what a careless `--out` would do otherwise).
/// Carried inside the `io::Error` of [`preflight`]; see [`not_regular`].
#[derive(Debug, thiserror::Error)]
#[error("it is {0}, not a regular file; ssmm replaces only regular files and symlinks")]
pub struct NotRegular(pub &'static str);

/// What `meta` is, when it is something ssmm must not replace.
pub fn irreplaceable(meta: &fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() || t.is_symlink() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Refuse a `path` that exists and is not a regular file or a symlink.
pub fn check_replaceable(path: &Path) -> Result<(), NotRegular> {
    match fs::symlink_metadata(path) {
        Ok(meta) => irreplaceable(&meta).map_or(Ok(()), |kind| Err(NotRegular(kind))),
        Err(_) => Ok(()),
    }
}

/// The [`NotRegular`] inside an error of [`preflight`] or [`write_atomic`].
pub fn not_regular(e: &io::Error) -> Option<&NotRegular> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<NotRegular>())
}

/// Refuse, before anything is written, a target `write_atomic` could not
/// or must not write: one that is not a regular file or a symlink, a name
/// too long for its temporary name. Creates the missing parent directories
/// (0700), so a parent that cannot exist fails here too.
pub fn preflight(path: &Path) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    if name.len() > MAX_NAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the file name is longer than {MAX_NAME} bytes"),
        ));
    }
    check_replaceable(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // A file where a parent directory should be.
    for dir in parent_of(path).ancestors() {
        if let Ok(m) = fs::metadata(dir) {
            if !m.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{} is not a directory", dir.display()),
                ));
            }
            break;
        }
    }
    ensure_parent(path)
}

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
    is_current_with_mode(path, content, FILE_MODE)
}

/// [`is_current`] for a file that should have `mode`.
fn is_current_with_mode(path: &Path, content: &[u8], mode: u32) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if !meta.is_file()
        || meta.permissions().mode() & 0o7777 != mode
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

/// Whether `name` is one of our temporary names for a target named `target`:
/// `.<target>.ssmm-<16 lowercase hex>.tmp`.
fn is_our_temp(name: &str, target: &str) -> bool {
    let Some(rest) = name
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix(target))
        .and_then(|r| r.strip_prefix(TMP_MARK))
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    rest.len() == 16 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A non-blocking exclusive lock on `file`: `Ok(None)` when someone holds
/// one.
fn try_lock(file: File) -> io::Result<Option<Flock<File>>> {
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => Ok(Some(locked)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(io::Error::from(e)),
    }
}

/// Remove temporary files that killed runs left for `target`: only names of
/// our pattern, only regular files owned by this user, opened without
/// following links, and only when no live writer holds their lock. Problems
/// are ignored: this is housekeeping, never a reason to fail a write.
pub fn remove_leftovers(target: &Path) -> usize {
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
        return 0;
    };
    let dir = parent_of(target);
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let me = nix::unistd::geteuid().as_raw();
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(candidate) = file_name.to_str() else {
            continue;
        };
        if !is_our_temp(candidate, name) {
            continue;
        }
        let path = dir.join(candidate);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.uid() != me {
            continue;
        }
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK)
            .open(&path)
        else {
            continue;
        };
        let same = file
            .metadata()
            .is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
        if !same {
            continue;
        }
        // Held while removing: a writer that locks it now finds it gone.
        let Ok(Some(_held)) = try_lock(file) else {
            continue;
        };
        if fs::remove_file(&path).is_ok() {
            log::info!("removed a leftover temporary file {}", path.display());
            removed += 1;
        }
    }
    removed
}

/// `bytes` random bytes as lowercase hex.
fn random_hex(bytes: usize) -> io::Result<String> {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    Ok(random.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new file `<dir>/<prefix><32 random hex><suffix>` holding `content`:
/// created 0600 with O_EXCL|O_NOFOLLOW (never an existing file, never
/// through a link), fsync-ed with its directory before returning. For
/// files that must not replace anything, like `migrate`'s backup; `dir`
/// must exist. Errors say "creating WHAT PATH: ..." or "writing WHAT
/// PATH: ...".
pub fn create_unique(
    dir: &Path,
    what: &str,
    (prefix, suffix): (&str, &str),
    content: &[u8],
) -> io::Result<PathBuf> {
    let path = dir.join(format!("{prefix}{}{suffix}", random_hex(16)?));
    let failed = |doing: &str, e: io::Error| {
        io::Error::new(e.kind(), format!("{doing} {what} {}: {e}", path.display()))
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| failed("creating", e))?;
    let result = (|| {
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        file.write_all(content)?;
        file.sync_all()?;
        File::open(dir)?.sync_all()
    })();
    match result {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(failed("writing", e))
        }
    }
}

fn temp_path(target: &Path) -> io::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let hex = random_hex(8)?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!("{TMP_MARK}{hex}.tmp"));
    Ok(parent_of(target).join(tmp))
}

/// A new temporary file for `target`, created 0600 with O_EXCL|O_NOFOLLOW
/// and locked. A cleaner may remove it between creation and locking; then
/// the name no longer leads to our file and we start again.
fn create_locked_temp(target: &Path) -> io::Result<(PathBuf, Flock<File>)> {
    for _ in 0..8 {
        let tmp = temp_path(target)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true) // O_CREAT|O_EXCL
            .mode(FILE_MODE)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&tmp)?;
        let Some(file) = try_lock(file)? else {
            continue;
        };
        let ours = file.metadata()?;
        let still = fs::symlink_metadata(&tmp)
            .is_ok_and(|m| m.dev() == ours.dev() && m.ino() == ours.ino());
        if still {
            return Ok((tmp, file));
        }
    }
    Err(io::Error::other(
        "could not create a temporary file: it kept disappearing",
    ))
}

/// Write `content` to `path` atomically with mode 0600, unless it is already
/// there. The owner and group of an existing file are kept when we may.
pub fn write_atomic(path: &Path, content: &[u8]) -> io::Result<Outcome> {
    write_atomic_with_mode(path, content, FILE_MODE)
}

/// [`write_atomic`] for a file that holds no secret and must be readable by
/// others, such as a systemd unit (0644): the same temporary file, created
/// 0600 and given `mode` only once the content is in and synced, just
/// before the rename. Missing parent directories are still created 0700.
pub fn write_atomic_with_mode(path: &Path, content: &[u8], mode: u32) -> io::Result<Outcome> {
    remove_leftovers(path);
    if is_current_with_mode(path, content, mode)? {
        return Ok(Outcome::Unchanged);
    }
    preflight(path)?;
    let old = fs::symlink_metadata(path).ok();
    let (tmp, mut file) = create_locked_temp(path)?;
    let result = (|| {
        // The umask may have taken bits away; make it exactly 0600 before
        // the first byte goes in.
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        if let Some(m) = old.as_ref().filter(|m| m.is_file()) {
            // Keep the previous owner (root writing a service user's file);
            // refused for non-root, which is fine.
            let _ = std::os::unix::fs::fchown(&*file, Some(m.uid()), Some(m.gid()));
        }
        file.write_all(content)?;
        if mode != FILE_MODE {
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        file.sync_all()?;
        // Renamed while still locked: a cleaner never takes a live file.
        fs::rename(&tmp, path)?;
        drop(file);
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
    fn leftovers_of_killed_runs_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(".env");
        let d = dir.path();
        let stale = d.join("..env.ssmm-0123456789abcdef.tmp");
        fs::write(&stale, b"half").unwrap();
        let keep = [
            "..env.ssmm-0123456789abcde.tmp",   // 15 digits
            "..env.ssmm-0123456789ABCDEF.tmp",  // upper case
            ".other.ssmm-0123456789abcdef.tmp", // another target
            "..env.ssmm-0123456789abcdef.tmpx",
            ".env",
        ];
        for k in keep {
            fs::write(d.join(k), b"x").unwrap();
        }
        // A link with our pattern is not ours: left alone, not followed.
        let victim = d.join("victim");
        fs::write(&victim, b"keep").unwrap();
        let link = d.join("..env.ssmm-aaaaaaaaaaaaaaaa.tmp");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        // Someone else's file with our pattern: left alone.
        let foreign = d.join("..env.ssmm-bbbbbbbbbbbbbbbb.tmp");
        fs::write(&foreign, b"x").unwrap();
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();

        assert_eq!(remove_leftovers(&target), 1);
        assert!(!stale.exists());
        for k in keep {
            assert!(d.join(k).exists(), "{k}");
        }
        assert!(fs::symlink_metadata(&link).is_ok());
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert!(foreign.exists());
    }

    #[test]
    fn a_temp_file_a_live_writer_holds_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("app.env");
        let (tmp, file) = create_locked_temp(&target).unwrap();
        assert_eq!(remove_leftovers(&target), 0);
        assert!(tmp.exists());
        drop(file);
        // The writer is gone (as after SIGKILL): now it is a leftover.
        assert_eq!(remove_leftovers(&target), 1);
        assert!(!tmp.exists());
    }

    #[test]
    fn writing_cleans_up_after_a_killed_run_even_when_nothing_changed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        write_atomic(&p, b"A").unwrap();
        let stale = dir.path().join("..env.ssmm-fedcba9876543210.tmp");
        fs::write(&stale, b"partial").unwrap();
        assert_eq!(write_atomic(&p, b"A").unwrap(), Outcome::Unchanged);
        assert!(!stale.exists());
    }

    #[test]
    fn unique_files_are_new_0600_and_never_replace_anything() {
        let dir = tempfile::tempdir().unwrap();
        let a = create_unique(dir.path(), "the backup", ("b-", ".json"), b"{}").unwrap();
        let b = create_unique(dir.path(), "the backup", ("b-", ".json"), b"{}").unwrap();
        assert_ne!(a, b);
        assert_eq!(mode(&a), 0o600);
        assert_eq!(fs::read(&a).unwrap(), b"{}");
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("b-") && name.ends_with(".json") && name.len() == 39,
            "{name}"
        );
        let e = create_unique(&dir.path().join("missing"), "the backup", ("b-", ""), b"x");
        assert!(
            e.unwrap_err()
                .to_string()
                .starts_with("creating the backup ")
        );
    }

    #[test]
    fn a_public_file_is_written_with_its_mode_and_rewritten_when_the_mode_differs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("unit.service");
        let out = write_atomic_with_mode(&p, b"[Service]\n", 0o644).unwrap();
        assert_eq!(out, Outcome::Written);
        assert_eq!(mode(&p), 0o644);
        let again = write_atomic_with_mode(&p, b"[Service]\n", 0o644).unwrap();
        assert_eq!(again, Outcome::Unchanged);
        // The same bytes at 0600 are not current for 0644, and the other way.
        assert_eq!(write_atomic(&p, b"[Service]\n").unwrap(), Outcome::Written);
        assert_eq!(mode(&p), 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_directory_at_the_target_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(dir.path(), b"x").is_err());
    }
}
