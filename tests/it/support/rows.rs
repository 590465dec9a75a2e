//! Table-driven tests: each row runs the real binary and checks its exit
//! code, the stable part of its message, that it changed nothing it was told
//! to watch (directories, a parameter prefix) and everything
//! [`super::expect`] checks on every run. A table runs all its rows, then
//! fails once, listing every failing row by its id.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cmd::{Outcome, Ssmm};
use super::expect::Expect;

/// Limit on one row's run: a hang fails the row, not the whole suite.
pub const ROW_TIMEOUT: Duration = Duration::from_secs(60);

/// What a row must leave untouched.
#[derive(Clone, Default)]
pub struct Watch {
    pub dirs: Vec<PathBuf>,
    /// Every parameter (name and value) under this path.
    pub ssm: Option<String>,
}

impl Watch {
    pub fn dirs(dirs: &[&Path]) -> Watch {
        Watch {
            dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
            ssm: None,
        }
    }

    pub fn ssm(mut self, prefix: &str) -> Watch {
        self.ssm = Some(prefix.to_owned());
        self
    }
}

/// Runs rows, collecting failures; [`Rows::finish`] fails the test once,
/// naming every failing row.
#[derive(Default)]
pub struct Rows {
    failures: Vec<String>,
    /// Values no row may print.
    secrets: Vec<String>,
}

impl Rows {
    pub fn new() -> Rows {
        Rows::default()
    }

    /// A value no row may print (each seeded value carries it).
    pub fn secret(mut self, value: &str) -> Rows {
        self.secrets.push(value.to_owned());
        self
    }

    /// Runs `cmd` and checks the row: exit `code`, `msg` in stderr, and the
    /// common rules of the module docs. Returns the outcome for extra checks.
    pub fn check(&mut self, id: &str, cmd: Ssmm, code: i32, msg: &str, watch: &Watch) -> Outcome {
        self.check_all(id, cmd, code, &[msg], watch)
    }

    /// [`Rows::check`] with several pieces the message must hold.
    pub fn check_all(
        &mut self,
        id: &str,
        cmd: Ssmm,
        code: i32,
        needles: &[&str],
        watch: &Watch,
    ) -> Outcome {
        let expect = Expect {
            code: Some(code),
            stderr_has: needles.iter().map(|n| n.to_string()).collect(),
            untouched: watch.dirs.clone(),
            ssm_untouched: watch.ssm.iter().cloned().collect(),
            secrets: self.secrets.clone(),
            ..Expect::default()
        };
        let before = expect.before();
        let out = cmd.timeout(ROW_TIMEOUT).run();
        let wrong = expect.check(before, &out);
        self.record(id, wrong, &out);
        out
    }

    /// Records the failures of one row (from [`super::test::Run::verdict`]).
    pub fn record(&mut self, id: &str, wrong: Vec<String>, out: &Outcome) {
        if !wrong.is_empty() {
            self.failures
                .push(format!("[{id}] {}\n{out}", wrong.join("; ")));
        }
    }

    /// Records a failure found by a row's own extra check.
    pub fn fail(&mut self, id: &str, why: String) {
        self.failures.push(format!("[{id}] {why}"));
    }

    #[track_caller]
    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} row(s) failed:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

/// The rows of a text table, one a line: `id | arguments | message`, the
/// arguments split on whitespace and `\n` in the message standing for a
/// newline. Blank lines are skipped.
pub fn table(text: &str) -> Vec<(&str, Vec<&str>, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
            let [id, args, msg] = cols[..] else {
                panic!("not `id | arguments | message`: {line:?}");
            };
            let args = args.split_whitespace().collect();
            (id, args, msg.replace("\\n", "\n"))
        })
        .collect()
}
