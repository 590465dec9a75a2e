//! The systemd credentials formats (`docs/CONTRACT.md` §4 `credentials`,
//! `credentials-encrypted`): `--out` names a directory holding one file per
//! variable, named as the variable, for `LoadCredential=` (the value's
//! bytes) or `LoadCredentialEncrypted=` (the output of `systemd-creds
//! encrypt --name=VAR`). Each file is 0600 and replaced atomically. The
//! names ssmm wrote are kept in a `.ssmm-manifest` file (names only), so a
//! variable that is gone has its file removed while nothing else in the
//! directory is ever touched.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::names;
use crate::write::{self, Outcome};

/// The list of the files ssmm wrote in the directory.
pub const MANIFEST: &str = ".ssmm-manifest";

/// systemd's CREDENTIAL_SIZE_MAX: a larger credential is refused when the
/// unit starts.
pub const MAX_VALUE: usize = 1024 * 1024;

/// The longest credential name systemd accepts (a file name).
const MAX_NAME: usize = 255;

/// How long one `systemd-creds` run may take (a TPM2 can be slow, never
/// this slow).
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// `--creds-key`: which key `systemd-creds encrypt` seals with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CredsKey {
    /// The TPM2 and the host key when there is a TPM2, else the host key
    #[default]
    Auto,
    /// The host key (/var/lib/systemd/credential.secret)
    Host,
    /// The TPM2 chip
    Tpm2,
    /// Both: decrypting needs this host and its TPM2
    #[value(name = "host+tpm2")]
    HostTpm2,
}

impl CredsKey {
    fn as_str(self) -> &'static str {
        match self {
            CredsKey::Auto => "auto",
            CredsKey::Host => "host",
            CredsKey::Tpm2 => "tpm2",
            CredsKey::HostTpm2 => "host+tpm2",
        }
    }
}

/// One file of the directory.
pub struct Credential {
    pub name: String,
    /// What the file holds: the value, or its encryption (never print).
    bytes: Vec<u8>,
    /// The file there already holds this value (an encrypted one that
    /// decrypts to it): left as it is, since encrypting again would give
    /// other bytes for the same value.
    keep: bool,
}

/// Refuses a variable that cannot be a credential: a name systemd does not
/// take as a credential ID, a NUL byte, a value over [`MAX_VALUE`].
/// The message names the variable, never the value.
fn check(name: &str, value: &str) -> Result<(), String> {
    let why = if name.len() > MAX_NAME {
        "the name is longer than the 255 bytes systemd allows a credential"
    } else if name.is_empty() || name.starts_with('.') || name.contains(['/', ':']) {
        "systemd does not accept this name as a credential"
    } else if value.contains('\0') {
        "the value contains a NUL byte"
    } else if value.len() > MAX_VALUE {
        "the value is larger than the 1 MiB systemd allows a credential"
    } else {
        return Ok(());
    };
    Err(format!(
        "cannot write {} as a credential: {why}",
        names::printable(name)
    ))
}

/// The `credentials` format: each value's bytes as they are.
pub fn plain(vars: &[(&str, &str)]) -> Result<Vec<Credential>, String> {
    vars.iter()
        .map(|&(name, value)| {
            check(name, value)?;
            Ok(Credential {
                name: name.to_string(),
                bytes: value.as_bytes().to_vec(),
                keep: false,
            })
        })
        .collect()
}

/// The `credentials-encrypted` format: each value encrypted by
/// `systemd-creds encrypt --name=VAR --with-key=KEY`, unless the file in
/// `dir` already decrypts to it. Everything is encrypted in memory before
/// anything is written; a failure names the variable.
pub fn encrypted(
    vars: &[(&str, &str)],
    dir: &Path,
    key: CredsKey,
) -> Result<Vec<Credential>, String> {
    let mut out = Vec::with_capacity(vars.len());
    for &(name, value) in vars {
        check(name, value)?;
        let path = dir.join(name);
        if holds(&path, name, value) {
            out.push(Credential {
                name: name.to_string(),
                bytes: Vec::new(),
                keep: true,
            });
            continue;
        }
        let with_key = format!("--with-key={}", key.as_str());
        let bytes = run_tool(
            &["encrypt", &format!("--name={name}"), &with_key, "-", "-"],
            value.as_bytes(),
        )
        .map_err(|why| format!("cannot encrypt {}: {why}", names::printable(name)))?;
        out.push(Credential {
            name: name.to_string(),
            bytes,
            keep: false,
        });
    }
    Ok(out)
}

/// Whether `path` is a regular 0600 file (not a link) that decrypts, as
/// credential `name`, to exactly `value`.
fn holds(path: &Path, name: &str, value: &str) -> bool {
    let ours = fs::symlink_metadata(path)
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o7777 == 0o600);
    if !ours {
        return false;
    }
    let Some(shown) = path.to_str() else {
        return false;
    };
    run_tool(&["decrypt", &format!("--name={name}"), shown, "-"], b"")
        .is_ok_and(|plain| plain == value.as_bytes())
}

/// Runs `systemd-creds ARGS` with `input` on its standard input and returns
/// its standard output. The failure says how it failed and the first line
/// of what it printed on stderr (it never prints a credential there).
fn run_tool(args: &[&str], input: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("systemd-creds")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                "systemd-creds was not found in PATH (Debian and Ubuntu: the systemd package)"
                    .to_string()
            }
            _ => format!("cannot run systemd-creds: {e}"),
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.by_ref().take(64 * 1024).read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "systemd-creds did not finish within {}",
                    crate::units::format_duration(TOOL_TIMEOUT)
                ));
            }
            Err(e) => return Err(format!("waiting for systemd-creds: {e}")),
        }
    };
    let _ = feeder.join();
    let output = reader.join().unwrap_or_default();
    let said = errors.join().unwrap_or_default();
    if status.success() {
        return Ok(output);
    }
    let first = String::from_utf8_lossy(&said)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let how = match status.code() {
        Some(code) => format!("systemd-creds exited with {code}"),
        None => "systemd-creds was killed".to_string(),
    };
    Err(if first.is_empty() {
        how
    } else {
        format!("{how}: {}", names::printable(&first))
    })
}

/// Refuses, before anything is written, a directory target that is a
/// symlink or exists and is not a directory.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            Err("it is a symlink; the credentials directory must be a real directory".to_string())
        }
        Ok(m) if !m.is_dir() => Err("it exists and is not a directory".to_string()),
        _ => Ok(()),
    }
}

/// Refuses, before anything is written, a credential file target in `dir`
/// that is not a regular file or a symlink (a directory, a FIFO, a device),
/// naming it.
pub fn check_targets(dir: &Path, creds: &[Credential]) -> Result<(), String> {
    for c in creds {
        write::check_replaceable(&dir.join(&c.name))
            .map_err(|e| format!("{}: {e}", names::printable(&c.name)))?;
    }
    Ok(())
}

/// What [`write`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DirOutcome {
    pub written: usize,
    pub removed: usize,
}

impl DirOutcome {
    pub fn outcome(self) -> Outcome {
        if self.written == 0 && self.removed == 0 {
            Outcome::Unchanged
        } else {
            Outcome::Written
        }
    }
}

/// Writes `creds` into `dir` (created 0700 when missing), each file
/// atomically, then removes the files ssmm wrote before whose variable is
/// gone. The manifest lists both while the files are written, so a crash
/// at any point leaves every file ssmm wrote listed, to be removed by the
/// next run if its variable is gone.
pub fn write(dir: &Path, creds: &[Credential]) -> io::Result<DirOutcome> {
    check_dir(dir).map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
    if fs::symlink_metadata(dir).is_err() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let manifest = dir.join(MANIFEST);
    let before = read_manifest(&manifest)?;
    let now: BTreeSet<String> = creds.iter().map(|c| c.name.clone()).collect();
    let all: BTreeSet<String> = before.union(&now).cloned().collect();
    let mut done = DirOutcome::default();
    write::write_atomic(&manifest, listing(&all).as_bytes())?;
    for c in creds {
        if c.keep {
            continue;
        }
        if write::write_atomic(&dir.join(&c.name), &c.bytes)? == Outcome::Written {
            done.written += 1;
        }
    }
    for gone in before.difference(&now) {
        let path = dir.join(gone);
        // Only what could be ours: a file or a link, never a directory.
        match fs::symlink_metadata(&path) {
            Ok(m) if !m.is_dir() => {
                fs::remove_file(&path)?;
                done.removed += 1;
            }
            _ => {}
        }
    }
    write::write_atomic(&manifest, listing(&now).as_bytes())?;
    Ok(done)
}

fn listing(names: &BTreeSet<String>) -> String {
    names.iter().map(|n| format!("{n}\n")).collect()
}

/// The names in the manifest, each checked as a credential name so that an
/// edited manifest cannot point outside the directory (`../x`, `/etc/x`).
fn read_manifest(path: &Path) -> io::Result<BTreeSet<String>> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e),
        Ok(m) if !m.is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{MANIFEST} is not a regular file"),
            ));
        }
        Ok(_) => {}
    }
    let text = fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter(|n| check(n, "").is_ok() && *n != "." && *n != "..")
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_systemd_refuses_are_errors_naming_the_variable() {
        assert!(check("DB_PASSWORD", "x").is_ok());
        for (name, value, why) in [
            ("A", "a\0b", "NUL"),
            ("A", &"x".repeat(MAX_VALUE + 1), "1 MiB"),
            (&"N".repeat(256), "x", "255 bytes"),
            (".hidden", "x", "does not accept"),
            ("a:b", "x", "does not accept"),
        ] {
            let err = check(name, value).unwrap_err();
            assert!(err.contains(why), "{err}");
            assert!(!err.contains("a\0b"));
        }
    }

    #[test]
    fn the_directory_holds_one_file_per_variable_and_loses_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("creds");
        let creds = plain(&[("A", "1"), ("B", "two\nlines")]).unwrap();
        assert_eq!(
            write(&d, &creds).unwrap(),
            DirOutcome {
                written: 2,
                removed: 0
            }
        );
        assert_eq!(fs::read(d.join("B")).unwrap(), b"two\nlines");
        assert_eq!(fs::read_to_string(d.join(MANIFEST)).unwrap(), "A\nB\n");
        assert_eq!(
            fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        fs::write(d.join("NOT_OURS"), "x").unwrap();
        assert_eq!(write(&d, &creds).unwrap(), DirOutcome::default());
        let creds = plain(&[("B", "two\nlines")]).unwrap();
        assert_eq!(
            write(&d, &creds).unwrap(),
            DirOutcome {
                written: 0,
                removed: 1
            }
        );
        assert!(!d.join("A").exists());
        assert!(d.join("NOT_OURS").exists());
        assert_eq!(fs::read_to_string(d.join(MANIFEST)).unwrap(), "B\n");
    }

    #[test]
    fn an_edited_manifest_cannot_remove_anything_outside() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("creds");
        fs::create_dir(&d).unwrap();
        fs::write(dir.path().join("outside"), "keep").unwrap();
        fs::write(d.join(MANIFEST), "../outside\n/etc/passwd\n.\n..\n").unwrap();
        write(&d, &plain(&[("A", "1")]).unwrap()).unwrap();
        assert!(dir.path().join("outside").exists());
    }

    #[test]
    fn a_symlink_or_a_file_is_no_directory() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        fs::write(dir.path().join("file"), "").unwrap();
        assert!(
            check_dir(&dir.path().join("link"))
                .unwrap_err()
                .contains("symlink")
        );
        assert!(
            check_dir(&dir.path().join("file"))
                .unwrap_err()
                .contains("not a directory")
        );
        assert!(check_dir(&dir.path().join("missing")).is_ok());
    }
}
