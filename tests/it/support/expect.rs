//! What a run must have done, checked in one place for the fluent builder
//! ([`super::test::Run`]) and for table-driven rows ([`super::rows::Rows`]).
//!
//! Besides what a test asks for, every check also makes sure that no panic
//! was printed, that no secret (a seeded value the test did not say it
//! expects to see) reached stdout or stderr, and that every regular file
//! written under a private directory (the test's working directory, by
//! default) is mode 0600.

use std::path::{Path, PathBuf};

use super::cmd::Outcome;
use super::fs::{Node, Snapshot};
use super::moto::moto;

/// Secrets shorter than this are not looked for in the output: one letter
/// or a digit turns up in any summary line. Tests that check a value never
/// prints give it a distinctive value of at least this length.
pub const MIN_SECRET_LEN: usize = 4;

/// The expectations of one run; see the module docs for the automatic ones.
#[derive(Clone, Default)]
pub struct Expect {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout_is: Option<String>,
    /// Compared without trailing whitespace.
    pub stderr_is: Option<String>,
    pub stdout_has: Vec<String>,
    pub stdout_lacks: Vec<String>,
    pub stderr_has: Vec<String>,
    pub stderr_lacks: Vec<String>,
    /// Lines stderr must hold exactly.
    pub stderr_lines: Vec<String>,
    /// Files that must exist afterwards with this content (`None`: any),
    /// and be mode 0600.
    pub files: Vec<(PathBuf, Option<Vec<u8>>)>,
    pub absent: Vec<PathBuf>,
    /// Files or directories that must be exactly as they were.
    pub untouched: Vec<PathBuf>,
    /// Prefixes under which no parameter may appear, vanish or change.
    pub ssm_untouched: Vec<String>,
    /// Values that must not be printed...
    pub secrets: Vec<String>,
    /// ...except these, which the test expects to see.
    pub reveals: Vec<String>,
    /// The run prints values by design (a child printing its environment).
    pub reveals_all: bool,
    /// Directories where every file written must be 0600.
    pub private: Vec<PathBuf>,
    /// Files written by someone else (the command ssmm ran), not held to 0600.
    pub not_ssmm: Vec<PathBuf>,
    /// No raw control character printed, every stderr line an `ssmm: ` line.
    pub escaped: bool,
}

/// How `out` shows a raw ESC or a stderr line split by a raw newline (a
/// name with control characters printed unescaped), one line each.
pub fn raw_controls(out: &Outcome) -> Vec<String> {
    let mut wrong = Vec::new();
    let all = out.combined();
    if all.contains('\u{1b}') {
        wrong.push(format!("a raw ESC was printed\n{all:?}"));
    }
    if let Some(line) = out.stderr.lines().find(|l| !l.starts_with("ssmm: ")) {
        wrong.push(format!("a stderr line was split: {line:?}"));
    }
    wrong
}

/// Panics when [`raw_controls`] finds anything.
#[track_caller]
pub fn assert_no_raw_controls(out: &Outcome) {
    let wrong = raw_controls(out);
    assert!(wrong.is_empty(), "{}\n{out}", wrong.join("\n"));
}

/// What was there before the run, for the checks after it.
pub struct Before {
    untouched: Vec<Snapshot>,
    private: Vec<Snapshot>,
    ssm: Vec<Vec<(String, String)>>,
}

impl Expect {
    pub fn before(&self) -> Before {
        Before {
            untouched: self.untouched.iter().map(|p| snapshot(p)).collect(),
            private: self.private.iter().map(|p| Snapshot::of(p)).collect(),
            ssm: self
                .ssm_untouched
                .iter()
                .map(|p| moto().params_under(p))
                .collect(),
        }
    }

    /// Every way `out` (and what it left) falls short, one line each.
    pub fn check(&self, before: Before, out: &Outcome) -> Vec<String> {
        let mut wrong = Vec::new();
        if let Some(code) = self.code {
            if out.code != Some(code) {
                wrong.push(format!("expected exit {code}, got {}", status(out)));
            }
        }
        if let Some(sig) = self.signal {
            if out.signal != Some(sig) {
                wrong.push(format!(
                    "expected death by signal {sig}, got {}",
                    status(out)
                ));
            }
        }
        let streams = [("stdout", &out.stdout), ("stderr", &out.stderr)];
        if let Some(is) = &self.stdout_is {
            if &out.stdout != is {
                wrong.push(format!("stdout is not {is:?}"));
            }
        }
        if let Some(is) = &self.stderr_is {
            if out.stderr.trim_end() != is.trim_end() {
                wrong.push(format!("stderr is not {is:?}"));
            }
        }
        for ((name, text), (has, lacks)) in streams.iter().zip([
            (&self.stdout_has, &self.stdout_lacks),
            (&self.stderr_has, &self.stderr_lacks),
        ]) {
            for needle in has {
                if !text.contains(needle.as_str()) {
                    wrong.push(format!("{name} lacks {needle:?}"));
                }
            }
            for needle in lacks {
                if text.contains(needle.as_str()) {
                    wrong.push(format!("{name} holds {needle:?}"));
                }
            }
        }
        for line in &self.stderr_lines {
            if !out.stderr.lines().any(|l| l == line) {
                wrong.push(format!("stderr has no line {line:?}"));
            }
        }
        if self.escaped {
            wrong.extend(raw_controls(out));
        }
        let all = out.combined();
        if all.contains("panicked") || all.contains("RUST_BACKTRACE") {
            wrong.push("a panic was printed".into());
        }
        if !self.reveals_all {
            for s in &self.secrets {
                if s.chars().count() >= MIN_SECRET_LEN
                    && !self.reveals.contains(s)
                    && all.contains(s.as_str())
                {
                    wrong.push(format!("a seeded value was printed: {s:?}"));
                }
            }
        }
        for (path, want) in &self.files {
            match std::fs::read(path) {
                Err(e) => wrong.push(format!("{}: {e}", path.display())),
                Ok(got) => {
                    if let Some(want) = want {
                        if &got != want {
                            wrong.push(format!(
                                "{} holds {:?}, not {:?}",
                                path.display(),
                                String::from_utf8_lossy(&got),
                                String::from_utf8_lossy(want)
                            ));
                        }
                    }
                    let mode = super::fs::mode(path);
                    if mode != 0o600 {
                        wrong.push(format!("{} is mode {mode:o}, not 600", path.display()));
                    }
                }
            }
        }
        for path in &self.absent {
            if std::fs::symlink_metadata(path).is_ok() {
                wrong.push(format!("{} exists", path.display()));
            }
        }
        for (path, before) in self.untouched.iter().zip(&before.untouched) {
            if let Some(diff) = snapshot(path).diff(before) {
                wrong.push(format!("{} changed:\n{diff}", path.display()));
            }
        }
        for (dir, before) in self.private.iter().zip(&before.private) {
            for (rel, mode) in Snapshot::of(dir).written_since(before) {
                let path = dir.join(&rel);
                if mode != 0o600 && !self.not_ssmm.contains(&path) {
                    wrong.push(format!(
                        "{} was written mode {mode:o}, not 600",
                        path.display()
                    ));
                }
            }
        }
        for (p, before) in self.ssm_untouched.iter().zip(&before.ssm) {
            let after = moto().params_under(p);
            if &after != before {
                wrong.push(format!(
                    "parameters under {p} changed: {} before, {} after",
                    before.len(),
                    after.len()
                ));
            }
        }
        wrong
    }
}

/// A snapshot of a directory, or of a single file (under the name ".").
fn snapshot(path: &Path) -> Snapshot {
    if path.is_dir() {
        return Snapshot::of(path);
    }
    let mut snap = Snapshot::default();
    match Node::of(path) {
        None => snap.absent = true,
        Some(node) => {
            snap.nodes.insert(".".into(), node);
        }
    }
    snap
}

fn status(out: &Outcome) -> String {
    match (out.code, out.signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        (None, None) => "no status".into(),
    }
}
