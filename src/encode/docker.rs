//! The `docker` format: raw `KEY=value` lines for `docker run --env-file`.
//!
//! docker's env-file reader (docker/cli `pkg/kvfile`) splits the file into lines
//! (`bufio.Scanner`: on `\n`, dropping a `\r` before it) and cuts each at the
//! first `=`; the rest of the line is the value, byte for byte, with no
//! unquoting or escapes. So the only values it can carry are those that fit on
//! one line. Refused:
//!
//! - a newline or carriage return anywhere in the value;
//! - a value of two or more characters that starts and ends with the same quote
//!   character (`'` or `"`): docker compose's `env_file:` and newer docker
//!   releases strip such quotes, so the value would differ between readers;
//! - a line (`KEY=value`) over 65535 bytes, the scanner's limit: docker fails
//!   with "token too long" instead of starting the container;
//! - NUL.

use super::{EncodeError, Format, check_common, refuse};

const REASON_NEWLINE: &str = "docker env files cannot hold a newline or carriage return";
const REASON_QUOTED: &str = "the value starts and ends with the same quote character";
const REASON_TOO_LONG: &str = "docker env files cannot hold a line longer than 65535 bytes";

/// `bufio.MaxScanTokenSize` minus the newline that must fit in the same buffer.
const MAX_LINE: usize = 64 * 1024 - 1;

pub(super) fn encode(vars: &[(&str, &str)]) -> Result<String, EncodeError> {
    let mut out = String::new();
    for &(key, value) in vars {
        check_common(Format::Docker, key, value)?;
        if value.contains(['\n', '\r']) {
            return Err(refuse(Format::Docker, key, REASON_NEWLINE));
        }
        if is_quote_wrapped(value) {
            return Err(refuse(Format::Docker, key, REASON_QUOTED));
        }
        if key.len() + 1 + value.len() > MAX_LINE {
            return Err(refuse(Format::Docker, key, REASON_TOO_LONG));
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        out.push('\n');
    }
    Ok(out)
}

fn is_quote_wrapped(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 2 && matches!(b[0], b'\'' | b'"') && b[0] == b[b.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_values_raw_with_no_quoting() {
        let out = encode(&[("A", r#" a "b" 'c' \n $X # ; "#), ("B", "")]).unwrap();
        assert_eq!(out, "A= a \"b\" 'c' \\n $X # ; \nB=\n");
    }

    #[test]
    fn refuses_newlines_and_carriage_returns_naming_the_key() {
        for bad in ["a\nb", "a\rb", "\n", "end\r"] {
            let err = encode(&[("OK", "x"), ("MULTI", bad)]).unwrap_err();
            assert_eq!(err.key, "MULTI");
            assert_eq!(err.reason, REASON_NEWLINE);
        }
    }

    #[test]
    fn refuses_values_wrapped_in_a_pair_of_the_same_quote() {
        for bad in ["''", "\"\"", "'x'", "\"a b\"", "'mid\"dle'"] {
            assert_eq!(encode(&[("Q", bad)]).unwrap_err().reason, REASON_QUOTED);
        }
        for good in ["'", "\"", "'x\"", "\"x'", "x'", "'x", "a\"b\"c"] {
            assert!(encode(&[("Q", good)]).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn refuses_a_line_longer_than_the_docker_scanner_takes() {
        let fits = "x".repeat(MAX_LINE - 2);
        assert!(encode(&[("A", &fits)]).is_ok());
        let too_long = "x".repeat(MAX_LINE - 1);
        assert_eq!(
            encode(&[("A", &too_long)]).unwrap_err().reason,
            REASON_TOO_LONG
        );
    }
}
