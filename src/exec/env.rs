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

/// The inherited variables whose value is an `ssm:` reference, as
/// (variable, parameter name), in the order found. A reference to an
/// invalid name is a usage error naming the variable.
pub fn references(inherited: &[(OsString, OsString)]) -> Result<Vec<(String, String)>> {
    let mut refs = Vec::new();
    for (k, v) in inherited {
        if let (Some(k), Some(v)) = (k.to_str(), v.to_str())
            && let Some(name) = parse_ref(v)
        {
            check_ref_name(k, name)?;
            refs.push((k.to_string(), name.to_string()));
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

/// Checks a referenced name before asking SSM: a clear error beats SSM's
/// validation message.
fn check_ref_name(var: &str, name: &str) -> Result<()> {
    let ok = name.len() <= 2048
        && name.len() > 1
        && !name.ends_with('/')
        && name[1..]
            .split('/')
            .all(|s| !s.is_empty() && s.chars().all(names::is_segment_char));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "${var} holds an ssm: reference to an invalid parameter name {}",
            names::quoted(name)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn references_are_found_in_the_inherited_environment() {
        let inherited = os(&[("A", "ssm:/t/a"), ("B", "plain"), ("C", "ssm:///t/c")]);
        assert_eq!(
            references(&inherited).unwrap(),
            [
                ("A".to_string(), "/t/a".to_string()),
                ("C".into(), "/t/c".into())
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
        assert!(check_ref_name("X", "/a/b-c_d.e").is_ok());
        for bad in ["/", "/a/", "/a//b", "/a b", "/a\n"] {
            let err = check_ref_name("X", bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
    }
}
