//! Reading secrets from the terminal (`ssmm set`): `/dev/tty`, not standard
//! input, with echo off while a value is typed.
//!
//! The terminal's settings are restored whatever happens: when a value has
//! been read, on every error (the guard's `Drop`), and on a stop signal
//! while the terminal is open. SIGINT, SIGTERM, SIGHUP and SIGQUIT restore
//! the settings and end ssmm at once with 128+N (nothing has been written
//! yet: `set` writes only after every value is read); SIGTSTP (Ctrl-Z)
//! restores them, stops, and turns echo off again when continued.
//!
//! Input that was not read is discarded whenever the settings are
//! restored (TCSAFLUSH), and a line with more input right behind it (a
//! pasted multi-line value) is refused: the rest of a pasted secret never
//! reaches the shell, which would run its lines and keep them in history.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

/// The longest line Linux's terminal line discipline takes in canonical
/// mode, without its newline: 4096 bytes with it. Past it, further input
/// is dropped without a word, so a line of this length may have been cut.
pub const LINE_LIMIT: usize = 4095;

/// The signals that end ssmm while it asks; SIGTSTP is handled apart.
const ENDING: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// What the signal handler needs, written once before it is installed.
struct Saved {
    fd: RawFd,
    normal: libc::termios,
    hidden: libc::termios,
    /// The error line per ending signal, rendered beforehand (formatting
    /// is not async-signal-safe).
    lines: Vec<(i32, Vec<u8>)>,
}

static SAVED: OnceLock<Saved> = OnceLock::new();
/// Echo is off right now (for SIGTSTP: whether to turn it off again).
static HIDDEN: AtomicBool = AtomicBool::new(false);

/// What was typed at a prompt.
pub enum Answer {
    /// One line, its newline removed.
    Line(Vec<u8>),
    /// End of input (Ctrl-D) before anything was typed.
    End,
    /// A line with more input right behind it: a paste of several lines.
    /// The rest was discarded, so it cannot reach what reads the terminal
    /// next (the shell, which would run the lines and keep them in its
    /// history).
    MoreLines,
}

/// How long to wait, after a line, for input that follows it: a paste
/// arrives at once or in quick pieces, a human types slower.
const PASTE_GAP_MS: libc::c_int = 50;

/// The controlling terminal, open, with the stop signals handled until it
/// is dropped.
pub struct Tty {
    file: File,
    normal: Termios,
    hidden: Termios,
    previous: Vec<(Signal, SigAction)>,
}

impl Tty {
    /// Opens `/dev/tty`; fails when there is no controlling terminal or it
    /// is not one whose echo can be turned off.
    pub fn open() -> io::Result<Tty> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")?;
        let normal = termios::tcgetattr(&file).map_err(io::Error::from)?;
        let mut hidden = normal.clone();
        hidden
            .local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ECHOE | LocalFlags::ECHOK | LocalFlags::ECHONL);
        // nix's `From<Termios>` gives the termios as read, without changes
        // made to its flag fields since: the hidden copy gets them by hand.
        let normal_raw: libc::termios = normal.clone().into();
        let mut hidden_raw = normal_raw;
        hidden_raw.c_lflag = hidden.local_flags.bits();
        let saved = Saved {
            fd: file.as_raw_fd(),
            normal: normal_raw,
            hidden: hidden_raw,
            lines: ENDING.iter().map(|s| (*s as i32, line_for(*s))).collect(),
        };
        if SAVED.set(saved).is_err() {
            return Err(io::Error::other("the terminal is already open"));
        }
        let mut tty = Tty {
            file,
            normal,
            hidden,
            previous: Vec::new(),
        };
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for sig in ENDING.into_iter().chain([Signal::SIGTSTP]) {
            // SAFETY: the handler only makes async-signal-safe calls
            // (tcsetattr, write, raise, _exit) on data written before.
            match unsafe { sigaction(sig, &action) } {
                Ok(old) => tty.previous.push((sig, old)),
                Err(e) => crate::log::debug!("cannot handle {sig}: {e}"),
            }
        }
        Ok(tty)
    }

    /// Shows `prompt` and reads one line with echo off. Echo is back on
    /// when this returns, whichever way.
    pub fn ask_hidden(&mut self, prompt: &str) -> io::Result<Answer> {
        let hidden = Hidden::new(self)?;
        hidden.tty.file.write_all(prompt.as_bytes())?;
        hidden.tty.file.flush()?;
        let answer = match read_line(&mut hidden.tty.file)? {
            Answer::Line(_) if hidden.more_pending() => Answer::MoreLines,
            answer => answer,
        };
        // Restores echo and discards whatever input is left.
        drop(hidden);
        // The newline the user typed was not echoed either.
        let _ = self.file.write_all(b"\n");
        Ok(answer)
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.file, SetArg::TCSAFLUSH, &self.normal);
        for (sig, old) in self.previous.drain(..) {
            // SAFETY: puts back the action that was there before `open`.
            let _ = unsafe { sigaction(sig, &old) };
        }
    }
}

/// Echo off for as long as it lives.
struct Hidden<'a> {
    tty: &'a mut Tty,
}

impl<'a> Hidden<'a> {
    fn new(tty: &'a mut Tty) -> io::Result<Hidden<'a>> {
        HIDDEN.store(true, Ordering::SeqCst);
        if let Err(e) = termios::tcsetattr(&tty.file, SetArg::TCSANOW, &tty.hidden) {
            HIDDEN.store(false, Ordering::SeqCst);
            return Err(e.into());
        }
        Ok(Hidden { tty })
    }
}

impl Hidden<'_> {
    /// Whether input follows the line just read, now or within
    /// `PASTE_GAP_MS`. Canonical mode counts complete lines only, so this
    /// looks in non-canonical mode (echo still off), where a partial line
    /// counts too.
    fn more_pending(&self) -> bool {
        let fd = self.tty.file.as_raw_fd();
        let Some(saved) = SAVED.get() else {
            return false;
        };
        let mut raw = saved.hidden;
        raw.c_lflag &= !libc::ICANON;
        raw.c_cc[libc::VMIN] = 0;
        raw.c_cc[libc::VTIME] = 0;
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: plain system calls on our own open descriptor, with
        // pointers to locals that outlive them.
        unsafe {
            if libc::tcsetattr(fd, libc::TCSANOW, &raw) != 0 {
                return false;
            }
            let ready = libc::poll(&mut poll, 1, PASTE_GAP_MS);
            ready > 0 && poll.revents & libc::POLLIN != 0
        }
    }
}

impl Drop for Hidden<'_> {
    fn drop(&mut self) {
        // TCSAFLUSH: input not read (the rest of a paste, type-ahead) is
        // discarded rather than left for the shell.
        let _ = termios::tcsetattr(&self.tty.file, SetArg::TCSAFLUSH, &self.tty.normal);
        HIDDEN.store(false, Ordering::SeqCst);
    }
}

/// Bytes up to a newline (removed), or to the end of input.
fn read_line(file: &mut File) -> io::Result<Answer> {
    let mut line = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(if line.is_empty() {
                Answer::End
            } else {
                Answer::Line(line)
            });
        }
        line.extend_from_slice(&buf[..n]);
        if line.last() == Some(&b'\n') {
            line.pop();
            return Ok(Answer::Line(line));
        }
    }
}

fn line_for(sig: Signal) -> Vec<u8> {
    crate::stop::render(
        "error",
        &format!("interrupted by {sig} while asking for a value; nothing was written"),
    )
}

extern "C" fn on_signal(sig: libc::c_int) {
    let Some(saved) = SAVED.get() else {
        // SAFETY: ends the process without running any Rust code.
        unsafe { libc::_exit(128 + sig) }
    };
    // SAFETY: tcsetattr, raise, write and _exit are async-signal-safe, and
    // `saved` was fully written before the handler was installed.
    unsafe {
        // Input not read goes too: a half-typed value must not reach the
        // shell.
        libc::tcsetattr(saved.fd, libc::TCSAFLUSH, &saved.normal);
        if sig == libc::SIGTSTP {
            // Stop as Ctrl-Z would, with echo on; hide again on `fg`.
            libc::raise(libc::SIGSTOP);
            if HIDDEN.load(Ordering::SeqCst) {
                libc::tcsetattr(saved.fd, libc::TCSANOW, &saved.hidden);
                let again = b"\r\n(continued: type the value again) ";
                libc::write(saved.fd, again.as_ptr().cast(), again.len());
            }
            return;
        }
        libc::write(saved.fd, b"\n".as_ptr().cast(), 1);
        if let Some((_, line)) = saved.lines.iter().find(|(s, _)| *s == sig) {
            libc::write(2, line.as_ptr().cast(), line.len());
        }
        libc::_exit(128 + sig)
    }
}
