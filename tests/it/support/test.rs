//! The fluent builder most tests start from. A [`Test`] owns its fixtures: a
//! unique parameter prefix on the shared moto server, a working directory,
//! the seeded parameters and files, and (with [`Test::faults`]) a
//! fault-injecting proxy in front of moto. [`Test::ssmm`] gives a [`Run`] of
//! the real binary that collects expectations and checks them all at once in
//! [`Run::go`]:
//!
//! ```ignore
//! let t = Test::new().param("api/db-pass", "s3cr3t-value").file(".env", "OLD=1\n");
//! t.ssmm(["sync", "--app", "api", "--strict"])
//!     .code(3)
//!     .stderr_has("DB_PASS")
//!     .untouched(".env")
//!     .go();
//! ```
//!
//! Every run also checks, unasked, what [`super::expect`] describes: no
//! panic, no seeded value in stdout or stderr unless the test says it
//! expects it ([`Run::reveals`]), and every file written in the working
//! directory mode 0600.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use tempfile::TempDir;

use super::cmd::{Outcome, Running, Ssmm};
use super::expect::Expect;
use super::moto::{moto, unique_prefix};
use super::proxy::{FaultProxy, Plan};

/// Fixtures of one test; see the module docs.
pub struct Test {
    prefix: String,
    base: TempDir,
    dir: PathBuf,
    proxy: Option<FaultProxy>,
    secrets: Mutex<Vec<String>>,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    /// A fresh prefix and an empty working directory named `work`.
    pub fn new() -> Test {
        let base = tempfile::Builder::new()
            .prefix("ssmm-test-")
            .tempdir()
            .expect("create a temporary directory");
        let dir = base.path().join("work");
        std::fs::create_dir(&dir).unwrap();
        Test {
            prefix: unique_prefix(),
            base,
            dir,
            proxy: None,
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// Works in a directory of this name instead (the app name defaults to
    /// it).
    pub fn in_dir(mut self, name: &str) -> Test {
        let dir = self.base.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        self.dir = dir;
        self
    }

    /// Seeds a `SecureString` at `PREFIX/rel`; its value must never print.
    pub fn param(self, rel: &str, value: &str) -> Test {
        self.put_secure(rel, value);
        self
    }

    /// Seeds a `String` at `PREFIX/rel`; its value must never print either.
    pub fn plain(self, rel: &str, value: &str) -> Test {
        self.put(rel, value);
        self
    }

    /// Seeds many `SecureString`s at once (`(rel, value)` pairs).
    pub fn params<K: AsRef<str>, V: AsRef<str>>(self, items: &[(K, V)]) -> Test {
        let items: Vec<(String, String)> = items
            .iter()
            .map(|(k, v)| (self.name(k.as_ref()), v.as_ref().to_owned()))
            .collect();
        self.keep_secrets(items.iter().map(|(_, v)| v.clone()));
        moto().put_many(&items);
        self
    }

    /// Seeds `n` `SecureString`s: the `i`th is `each(i)`, a `(rel, value)`
    /// pair.
    pub fn series(self, n: usize, each: impl Fn(usize) -> (String, String)) -> Test {
        let items: Vec<(String, String)> = (0..n).map(each).collect();
        self.params(&items)
    }

    /// Tags the parameter at `PREFIX/rel`.
    pub fn tags(self, rel: &str, tags: &[(&str, &str)]) -> Test {
        moto().add_tags(&self.name(rel), tags);
        self
    }

    /// Writes `content` to `rel` in the working directory, mode 0600.
    pub fn file(self, rel: &str, content: impl AsRef<[u8]>) -> Test {
        self.file_mode(rel, content, 0o600)
    }

    /// Writes `content` to `rel` in the working directory with `mode`.
    pub fn file_mode(self, rel: &str, content: impl AsRef<[u8]>, mode: u32) -> Test {
        super::fs::write(&self.path(rel), content, mode);
        self
    }

    /// Puts a fault-injecting proxy with `plan` between ssmm and moto.
    pub fn faults(mut self, plan: Plan) -> Test {
        let proxy = FaultProxy::start(&moto().endpoint());
        proxy.set_plan(plan);
        self.proxy = Some(proxy);
        self
    }

    /// Creates or overwrites a `String` at `PREFIX/rel`.
    pub fn put(&self, rel: &str, value: &str) {
        self.put_typed(rel, value, ParameterType::String);
    }

    /// Creates or overwrites a `SecureString` at `PREFIX/rel`.
    pub fn put_secure(&self, rel: &str, value: &str) {
        self.put_typed(rel, value, ParameterType::SecureString);
    }

    pub fn put_typed(&self, rel: &str, value: &str, ty: ParameterType) {
        self.secret(value);
        moto().put_typed(&self.name(rel), value, ty);
    }

    /// A value that must never be printed, though the test did not seed it
    /// (a value passed to `put`, one seeded outside the prefix).
    pub fn secret(&self, value: &str) {
        self.keep_secrets([value.to_owned()]);
    }

    fn keep_secrets(&self, values: impl IntoIterator<Item = String>) {
        self.secrets.lock().unwrap().extend(values);
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full parameter name `PREFIX/rel`.
    pub fn name(&self, rel: &str) -> String {
        format!("{}/{rel}", self.prefix)
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A path in the working directory (an absolute `rel` stays as it is).
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.join(rel)
    }

    /// The text of a file in the working directory.
    #[track_caller]
    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        super::fs::read(&self.path(rel))
    }

    /// A scratch directory beside the working directory, for what must not
    /// be under it.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.base.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The proxy of [`Test::faults`].
    pub fn proxy(&self) -> &FaultProxy {
        self.proxy
            .as_ref()
            .expect("no fault plan: call .faults(plan)")
    }

    /// What ssmm talks to: the proxy if there is one, else moto.
    pub fn endpoint(&self) -> String {
        match &self.proxy {
            Some(p) => p.endpoint(),
            None => moto().endpoint(),
        }
    }

    /// `ssmm --prefix PREFIX ARGS` in the working directory.
    pub fn ssmm<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let run = self.bare(["--prefix", &self.prefix]);
        run.args(args)
    }

    /// The prefix as an ECS cluster name (without its leading `/`).
    pub fn cluster(&self) -> &str {
        self.prefix.trim_start_matches('/')
    }

    /// `ssmm --layout ecs --cluster CLUSTER ARGS` in the working directory.
    pub fn ecs<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.bare(["--layout", "ecs", "--cluster", self.cluster()])
            .args(args)
    }

    /// `ssmm ARGS` (no `--prefix`) in the working directory.
    pub fn bare<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let cmd = Ssmm::new()
            .endpoint(&self.endpoint())
            .current_dir(&self.dir)
            .args(args);
        Run {
            cmd,
            dir: self.dir.clone(),
            expect: Expect {
                secrets: self.secrets.lock().unwrap().clone(),
                private: vec![self.dir.clone()],
                ..Expect::default()
            },
        }
    }
}

/// Setters that add a string to a list of [`Expect`].
macro_rules! needles {
    ($($(#[$doc:meta])* $name:ident => $field:ident,)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, text: impl Into<String>) -> Run {
            self.expect.$field.push(text.into());
            self
        }
    )*};
}

/// Setters that add a path under the working directory to a list of
/// [`Expect`].
macro_rules! paths {
    ($($(#[$doc:meta])* $name:ident => $field:ident,)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, rel: impl AsRef<Path>) -> Run {
            let path = self.dir.join(rel);
            self.expect.$field.push(path);
            self
        }
    )*};
}

/// One run of the real binary and what it must do; see the module docs.
#[must_use = "a Run does nothing until .go()"]
pub struct Run {
    cmd: Ssmm,
    dir: PathBuf,
    expect: Expect,
}

impl Run {
    /// A run of an already built command, with the automatic checks over
    /// `dir` (for tests that build the command themselves).
    pub fn of(cmd: Ssmm, dir: &Path) -> Run {
        Run {
            cmd,
            dir: dir.to_owned(),
            expect: Expect {
                private: vec![dir.to_owned()],
                ..Expect::default()
            },
        }
    }

    // ------------------------------------------------------------ the command

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Run {
        self.cmd = self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd = self.cmd.args(args);
        self
    }

    /// Runs `launcher BIN` with the same arguments (see [`Ssmm::launched_by`]).
    pub fn launched_by(mut self, launcher: impl Into<PathBuf>, bin: impl AsRef<OsStr>) -> Run {
        self.cmd = self.cmd.launched_by(launcher, bin);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Run {
        self.cmd = self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Run {
        self.cmd = self.cmd.env_remove(key);
        self
    }

    /// Talks to `url` instead of the test's endpoint.
    pub fn endpoint(mut self, url: &str) -> Run {
        self.cmd = self.cmd.endpoint(url);
        self
    }

    /// Talks to SSM through `proxy`.
    pub fn via(self, proxy: &FaultProxy) -> Run {
        self.endpoint(&proxy.endpoint())
    }

    /// Runs in `dir` (the automatic 0600 check then covers it too).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Run {
        self.cmd = self.cmd.current_dir(&dir);
        self.dir = dir.as_ref().to_owned();
        self.expect.private.push(self.dir.clone());
        self
    }

    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Run {
        self.cmd = self.cmd.stdin_bytes(bytes);
        self
    }

    pub fn timeout(mut self, limit: Duration) -> Run {
        self.cmd = self.cmd.timeout(limit);
        self
    }

    // ------------------------------------------------------- expectations

    pub fn success(self) -> Run {
        self.code(0)
    }

    pub fn code(mut self, n: i32) -> Run {
        self.expect.code = Some(n);
        self
    }

    pub fn killed_by(mut self, sig: i32) -> Run {
        self.expect.signal = Some(sig);
        self
    }

    pub fn stdout_is(mut self, text: impl Into<String>) -> Run {
        self.expect.stdout_is = Some(text.into());
        self
    }

    /// stderr is `text`, but for trailing whitespace.
    pub fn stderr_is(mut self, text: impl Into<String>) -> Run {
        self.expect.stderr_is = Some(text.into());
        self
    }

    needles! {
        stdout_has => stdout_has,
        stdout_lacks => stdout_lacks,
        stderr_has => stderr_has,
        stderr_lacks => stderr_lacks,
        /// stderr holds this exact line.
        stderr_line => stderr_lines,
        /// Another value that must not be printed.
        secret => secrets,
        /// The test expects this seeded value in the output (`show`, `--out -`).
        reveals => reveals,
        /// No parameter under this prefix appears, vanishes or changes.
        ssm_untouched => ssm_untouched,
    }

    /// `rel` (under the working directory) holds exactly `content`, mode 0600.
    pub fn file(mut self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) -> Run {
        let path = self.dir.join(rel);
        self.expect
            .files
            .push((path, Some(content.as_ref().to_vec())));
        self
    }

    paths! {
        /// Nothing at `rel`.
        absent => absent,
        /// `rel` (a file or a whole directory) is exactly as it was.
        untouched => untouched,
        /// `rel` is written by the command ssmm runs, not by ssmm: its mode
        /// is the command's business.
        not_ssmm => not_ssmm,
    }

    /// The working directory is exactly as it was: nothing written.
    pub fn writes_nothing(self) -> Run {
        self.untouched("")
    }

    /// Names with control characters show escaped: no raw ESC, no stderr
    /// line split.
    pub fn escaped(mut self) -> Run {
        self.expect.escaped = true;
        self
    }

    /// The run prints values by design (its command prints its environment).
    pub fn reveals_all(mut self) -> Run {
        self.expect.reveals_all = true;
        self
    }

    // ------------------------------------------------------------- running

    /// Runs to the end and checks everything; panics listing every failed
    /// expectation with what the run printed.
    #[track_caller]
    pub fn go(self) -> Outcome {
        let (out, wrong) = self.verdict();
        assert!(wrong.is_empty(), "{}\n{out}", wrong.join("\n"));
        out
    }

    /// Runs to the end; the outcome and every failed expectation (for tables
    /// of rows that report all failures at once).
    pub fn verdict(self) -> (Outcome, Vec<String>) {
        let before = self.expect.before();
        let out = self.cmd.run();
        let wrong = self.expect.check(before, &out);
        (out, wrong)
    }

    /// The command alone, to spawn and signal it.
    pub fn spawn(self) -> Running {
        self.cmd.spawn()
    }
}
