//! The child's environment for `exec` (`docs/CONTRACT.md` §3 `exec`), as
//! pure functions: which inherited variables hold `ssm:` references, and
//! the environment the command gets once they are resolved and the
//! parameters laid over (or under, with `--no-override`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::error::{Error, Result};
use crate::names;
use crate::secret::Secret;

/// One inherited variable holding an `ssm:` reference
/// (`docs/CONTRACT.md` §3 "References").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The variable that holds it.
    pub var: String,
    /// The parameter as GetParameters takes it: the name, then `:version`
    /// or `:label` when one was given.
    pub param: String,
    /// `#KEY`: the top-level key of the JSON value to deliver instead of
    /// the whole value.
    pub key: Option<String>,
}

/// The inherited variables whose value is an `ssm:` reference, in the
/// order found. A reference to an invalid name, version, label or key is a
/// usage error naming the variable.
pub fn references(inherited: &[(OsString, OsString)]) -> Result<Vec<Reference>> {
    let mut refs = Vec::new();
    for (k, v) in inherited {
        if let (Some(k), Some(v)) = (k.to_str(), v.to_str())
            && let Some(rest) = parse_ref(v)
        {
            refs.push(parse_target(k, rest)?);
        }
    }
    Ok(refs)
}

/// The command's environment: `inherited`, with each resolved reference
/// in place of its `ssm:` value, then the parameters `params` on top
/// (under, with `no_override`), sorted by name. A value holding NUL, or an
/// inherited name that is empty or holds `=`, cannot be passed: an error
/// naming the variable, never the value.
pub fn child_env(
    inherited: Vec<(OsString, OsString)>,
    resolved: &[(String, Secret)],
    params: &[(&str, &str)],
    no_override: bool,
) -> Result<Vec<(OsString, OsString)>> {
    let mut env: BTreeMap<OsString, OsString> = inherited.into_iter().collect();
    for (var, value) in resolved {
        env.insert(var.into(), value.expose().into());
    }
    for &(var, value) in params {
        if value.contains('\0') {
            return Err(Error::runtime(format!(
                "{var}: the value contains a NUL byte and cannot be passed in the environment"
            )));
        }
        let key = OsString::from(var);
        if no_override && env.contains_key(&key) {
            crate::log::debug!("{var}: inherited value kept (--no-override)");
            continue;
        }
        env.insert(key, value.into());
    }
    if env
        .keys()
        .any(|k| k.is_empty() || k.as_bytes().contains(&b'='))
    {
        return Err(Error::runtime("an inherited variable has an invalid name"));
    }
    Ok(env.into_iter().collect())
}

/// `ssm:/a/b` and `ssm:///a/b` -> `/a/b`; `None` for anything else.
fn parse_ref(value: &str) -> Option<&str> {
    let rest = value.strip_prefix("ssm:")?;
    if rest.starts_with("///") {
        Some(&rest[2..])
    } else if rest.starts_with("//") {
        // ssm://host/... names no parameter.
        None
    } else {
        rest.starts_with('/').then_some(rest)
    }
}

/// `NAME[:SELECTOR][#KEY]` of the reference held by `var`, checked before
/// SSM is asked: a clear error beats SSM's validation message. Parameter
/// names hold neither `:` nor `#`, so the first `#` starts the key and the
/// last `:` before it the selector.
fn parse_target(var: &str, target: &str) -> Result<Reference> {
    let invalid = |what: &str, shown: &str| {
        Error::usage(format!(
            "${var} holds an ssm: reference to an invalid {what} {}",
            names::quoted(shown)
        ))
    };
    let (spec, key) = match target.split_once('#') {
        Some((_, "")) => return Err(invalid("JSON key", "")),
        Some((spec, key)) => (spec, Some(key.to_string())),
        None => (target, None),
    };
    let (name, selector) = match spec.rsplit_once(':') {
        Some((name, selector)) => (name, Some(selector)),
        None => (spec, None),
    };
    if !is_valid_ref_name(name) {
        return Err(invalid("parameter name", name));
    }
    if let Some(selector) = selector
        && !is_valid_selector(selector)
    {
        return Err(invalid("version or label", selector));
    }
    Ok(Reference {
        var: var.to_string(),
        param: spec.to_string(),
        key,
    })
}

fn is_valid_ref_name(name: &str) -> bool {
    name.len() <= 2048
        && name.len() > 1
        && !name.ends_with('/')
        && name[1..]
            .split('/')
            .all(|s| !s.is_empty() && s.chars().all(names::is_segment_char))
}

/// A version (a positive number) or a label as SSM allows them: up to 100
/// letters, digits, `.`, `-` and `_`, not starting with a digit (that would
/// be a version) nor with `aws` or `ssm`.
fn is_valid_selector(s: &str) -> bool {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return !s.is_empty() && !s.starts_with('0') && s.len() <= 19;
    }
    let lower = s.to_ascii_lowercase();
    s.len() <= 100
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The part of `value` a reference delivers: all of it, or with `#KEY` the
/// key of the JSON object it holds (a string as is, any other JSON as
/// compact JSON text with its numbers exactly as written). Errors name the
/// variable and the key, never the value.
pub fn select(reference: &Reference, value: Secret) -> std::result::Result<Secret, String> {
    use serde_json::value::RawValue;
    let Some(key) = &reference.key else {
        return Ok(value);
    };
    let fail = |why: &str| {
        format!(
            "${} selects key {} of {}, {why}",
            reference.var,
            names::quoted(key),
            names::printable(&reference.param)
        )
    };
    let text = value.expose();
    if serde_json::from_str::<&RawValue>(text).is_err() {
        return Err(fail("whose value is not JSON"));
    }
    // Of a key given twice the last wins, as JavaScript's JSON.parse has it.
    let object: std::collections::HashMap<String, &RawValue> =
        serde_json::from_str(text).map_err(|_| fail("whose value is not a JSON object"))?;
    let raw = object
        .get(key.as_str())
        .ok_or_else(|| fail("which has no such key"))?;
    match serde_json::from_str::<String>(raw.get()) {
        Ok(s) => Ok(Secret::new(s)),
        Err(_) => Ok(Secret::new(compact(raw.get()))),
    }
}

/// Valid JSON text without the whitespace between its tokens.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    fn reference(var: &str, param: &str, key: Option<&str>) -> Reference {
        Reference {
            var: var.into(),
            param: param.into(),
            key: key.map(Into::into),
        }
    }

    #[test]
    fn references_are_found_in_the_inherited_environment() {
        let inherited = os(&[
            ("A", "ssm:/t/a"),
            ("B", "plain"),
            ("C", "ssm:///t/c"),
            ("D", "ssm:/t/d:3"),
            ("E", "ssm:/t/e:live#password"),
            ("F", "ssm:///aws/reference/secretsmanager/db#user name"),
        ]);
        assert_eq!(
            references(&inherited).unwrap(),
            [
                reference("A", "/t/a", None),
                reference("C", "/t/c", None),
                reference("D", "/t/d:3", None),
                reference("E", "/t/e:live", Some("password")),
                reference("F", "/aws/reference/secretsmanager/db", Some("user name")),
            ]
        );
        assert_eq!(
            references(&os(&[("A", "ssm:/a b")]))
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn versions_labels_and_keys_are_checked_before_ssm_is_asked() {
        for ok in [
            "/a:1",
            "/a:42",
            "/a:live",
            "/a:blue-2.x_y",
            "/a#k",
            "/a:3#k:#x",
        ] {
            assert!(parse_target("X", ok).is_ok(), "{ok}");
        }
        for bad in [
            "/a:",
            "/a:0",
            "/a:01",
            "/a:1a",
            "/a:aws-x",
            "/a:SSMlabel",
            "/a:b c",
            "/a:x:y",
            "/a#",
            "/a:#k",
        ] {
            let err = parse_target("X", bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(
                err.to_string().contains("$X holds an ssm: reference"),
                "{err}"
            );
        }
        let long = format!("/a:{}", "l".repeat(101));
        assert!(parse_target("X", &long).is_err());
        assert!(parse_target("X", "/a:99999999999999999999").is_err());
    }

    #[test]
    fn a_json_key_is_selected_as_text_or_compact_json_never_showing_the_value() {
        let r = reference("DB", "/t/db", Some("password"));
        let pick = |json: &str| select(&r, Secret::new(json)).map(|s| s.expose().to_string());
        assert_eq!(
            pick(r#"{"password":"s3cr\"et","user":"u"}"#).unwrap(),
            "s3cr\"et"
        );
        assert_eq!(
            pick(r#"{"password": 12345678901234567890.50}"#).unwrap(),
            "12345678901234567890.50"
        );
        assert_eq!(
            pick("{\"password\": { \"a\" : [1, \" x \\\" y \"],\n \"b\": null } }").unwrap(),
            r#"{"a":[1," x \" y "],"b":null}"#
        );
        assert_eq!(pick(r#"{"password":"a","password":"b"}"#).unwrap(), "b");
        for (value, why) in [
            ("not json hunter2", "whose value is not JSON"),
            ("[\"hunter2\"]", "whose value is not a JSON object"),
            (r#"{"other":"hunter2"}"#, "which has no such key"),
        ] {
            let err = pick(value).unwrap_err();
            assert_eq!(
                err,
                format!("$DB selects key \"password\" of /t/db, {why}"),
                "{value}"
            );
        }
        let whole = reference("DB", "/t/db", None);
        assert_eq!(
            select(&whole, Secret::new("not json")).unwrap().expose(),
            "not json"
        );
    }

    #[test]
    fn parameters_win_unless_no_override_and_references_are_replaced() {
        let inherited = os(&[("KEEP", "k"), ("BOTH", "inherited"), ("REF", "ssm:/t/r")]);
        let resolved = [("REF".to_string(), Secret::new("resolved"))];
        let params = [("BOTH", "param"), ("NEW", "n")];
        let env = child_env(inherited.clone(), &resolved, &params, false).unwrap();
        assert_eq!(
            env,
            os(&[
                ("BOTH", "param"),
                ("KEEP", "k"),
                ("NEW", "n"),
                ("REF", "resolved")
            ])
        );
        let env = child_env(inherited, &resolved, &params, true).unwrap();
        assert_eq!(
            env,
            os(&[
                ("BOTH", "inherited"),
                ("KEEP", "k"),
                ("NEW", "n"),
                ("REF", "resolved")
            ])
        );
    }

    #[test]
    fn values_and_names_the_environment_cannot_hold_are_refused_without_the_value() {
        let err = child_env(Vec::new(), &[], &[("X", "a\0secret")], false).unwrap_err();
        assert!(err.to_string().contains("X: the value contains a NUL byte"));
        assert!(!err.to_string().contains("secret"));
        let bad = vec![(OsString::from("A=B"), OsString::from("v"))];
        assert!(child_env(bad, &[], &[], false).is_err());
    }

    #[test]
    fn references_are_recognised_in_both_spellings() {
        assert_eq!(parse_ref("ssm:/a/b"), Some("/a/b"));
        assert_eq!(parse_ref("ssm:///a/b"), Some("/a/b"));
        assert_eq!(
            parse_ref("ssm:///aws/reference/secretsmanager/db"),
            Some("/aws/reference/secretsmanager/db")
        );
        for not_ref in [
            "ssm:a/b",
            "ssm://host/a",
            "SSM:/a",
            "/a/b",
            "ssm:",
            "x ssm:/a",
        ] {
            assert_eq!(parse_ref(not_ref), None, "{not_ref}");
        }
    }

    #[test]
    fn referenced_names_are_validated() {
        assert!(is_valid_ref_name("/a/b-c_d.e"));
        for bad in ["/", "/a/", "/a//b", "/a b", "/a\n"] {
            let err = parse_target("X", bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
    }
}
