//! Diagnostics on stderr: levels from `-q`/`-v`, text or JSON lines.
//!
//! ssmm installs no `tracing` subscriber, so the AWS SDK's own tracing (which
//! can include request and response bodies at trace level) goes nowhere,
//! whatever `RUST_LOG` says. Everything printed here is built from names,
//! counts and timings; callers never pass values.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI8, Ordering};

/// Message levels, lowest number most important.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = -1,
    Warn = 0,
    /// Results a user waits for (summary lines); hidden by `-q`.
    Notice = 1,
    Info = 2,
    Debug = 3,
    Trace = 4,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

static MAX_LEVEL: AtomicI8 = AtomicI8::new(Level::Notice as i8);
static JSON: AtomicBool = AtomicBool::new(false);

/// `verbose` is the count of `-v`; `quiet` keeps only errors.
pub fn init(verbose: u8, quiet: bool, json: bool) {
    let max = if quiet {
        Level::Error as i8
    } else {
        (Level::Notice as i8 + verbose.min(3) as i8).min(Level::Trace as i8)
    };
    MAX_LEVEL.store(max, Ordering::Relaxed);
    JSON.store(json, Ordering::Relaxed);
}

/// Whether diagnostics are JSON lines (`--log-format json`).
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

pub fn enabled(level: Level) -> bool {
    level as i8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

pub fn emit(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    let line = if JSON.load(Ordering::Relaxed) {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        serde_json::json!({"ts": (ts * 1000.0).round() / 1000.0, "level": level.name(), "msg": msg})
            .to_string()
    } else {
        match level {
            Level::Error => format!("ssmm: error: {msg}"),
            Level::Warn => format!("ssmm: warning: {msg}"),
            Level::Notice => format!("ssmm: {msg}"),
            _ => format!("ssmm: {}: {msg}", level.name()),
        }
    };
    // One write per line so concurrent tasks never interleave mid-line.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Print an already rendered error line (see `error::Error::render`).
pub fn error_line(rendered: &str) {
    if JSON.load(Ordering::Relaxed) {
        let msg = rendered
            .strip_prefix("ssmm: error: ")
            .unwrap_or(rendered)
            .to_string();
        emit(Level::Error, &msg);
    } else {
        let _ = writeln!(std::io::stderr().lock(), "{rendered}");
    }
}

macro_rules! warning {
    ($($t:tt)*) => { $crate::log::emit($crate::log::Level::Warn, &format!($($t)*)) };
}
macro_rules! notice {
    ($($t:tt)*) => { $crate::log::emit($crate::log::Level::Notice, &format!($($t)*)) };
}
macro_rules! info {
    ($($t:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Info) {
            $crate::log::emit($crate::log::Level::Info, &format!($($t)*))
        }
    };
}
macro_rules! debug {
    ($($t:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::log::emit($crate::log::Level::Debug, &format!($($t)*))
        }
    };
}
macro_rules! trace {
    ($($t:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Trace) {
            $crate::log::emit($crate::log::Level::Trace, &format!($($t)*))
        }
    };
}
pub(crate) use {debug, info, notice, trace, warning};
