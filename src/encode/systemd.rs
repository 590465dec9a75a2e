//! The `systemd` format: `KEY="value"` lines for EnvironmentFile= and `set -a; . FILE`.
//!
//! This is the encoding of systemd's own writer (`write_env_var` in
//! src/basic/env-file.c), always quoted: inside double quotes, `\`, `"`, `` ` ``
//! and `$` are escaped with a backslash and every other character (newline,
//! CR, tab, `#`, `'`, control characters) is written as is. Two readers take
//! it back exactly:
//!
//! - systemd's parser (`parse_env_file_internal`): in a double-quoted value a
//!   backslash before `\`, `"`, `` ` `` or `$` yields that character, and every
//!   backslash we write is such an escape; newlines and CRs stay literal.
//! - POSIX shells (dash, bash): inside double quotes a backslash is special
//!   only before `\`, `"`, `` ` ``, `$` and newline. We escape the first four,
//!   and a newline is never preceded by a backslash we did not escape.
//!
//! Refused besides NUL: Unicode noncharacters (U+FDD0..U+FDEF and every code
//! point ending in FFFE or FFFF). systemd's UTF-8 check rejects them, and one
//! rejected line fails the whole EnvironmentFile= (the unit does not start).
//!
//! systemd before v248 dropped (with a warning) variables whose value holds a
//! control character other than TAB and newline; no quoting can change that.

use super::{EncodeError, Format, check_common, refuse};

const REASON_NONCHARACTER: &str =
    "systemd rejects values holding a Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF)";

pub(super) fn encode(vars: &[(&str, &str)]) -> Result<String, EncodeError> {
    let mut out = String::new();
    for &(key, value) in vars {
        check_common(Format::Systemd, key, value)?;
        if value.chars().any(is_noncharacter) {
            return Err(refuse(Format::Systemd, key, REASON_NONCHARACTER));
        }
        push_assignment(&mut out, key, value);
    }
    Ok(out)
}

/// Appends `KEY="escaped value"\n`; shared with the `shell` format.
pub(super) fn push_assignment(out: &mut String, key: &str, value: &str) {
    out.reserve(key.len() + value.len() + 4);
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '`' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str("\"\n");
}

/// Mirrors systemd's `unichar_is_valid` for the code points a Rust `char` can hold.
fn is_noncharacter(c: char) -> bool {
    let c = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_backslash_quote_backtick_and_dollar() {
        let out = encode(&[("A", r#"a\b"c`d$e'f#g;h"#)]).unwrap();
        assert_eq!(out, "A=\"a\\\\b\\\"c\\`d\\$e'f#g;h\"\n");
    }

    #[test]
    fn keeps_newlines_carriage_returns_and_tabs_literal_inside_the_quotes() {
        let out = encode(&[("A", "l1\nl2\r\n\tend\n")]).unwrap();
        assert_eq!(out, "A=\"l1\nl2\r\n\tend\n\"\n");
    }

    #[test]
    fn quotes_every_value_including_empty_and_plain_ones() {
        let out = encode(&[("A", ""), ("B", "plain"), ("C", " pad ")]).unwrap();
        assert_eq!(out, "A=\"\"\nB=\"plain\"\nC=\" pad \"\n");
    }

    #[test]
    fn a_trailing_backslash_is_escaped_so_the_quote_still_closes() {
        assert_eq!(encode(&[("A", "a\\")]).unwrap(), "A=\"a\\\\\"\n");
    }

    #[test]
    fn refuses_unicode_noncharacters_that_systemd_rejects() {
        for bad in [
            "\u{FDD0}",
            "x\u{FDEF}",
            "\u{FFFE}",
            "\u{FFFF}",
            "\u{10FFFF}",
            "\u{1FFFE}",
        ] {
            let err = encode(&[("OK", "fine"), ("KEY", bad)]).unwrap_err();
            assert_eq!(err.key, "KEY");
            assert_eq!(err.reason, REASON_NONCHARACTER);
        }
        // Their neighbours are ordinary characters.
        assert!(encode(&[("A", "\u{FDCF}\u{FDF0}\u{FFFD}\u{10FFFD}\u{1F600}")]).is_ok());
    }

    #[test]
    fn keeps_the_order_it_is_given() {
        assert_eq!(
            encode(&[("B", "1"), ("A", "2")]).unwrap(),
            "B=\"1\"\nA=\"2\"\n"
        );
    }
}
