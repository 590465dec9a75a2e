//! A builder that runs the real `ssmm` binary in a hermetic environment and
//! captures what it did, with a hard timeout: a hang fails the test.
//!
//! The environment is cleared except for `PATH`, then given fixed fake AWS
//! credentials, a region, and profile files that do not exist, so nothing on
//! the developer's machine (a real profile, a real endpoint) can leak in.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Default limit on one run; generous because CI machines are slow, but a
/// hang still ends.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A command to run; see the module docs for the environment it starts with.
pub struct Ssmm {
    program: PathBuf,
    args: Vec<OsString>,
    /// In order of the calls; `None` removes the variable.
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    /// Start as the leader of a new session (no controlling terminal).
    new_session: bool,
    home: TempDir,
}

impl Default for Ssmm {
    fn default() -> Self {
        Self::new()
    }
}

impl Ssmm {
    /// The `ssmm` binary built for these tests.
    pub fn new() -> Ssmm {
        Ssmm::with_program(env!("CARGO_BIN_EXE_ssmm"))
    }

    /// Another program in the same hermetic environment (used by the harness
    /// self-tests; also handy for `sh -c` checks of what ssmm wrote).
    pub fn with_program(program: impl Into<PathBuf>) -> Ssmm {
        let home = tempfile::Builder::new()
            .prefix("ssmm-home-")
            .tempdir()
            .expect("create temp HOME");
        let absent = home.path().join("no-aws-profile");
        let mut env: Vec<(OsString, Option<OsString>)> = Vec::new();
        if let Some(path) = std::env::var_os("PATH") {
            env.push(("PATH".into(), Some(path)));
        }
        let fixed = [
            ("AWS_ACCESS_KEY_ID", OsString::from("testing")),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", absent.join("config").into()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                absent.join("credentials").into(),
            ),
            ("HOME", home.path().into()),
        ];
        env.extend(fixed.into_iter().map(|(k, v)| (k.into(), Some(v))));
        Ssmm {
            program: program.into(),
            args: Vec::new(),
            env,
            cwd: None,
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
            new_session: false,
            home,
        }
    }

    /// Runs `launcher BIN ARGS...` instead of the program: another build of
    /// ssmm started by an emulator (the aarch64 release binary under
    /// `qemu-aarch64-static`). Arguments given before or after stay after BIN.
    pub fn launched_by(mut self, launcher: impl Into<PathBuf>, bin: impl AsRef<OsStr>) -> Ssmm {
        self.args.insert(0, bin.as_ref().to_owned());
        self.program = launcher.into();
        self
    }

    /// Sets `AWS_ENDPOINT_URL` (moto's or a proxy's endpoint).
    pub fn endpoint(self, url: &str) -> Ssmm {
        self.env("AWS_ENDPOINT_URL", url)
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Ssmm {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Ssmm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Ssmm {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes a variable, including one of the defaults (e.g. `AWS_REGION`).
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Ssmm {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Ssmm {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Bytes fed to stdin, which is then closed (stdin is `/dev/null`
    /// otherwise).
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Ssmm {
        self.stdin = Some(bytes.into());
        self
    }

    /// Overrides the 120 s limit on the run.
    pub fn timeout(mut self, limit: Duration) -> Ssmm {
        self.timeout = limit;
        self
    }

    /// Runs in a new session (`setsid`), so it has no controlling terminal
    /// and `/dev/tty` cannot be opened, even when the tests run in one.
    pub fn new_session(mut self) -> Ssmm {
        self.new_session = true;
        self
    }

    /// The temporary `HOME` (removed when the `Outcome` is dropped).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Runs to completion; panics if it takes longer than the timeout.
    pub fn run(self) -> Outcome {
        self.spawn().wait()
    }

    /// Starts the process and returns at once, for tests that signal it or
    /// act while it runs. The timeout counts from here.
    pub fn spawn(self) -> Running {
        let shown = self.describe();
        let mut cmd = self.command();
        if self.new_session {
            // SAFETY: setsid(2) is async-signal-safe. A new session is a new
            // process group too, so a timeout still kills the whole group.
            unsafe {
                cmd.pre_exec(|| {
                    nix::unistd::setsid().map_err(std::io::Error::from)?;
                    Ok(())
                });
            }
        } else {
            // Own process group, so a timeout can kill whatever it started too.
            cmd.process_group(0);
        }
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
        if let Some(bytes) = self.stdin {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            // A child that exits without reading gives EPIPE: not our error.
            thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let stdout = collect(child.stdout.take().expect("stdout pipe"));
        let stderr = collect(child.stderr.take().expect("stderr pipe"));
        Running {
            child,
            stdout,
            stderr,
            started,
            timeout: self.timeout,
            shown,
            home: Some(self.home),
        }
    }

    /// The program with its arguments, environment and directory, without
    /// standard streams or process group (for [`super::pty::Pty`]).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).env_clear();
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// The command line for messages: program name and arguments.
    pub fn describe(&self) -> String {
        let name = self
            .program
            .file_name()
            .unwrap_or(self.program.as_os_str())
            .to_string_lossy()
            .into_owned();
        let mut s = name;
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// Reads a pipe to its end on a thread; the result arrives on the channel.
fn collect(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// A started process. Dropping it without `wait` kills its process group.
pub struct Running {
    child: Child,
    stdout: mpsc::Receiver<Vec<u8>>,
    stderr: mpsc::Receiver<Vec<u8>>,
    started: Instant,
    timeout: Duration,
    shown: String,
    /// Always `Some` until `wait` hands it to the `Outcome`.
    home: Option<TempDir>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary `HOME` of this run.
    pub fn home(&self) -> &Path {
        self.home.as_ref().expect("home").path()
    }

    /// Sends signal number `sig` (e.g. 15 for SIGTERM) to the process.
    pub fn signal(&self, sig: i32) {
        send_signal(sig, &self.child.id().to_string());
    }

    /// Whether it is still running, without waiting.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for exit, within what remains of the timeout; on timeout kills
    /// the process group and panics with what it printed so far.
    pub fn wait(mut self) -> Outcome {
        let deadline = self.started + self.timeout;
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => panic!("waiting for {}: {e}", self.shown),
            }
            if Instant::now() >= deadline {
                self.kill_group();
                let _ = self.child.wait();
                // Whatever it printed helps explain the hang; a leftover
                // holder of the pipes must not turn this into a second hang.
                let (out, err) = self.outputs(Duration::from_secs(2)).unwrap_or_default();
                panic!(
                    "TIMEOUT: `{}` still running after {:?}; killed it\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.shown,
                    self.timeout,
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&err)
                );
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        let elapsed = self.started.elapsed();
        // The pipes close when the last holder exits; a child it left
        // behind can keep them open, which is a leak worth failing on.
        let grace = Duration::from_secs(10);
        let Some((stdout, stderr)) = self.outputs(grace) else {
            self.kill_group();
            panic!(
                "`{}` exited but its stdout/stderr stayed open for {grace:?}: \
                 a process it started outlived it (killed its process group)",
                self.shown
            );
        };
        Outcome {
            command: self.shown.clone(),
            code: status.code(),
            signal: status.signal(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed,
            home: self.home.take().expect("home"),
        }
    }

    /// Both captured streams, once their pipes close within `grace`.
    fn outputs(&mut self, grace: Duration) -> Option<(Vec<u8>, Vec<u8>)> {
        let until = Instant::now() + grace;
        let left = || until.saturating_duration_since(Instant::now());
        let out = self.stdout.recv_timeout(left()).ok()?;
        let err = self.stderr.recv_timeout(left()).ok()?;
        Some((out, err))
    }

    fn kill_group(&mut self) {
        send_signal(9, &format!("-{}", self.child.id()));
        let _ = self.child.kill();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}

/// `kill -s SIG -- TARGET` via the kill binary, so the harness needs no libc
/// crate; a negative target is a process group.
fn send_signal(sig: i32, target: &str) {
    let _ = Command::new("kill")
        .args(["-s", &sig.to_string(), "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// What a finished run did. Assertion helpers print everything on failure.
pub struct Outcome {
    /// Program and arguments, for messages.
    pub command: String,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The run's temporary `HOME`, kept until the outcome is dropped.
    pub home: TempDir,
}

impl Outcome {
    /// Asserts exit code 0.
    #[track_caller]
    pub fn success(&self) -> &Outcome {
        self.code(0)
    }

    /// Asserts exit code `n`.
    #[track_caller]
    pub fn code(&self, n: i32) -> &Outcome {
        self.status_is((Some(n), None), format!("exit code {n}"))
    }

    /// Asserts that signal `n` killed it.
    #[track_caller]
    pub fn killed_by(&self, n: i32) -> &Outcome {
        self.status_is((None, Some(n)), format!("death by signal {n}"))
    }

    #[track_caller]
    fn status_is(&self, want: (Option<i32>, Option<i32>), what: String) -> &Outcome {
        let got = (self.code, self.signal);
        let same = match want {
            (Some(_), _) => got.0 == want.0,
            _ => got.1 == want.1,
        };
        assert!(same, "expected {what}, got {}\n{self}", self.status());
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, needle: &str) -> &Outcome {
        self.holds("stdout", &self.stdout, needle)
    }

    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Outcome {
        self.holds("stderr", &self.stderr, needle)
    }

    #[track_caller]
    fn holds(&self, name: &str, text: &str, needle: &str) -> &Outcome {
        assert!(text.contains(needle), "{name} lacks {needle:?}\n{self}");
        self
    }

    /// stdout then stderr, for checks that do not care which.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn status(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => "no status".into(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`: {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status(),
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
