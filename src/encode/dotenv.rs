//! The `dotenv` format: one `KEY=value` line per variable that python-dotenv and
//! npm dotenv both read back exactly.
//!
//! The two readers disagree on escapes, so each value gets the first of three
//! forms that both read identically, and a value that fits none is refused.
//! Measured against python-dotenv 1.2.4 (`dotenv_values(path)`, default
//! `interpolate=True`) and npm dotenv 16.6.1 (`dotenv.parse(buf)`):
//!
//! 1. **Single quotes**, `KEY='value'`, written as is (newlines included) when
//!    the value has no `'`, no CR, no `\\` pair and does not end in `\`.
//!    npm keeps single-quoted text literally; python-dotenv turns `\\` into
//!    `\` and `\'` into `'` there, and reads a final `\'` as an escaped quote
//!    (the value would run on into the next line).
//! 2. **Double quotes**, `KEY="value"`, newlines as is and each CR as `\r`,
//!    when the value has no `"` and every `\` is followed by a character that
//!    is not an escape for either reader: not one of `\ ' " a b f n r t v`, not
//!    a CR, and not the end of the value. npm unescapes only `\n` and `\r`
//!    there; python-dotenv unescapes all of those.
//! 3. **Unquoted**, `KEY=value`, when the value is one line (no LF or CR), has
//!    no `#`, does not start with `'`, `"` or a backtick, neither starts nor
//!    ends with whitespace (Unicode whitespace, U+001C..U+001F and U+FEFF,
//!    which one reader or the other trims), and has no pair of quotes that
//!    npm would strip at a JavaScript "line" start (after U+2028 or U+2029). No
//!    escapes apply to unquoted values, so this is the form for `C:\dir\`.
//!
//! Refused in any form:
//! - a `${NAME}` or `${NAME:-default}` reference (python-dotenv's pattern
//!   `\$\{[^}:]*(:-[^}]*)?\}`): python-dotenv expands it in every quoting and
//!   has no escape for `$`;
//! - a value none of the forms fits, e.g. one holding `'`, `"` and a
//!   newline, or `\\`, `"` and a `#`;
//! - NUL.
//!
//! Both readers turn every CR in the file (and CRLF) into LF, which is why a CR
//! can only travel as the `\r` escape. python-dotenv decodes the file with the
//! locale's encoding: non-ASCII values need a UTF-8 locale (or `PYTHONUTF8=1`).

use super::{EncodeError, Format, check_common, refuse};

const REASON_INTERPOLATION: &str = "python-dotenv would expand the ${...} reference in the value";
const REASON_NO_QUOTING: &str = "no quoting reads back the same in python-dotenv and npm dotenv";

pub(super) fn encode(vars: &[(&str, &str)]) -> Result<String, EncodeError> {
    let mut out = String::new();
    for &(key, value) in vars {
        check_common(Format::Dotenv, key, value)?;
        if python_would_interpolate(value) {
            return Err(refuse(Format::Dotenv, key, REASON_INTERPOLATION));
        }
        out.push_str(key);
        out.push('=');
        if fits_single_quotes(value) {
            out.push('\'');
            out.push_str(value);
            out.push('\'');
        } else if fits_double_quotes(value) {
            out.push('"');
            for c in value.chars() {
                match c {
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            out.push('"');
        } else if fits_unquoted(value) {
            out.push_str(value);
        } else {
            return Err(refuse(Format::Dotenv, key, REASON_NO_QUOTING));
        }
        out.push('\n');
    }
    Ok(out)
}

fn fits_single_quotes(value: &str) -> bool {
    !value.contains(['\'', '\r']) && !value.contains("\\\\") && !value.ends_with('\\')
}

fn fits_double_quotes(value: &str) -> bool {
    if value.contains('"') {
        return false;
    }
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                None => return false,
                Some(next) if "\\'\"abfnrtv\r".contains(next) => return false,
                // The escaped character is ordinary; it cannot start an escape.
                Some(_) => {}
            }
        }
    }
    true
}

fn fits_unquoted(value: &str) -> bool {
    let (Some(first), Some(last)) = (value.chars().next(), value.chars().next_back()) else {
        return false;
    };
    !value.contains(['\n', '\r', '#'])
        && !matches!(first, '\'' | '"' | '`')
        && !is_trimmed(first)
        && !is_trimmed(last)
        && !js_would_strip_quotes(value)
}

/// npm dotenv strips quotes with a multi-line regex (`/^(['"`])([\s\S]*)\1$/mg`)
/// and JavaScript counts U+2028 and U+2029 as line breaks, so inside an
/// unquoted value it strips from a quote right after one of them to the same
/// quote at the end or before another one.
fn js_would_strip_quotes(value: &str) -> bool {
    let is_break = |c: char| matches!(c, '\u{2028}' | '\u{2029}');
    let chars: Vec<char> = value.chars().collect();
    (1..chars.len()).any(|open| {
        let quote = chars[open];
        is_break(chars[open - 1])
            && matches!(quote, '\'' | '"' | '`')
            && (open + 1..chars.len()).any(|close| {
                chars[close] == quote && chars.get(close + 1).is_none_or(|&c| is_break(c))
            })
    })
}

/// Whitespace as either reader trims it: Python's `str.isspace` adds the
/// separators U+001C..U+001F to Unicode White_Space, JavaScript's `trim` adds
/// U+FEFF.
fn is_trimmed(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1C}'..='\u{1F}' | '\u{FEFF}')
}

/// True when python-dotenv's `${NAME}` / `${NAME:-default}` pattern matches
/// anywhere in `value`.
fn python_would_interpolate(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut from = 0;
    while let Some(at) = value[from..].find("${") {
        let rest = &bytes[from + at + 2..];
        // The name runs to the first `}` or `:`; a `:` must open `:-default}`.
        match rest.iter().position(|&b| b == b'}' || b == b':') {
            Some(i) if rest[i] == b'}' => return true,
            Some(i) if rest.get(i + 1) == Some(&b'-') && rest[i + 2..].contains(&b'}') => {
                return true;
            }
            _ => {}
        }
        from += at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Result<String, EncodeError> {
        encode(&[("K", value)])
    }

    #[test]
    fn plain_and_multiline_values_go_in_single_quotes() {
        assert_eq!(one("").unwrap(), "K=''\n");
        assert_eq!(one("a b").unwrap(), "K='a b'\n");
        assert_eq!(one("l1\nl2\n").unwrap(), "K='l1\nl2\n'\n");
        assert_eq!(
            one(r#"say "hi" #1 $HOME"#).unwrap(),
            "K='say \"hi\" #1 $HOME'\n"
        );
        assert_eq!(one(r"C:\new\table").unwrap(), "K='C:\\new\\table'\n");
    }

    #[test]
    fn a_single_quote_or_cr_moves_the_value_to_double_quotes() {
        assert_eq!(one("it's").unwrap(), "K=\"it's\"\n");
        assert_eq!(one("a\r\nb").unwrap(), "K=\"a\\r\nb\"\n");
        assert_eq!(one("x'\\\ny").unwrap(), "K=\"x'\\\ny\"\n");
    }

    #[test]
    fn backslashes_that_single_and_double_quotes_would_unescape_go_unquoted() {
        assert_eq!(one(r"C:\dir\").unwrap(), "K=C:\\dir\\\n");
        assert_eq!(one(r"\\server\share").unwrap(), "K=\\\\server\\share\n");
        assert_eq!(one(r#"a'b"c"#).unwrap(), "K=a'b\"c\n");
    }

    #[test]
    fn refuses_values_no_quoting_carries_without_echoing_them() {
        for bad in [
            "it's \"both\"\n",
            "'lead\"",
            " pad\\\\",
            "a'\\\\ ",
            "x\"y\r",
            "dq\"and\\\\#",
            "end\\\r",
            "'\\'",
        ] {
            let err = one(bad).unwrap_err();
            assert_eq!(err.key, "K");
            assert_eq!(err.reason, REASON_NO_QUOTING, "{bad:?}");
            assert!(!err.to_string().contains(bad.trim()));
        }
    }

    #[test]
    fn refuses_references_python_dotenv_would_expand() {
        for bad in [
            "${X}",
            "a${}b",
            "${A:-d}",
            "${A:-}",
            "x${a b\n}",
            "$${X}",
            "${:-}",
        ] {
            assert_eq!(
                one(bad).unwrap_err().reason,
                REASON_INTERPOLATION,
                "{bad:?}"
            );
        }
        for good in [
            "$X", "${X", "${A:b}", "${A:}", "{X}", "$ {X}", "}${", "${A:-x",
        ] {
            assert!(one(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn unquoted_values_never_start_or_end_with_trimmed_space() {
        assert!(fits_unquoted("a\\"));
        for bad in [
            "",
            " a",
            "a ",
            "\u{A0}a",
            "a\u{1F}",
            "\u{FEFF}a",
            "a\u{3000}",
            "a#b",
        ] {
            assert!(!fits_unquoted(bad), "{bad:?}");
        }
        assert!(fits_unquoted("a\u{1F}b"));
        assert!(fits_unquoted("a\u{2028}b\u{2029}c'"));
        assert!(!fits_unquoted("a\u{2028}'b'"));
        assert!(fits_unquoted("a\u{2029}`b"));
        assert!(!fits_unquoted("a\u{2029}`b`\u{2028}c"));
        assert!(fits_unquoted("a\u{2028}\"b'"));
    }
}
