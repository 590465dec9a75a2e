//! ssmm on a real pseudo-terminal, for what it does differently on one:
//! progress bars, the `delete --all` question, `set`'s hidden prompts.
//!
//! The command runs as the leader of a new session whose controlling
//! terminal is the pty's slave, on its stdin, stdout and stderr: `/dev/tty`
//! opens, the line discipline echoes (or not) what is typed, and Ctrl-C
//! (`\x03`) or Ctrl-Z (`\x1a`) become SIGINT and SIGTSTP as in a shell. The
//! test holds the master: it reads what the terminal shows, types, and
//! reads the terminal's settings, during the run and after it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::termios::{self, LocalFlags};

use super::cmd::Ssmm;

/// How long a run, or a wait for text, may take.
const LIMIT: Duration = Duration::from_secs(60);

/// A command running on a pseudo-terminal; see the module docs.
pub struct Pty {
    master: File,
    child: Child,
    shown: String,
    shows: Arc<Mutex<Vec<u8>>>,
    reader: Option<thread::JoinHandle<()>>,
    /// Keeps the command's temporary `HOME`.
    _ssmm: Ssmm,
}

/// How a run on a terminal ended, and everything the terminal showed.
pub struct PtyOutcome {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// What the terminal showed (its `\n` are `\r\n`).
    pub text: String,
    /// Whether the terminal echoes input after the command ended.
    pub echo_after: bool,
}

impl Pty {
    /// Starts `ssmm` (its program, arguments and hermetic environment) on a
    /// new terminal, with `TERM=xterm` as a real terminal has (indicatif
    /// draws nothing without one).
    pub fn spawn(ssmm: Ssmm) -> Pty {
        Pty::spawn_with(ssmm, false)
    }

    /// As [`Pty::spawn`], with standard input `/dev/null` instead of the
    /// terminal (the terminal is still the controlling one: `/dev/tty`).
    pub fn spawn_stdin_null(ssmm: Ssmm) -> Pty {
        Pty::spawn_with(ssmm, true)
    }

    fn spawn_with(ssmm: Ssmm, stdin_null: bool) -> Pty {
        let pair = nix::pty::openpty(None, None).expect("openpty");
        // Neither end leaks into the command beyond its three streams.
        for fd in [&pair.master, &pair.slave] {
            let cloexec = nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC);
            nix::fcntl::fcntl(fd, cloexec).expect("FD_CLOEXEC on the pty");
        }
        let shown = ssmm.describe();
        let mut cmd = ssmm.command();
        cmd.env("TERM", "xterm");
        let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the pty slave"));
        cmd.stdin(if stdin_null {
            Stdio::null()
        } else {
            slave(&pair.slave)
        })
        .stdout(slave(&pair.slave))
        .stderr(slave(&pair.slave));
        let slave_fd = pair.slave.as_raw_fd();
        // SAFETY: setsid(2), ioctl(2) and close(2) are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                // The slave becomes the session's controlling terminal.
                if libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
        // Only the command holds the slave now: once it exits, reading the
        // master ends (EIO).
        drop(cmd);
        drop(pair.slave);
        let master = File::from(pair.master);
        let shows = Arc::new(Mutex::new(Vec::new()));
        let mut from = master.try_clone().expect("dup the pty master");
        let into = shows.clone();
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            child,
            shown,
            shows,
            reader: Some(reader),
            _ssmm: ssmm,
        }
    }

    /// Everything the terminal has shown so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.shows.lock().unwrap()).into_owned()
    }

    /// Waits until the terminal has shown `needle` (panics after a minute,
    /// or when the command ends without showing it).
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str) {
        let until = Instant::now() + LIMIT;
        loop {
            if self.text().contains(needle) {
                return;
            }
            let ended = matches!(self.child.try_wait(), Ok(Some(_)));
            if ended || Instant::now() > until {
                // What it printed last may still be on its way.
                thread::sleep(Duration::from_millis(200));
                if self.text().contains(needle) {
                    return;
                }
                let why = if ended { "ended" } else { "still running" };
                panic!(
                    "`{}` {why} without showing {needle:?}; the terminal showed:\n{:?}",
                    self.shown,
                    self.text()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `bytes` on the terminal.
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to the pty");
        self.master.flush().unwrap();
    }

    /// Whether the terminal echoes what is typed right now.
    pub fn echo(&self) -> bool {
        let t = termios::tcgetattr(&self.master).expect("tcgetattr on the pty");
        t.local_flags.contains(LocalFlags::ECHO)
    }

    /// Whether the command has stopped (Ctrl-Z), waiting up to a few seconds.
    pub fn stopped(&self) -> bool {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let flags =
                nix::sys::wait::WaitPidFlag::WUNTRACED | nix::sys::wait::WaitPidFlag::WNOHANG;
            match nix::sys::wait::waitpid(pid, Some(flags)) {
                Ok(nix::sys::wait::WaitStatus::Stopped(..)) => return true,
                Ok(nix::sys::wait::WaitStatus::StillAlive) if Instant::now() < until => {
                    thread::sleep(Duration::from_millis(10))
                }
                _ => return false,
            }
        }
    }

    /// Sends `sig` to the command.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("signal the command");
    }

    /// Waits for the command to end (kills it after a minute) and for the
    /// terminal to show the last of its output.
    pub fn wait(mut self) -> PtyOutcome {
        let until = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > until {
                self.kill();
                panic!(
                    "`{}` still running after {LIMIT:?}; killed it. The terminal showed:\n{:?}",
                    self.shown,
                    self.text()
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        PtyOutcome {
            code: status.code(),
            signal: status.signal(),
            text: self.text(),
            echo_after: self.echo(),
        }
    }

    fn kill(&mut self) {
        // The command leads its own session and process group.
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
