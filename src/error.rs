//! Typed errors and their exit codes (docs/CONTRACT.md §6). This is the one place that
//! decides how a failure is printed; messages name parameters and files,
//! never values.

use std::fmt;

/// Exit codes of docs/CONTRACT.md §6.
pub mod exit {
    pub const OK: i32 = 0;
    pub const RUNTIME: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const STRICT: i32 = 3;
    pub const NOT_EXECUTABLE: i32 = 126;
    pub const NOT_FOUND: i32 = 127;
}

/// The exact message docs/CONTRACT.md §2 requires when no prefix is configured.
pub const NO_PREFIX: &str = "Error: no prefix configured. Pass --prefix /<your-team> or set $SSMM_PREFIX_ROOT=/<your-team>.";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Printed verbatim, exit 2.
    #[error("{}", NO_PREFIX)]
    NoPrefix,
    /// Bad flags, environment or names: exit 2.
    #[error("{0}")]
    Usage(String),
    /// A `--strict` rule was broken: exit 3.
    #[error("{0}")]
    Strict(String),
    /// AWS, I/O, ECS or bad data: exit 1.
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
    /// The wrapped command could not be started: 126 or 127.
    #[error("{msg}")]
    Exec { code: i32, msg: String },
}

impl Error {
    pub fn usage(msg: impl fmt::Display) -> Self {
        Error::Usage(msg.to_string())
    }

    /// A runtime failure (exit 1) with this message.
    pub fn runtime(msg: impl fmt::Display) -> Self {
        Error::Runtime(anyhow::Error::msg(msg.to_string()))
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NoPrefix | Error::Usage(_) => exit::USAGE,
            Error::Strict(_) => exit::STRICT,
            // Credentials that cannot be had are configuration.
            Error::Runtime(e)
                if e.chain()
                    .any(|c| c.is::<crate::ssm::credentials::NoCredentials>()) =>
            {
                exit::USAGE
            }
            Error::Runtime(_) => exit::RUNTIME,
            Error::Exec { code, .. } => *code,
        }
    }

    /// The line printed on stderr.
    pub fn render(&self) -> String {
        match self {
            Error::NoPrefix => NO_PREFIX.to_string(),
            other => format!("ssmm: error: {}", other.message()),
        }
    }

    /// The message without `ssmm: error: `, for a warning that quotes the
    /// failure (a watch check, `--keep-on-error`).
    pub fn message(&self) -> String {
        match self {
            Error::NoPrefix => NO_PREFIX.to_string(),
            // `{:#}` joins the anyhow context chain on one line.
            Error::Runtime(e) => format!("{e:#}"),
            other => other.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure that is an outage: SSM or a download unreachable, timing out,
/// throttled or answering 5xx past the retries. The one kind of failure
/// `sync --keep-on-error` may ride out; everything else (credentials,
/// AccessDenied, bad data, a refused target) still fails. Its text is the
/// whole message. Downloads say it with `FileError::is_outage`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Outage(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_spec() {
        assert_eq!(Error::NoPrefix.exit_code(), 2);
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::Strict("x".into()).exit_code(), 3);
        assert_eq!(Error::Runtime(anyhow::anyhow!("x")).exit_code(), 1);
        assert_eq!(
            Error::Exec {
                code: 127,
                msg: "x".into()
            }
            .exit_code(),
            127
        );
    }

    #[test]
    fn no_prefix_is_printed_exactly() {
        assert_eq!(
            Error::NoPrefix.render(),
            "Error: no prefix configured. Pass --prefix /<your-team> or set $SSMM_PREFIX_ROOT=/<your-team>."
        );
    }

    #[test]
    fn runtime_errors_show_their_context_chain() {
        let e = Error::Runtime(anyhow::anyhow!("connection refused").context("fetching /t/app"));
        assert_eq!(
            e.render(),
            "ssmm: error: fetching /t/app: connection refused"
        );
    }
}
