//! Reading `.env` files: `put --env` and `diff --env` take variables from a
//! file, either one a user wrote by hand or one `ssmm sync` wrote, so this
//! parser accepts the common hand-written dialect and reads the files ssmm's
//! `systemd`, `shell` and `dotenv` writers produce back exactly (the unit tests
//! round-trip them). It is pure: bytes in, entries out.
//!
//! Two syntaxes ([`Syntax`]) differ only in backslashes inside double quotes:
//! `Shell` (the default) reads `\$`, `` \` `` and a backslash before a line
//! break as sh and systemd do, which is what the `systemd` and `shell`
//! writers rely on; `Dotenv` reads them as python-dotenv and npm dotenv do
//! (the backslash stays), which is what the `dotenv` writer relies on.
//!
//! Values are secrets (docs/CONTRACT.md §5): they leave this module only inside
//! [`Secret`], and a [`ParseError`] is a line number and a fixed phrase, never
//! any text from the file, so a token pasted on a malformed line is not echoed
//! to a terminal or a log.
//!
//! # Grammar
//!
//! - The file may start with a UTF-8 BOM, which is skipped. Every line must be
//!   UTF-8 without NUL bytes, comments included.
//! - Lines end in LF or CRLF. A CR anywhere else outside quotes is an error:
//!   it would otherwise end up at the end of a value (a file saved with old Mac
//!   line endings, or a stray `\r` from a paste).
//! - Blank lines (spaces and tabs only) and lines whose first non-blank
//!   character is `#` are skipped.
//! - An entry is: optional spaces/tabs, optional `export` plus at least one
//!   space or tab, the name (`[A-Za-z_][A-Za-z0-9_]*`), optional spaces/tabs,
//!   `=`, optional spaces/tabs, the value. `export =x` assigns the variable
//!   `export`. "Blank" always means space or tab, never other whitespace.
//! - **Unquoted** values run to the end of the line, without escapes. As in
//!   sh, a `#` after a space or tab starts a comment, also when that blank is
//!   the one after `=` (`A= # note` is empty, `A=#x` is `#x`). Surrounding
//!   blanks are trimmed. A value starting with a backtick is unquoted text.
//!   An empty value is returned as such; callers that refuse empties decide.
//! - **Single-quoted** values are literal and may span lines, except that
//!   `\\` is `\` and `\'` is `'`, as python-dotenv reads them.
//! - **Double-quoted** values may span lines. Escapes: `\\ \" \'` give the
//!   character; `\n \r \t \a \b \f \v` give LF, CR, TAB, BEL, BS, FF, VT
//!   (python-dotenv). In the `Shell` syntax `\$` and `` \` `` (what sh and
//!   systemd writers escape) give the character and a backslash before a line
//!   break joins the lines (both are dropped); in the `Dotenv` syntax those
//!   backslashes stay. Any other backslash stays, with the character after it.
//! - After a closing quote only blanks and an optional `# comment` may follow.
//! - There is no `${NAME}` expansion: `$` is an ordinary character.
//! - Duplicate names are all returned, in file order; the caller lets the
//!   last one win.
//!
//! # Line breaks inside quotes
//!
//! A quoted value keeps its line breaks. A CR inside quotes is part of the
//! value, because the `systemd` and `shell` writers write a value's CR as is
//! (systemd and sh read it back that way), so a value holding CRLF must not
//! lose its CR. The exception is a file whose every LF is preceded by a CR,
//! i.e. one saved with Windows line endings: there the editor put the CRs in,
//! and a CRLF inside quotes reads as LF. ssmm's writers never produce such a
//! file: each of their lines ends in a quote or a value character before LF.
//!
//! # Errors
//!
//! The first problem stops the parse. Its line is the 1-based line where the
//! problem is, except for an unterminated quote, which is reported at the line
//! where the quote opened (the problem is seen only at the end of the file).

use crate::names::is_valid_var;
use crate::secret::Secret;

/// One `NAME=value` assignment, in file order.
#[derive(Debug, Clone)]
pub struct Entry {
    pub var: String,
    pub value: Secret,
    /// The 1-based line where the entry starts.
    pub line: usize,
}

/// Why a file could not be read. `reason` is a fixed phrase: no text from the
/// file ever appears in it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: &'static str,
}

const NOT_UTF8: &str = "not valid UTF-8";
const NUL: &str = "NUL byte";
const LONE_CR: &str = "carriage return outside quotes";
const NO_EQUALS: &str = "expected NAME=VALUE";
const BAD_NAME: &str = "invalid variable name";
const TEXT_AFTER_QUOTE: &str = "unexpected text after the closing quote";
const UNTERMINATED_SINGLE: &str = "unterminated single quote";
const UNTERMINATED_DOUBLE: &str = "unterminated double quote";

const BOM: &[u8] = b"\xEF\xBB\xBF";
const BLANK: [char; 2] = [' ', '\t'];

/// How backslashes inside double quotes read (the only difference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Syntax {
    /// As sh and systemd: `\$` is `$`, `` \` `` is a backtick, a backslash
    /// before a line break joins the lines (files from `sync --format
    /// systemd|shell`, hand-written files).
    #[default]
    Shell,
    /// As python-dotenv and npm dotenv: those backslashes stay (files from
    /// `sync --format dotenv`).
    Dotenv,
}

/// Parses a whole `.env` file in the `Shell` syntax. See the module
/// documentation for the grammar.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, ParseError> {
    parse_as(bytes, Syntax::Shell)
}

/// Parses a whole `.env` file in the given syntax.
pub fn parse_as(bytes: &[u8], syntax: Syntax) -> Result<Vec<Entry>, ParseError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut lines = Lines::new(bytes);
    let mut entries = Vec::new();
    while let Some(line) = lines.next_line()? {
        if let Some(entry) = parse_entry(line, &mut lines, syntax)? {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// One physical line, without its line break.
struct Line<'a> {
    number: usize,
    text: &'a str,
    /// What the line break means inside quotes; `None` for a last line
    /// without one.
    newline: Option<&'static str>,
}

/// Splits the file into lines, checking each one for UTF-8 and NUL before
/// anything reads it, so those errors name the line they are on.
struct Lines<'a> {
    rest: &'a [u8],
    number: usize,
    crlf_file: bool,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let lfs = bytes.iter().filter(|&&b| b == b'\n').count();
        let crlfs = bytes.windows(2).filter(|w| w == b"\r\n").count();
        Lines {
            rest: bytes,
            number: 0,
            crlf_file: lfs > 0 && lfs == crlfs,
        }
    }

    fn next_line(&mut self) -> Result<Option<Line<'a>>, ParseError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        self.number += 1;
        let (raw, newline) = match self.rest.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                let (raw, rest) = self.rest.split_at(lf);
                self.rest = rest.get(1..).unwrap_or_default();
                match raw.strip_suffix(b"\r") {
                    Some(raw) if self.crlf_file => (raw, Some("\n")),
                    Some(raw) => (raw, Some("\r\n")),
                    None => (raw, Some("\n")),
                }
            }
            // A CR at the very end of the file ends no line: it stays in the
            // text and is judged like any other lone CR.
            None => (std::mem::take(&mut self.rest), None),
        };
        let error = |reason| ParseError {
            line: self.number,
            reason,
        };
        let text = std::str::from_utf8(raw).map_err(|_| error(NOT_UTF8))?;
        if text.contains('\0') {
            return Err(error(NUL));
        }
        Ok(Some(Line {
            number: self.number,
            text,
            newline,
        }))
    }
}

/// Reads the entry starting on `line` (and, for a quoted value, on the lines
/// after it); `None` for a blank or comment line.
fn parse_entry<'a>(
    line: Line<'a>,
    lines: &mut Lines<'a>,
    syntax: Syntax,
) -> Result<Option<Entry>, ParseError> {
    let error = |reason| ParseError {
        line: line.number,
        reason,
    };
    let text = line.text.trim_start_matches(BLANK);
    if text.is_empty() || text.starts_with('#') {
        return match text.contains('\r') {
            true => Err(error(LONE_CR)),
            false => Ok(None),
        };
    }
    let Some((name, raw_value)) = strip_export(text).split_once('=') else {
        return Err(error(if text.contains('\r') {
            LONE_CR
        } else {
            NO_EQUALS
        }));
    };
    if name.contains('\r') {
        return Err(error(LONE_CR));
    }
    let name = name.trim_end_matches(BLANK);
    if !is_valid_var(name) {
        return Err(error(BAD_NAME));
    }
    let value_text = raw_value.trim_start_matches(BLANK);
    let value = if let Some(inside) = value_text.strip_prefix('\'') {
        quoted(Quote::Single, inside, &line, lines, syntax)?
    } else if let Some(inside) = value_text.strip_prefix('"') {
        quoted(Quote::Double, inside, &line, lines, syntax)?
    } else if raw_value.contains('\r') {
        return Err(error(LONE_CR));
    } else {
        unquoted(raw_value).to_owned()
    };
    Ok(Some(Entry {
        var: name.to_owned(),
        value: Secret::new(value),
        line: line.number,
    }))
}

/// Drops a leading `export` and its blanks, unless `export` is itself the
/// name being assigned (`export = x`).
fn strip_export(text: &str) -> &str {
    match text.strip_prefix("export") {
        Some(after) if after.starts_with(BLANK) => {
            let rest = after.trim_start_matches(BLANK);
            if rest.starts_with('=') { text } else { rest }
        }
        _ => text,
    }
}

/// An unquoted value: everything after `=` up to a `#` that follows a blank,
/// without the surrounding blanks.
fn unquoted(raw: &str) -> &str {
    let mut after_blank = false;
    let mut end = raw.len();
    for (i, c) in raw.char_indices() {
        if c == '#' && after_blank {
            end = i;
            break;
        }
        after_blank = BLANK.contains(&c);
    }
    raw[..end].trim_matches(BLANK)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Single,
    Double,
}

impl Quote {
    fn mark(self) -> char {
        match self {
            Quote::Single => '\'',
            Quote::Double => '"',
        }
    }

    fn unterminated(self) -> &'static str {
        match self {
            Quote::Single => UNTERMINATED_SINGLE,
            Quote::Double => UNTERMINATED_DOUBLE,
        }
    }

    /// The character `\c` stands for, or `None` when the backslash is kept.
    fn unescape(self, c: char, syntax: Syntax) -> Option<char> {
        match (self, c) {
            (_, '\\') => Some('\\'),
            (Quote::Single, '\'') => Some('\''),
            (Quote::Single, _) => None,
            (Quote::Double, '"' | '\'') => Some(c),
            (Quote::Double, '$' | '`') if syntax == Syntax::Shell => Some(c),
            (Quote::Double, 'n') => Some('\n'),
            (Quote::Double, 'r') => Some('\r'),
            (Quote::Double, 't') => Some('\t'),
            (Quote::Double, 'a') => Some('\x07'),
            (Quote::Double, 'b') => Some('\x08'),
            (Quote::Double, 'f') => Some('\x0C'),
            (Quote::Double, 'v') => Some('\x0B'),
            (Quote::Double, _) => None,
        }
    }
}

/// Reads a quoted value from `text` (just after the opening quote on `open`)
/// up to its closing quote, taking further lines from `lines` as needed.
fn quoted<'a>(
    quote: Quote,
    mut text: &'a str,
    open: &Line<'a>,
    lines: &mut Lines<'a>,
    syntax: Syntax,
) -> Result<String, ParseError> {
    let unterminated = ParseError {
        line: open.number,
        reason: quote.unterminated(),
    };
    let mut value = String::new();
    let mut number = open.number;
    let mut newline = open.newline;
    loop {
        let mut joined = false;
        let mut chars = text.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote.mark() {
                after_closing_quote(&text[i + c.len_utf8()..], number)?;
                return Ok(value);
            }
            if c != '\\' {
                value.push(c);
                continue;
            }
            match chars.next() {
                Some((_, next)) => match quote.unescape(next, syntax) {
                    Some(unescaped) => value.push(unescaped),
                    None => {
                        value.push('\\');
                        value.push(next);
                    }
                },
                // A backslash ending the line: a continuation in double
                // quotes, as sh reads it.
                None if quote == Quote::Double && syntax == Syntax::Shell => joined = true,
                None => value.push('\\'),
            }
        }
        let Some(line_break) = newline else {
            return Err(unterminated);
        };
        if !joined {
            value.push_str(line_break);
        }
        let Some(line) = lines.next_line()? else {
            return Err(unterminated);
        };
        (text, number, newline) = (line.text, line.number, line.newline);
    }
}

/// What may follow a closing quote on its line: blanks and a comment.
fn after_closing_quote(tail: &str, line: usize) -> Result<(), ParseError> {
    let tail = tail.trim_start_matches(BLANK);
    let reason = if tail.contains('\r') {
        LONE_CR
    } else if tail.is_empty() || tail.starts_with('#') {
        return Ok(());
    } else {
        TEXT_AFTER_QUOTE
    };
    Err(ParseError { line, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{Format, encode};

    /// (name, value) pairs, for comparing without exposing `Entry` internals.
    fn pairs(input: &str) -> Vec<(String, String)> {
        parse(input.as_bytes())
            .unwrap_or_else(|e| panic!("{input:?}: {e}"))
            .into_iter()
            .map(|e| (e.var, e.value.expose().to_owned()))
            .collect()
    }

    fn one(input: &str) -> String {
        match pairs(input).as_slice() {
            [(_, value)] => value.clone(),
            other => panic!("{input:?} gave {} entries", other.len()),
        }
    }

    fn error(input: &[u8]) -> ParseError {
        match parse(input) {
            Err(e) => e,
            Ok(entries) => panic!("{input:?} parsed into {} entries", entries.len()),
        }
    }

    fn p(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn skips_comments_and_blank_lines_and_keeps_file_order_and_lines() {
        let input = "# header\n\n  \t\nB=2\n   # indented comment\nA=1\n\nB=3\n";
        let entries = parse(input.as_bytes()).unwrap();
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.var.as_str(), e.value.expose(), e.line))
            .collect();
        assert_eq!(got, [("B", "2", 4), ("A", "1", 6), ("B", "3", 8)]);
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"\n\n# only comments").unwrap().is_empty());
    }

    #[test]
    fn accepts_export_and_blanks_around_the_equals_sign() {
        assert_eq!(
            pairs("export A=1\n\texport\t B = 2\n  C\t=\t3\nexport=4\nexport = 5\nexportD=6\n"),
            [
                p("A", "1"),
                p("B", "2"),
                p("C", "3"),
                p("export", "4"),
                p("export", "5"),
                p("exportD", "6"),
            ]
        );
    }

    #[test]
    fn unquoted_values_strip_comments_and_blanks_but_nothing_else() {
        assert_eq!(one("A=value # comment"), "value");
        assert_eq!(one("A=value\t# comment"), "value");
        assert_eq!(one("A=a#b"), "a#b");
        assert_eq!(one("A=#not a comment"), "#not a comment");
        assert_eq!(one("A= # only a comment"), "");
        assert_eq!(one("A=  two  words  "), "two  words");
        assert_eq!(one("A="), "");
        assert_eq!(one("A=   "), "");
        assert_eq!(one(r"A=C:\dir\n\"), r"C:\dir\n\");
        assert_eq!(one("A=${HOME}/x $Y"), "${HOME}/x $Y");
        assert_eq!(one("A=`echo hi`"), "`echo hi`");
        assert_eq!(one("A=it's \"x"), "it's \"x");
        assert_eq!(one("A==b=c"), "=b=c");
        assert_eq!(one("A=\u{a0}nbsp\u{a0}"), "\u{a0}nbsp\u{a0}");
    }

    #[test]
    fn single_quotes_are_literal_apart_from_two_escapes() {
        assert_eq!(
            one("A='a b # c $X ${Y} \"q\" \\n'"),
            "a b # c $X ${Y} \"q\" \\n"
        );
        assert_eq!(one(r"A='it\'s a \\ b \x'"), r"it's a \ b \x");
        assert_eq!(one("A='l1\nl2\n'  # done"), "l1\nl2\n");
        assert_eq!(one("A='back\\\nslash'"), "back\\\nslash");
        assert_eq!(one("A=''"), "");
        assert_eq!(one("A = 'x'#c"), "x");
    }

    #[test]
    fn double_quotes_take_shell_and_dotenv_escapes() {
        assert_eq!(
            one(r#"A="\\ \" \' \$ \` \n \r \t \a \b \f \v""#),
            "\\ \" ' $ ` \n \r \t \x07 \x08 \x0C \x0B"
        );
        assert_eq!(one(r#"A="\x \0 \u00e9 \# \ ""#), r"\x \0 \u00e9 \# \ ");
        assert_eq!(one("A=\"joined \\\nline\""), "joined line");
        assert_eq!(one("A=\"l1\nl2\n\" # c"), "l1\nl2\n");
        assert_eq!(
            one("A=\"it's ${X} # no comment\""),
            "it's ${X} # no comment"
        );
        assert_eq!(one("A=\"\""), "");
        assert_eq!(one("A=\"tab\there\""), "tab\there");
    }

    #[test]
    fn the_dotenv_syntax_keeps_shell_only_backslashes() {
        let read = |input: &str| {
            let got = parse_as(input.as_bytes(), Syntax::Dotenv).unwrap();
            got[0].value.expose().to_string()
        };
        assert_eq!(read(r#"A="\$x \` \n \" \\""#), "\\$x \\` \n \" \\");
        assert_eq!(read("A=\"a\\\nb\""), "a\\\nb");
        assert_eq!(read("A='\\$'"), "\\$");
    }

    #[test]
    fn reads_crlf_files_and_skips_a_bom() {
        let input =
            "\u{FEFF}# c\r\nexport A=1 \r\nB=\"x\r\ny\"\r\nC='p\r\nq'\r\n\r\nD=\"j\\\r\nk\"\r\n";
        assert_eq!(
            pairs(input),
            [p("A", "1"), p("B", "x\ny"), p("C", "p\nq"), p("D", "jk")]
        );
        assert_eq!(pairs("\u{FEFF}A=1"), [p("A", "1")]);
        // Only a leading BOM is skipped.
        assert_eq!(error("A=1\n\u{FEFF}B=2".as_bytes()).reason, BAD_NAME);
    }

    #[test]
    fn keeps_a_cr_inside_quotes_unless_the_whole_file_is_crlf() {
        // As the systemd and shell writers write a CRLF value.
        assert_eq!(
            pairs("A=\"x\r\ny\"\nB=\"lone\rcr\"\n"),
            [p("A", "x\r\ny"), p("B", "lone\rcr")]
        );
        assert_eq!(one("A='x\r\ny'\n"), "x\r\ny");
        // Every LF has a CR: the CRs are line endings, even inside quotes,
        // but a lone CR is still part of the value.
        assert_eq!(one("A=\"x\r\ny\rz\"\r\n"), "x\ny\rz");
    }

    #[test]
    fn each_error_names_its_line() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"A=1\n\nB=\xff\n", 3, NOT_UTF8),
            (b"A=1\n# \xc3\x28\n", 2, NOT_UTF8),
            (b"A=\"x\n\xe2\x82\"\n", 2, NOT_UTF8),
            (b"A=1\nB=a\0b\n", 2, NUL),
            (b"# c\n#\0\n", 2, NUL),
            (b"A=1\nB=x\ry\n", 2, LONE_CR),
            (b"A=1\rB=2\r", 1, LONE_CR),
            (b"A=1\n\n# c\rd\n", 3, LONE_CR),
            (b"A=1\nB=x\r", 2, LONE_CR),
            (b"A='x'\r", 1, LONE_CR),
            (b"A=1\nB\r\n\nC", 2, NO_EQUALS),
            (b"A=1\n\njust text\n", 3, NO_EQUALS),
            (b"export B\n", 1, NO_EQUALS),
            (b"A=1\n1A=2\n", 2, BAD_NAME),
            (b"A-B=1\n", 1, BAD_NAME),
            (b"=1\n", 1, BAD_NAME),
            (b"A B=1\n", 1, BAD_NAME),
            (b"A=1\nB='x' y\n", 2, TEXT_AFTER_QUOTE),
            (b"A=\"l1\nl2\"y\n", 2, TEXT_AFTER_QUOTE),
            (b"A=\"x\"\"y\"\n", 1, TEXT_AFTER_QUOTE),
            (b"A=1\nB='open\n\nC=3\n", 2, UNTERMINATED_SINGLE),
            (b"A='it\\'", 1, UNTERMINATED_SINGLE),
            (b"A=1\n\nB=\"open\nC=3\n", 3, UNTERMINATED_DOUBLE),
            (b"A=\"x\\\"\n", 1, UNTERMINATED_DOUBLE),
            (b"A=\"x\\", 1, UNTERMINATED_DOUBLE),
        ];
        for &(input, line, reason) in cases {
            let err = error(input);
            assert_eq!(
                err,
                ParseError { line, reason },
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(err.to_string(), format!("line {line}: {reason}"));
        }
    }

    #[test]
    fn errors_never_echo_the_line() {
        let secret = "sk_live_51HcanaryCANARY";
        for bad in [
            format!("{secret}\n"),
            format!("export {secret}\n"),
            format!("TOKEN {secret}=x\n"),
            format!("TOKEN='{secret}' {secret}\n"),
            format!("TOKEN=\"{secret}\n"),
            format!("TOKEN={secret}\r{secret}\n"),
            format!("TOKEN={secret}\0\n"),
        ] {
            let err = error(bad.as_bytes());
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains("canary"), "{shown}");
                assert!(!shown.contains("sk_"), "{shown}");
            }
        }
        let mut bytes = format!("TOKEN={secret}").into_bytes();
        bytes.push(0xff);
        assert!(!error(&bytes).to_string().contains("canary"));
        // And entries themselves only show the value through `expose`.
        let entries = parse(format!("TOKEN={secret}").as_bytes()).unwrap();
        assert!(!format!("{entries:?}").contains("canary"));
    }

    /// Values chosen to stress every writer's quoting.
    const TRICKY: &[&str] = &[
        "",
        "plain",
        "with spaces",
        " padded ",
        "\ttabbed\t",
        "say \"hi\"",
        "it's",
        "it's \"both\"",
        "'single'",
        "\"double\"",
        "back\\slash",
        "C:\\dir\\",
        "\\\\server\\share",
        "\\",
        "\\\\",
        "\\n not a newline",
        "\\'",
        "\\\"",
        "$HOME",
        "cost: $5",
        "${X}",
        "${X:-default}",
        "$${X}",
        "`id`",
        "a`b",
        "line1\nline2",
        "\n",
        "trailing newline\n",
        "\nleading newline",
        "multi\n'single' \"double\" $x `y` \\z\n",
        "#hash",
        "a #not a comment",
        "a#b",
        "# looks like a comment\nNOT=an entry",
        "=",
        "a=b",
        "export X=1",
        "unicodé ✓ 日本語 😀",
        "\u{a0}nbsp\u{a0}",
        "\u{FEFF}bom",
        "sep\u{2028}'x'\u{2029}",
        "cr\rlone",
        "crlf\r\nline",
        "\r\n",
        "ends with cr\r",
        "bell\x07 esc\x1b del\x7f",
        "-----BEGIN KEY-----\nMIIB+/=\n-----END KEY-----\n",
        "{\"json\": [1, 2], \"s\": \"a\\\"b\"}",
    ];

    fn syntax_of(format: Format) -> Syntax {
        match format {
            Format::Dotenv => Syntax::Dotenv,
            _ => Syntax::Shell,
        }
    }

    /// Asserts that every value `format` accepts reads back exactly, one per
    /// file and all in one file; returns how many were accepted.
    fn assert_round_trips(format: Format, values: &[&str]) -> usize {
        let mut accepted = Vec::new();
        for &value in values {
            let Ok(file) = encode(format, &[("KEY", value)]) else {
                continue;
            };
            let got = parse_as(file.as_bytes(), syntax_of(format))
                .unwrap_or_else(|e| panic!("{format} {value:?} -> {file:?}: {e}"));
            let got: Vec<_> = got
                .iter()
                .map(|e| (e.var.as_str(), e.value.expose()))
                .collect();
            assert_eq!(got, [("KEY", value)], "{format} wrote {file:?}");
            accepted.push(value);
        }
        let names: Vec<String> = (0..accepted.len()).map(|i| format!("V_{i}")).collect();
        let vars: Vec<(&str, &str)> = names
            .iter()
            .map(String::as_str)
            .zip(accepted.iter().copied())
            .collect();
        let file = encode(format, &vars).unwrap_or_else(|e| panic!("{e}"));
        let got = parse_as(file.as_bytes(), syntax_of(format))
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        let got: Vec<_> = got
            .iter()
            .map(|e| (e.var.as_str(), e.value.expose()))
            .collect();
        assert_eq!(got, vars, "{format}");
        accepted.len()
    }

    #[test]
    fn reads_back_what_the_writers_write() {
        for format in [Format::Systemd, Format::Shell, Format::Dotenv] {
            let accepted = assert_round_trips(format, TRICKY);
            assert!(accepted * 2 > TRICKY.len(), "{format} took only {accepted}");
        }
    }

    /// Every string of up to three fragments that matter to some quoting.
    fn combinations() -> Vec<String> {
        const FRAGMENTS: &[&str] = &[
            "a", " ", "'", "\"", "\\", "$", "`", "\n", "\r", "#", "{X}", "é", "n", "\t", "=",
            "\u{2028}",
        ];
        let mut all = vec![String::new()];
        let mut last = all.clone();
        for _ in 0..3 {
            last = last
                .iter()
                .flat_map(|s| FRAGMENTS.iter().map(move |f| format!("{s}{f}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn reads_back_every_combination_the_systemd_and_shell_writers_write() {
        let values = combinations();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        for format in [Format::Systemd, Format::Shell] {
            assert_round_trips(format, &values);
        }
    }

    /// The dotenv writer leaves `\$`, `` \` `` and backslash-newline as is
    /// inside double quotes (both dotenv readers keep them): the `Dotenv`
    /// syntax must too.
    #[test]
    fn reads_back_every_combination_the_dotenv_writer_writes() {
        let values = combinations();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_round_trips(Format::Dotenv, &values);
    }

    /// Tiny xorshift64 generator: deterministic, no dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            // n is small; the modulo bias does not matter here.
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn never_panics_on_random_input() {
        // Mostly syntax-relevant pieces, so inputs reach deep into the parser.
        const PIECES: &[&[u8]] = &[
            b"A",
            b"z_9",
            b"=",
            b"'",
            b"\"",
            b"\\",
            b"#",
            b" ",
            b"\t",
            b"\n",
            b"\r",
            b"\r\n",
            b"export ",
            b"$",
            b"`",
            b"\0",
            b"\xff",
            b"\xc3",
            b"\xc3\xa9",
            b"\xef\xbb\xbf",
            b"\xe2\x80\xa8",
            b"n",
            b"1",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0;
        for _ in 0..5000 {
            let mut input = Vec::new();
            for _ in 0..rng.below(40) {
                if rng.below(8) == 0 {
                    input.push(rng.next().to_le_bytes()[0]);
                } else {
                    input.extend_from_slice(PIECES[rng.below(PIECES.len())]);
                }
            }
            let lines = input.split(|&b| b == b'\n').count();
            match parse(&input) {
                Ok(entries) => {
                    parsed += 1;
                    for e in entries {
                        assert!(is_valid_var(&e.var));
                        assert!((1..=lines).contains(&e.line));
                    }
                }
                Err(e) => assert!((1..=lines).contains(&e.line), "{e} for {input:?}"),
            }
        }
        // The generator does reach valid files, not only errors.
        assert!(parsed > 100, "only {parsed} inputs parsed");
    }
}
