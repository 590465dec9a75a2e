//! Output encoders: turn the merged variables into the text of one env file format.
//!
//! Each format lives in its own file as a pure function of the `(name, value)`
//! pairs, so it can be tested against the real readers without any AWS or I/O.
//! An encoder never writes a file that its readers would read back differently:
//! a value a format cannot carry is an [`EncodeError`] naming the variable, and
//! the caller writes nothing. The error never holds any part of the value,
//! because values are secrets (docs/CONTRACT.md §5).

mod docker;
mod dotenv;
mod json;
mod shell;
mod systemd;

use std::fmt;

/// The file format written by `sync --out` and `exec --out`.
///
/// The variant doc comments are the `--format` help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// KEY="value" for systemd EnvironmentFile= and for sh `set -a; . FILE`
    #[default]
    Systemd,
    /// export KEY="value", for sh `eval "$(cat FILE)"` or `. FILE`
    Shell,
    /// raw KEY=value for `docker run --env-file` (one line per value)
    Docker,
    /// KEY='value' (or "value" or bare), read alike by python-dotenv and npm dotenv
    Dotenv,
    /// one JSON object of variable -> value
    Json,
    /// a directory (--out), one file per variable holding its bytes, for
    /// systemd's LoadCredential=
    Credentials,
    /// a directory (--out), one `systemd-creds encrypt` file per variable,
    /// for LoadCredentialEncrypted= (--creds-key)
    CredentialsEncrypted,
}

impl Format {
    /// The name used on the command line and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Systemd => "systemd",
            Format::Shell => "shell",
            Format::Docker => "docker",
            Format::Dotenv => "dotenv",
            Format::Json => "json",
            Format::Credentials => "credentials",
            Format::CredentialsEncrypted => "credentials-encrypted",
        }
    }

    /// Whether `--out` is a directory of files rather than one file.
    pub fn is_directory(self) -> bool {
        matches!(self, Format::Credentials | Format::CredentialsEncrypted)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A variable that cannot be written in the chosen format.
///
/// `reason` is always a fixed phrase: nothing derived from the value may reach
/// this message.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {key} in {format} format: {reason}")]
pub struct EncodeError {
    pub key: String,
    pub format: Format,
    pub reason: &'static str,
}

/// Encodes `vars` (variable name, value) in `format`.
///
/// The caller has already sorted and de-duplicated `vars`; the output keeps
/// their order. Fails on the first variable the format cannot carry.
pub fn encode(format: Format, vars: &[(&str, &str)]) -> Result<String, EncodeError> {
    match format {
        Format::Systemd => systemd::encode(vars),
        Format::Shell => shell::encode(vars),
        Format::Docker => docker::encode(vars),
        Format::Dotenv => dotenv::encode(vars),
        Format::Json => json::encode(vars),
        Format::Credentials | Format::CredentialsEncrypted => Err(EncodeError {
            key: vars
                .first()
                .map_or_else(String::new, |(k, _)| k.to_string()),
            format,
            reason: "this format writes a directory of files, not one file",
        }),
    }
}

pub(crate) const REASON_NUL: &str = "the value contains a NUL byte";
pub(crate) const REASON_BAD_NAME: &str = "the name is not a valid environment variable name";

/// Checks shared by every format: a C string (the environment, systemd, the
/// shells) cannot hold NUL, and a name outside `[A-Za-z_][A-Za-z0-9_]*` could
/// break the line structure of a file (or mean nothing to a shell).
fn check_common(format: Format, key: &str, value: &str) -> Result<(), EncodeError> {
    if !crate::names::is_valid_var(key) {
        return Err(refuse(format, key, REASON_BAD_NAME));
    }
    if value.contains('\0') {
        return Err(refuse(format, key, REASON_NUL));
    }
    Ok(())
}

fn refuse(format: Format, key: &str, reason: &'static str) -> EncodeError {
    EncodeError {
        key: key.to_owned(),
        format,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn format_names_match_the_command_line_values() {
        for format in Format::value_variants() {
            let possible = format.to_possible_value().expect("no skipped variants");
            assert_eq!(possible.get_name(), format.to_string());
        }
        assert_eq!(Format::default(), Format::Systemd);
    }

    /// The formats that encode to one text (the credentials formats write a
    /// directory: `creds.rs`).
    fn text_formats() -> Vec<&'static Format> {
        Format::value_variants()
            .iter()
            .filter(|f| !f.is_directory())
            .collect()
    }

    #[test]
    fn the_directory_formats_are_not_text() {
        for format in [Format::Credentials, Format::CredentialsEncrypted] {
            assert!(format.is_directory());
            assert!(encode(format, &[("A", "1")]).is_err());
        }
        assert_eq!(text_formats().len(), 5);
    }

    #[test]
    fn every_format_refuses_a_nul_byte_without_echoing_the_value() {
        for &format in text_formats() {
            let err = encode(format, &[("A", "ok"), ("TOKEN", "sec\0ret")]).unwrap_err();
            assert_eq!(err.key, "TOKEN");
            assert_eq!(err.format, format);
            assert_eq!(err.reason, REASON_NUL);
            let msg = err.to_string();
            assert_eq!(
                msg,
                format!("cannot write TOKEN in {format} format: the value contains a NUL byte")
            );
            assert!(!msg.contains("sec") && !msg.contains("ret"));
        }
    }

    #[test]
    fn every_format_refuses_a_name_that_is_not_a_variable_name() {
        for &format in text_formats() {
            for bad in ["", "1A", "A-B", "A B", "A\nB=x", "É", "A=B"] {
                let err = encode(format, &[(bad, "v")]).unwrap_err();
                assert_eq!(err.reason, REASON_BAD_NAME, "{format} accepted {bad:?}");
            }
            assert!(encode(format, &[("_a1", "v"), ("Z", "v")]).is_ok());
        }
    }

    #[test]
    fn no_variables_give_an_empty_file_or_an_empty_object() {
        for &format in text_formats() {
            let want = if format == Format::Json { "{}\n" } else { "" };
            assert_eq!(encode(format, &[]).unwrap(), want, "{format}");
        }
    }
}
