//! `ssmm exec --init`: ssmm stays as CMD's parent with tini's semantics, for
//! images whose entrypoint runs as PID 1. PID 1 gets no default signal
//! actions (a SIGTERM to a program that never installed a handler is simply
//! dropped) and inherits every orphan, so a plain program there ignores
//! `docker stop` and piles up zombies. Here every catchable signal is
//! blocked and collected with `sigtimedwait`, forwarded to CMD, and every
//! exited child is reaped; ssmm exits with CMD's code, or 128+N when CMD
//! died of signal N.

use std::ffi::OsString;
use std::io::Write;

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction, sigprocmask,
};
use nix::unistd::{ForkResult, Pid};

use std::time::{Duration, Instant};

use super::ExecImage;
use crate::error::Error;
use crate::log;
use crate::units;
use crate::watch::{Changes, OnChange, Schedule};

/// Signals the kernel raises for a fault in ssmm itself; blocking them would
/// hide a crash (tini leaves them alone too).
const SYNCHRONOUS: [Signal; 7] = [
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

/// How often the loop wakes with nothing to do: a safety net for a missed
/// SIGCHLD, not the normal path.
const IDLE_WAKEUP: libc::timespec = libc::timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

/// Runs `argv[0]` (resolved with the `PATH` of `env`) as a child with
/// exactly `env`, forwards signals to it and reaps zombies until it exits.
/// Returns the exit code for ssmm: the child's, or 128+N for signal N.
/// 126/127 come from the lookup, before anything is started.
///
/// The caller must have no other threads (the tokio runtime is dropped):
/// the signal mask set here is the calling thread's, and fork copies only
/// the calling thread. On success the mask stays blocked: ssmm exits right
/// after, and a late signal must not change the exit status it reports.
pub fn supervise(argv: &[OsString], env: &[(OsString, OsString)]) -> Result<i32, Error> {
    let prepared = ExecImage::new(argv, env)?;
    let (saved, terminal) = match take_over()? {
        TakeOver::Stopped(code) => return Ok(code),
        TakeOver::Ready(saved, terminal) => (saved, terminal),
    };
    let child = start(&prepared, &saved, terminal)?;
    let code = forward_and_reap(child, &saved.blocked);
    give_back_terminal(terminal);
    code
}

/// What `exec --init --watch` does on a change, and how it stops the
/// command.
#[derive(Debug, Clone, Copy)]
pub struct Supervision {
    pub on_change: OnChange,
    pub stop_signal: i32,
    pub stop_timeout: Duration,
}

/// A change a check found and has already written to disk: what changed,
/// and the environment the command is to be restarted with.
pub struct Update {
    pub changes: Changes,
    pub env: Vec<(OsString, OsString)>,
}

/// [`supervise`], checking for changes meanwhile (`docs/CONTRACT.md` §3
/// "Running services"): `check` runs on a thread of its own every
/// `schedule` wait, writes the files and `--out` when they change, and
/// returns what changed. This thread applies it: a restart (the stop
/// signal, up to `stop_timeout`, SIGKILL, then the command again with the
/// new environment; never two at once) or a signal. Signals go on being
/// forwarded and zombies reaped throughout; a check that fails returns
/// `None` and touches nothing. SIGTERM and SIGINT stop the command the same
/// way and end the watch with its exit code.
pub fn supervise_watching(
    argv: &[OsString],
    env: &[(OsString, OsString)],
    how: Supervision,
    schedule: Schedule,
    mut check: impl FnMut() -> Option<Update> + Send + 'static,
) -> Result<i32, Error> {
    let prepared = ExecImage::new(argv, env)?;
    let (saved, terminal) = match take_over()? {
        TakeOver::Stopped(code) => return Ok(code),
        TakeOver::Ready(saved, terminal) => (saved, terminal),
    };
    let mut child = start(&prepared, &saved, terminal)?;
    let shown = prepared.shown.clone();
    drop(prepared);

    // Started after the mask went up, so the thread (and every thread it
    // starts) leaves all signals to this one.
    let (tx, updates) = std::sync::mpsc::channel::<Update>();
    std::thread::Builder::new()
        .name("ssmm-watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(schedule.next_wait());
                if let Some(update) = check()
                    && tx.send(update).is_err()
                {
                    return;
                }
            }
        })
        .map_err(|e| Error::runtime(format!("starting the watch: {e}")))?;

    let argv = argv.to_vec();
    let mut stopping: Option<Stopping> = None;
    let mut restart_with: Option<ExecImage> = None;
    let mut ending = false;
    let code = loop {
        let sig = match next_signal(&saved.blocked, &WATCH_WAKEUP) {
            Ok(sig) => sig,
            Err(e) => break Err(e),
        };
        if let Some(sig @ (libc::SIGTERM | libc::SIGINT)) = sig
            && !ending
        {
            ending = true;
            restart_with = None;
            log::notice!(
                "stopped by {}: stopping {shown} (pid {child}) and ending the watch",
                units::signal_name(sig)
            );
            if stopping.is_none() {
                stopping = Some(Stopping::begin(child, how));
            }
        } else if let Some(sig) = sig.filter(|&s| s != libc::SIGCHLD) {
            forward(child, sig);
        }

        while let Ok(update) = updates.try_recv() {
            if ending {
                continue;
            }
            let what = update.changes.describe();
            match how.on_change {
                OnChange::Restart => match ExecImage::new(&argv, &update.env) {
                    Ok(image) => {
                        log::notice!("change: {what}; restarting {shown} (pid {child})");
                        restart_with = Some(image);
                        if stopping.is_none() {
                            stopping = Some(Stopping::begin(child, how));
                        }
                    }
                    Err(e) => log::warning!(
                        "change: {what}; {shown} keeps running: cannot restart it: {e}"
                    ),
                },
                OnChange::Signal(s) => {
                    let env_note = if update.changes.env_changed() {
                        "; the running command keeps its environment (--on-change signal)"
                    } else {
                        ""
                    };
                    log::notice!(
                        "change: {what}; sending {} to {shown} (pid {child}){env_note}",
                        units::signal_name(s)
                    );
                    forward(child, s);
                }
            }
        }

        if let Some(stop) = &mut stopping {
            stop.kill_when_late(child, &shown);
        }

        match reap(child) {
            Err(e) => break Err(e),
            Ok(None) => {}
            Ok(Some(code)) => match restart_with.take() {
                Some(image) if !ending => {
                    stopping = None;
                    match start(&image, &saved, terminal) {
                        Ok(pid) => {
                            log::info!("restarted {shown} as pid {pid}");
                            child = pid;
                        }
                        Err(e) => break Err(e),
                    }
                }
                _ => break Ok(code),
            },
        }
    };
    // A check may be writing: let it finish, and start no other.
    crate::stop::hold_writes();
    give_back_terminal(terminal);
    code
}

/// How often the watching loop wakes to look for a check's result.
const WATCH_WAKEUP: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 50_000_000,
};

/// A stop in progress: the stop signal was sent; SIGKILL follows once
/// `--stop-timeout` has passed.
struct Stopping {
    deadline: Instant,
    timeout: Duration,
    killed: bool,
}

impl Stopping {
    fn begin(child: Pid, how: Supervision) -> Stopping {
        forward(child, how.stop_signal);
        Stopping {
            deadline: Instant::now() + how.stop_timeout,
            timeout: how.stop_timeout,
            killed: false,
        }
    }

    fn kill_when_late(&mut self, child: Pid, shown: &str) {
        if !self.killed && Instant::now() >= self.deadline {
            log::warning!(
                "{shown} (pid {child}) did not exit within {} (--stop-timeout): sending SIGKILL",
                units::format_duration(self.timeout)
            );
            forward(child, libc::SIGKILL);
            self.killed = true;
        }
    }
}

enum TakeOver {
    /// A stop signal was already pending: ssmm ends with this code.
    Stopped(i32),
    /// Signals are ssmm's to collect; the terminal's process group, if ssmm
    /// had it.
    Ready(Box<Saved>, Option<Pid>),
}

/// Everything before the first fork: stdout flushed, the signal mask up, a
/// pending stop honoured, the subreaper flag, the terminal noted.
fn take_over() -> Result<TakeOver, Error> {
    // The child would inherit anything still buffered and print it again.
    let _ = std::io::stdout().flush();
    let saved = Saved::take_over()
        .map_err(|e| Error::runtime(format!("setting up signal forwarding: {e}")))?;
    // A stop signal that arrived just before the mask went up is pending
    // now: it was meant for ssmm, before the command started.
    if let Some(sig) = pending_stop() {
        saved.restore();
        // Handled as if it had come a moment earlier: the stop handler
        // says so and ends ssmm with 128+N.
        let _ = nix::sys::signal::raise(sig);
        return Ok(TakeOver::Stopped(128 + sig as i32));
    }
    become_subreaper();
    let terminal = foreground_terminal();
    Ok(TakeOver::Ready(Box::new(saved), terminal))
}

/// Forks and starts `image` in the child.
fn start(image: &ExecImage, saved: &Saved, terminal: Option<Pid>) -> Result<Pid, Error> {
    // SAFETY: the child makes only async-signal-safe calls (no allocation)
    // before execve or _exit, so other threads (the watch's) holding locks
    // at the moment of the fork cannot block it.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => start_child(image, saved, terminal.is_some()),
        Ok(ForkResult::Parent { child }) => {
            log::debug!("started {} as pid {child} under --init", image.shown);
            Ok(child)
        }
        Err(e) => {
            saved.restore();
            Err(Error::runtime(format!(
                "cannot start {}: fork: {e}",
                image.shown
            )))
        }
    }
}

/// Takes the terminal back from the child's (now empty) process group, so
/// a shell that started ssmm can read from it again. SIGTTOU is ignored, so
/// this works from the background.
fn give_back_terminal(terminal: Option<Pid>) {
    if let Some(ours) = terminal {
        let _ = nix::unistd::tcsetpgrp(stdin_fd(), ours);
    }
}

/// A stop signal (SIGTERM, SIGINT, SIGHUP) that is pending, taken off the
/// queue.
fn pending_stop() -> Option<Signal> {
    // SAFETY: sigset_t is plain data, filled by sigpending before it is read.
    let pending = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if libc::sigpending(&mut set) != 0 {
            return None;
        }
        set
    };
    let sig = crate::stop::STOP_SIGNALS
        .into_iter()
        // SAFETY: reads the set filled above.
        .find(|s| unsafe { libc::sigismember(&pending, *s as i32) } == 1)?;
    let _ = SigSet::from(sig).wait();
    Some(sig)
}

/// Signal state as found, to give the child the world ssmm was started in.
struct Saved {
    /// What the loop collects: everything but the synchronous signals and
    /// SIGTTIN/SIGTTOU.
    blocked: SigSet,
    mask: SigSet,
    ttin: SigAction,
    ttou: SigAction,
    chld: SigAction,
}

impl Saved {
    fn take_over() -> nix::Result<Saved> {
        let mut blocked = SigSet::all();
        for sig in SYNCHRONOUS {
            blocked.remove(sig);
        }
        // Ignored rather than blocked, as tini does: once the child owns the
        // terminal, ssmm is a background process, and a write to the
        // terminal (an error message) must not stop it.
        blocked.remove(Signal::SIGTTIN);
        blocked.remove(Signal::SIGTTOU);
        let mut mask = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&blocked), Some(&mut mask))?;
        let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: only SIG_IGN / SIG_DFL are installed, no handler code.
        unsafe {
            Ok(Saved {
                blocked,
                mask,
                ttin: sigaction(Signal::SIGTTIN, &ignore)?,
                ttou: sigaction(Signal::SIGTTOU, &ignore)?,
                // An inherited SIG_IGN would make the kernel reap children
                // itself and lose the exit status.
                chld: sigaction(Signal::SIGCHLD, &default)?,
            })
        }
    }

    /// Puts back what `take_over` changed. Async-signal-safe.
    fn restore(&self) {
        // SAFETY: reinstalls dispositions read earlier.
        unsafe {
            let _ = sigaction(Signal::SIGTTIN, &self.ttin);
            let _ = sigaction(Signal::SIGTTOU, &self.ttou);
            let _ = sigaction(Signal::SIGCHLD, &self.chld);
        }
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.mask), None);
    }
}

/// Without this, when CMD's own children outlive it (a daemonising script,
/// a double fork), they are re-parented to the real init, or to whatever
/// subreaper sits above us, and ssmm cannot reap them. As PID 1 of a
/// namespace ssmm gets them anyway. tini needs `-s` for this; for ssmm it is
/// the default, since `--init` is asked for precisely to reap.
fn become_subreaper() {
    if std::process::id() == 1 {
        return;
    }
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        log::debug!("could not become a child subreaper ({e}); orphans will not be reaped");
    }
}

/// ssmm's process group, when stdin is a terminal and that group owns it:
/// then the child is given the terminal (its own process group becomes the
/// foreground one), as tini does, so that ^C reaches the child once, from
/// the terminal, rather than twice.
fn foreground_terminal() -> Option<Pid> {
    let ours = nix::unistd::getpgrp();
    let owner = nix::unistd::tcgetpgrp(stdin_fd()).ok()?;
    (owner == ours).then_some(ours)
}

/// Descriptor 0, borrowed without touching `std::io::stdin()` (which may
/// allocate: not allowed between fork and execve).
fn stdin_fd() -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: descriptor 0 stays open for the life of the process (ssmm
    // never closes it); at worst the calls fail with EBADF or ENOTTY.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(libc::STDIN_FILENO) }
}

/// In the forked child: own process group (so signals ssmm forwards are
/// not also delivered by a group-wide kill), the terminal if ssmm had it,
/// the signal state ssmm was started with, then execve. Only
/// async-signal-safe calls; never returns.
fn start_child(prepared: &ExecImage, saved: &Saved, take_terminal: bool) -> ! {
    // Plain syscalls; SIGTTOU is still ignored, so tcsetpgrp cannot stop us.
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    if take_terminal {
        let _ = nix::unistd::tcsetpgrp(stdin_fd(), nix::unistd::getpgrp());
    }
    saved.restore();
    // Rust ignores SIGPIPE before main; programs expect the default, as
    // std::process::Command arranges for its children.
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installs SIG_DFL.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &default) };
    let errno = prepared.execve();
    let (code, reason) = prepared.failure(errno);
    for part in [
        b"ssmm: error: ".as_slice(),
        prepared.shown.as_bytes(),
        b": ",
        reason.as_bytes(),
        b"\n",
    ] {
        // SAFETY: writes a live buffer to fd 2.
        unsafe { libc::write(libc::STDERR_FILENO, part.as_ptr().cast(), part.len()) };
    }
    // SAFETY: _exit skips atexit handlers and stdio flushing, which belong
    // to the parent.
    unsafe { libc::_exit(code) }
}

/// The parent's loop: wait for any signal (or a 1 s tick), forward it to
/// the child unless it is SIGCHLD, reap every exited child, and return once
/// the main child is gone.
fn forward_and_reap(child: Pid, blocked: &SigSet) -> Result<i32, Error> {
    loop {
        match next_signal(blocked, &IDLE_WAKEUP)? {
            Some(sig) if sig != libc::SIGCHLD => forward(child, sig),
            _ => {}
        }
        if let Some(code) = reap(child)? {
            return Ok(code);
        }
    }
}

/// The next signal of `blocked` to arrive within `wait`, taken off the
/// queue; `None` when none came (or the wait was interrupted).
fn next_signal(blocked: &SigSet, wait: &libc::timespec) -> Result<Option<libc::c_int>, Error> {
    // SAFETY: siginfo_t is plain data; all pointers are valid.
    let sig = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::sigtimedwait(blocked.as_ref(), &mut info, wait)
    };
    if sig != -1 {
        return Ok(Some(sig));
    }
    match Errno::last() {
        Errno::EAGAIN | Errno::EINTR => Ok(None),
        e => Err(Error::runtime(format!("waiting for signals: {e}"))),
    }
}

/// Raw numbers throughout: real-time signals have no `Signal` variant but
/// are forwarded all the same.
fn forward(child: Pid, sig: libc::c_int) {
    log::trace!("forwarding signal {sig} to pid {child}");
    // SAFETY: plain syscall.
    if unsafe { libc::kill(child.as_raw(), sig) } == -1 {
        // ESRCH cannot happen before the child is reaped (a zombie can still
        // be signalled); anything else is not worth stopping for.
        log::debug!("forwarding signal {sig}: {}", Errno::last());
    }
}

/// Reaps every child that has exited, the main one and orphans alike, and
/// returns the main child's exit code once it is among them. Live
/// grandchildren are not waited for (tini does not either).
fn reap(child: Pid) -> Result<Option<i32>, Error> {
    let mut code = None;
    loop {
        let mut status = 0;
        // Raw, not nix's waitpid: its WaitStatus cannot hold a real-time
        // signal, so a child killed by SIGRTMIN would be an error there.
        // SAFETY: plain syscall with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        match pid {
            0 => break,
            -1 => match Errno::last() {
                Errno::ECHILD => break,
                Errno::EINTR => {}
                e => return Err(Error::runtime(format!("reaping children: {e}"))),
            },
            pid if pid == child.as_raw() => {
                if libc::WIFEXITED(status) {
                    code = Some(libc::WEXITSTATUS(status));
                } else if libc::WIFSIGNALED(status) {
                    code = Some(128 + libc::WTERMSIG(status));
                }
            }
            pid => log::trace!("reaped orphan pid {pid}"),
        }
    }
    Ok(code)
}

#[cfg(test)]
pub(super) mod tests {
    //! `supervise` changes the signal mask and reaps any child of the
    //! process, so each case runs it in a forked copy of the test process:
    //! single-threaded there, and its children are its own.

    use super::*;

    /// Runs `f` in a forked child and returns the child's exit code.
    pub(in crate::exec) fn in_fork(f: impl FnOnce() -> i32) -> i32 {
        // Other test threads may hold the stdio locks (the harness prints
        // results): a copy made at that moment could never take them, and
        // supervise flushes stdout. Holding them across fork makes this
        // thread their owner in the child; they are reentrant.
        let out = std::io::stdout().lock();
        let err = std::io::stderr().lock();
        // SAFETY: test-only; the child runs `f` and _exits without
        // returning into the test harness.
        let forked = unsafe { nix::unistd::fork() }.expect("fork");
        match forked {
            ForkResult::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(250);
                // SAFETY: ends the forked copy.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop((out, err));
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let mut status = 0;
                    // SAFETY: plain syscall.
                    let r = unsafe { libc::waitpid(child.as_raw(), &mut status, libc::WNOHANG) };
                    if r == child.as_raw() {
                        assert!(libc::WIFEXITED(status), "forked test died: {status:#x}");
                        return libc::WEXITSTATUS(status);
                    }
                    if Instant::now() > deadline {
                        // SAFETY: kills the process group we know we made.
                        unsafe { libc::kill(child.as_raw(), libc::SIGKILL) };
                        panic!("forked supervise test hung");
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    fn sh(script: &str) -> Vec<OsString> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    fn env() -> Vec<(OsString, OsString)> {
        vec![("PATH".into(), "/usr/bin:/bin".into())]
    }

    /// supervise's result as an exit code: errors become 200 + their code's
    /// last digit, out of the way of the codes the cases expect.
    fn run(script: &str) -> i32 {
        in_fork(|| match supervise(&sh(script), &env()) {
            Ok(code) => code,
            Err(e) => 200 + e.exit_code() % 10,
        })
    }

    #[test]
    fn exit_codes_pass_through() {
        assert_eq!(run("exit 0"), 0);
        assert_eq!(run("exit 3"), 3);
        assert_eq!(run("exit 255"), 255);
    }

    #[test]
    fn death_by_signal_is_128_plus_n() {
        assert_eq!(run("kill -TERM $$"), 143);
        // The child gets ssmm's original mask back: with SIGUSR1 still
        // blocked this would exit 0.
        assert_eq!(run("kill -USR1 $$; exit 0"), 138);
        // And SIGPIPE's default action, not Rust's SIG_IGN.
        assert_eq!(run("kill -PIPE $$; exit 0"), 141);
    }

    #[test]
    fn signals_to_the_supervisor_reach_the_child() {
        // The child asks its parent (the supervisor) to deliver SIGUSR1,
        // which only the forwarding can bring back.
        let script = "trap 'exit 42' USR1; kill -USR1 $PPID; \
                      i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; exit 1";
        assert_eq!(run(script), 42);
    }

    #[test]
    fn orphans_are_adopted_and_reaped() {
        let code = in_fork(|| {
            let script = "(sleep 0.1 &); (sleep 0.1 &); sleep 0.6; exit 5";
            let code = supervise(&sh(script), &env()).unwrap_or(200);
            // Orphans came to us (subreaper) and none is left unreaped.
            let mut status = 0;
            // SAFETY: plain syscall.
            let left = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            let adopted = nix::sys::prctl::get_child_subreaper().unwrap_or(false);
            match (left, Errno::last(), adopted) {
                (-1, Errno::ECHILD, true) => code,
                (-1, _, false) => 97,
                _ => 98,
            }
        });
        assert_eq!(code, 5);
    }

    #[test]
    fn lookup_failures_start_nothing() {
        // Fails in the lookup, before any signal or process change, so it is
        // safe in the test thread itself.
        let e = supervise(&["no-such-command-xyz".into()], &env()).unwrap_err();
        assert_eq!(e.exit_code(), 127);
        assert_eq!(e.to_string(), "no-such-command-xyz: command not found");
        let e = supervise(&["/dev/null".into()], &env()).unwrap_err();
        assert_eq!(e.exit_code(), 126);
    }
}
