//! What `ssmm systemd` writes, checked by systemd itself: `systemd-analyze
//! verify` over a unit directory holding the generated files beside a
//! stand-in for the service, and the unit as systemd loaded it (the dump
//! `verify` prints at debug level: each command line as systemd split it,
//! each setting's value). A fake `systemctl` records its arguments.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The service the drop-ins are for, as systemd needs one to load them.
pub const STAND_IN: &str = "[Service]\nExecStart=/bin/true\n";

/// A unit directory for `verify`, with the stand-in `unit` in it.
pub fn unit_dir(base: &Path, unit: &str) -> PathBuf {
    let dir = base.join("verify");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(unit), STAND_IN).unwrap();
    dir
}

/// Writes `files` (`(relative path, content)`) under `dir`.
pub fn put_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// `systemd-analyze [--user] verify --man=no` of `units` (names in `dir`),
/// with `dir` first in the unit path so drop-ins in `UNIT.d/` are found.
/// Returns (success, stderr, stdout).
fn analyze(dir: &Path, units: &[&str], user: bool, debug: bool) -> (bool, String, String) {
    let mut cmd = Command::new("systemd-analyze");
    if user {
        cmd.arg("--user");
        // A user manager needs a runtime directory (%t).
        let runtime = dir.join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        cmd.env("XDG_RUNTIME_DIR", runtime);
    }
    cmd.args(["verify", "--man=no"]);
    for unit in units {
        cmd.arg(dir.join(unit));
    }
    cmd.env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()));
    if debug {
        cmd.env("SYSTEMD_LOG_LEVEL", "debug");
    }
    let out = cmd
        .output()
        .expect("systemd-analyze (scripts/setup installs the systemd package)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `systemd-analyze verify` passes `units` without a word on stderr (an
/// unknown setting is only a warning there, so a clean stderr is part of
/// passing).
#[track_caller]
pub fn verify(dir: &Path, units: &[&str], user: bool) {
    let (ok, stderr, stdout) = analyze(dir, units, user, false);
    assert!(
        ok && stderr.trim().is_empty(),
        "systemd-analyze verify {units:?} failed:\n{stderr}{stdout}\nunits:\n{}",
        listing(dir)
    );
}

/// Every file under `dir`, with its content, for failure messages.
fn listing(dir: &Path) -> String {
    let mut out = String::new();
    for entry in walk(dir) {
        if let Ok(text) = std::fs::read_to_string(&entry) {
            out.push_str(&format!("--- {}\n{text}", entry.display()));
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// How systemd loaded `unit`: the lines of its section of the debug dump
/// (`Command Line: ...`, `EnvironmentFile: ...`, `LoadCredential...`),
/// trimmed.
pub fn loaded(dir: &Path, unit: &str, user: bool) -> Vec<String> {
    let (ok, stderr, stdout) = analyze(dir, &[unit], user, true);
    assert!(
        ok,
        "systemd-analyze verify {unit} failed:\n{stderr}{stdout}"
    );
    let all = format!("{stdout}{stderr}");
    let header = format!("-> Unit {unit}:");
    let mut lines = Vec::new();
    let mut inside = false;
    for line in all.lines() {
        if line.trim() == header {
            inside = true;
            continue;
        }
        if inside && line.trim_start().starts_with("-> Unit ") {
            break;
        }
        if inside {
            lines.push(line.trim().to_string());
        }
    }
    assert!(!lines.is_empty(), "no dump of {unit}:\n{all}");
    lines
}

/// The argv of each `Command Line:` of a dump, unquoted as systemd quotes
/// it (`"..."` with `\` escaping the next character).
pub fn command_lines(dump: &[String]) -> Vec<Vec<String>> {
    dump.iter()
        .filter_map(|l| l.strip_prefix("Command Line: "))
        .map(split_quoted)
        .collect()
}

fn split_quoted(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while chars.peek().is_some() {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut word = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '\\' => match chars.next() {
                    Some('n') => word.push('\n'),
                    Some('t') => word.push('\t'),
                    Some(other) => word.push(other),
                    None => {}
                },
                ' ' if !quoted => break,
                c => word.push(c),
            }
        }
        words.push(word);
    }
    words
}

/// A directory holding a `systemctl` that appends its arguments, one run a
/// line, to the returned log and exits with `code`.
pub fn fake_systemctl(base: &Path, code: i32) -> (PathBuf, PathBuf) {
    let bin = base.join(format!("fake-systemctl-{code}"));
    std::fs::create_dir_all(&bin).unwrap();
    let log = bin.join("calls.log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\necho 'fake systemctl' >&2\nexit {code}\n",
        log.display()
    );
    let path = bin.join("systemctl");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

/// `dir` first on a PATH that still finds the system's tools.
pub fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The calls a fake systemctl recorded ("" when it was never run).
pub fn calls(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}
