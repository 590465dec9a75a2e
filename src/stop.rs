//! Stop signals before the command starts (`docs/CONTRACT.md` §3 `exec`).
//!
//! As PID 1 in a container the kernel drops every signal that has no
//! handler, so a `docker stop` sent while ssmm is still fetching would be
//! ignored and the command started anyway. [`install`] gives SIGTERM,
//! SIGINT and SIGHUP a handler in every process, PID 1 or not, so that they
//! end ssmm with 128+N before anything starts:
//!
//! - while resolving and fetching (nothing is written yet) the handler ends
//!   the process at once with `_exit`, whatever the code is blocked in (a
//!   DNS lookup, an endpoint that never answers);
//! - inside [`deferred`] (writing the files and the env file) it only
//!   records the signal; the writes finish, so every file is old or new and
//!   the set is whole, and the recorded signal then ends ssmm.
//!
//! `execve` resets caught signals to their default, so the command starts
//! with the dispositions it expects; `--init` blocks them before it forks
//! and forwards what arrives from then on.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The signals that mean "stop" for a service manager or a terminal.
pub const STOP_SIGNALS: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

static DEFER: AtomicBool = AtomicBool::new(false);
static PENDING: AtomicI32 = AtomicI32::new(0);
/// Set by [`watching`]: a stop ends the watch, which is success.
static WATCHING: AtomicBool = AtomicBool::new(false);
/// The lines printed by the handler, per signal (before the command, and
/// ending a watch), rendered before the handler is installed (formatting
/// is not async-signal-safe).
static LINES: OnceLock<[Lines; 3]> = OnceLock::new();

/// A signal's number, the line for a stop before the command (or during a
/// sync), and the line for a stop that ends a watch.
type Lines = (i32, Vec<u8>, Vec<u8>);

/// What the handler says: `sync` has no command to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    BeforeCommand,
    Sync,
}

fn line_for(sig: Signal, phase: Phase) -> Vec<u8> {
    let msg = match phase {
        Phase::BeforeCommand => {
            format!("stopped by {sig} before the command started; nothing was started")
        }
        Phase::Sync => format!("stopped by {sig}; no file was left half-written"),
    };
    render("error", &msg)
}

/// One log line as bytes, rendered before a signal handler may need it
/// (formatting is not async-signal-safe): `ssmm: error: MSG` (or
/// `ssmm: MSG` for another level), or its JSON form.
pub(crate) fn render(level: &str, msg: &str) -> Vec<u8> {
    let line = if crate::log::is_json() {
        serde_json::json!({"level": level, "msg": msg}).to_string()
    } else if level == "error" {
        format!("ssmm: error: {msg}")
    } else {
        format!("ssmm: {msg}")
    };
    format!("{line}\n").into_bytes()
}

/// Install the handlers. Called once at the start of `sync` and `exec`,
/// after logging is set up.
pub fn install(phase: Phase) {
    LINES.get_or_init(|| {
        STOP_SIGNALS.map(|s| {
            let ended = if crate::log::enabled(crate::log::Level::Notice) {
                render("notice", &format!("stopped by {s}; the watch ended"))
            } else {
                Vec::new()
            };
            (s as i32, line_for(s, phase), ended)
        })
    });
    let action = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in STOP_SIGNALS {
        // SAFETY: the handler only makes async-signal-safe calls (atomics,
        // write(2), _exit(2)) and reads data written before installing.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            crate::log::debug!("cannot handle {sig}: {e}");
        }
    }
}

extern "C" fn on_stop(sig: libc::c_int) {
    if DEFER.load(Ordering::SeqCst) {
        // The first one wins; later ones change nothing.
        let _ = PENDING.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
        return;
    }
    die(sig);
}

fn die(sig: libc::c_int) -> ! {
    let watching = WATCHING.load(Ordering::SeqCst);
    if let Some(lines) = LINES.get()
        && let Some((_, line, ended)) = lines.iter().find(|(s, _, _)| *s == sig)
    {
        let line = if watching { ended } else { line };
        // SAFETY: write(2) and _exit(2) are async-signal-safe.
        unsafe {
            libc::write(2, line.as_ptr().cast(), line.len());
        }
    }
    let code = if watching { 0 } else { 128 + sig };
    // SAFETY: ends the process without running any Rust code.
    unsafe { libc::_exit(code) }
}

/// From now on a stop signal ends a `sync --watch` that did its first
/// sync: exit 0, as a service asked to stop (the files are whole).
pub fn watching() {
    WATCHING.store(true, Ordering::SeqCst);
}

/// Run `f` (the writes) with stop signals recorded instead of acted on,
/// then act on one that arrived: the writes are never cut half-way.
pub fn deferred<T>(f: impl FnOnce() -> T) -> T {
    let writing = WRITES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    DEFER.store(true, Ordering::SeqCst);
    let out = f();
    DEFER.store(false, Ordering::SeqCst);
    drop(writing);
    check();
    out
}

/// Held while [`deferred`] writes; see [`hold_writes`].
static WRITES: Mutex<()> = Mutex::new(());

/// Waits for writes in progress on another thread (a `--watch` check) to
/// finish, and lets no other start: called just before ssmm exits.
pub fn hold_writes() {
    let held = WRITES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    std::mem::forget(held);
}

/// End the process now if a stop signal was recorded.
fn check() {
    let sig = PENDING.swap(0, Ordering::SeqCst);
    if sig != 0 {
        die(sig);
    }
}
