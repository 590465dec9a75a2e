//! Name rules: prefixes, app names, parameter key <-> variable mapping
//! (docs/CONTRACT.md §2 "Key names"). Pure functions, unit-tested here.

/// How a parameter key becomes a variable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KeyCase {
    /// `kintone-api-token` -> `KINTONE_API_TOKEN`
    #[default]
    Upper,
    /// `kintone-api-token` -> `kintone_api_token`
    Keep,
}

/// SSM's name characters, `/` aside.
pub fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// A valid path segment: SSM's name characters minus `/`; `.` and `..` are
/// refused so that a name can never walk out of its namespace.
pub fn is_valid_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.chars().all(is_segment_char)
}

/// A relative path of valid segments (`a/b.c`): no empty, `.` or `..`
/// segment. The path rule of prefixes and of KEY arguments.
pub fn is_valid_path(path: &str) -> bool {
    path.split('/').all(is_valid_segment)
}

/// docs/CONTRACT.md §2: starts with `/`, does not end with `/`, segments of
/// `[A-Za-z0-9_.-]`.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    let why = if !prefix.starts_with('/') {
        "it must start with '/'"
    } else if prefix == "/" {
        "it must name at least one folder, like /my-team"
    } else if prefix.ends_with('/') {
        "it must not end with '/'"
    } else if prefix[1..].split('/').any(|s| s.is_empty()) {
        "it must not contain empty segments ('//')"
    } else if !is_valid_path(&prefix[1..]) {
        "its segments may only use A-Z a-z 0-9 _ . - (and not be '.' or '..')"
    } else {
        return Ok(());
    };
    Err(format!("invalid prefix {}: {why}", quoted(prefix)))
}

/// An app (or cluster) name is a single segment.
pub fn validate_app(app: &str, what: &str) -> Result<(), String> {
    if is_valid_segment(app) {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} name {}: use one path segment of A-Z a-z 0-9 _ . -",
            quoted(app)
        ))
    }
}

/// Auto-detected names (directory basename, ECS container name) are
/// lower-cased and `_` becomes `-` (`/srv/my_api` -> `my-api`).
pub fn normalize_detected(name: &str) -> String {
    name.to_lowercase().replace('_', "-")
}

/// Parameter key (last path segment) -> variable name, or `None` when the
/// result would not be a valid variable name.
pub fn key_to_var(key: &str, case: KeyCase) -> Option<String> {
    let mapped: String = key
        .chars()
        .map(|c| if c == '-' || c == '.' { '_' } else { c })
        .collect();
    let mapped = match case {
        KeyCase::Upper => mapped.to_ascii_uppercase(),
        KeyCase::Keep => mapped,
    };
    is_valid_var(&mapped).then_some(mapped)
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub fn is_valid_var(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Variable -> parameter key, for `put`: `SLACK_CHANNEL` -> `slack-channel`.
pub fn var_to_key(var: &str) -> String {
    var.to_ascii_lowercase().replace('_', "-")
}

/// The last segment of a parameter name.
pub fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Names come from users and from SSM; wherever they are shown (result
/// lines, warnings, errors) they go through here, so a crafted name cannot
/// forge or split output lines. The one rule: printable ASCII stays as it
/// is (`\`, `'` and `"` aside, which get a backslash), everything else is
/// escaped as in Rust (`\n`, `\t`, `\u{1b}`, `\u{e9}`). The result is plain
/// ASCII, so a name that only looks like another cannot pass for it either.
pub fn printable(s: &str) -> String {
    s.chars().flat_map(char::escape_default).collect::<String>()
}

/// `printable` in double quotes, for messages that quote what they refuse:
/// `wéb` -> `"w\u{e9}b"`. (`{:?}` of `printable`'s result would escape
/// its backslashes a second time: `"w\\u{e9}b"`.)
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", printable(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_mapping_follows_spec_examples() {
        assert_eq!(
            key_to_var("kintone-api-token", KeyCase::Upper).as_deref(),
            Some("KINTONE_API_TOKEN")
        );
        assert_eq!(
            key_to_var("db.host", KeyCase::Upper).as_deref(),
            Some("DB_HOST")
        );
        assert_eq!(
            key_to_var("Db-Host", KeyCase::Keep).as_deref(),
            Some("Db_Host")
        );
        assert_eq!(key_to_var("_x", KeyCase::Upper).as_deref(), Some("_X"));
    }

    #[test]
    fn keys_that_make_no_variable_are_refused() {
        for bad in ["1abc", "", "a b", "é", "a:b", "9"] {
            assert_eq!(key_to_var(bad, KeyCase::Upper), None, "{bad}");
        }
    }

    #[test]
    fn var_to_key_is_the_inverse_for_put() {
        assert_eq!(var_to_key("SLACK_CHANNEL"), "slack-channel");
        assert_eq!(
            key_to_var(&var_to_key("SLACK_CHANNEL"), KeyCase::Upper).unwrap(),
            "SLACK_CHANNEL"
        );
    }

    #[test]
    fn prefixes_are_validated() {
        for good in ["/team", "/a/b.c/d-e_f", "/T1"] {
            assert!(validate_prefix(good).is_ok(), "{good}");
        }
        for bad in [
            "", "team", "/", "/team/", "//team", "/a//b", "/a b", "/a/../b", "/a/./b", "/ä", "/a\n",
        ] {
            let err = validate_prefix(bad).unwrap_err();
            assert!(err.starts_with("invalid prefix"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn detected_names_are_normalized() {
        assert_eq!(normalize_detected("My_API"), "my-api");
    }

    #[test]
    fn quoted_names_are_escaped_once() {
        assert_eq!(quoted("api"), r#""api""#);
        assert_eq!(quoted("wéb"), r#""w\u{e9}b""#);
        assert_eq!(quoted("a\nb\u{1b}[31m"), r#""a\nb\u{1b}[31m""#);
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    /// The bug: `--app wéb` was shown as `"w\\u{e9}b"` (`{:?}` of the
    /// escaped name).
    #[test]
    fn non_ascii_names_in_errors_are_escaped_once_not_twice() {
        let app = validate_app("wéb", "app").unwrap_err();
        assert!(app.starts_with(r#"invalid app name "w\u{e9}b": "#), "{app}");
        let prefix = validate_prefix("/wéb").unwrap_err();
        assert!(
            prefix.starts_with(r#"invalid prefix "/w\u{e9}b": "#),
            "{prefix}"
        );
        for e in [app, prefix] {
            assert!(!e.contains(r"\\"), "{e}");
        }
    }

    #[test]
    fn app_names_are_single_segments() {
        assert!(validate_app("api", "app").is_ok());
        for bad in ["", "a/b", "..", ".", "a b"] {
            assert!(validate_app(bad, "app").is_err(), "{bad}");
        }
    }
}
