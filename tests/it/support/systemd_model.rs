//! systemd's EnvironmentFile= parser, modelled from src/basic/env-file.c:
//! `parse_env_file_internal` as a byte state machine, and `load_env_file`'s
//! handling of its results (UTF-8 check, later duplicates replace earlier
//! ones in place). Written from the C, state for state.

const WHITESPACE: &[u8] = b" \t\n\r";
const NEWLINE: &[u8] = b"\n\r";
const COMMENTS: &[u8] = b"#;";
const SHELL_NEED_ESCAPE: &[u8] = b"\"\\`$";

#[derive(Clone, Copy, PartialEq)]
enum State {
    PreKey,
    Key,
    PreValue,
    Value,
    ValueEscape,
    SingleQuoteValue,
    DoubleQuoteValue,
    DoubleQuoteValueEscape,
    Comment,
    CommentEscape,
}

/// What `load_env_file` returns: `NAME=value` pairs in file order, or an
/// error when systemd refuses the file (and the unit would not start).
pub fn load_env_file(contents: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |key: &[u8], value: &[u8]| -> Result<(), String> {
        let key = valid_utf8(key).ok_or("invalid UTF-8 in key")?;
        let value = valid_utf8(value).ok_or_else(|| format!("invalid UTF-8 value for {key}"))?;
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
        Ok(())
    };

    let mut state = State::PreKey;
    let mut key: Vec<u8> = Vec::new();
    // None is C's NULL value (`KEY=` with nothing after it): it loads as "".
    let mut value: Option<Vec<u8>> = None;
    let mut last_key_ws: Option<usize> = None;
    let mut last_value_ws: Option<usize> = None;

    fn append(value: &mut Option<Vec<u8>>, c: u8) {
        value.get_or_insert_with(Vec::new).push(c);
    }

    // read_full_stream gives a C string: the parser stops at a NUL.
    for &c in contents.iter().take_while(|&&c| c != 0) {
        match state {
            State::PreKey => {
                if COMMENTS.contains(&c) {
                    state = State::Comment;
                } else if !WHITESPACE.contains(&c) {
                    state = State::Key;
                    last_key_ws = None;
                    key.push(c);
                }
            }
            State::Key => {
                if NEWLINE.contains(&c) {
                    state = State::PreKey;
                    key.clear();
                } else if c == b'=' {
                    state = State::PreValue;
                    last_value_ws = None;
                } else {
                    if !WHITESPACE.contains(&c) {
                        last_key_ws = None;
                    } else if last_key_ws.is_none() {
                        last_key_ws = Some(key.len());
                    }
                    key.push(c);
                }
            }
            State::PreValue => {
                if NEWLINE.contains(&c) {
                    state = State::PreKey;
                    if let Some(at) = last_key_ws {
                        key.truncate(at);
                    }
                    push(&key, value.as_deref().unwrap_or_default())?;
                    key.clear();
                    value = None;
                } else if c == b'\'' {
                    state = State::SingleQuoteValue;
                } else if c == b'"' {
                    state = State::DoubleQuoteValue;
                } else if c == b'\\' {
                    state = State::ValueEscape;
                } else if !WHITESPACE.contains(&c) {
                    state = State::Value;
                    append(&mut value, c);
                }
            }
            State::Value => {
                if NEWLINE.contains(&c) {
                    state = State::PreKey;
                    let mut v = value.take().unwrap_or_default();
                    if let Some(at) = last_value_ws {
                        v.truncate(at);
                    }
                    if let Some(at) = last_key_ws {
                        key.truncate(at);
                    }
                    push(&key, &v)?;
                    key.clear();
                } else if c == b'\\' {
                    state = State::ValueEscape;
                    last_value_ws = None;
                } else {
                    let len = value.as_ref().map_or(0, Vec::len);
                    if !WHITESPACE.contains(&c) {
                        last_value_ws = None;
                    } else if last_value_ws.is_none() {
                        last_value_ws = Some(len);
                    }
                    append(&mut value, c);
                }
            }
            State::ValueEscape => {
                state = State::Value;
                // An escaped newline is a line continuation: eaten.
                if !NEWLINE.contains(&c) {
                    append(&mut value, c);
                }
            }
            State::SingleQuoteValue => {
                if c == b'\'' {
                    state = State::PreValue;
                } else {
                    append(&mut value, c);
                }
            }
            State::DoubleQuoteValue => {
                if c == b'"' {
                    state = State::PreValue;
                } else if c == b'\\' {
                    state = State::DoubleQuoteValueEscape;
                } else {
                    append(&mut value, c);
                }
            }
            State::DoubleQuoteValueEscape => {
                state = State::DoubleQuoteValue;
                if SHELL_NEED_ESCAPE.contains(&c) {
                    append(&mut value, c);
                } else if c != b'\n' {
                    // Like the shell, keep the backslash before anything else.
                    append(&mut value, b'\\');
                    append(&mut value, c);
                }
            }
            State::Comment => {
                if c == b'\\' {
                    state = State::CommentEscape;
                } else if NEWLINE.contains(&c) {
                    state = State::PreKey;
                }
            }
            State::CommentEscape => {
                // Since v254 a comment's trailing backslash continues nothing.
                state = if NEWLINE.contains(&c) {
                    State::PreKey
                } else {
                    State::Comment
                };
            }
        }
    }

    if matches!(
        state,
        State::PreValue
            | State::Value
            | State::ValueEscape
            | State::SingleQuoteValue
            | State::DoubleQuoteValue
            | State::DoubleQuoteValueEscape
    ) {
        let mut v = value.take().unwrap_or_default();
        if state == State::Value {
            if let Some(at) = last_value_ws {
                v.truncate(at);
            }
        }
        if let Some(at) = last_key_ws {
            key.truncate(at);
        }
        push(&key, &v)?;
    }
    Ok(out)
}

/// systemd's `utf8_is_valid`: UTF-8 without surrogates or noncharacters.
fn valid_utf8(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    s.chars()
        .all(|c| {
            let c = u32::from(c);
            !(0xFDD0..=0xFDEF).contains(&c) && c & 0xFFFE != 0xFFFE
        })
        .then(|| s.to_owned())
}
