//! What the round-trip and property tests of the env file formats share:
//! the fixed refusal reasons ssmm's encoders give, and a model of docker/cli's
//! env-file parser (the real CLI checks the model in `encode_roundtrip`).

pub const NUL: &str = "the value contains a NUL byte";
pub const BAD_NAME: &str = "the name is not a valid environment variable name";
pub const NONCHARACTER: &str =
    "systemd rejects values holding a Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF)";
pub const DOCKER_NEWLINE: &str = "docker env files cannot hold a newline or carriage return";
pub const QUOTE_WRAPPED: &str = "the value starts and ends with the same quote character";
pub const DOCKER_TOO_LONG: &str = "docker env files cannot hold a line longer than 65535 bytes";
pub const INTERPOLATION: &str = "python-dotenv would expand the ${...} reference in the value";
pub const NO_DOTENV_QUOTING: &str =
    "no quoting reads back the same in python-dotenv and npm dotenv";

/// Every `reason` an encoder may give. A new one must be added here after
/// checking it is a fixed phrase that says nothing about the value.
pub const KNOWN_REASONS: &[&str] = &[
    NUL,
    BAD_NAME,
    NONCHARACTER,
    DOCKER_NEWLINE,
    QUOTE_WRAPPED,
    DOCKER_TOO_LONG,
    INTERPOLATION,
    NO_DOTENV_QUOTING,
];

/// Whether a value starts and ends with the same quote character.
pub fn is_quote_wrapped(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 2 && matches!(b[0], b'\'' | b'"') && b[0] == b[b.len() - 1]
}

/// docker/cli's env-file parser (`pkg/kvfile`): lines split like
/// `bufio.ScanLines`, leading whitespace trimmed, `#` lines and blank lines
/// skipped, cut at the first `=`; `trim_quotes` adds the matching-quote
/// stripping of newer releases and of docker compose.
pub fn docker_model(contents: &str, trim_quotes: bool) -> Result<Vec<String>, String> {
    let mut lines: Vec<&str> = contents.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let mut out = Vec::new();
    for (n, line) in lines.into_iter().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() > 65535 {
            return Err("bufio.Scanner: token too long".into());
        }
        let line = if n == 0 {
            line.trim_start_matches('\u{FEFF}')
        } else {
            line
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.is_empty() || key.contains([' ', '\t']) {
            return Err(format!("bad variable name on line {}", n + 1));
        }
        let value = if trim_quotes && is_quote_wrapped(value) {
            &value[1..value.len() - 1]
        } else {
            value
        };
        out.push(format!("{key}={value}"));
    }
    Ok(out)
}
