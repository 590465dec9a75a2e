//! Property tests (proptest) for the issue's requirements:
//!
//! 1. `systemd` and `shell` encodings: random values (any Unicode but NUL,
//!    biased toward quoting trouble) read back exactly by systemd's parser
//!    rules (the model of `parse_env_file_internal` also used, and checked
//!    against systemd's own vectors, in tests/encode_roundtrip.rs) and by sh
//!    and bash; the only refusal systemd's format may give is a noncharacter.
//! 2. `dotenv` and `docker` encodings: a value is accepted and read back
//!    exactly by the real readers (python-dotenv and npm dotenv; the docker
//!    CLI, plus its env-file parser modelled with and without quote
//!    trimming), or refused by a fixed phrase naming the key, never the value.
//! 3. Name mapping, prefix/app/duration/size/tag parsing, `.env` parsing,
//!    ECS metadata parsing (file and endpoint) and the `files/` path and
//!    base64/url checks never panic on arbitrary input, agree with the rules
//!    their docs state, and give error messages without raw control
//!    characters.
//! 4. `envfile` reads back what `encode` writes (systemd and shell in the
//!    `Shell` syntax, dotenv in the `Dotenv` syntax).
//!
//! Case counts: by default 64 for the properties that run real readers and
//! 256 for the cheap pure ones; `PROPTEST_CASES=N` runs N cases of every
//! property, except the docker CLI batches, which run N/16 (each case is one
//! `docker create`). Failures are shrunk to a minimal input, printed, and
//! saved by proptest in tests/properties.proptest-regressions (commit it)
//! so every later run tries them first.
//!
//! The dotenv readers are run as one long-lived process each (one file path
//! per line on stdin, one JSON answer per line), calling the same library
//! functions as tests/readers/*: `dotenv_values(path)` and
//! `dotenv.parse(fs.readFileSync(path))`.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value};

use ssmm::config;
use ssmm::ecs;
use ssmm::encode::{EncodeError, Format, encode};
use ssmm::envfile::{self, Syntax};
use ssmm::files::{self, FileError, FileSpec, Limits};
use ssmm::names::{self, KeyCase};
use ssmm::secret::Secret;
use ssmm::units;

use crate::support::block_on_fresh as block_on;
use crate::support::formats::*;
use crate::support::readers::{
    as_map, docker_cli, env_list, npm_dotenv, python_dotenv, shell_exports,
};
use crate::support::systemd_model;

/// The refusals each format's documentation allows, for a valid name.
fn allowed_reasons(format: Format) -> &'static [&'static str] {
    match format {
        Format::Systemd => &[NUL, NONCHARACTER],
        Format::Shell | Format::Json => &[NUL],
        Format::Docker => &[NUL, DOCKER_NEWLINE, QUOTE_WRAPPED, DOCKER_TOO_LONG],
        Format::Dotenv => &[NUL, INTERPOLATION, NO_DOTENV_QUOTING],
        // Directories of files, not text: tested in `creds_format.rs`.
        Format::Credentials | Format::CredentialsEncrypted => &[],
    }
}

/// The formats that encode to one text (the credentials formats write a
/// directory).
const ALL_FORMATS: [Format; 5] = [
    Format::Systemd,
    Format::Shell,
    Format::Docker,
    Format::Dotenv,
    Format::Json,
];

// ---------------------------------------------------------------------------
// Case counts
// ---------------------------------------------------------------------------

/// `PROPTEST_CASES` when set, else 64.
fn base_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(64)
}

/// The default config (which honours the other `PROPTEST_*` variables) with
/// `base_cases() * scale` cases. (`proptest!` then applies `PROPTEST_CASES`
/// itself when it is set, whatever the scale.)
fn cases(scale: f64) -> ProptestConfig {
    ProptestConfig {
        cases: ((f64::from(base_cases()) * scale) as u32).max(1),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Characters quoting, escaping, comment, interpolation and line rules care
/// about, plus Unicode that one reader or another treats as space or a break.
const TRICKY: &[char] = &[
    '\\',
    '\\',
    '"',
    '"',
    '\'',
    '\'',
    '$',
    '`',
    '\n',
    '\n',
    '\r',
    '\t',
    ' ',
    ' ',
    '#',
    '=',
    ';',
    '{',
    '}',
    ':',
    '-',
    '!',
    '*',
    '~',
    '(',
    ')',
    'n',
    'r',
    't',
    'a',
    'b',
    'f',
    'v',
    'x',
    'u',
    '0',
    '\u{0B}',
    '\u{0C}',
    '\u{1C}',
    '\u{1F}',
    '\u{7F}',
    '\u{85}',
    '\u{A0}',
    '\u{1680}',
    '\u{2028}',
    '\u{2029}',
    '\u{200B}',
    '\u{FEFF}',
    '\u{3000}',
    'é',
    'İ',
    '日',
    '😀',
    '\u{FFFD}',
    '\u{10FFFD}',
];
const PLAIN: &[char] = &['a', 'b', 'x', 'Z', '0', '9', '_', '.', '/', ' ', ','];

/// U+FDD0..U+FDEF and U+xFFFE / U+xFFFF in every plane.
fn noncharacter() -> impl Strategy<Value = char> {
    prop_oneof![
        (0xFDD0u32..=0xFDEF).prop_map(|c| char::from_u32(c).unwrap()),
        (0u32..=16, 0u32..=1)
            .prop_map(|(plane, low)| char::from_u32((plane << 16) | 0xFFFE | low).unwrap()),
    ]
}

/// Any `char` but NUL, mostly troublemakers.
fn value_char() -> impl Strategy<Value = char> {
    prop_oneof![
        40 => select(TRICKY),
        30 => select(PLAIN),
        20 => prop::char::range('\u{1}', '\u{1F}'),
        6 => prop::char::range('\u{7F}', '\u{9F}'),
        15 => any::<char>().prop_filter("NUL is tested on its own", |&c| c != '\0'),
        1 => noncharacter(),
    ]
}

/// A value: usually short, sometimes long, sometimes printable ASCII only.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => vec(value_char(), 0..24).prop_map(String::from_iter),
        1 => vec(value_char(), 24..300).prop_map(String::from_iter),
        1 => "[ -~]{0,30}",
    ]
}

/// 1..max variables named `SSMM_T_<nn>_<random suffix>` (unique, and clear of
/// every variable a shell gives meaning to) with random values.
fn test_vars(max: usize) -> impl Strategy<Value = Vec<(String, String)>> {
    vec(("[A-Za-z0-9_]{0,6}", value()), 1..max).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (suffix, value))| (format!("SSMM_T_{i:02}_{suffix}"), value))
            .collect()
    })
}

/// Any valid variable name, `export` (a word the env-file grammars know) included.
fn valid_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z_][A-Za-z0-9_]{0,8}",
        1 => select(vec!["export", "_", "EXPORT", "exports"]).prop_map(str::to_owned),
    ]
}

/// Arbitrary text for "never panics" properties: any `char`s (NUL included),
/// or the troublemakers alone.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        vec(prop_oneof![value_char(), Just('\0'), Just('/')], 0..40).prop_map(String::from_iter),
    ]
}

fn refs(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn sorted(vars: &[(String, String)]) -> Vec<(String, String)> {
    let mut v = vars.to_vec();
    v.sort();
    v
}

fn has_noncharacter(value: &str) -> bool {
    value.chars().any(|c| {
        let c = u32::from(c);
        (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE
    })
}

/// No raw control character (C0, DEL, C1) nor Unicode line/paragraph
/// separator: nothing that could break or forge a terminal or log line.
fn assert_printable(msg: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !msg.chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')),
        "message holds a raw control character: {:?}",
        msg
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Encoding: accepted or cleanly refused
// ---------------------------------------------------------------------------

/// Values sorted by one format: accepted alone, or refused with a reason.
struct Split {
    accepted: Vec<(String, String)>,
    refused: Vec<(String, String, &'static str)>,
}

impl Split {
    /// The accepted variables encoded together, which must succeed.
    fn file(&self, format: Format) -> String {
        encode(format, &refs(&self.accepted)).expect("accepted alone and together")
    }
}

/// Encodes each variable alone (checking every refusal is clean and allowed),
/// then the whole list, which must fail on the first refused variable for the
/// same reason, or succeed when none is refused.
fn split(format: Format, vars: &[(String, String)]) -> Result<Split, TestCaseError> {
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for (k, v) in vars {
        match encode(format, &[(k, v)]) {
            Ok(_) => accepted.push((k.clone(), v.clone())),
            Err(err) => {
                check_refusal(&err, format, k, v)?;
                refused.push((k.clone(), v.clone(), err.reason));
            }
        }
    }
    match (encode(format, &refs(vars)), refused.first()) {
        (Ok(_), None) => {}
        (Err(err), Some((k, _, reason))) => {
            prop_assert_eq!(&err.key, k, "the whole list fails on its first refused key");
            prop_assert_eq!(err.reason, *reason);
        }
        (Ok(_), Some((k, _, _))) => prop_assert!(false, "{} refused alone, not in the list", k),
        (Err(err), None) => prop_assert!(false, "list refused ({}) but no key alone", err),
    }
    Ok(Split { accepted, refused })
}

/// A refusal names the key and the format, gives one of the reasons the
/// format documents, and is exactly the fixed sentence: no part of the value.
fn check_refusal(
    err: &EncodeError,
    format: Format,
    key: &str,
    value: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&err.key, key);
    prop_assert_eq!(err.format, format);
    prop_assert!(
        allowed_reasons(format).contains(&err.reason),
        "{} refused {} for an undocumented reason: {:?}",
        format,
        key,
        err.reason
    );
    let msg = err.to_string();
    prop_assert_eq!(
        &msg,
        &format!("cannot write {key} in {format} format: {}", err.reason)
    );
    if value.chars().count() >= 4 {
        prop_assert!(!msg.contains(value), "{:?} echoes the value", msg);
    }
    Ok(())
}

fn write_file(dir: &Path, contents: &str) -> PathBuf {
    let path = dir.join("vars.env");
    std::fs::write(&path, contents).expect("write env file");
    path
}

/// `contents` in a file of a fresh directory (removed with the guard).
fn written(contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), contents);
    (dir, path)
}

/// A real reader's failure, as a failed case.
fn reader(
    result: Result<Vec<(String, String)>, String>,
) -> Result<Vec<(String, String)>, TestCaseError> {
    result.map_err(TestCaseError::fail)
}

// ---------------------------------------------------------------------------
// 1. systemd and shell formats through systemd's rules, sh and bash
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(1.0))]

    /// Every value without a noncharacter is accepted and read back exactly
    /// by systemd's parser rules and by `set -a; . FILE` in sh and bash; a
    /// value with one is refused for that reason and no other.
    #[test]
    fn systemd_values_round_trip_through_systemd_rules_sh_and_bash(vars in test_vars(20)) {
        let s = split(Format::Systemd, &vars)?;
        for (k, v, reason) in &s.refused {
            prop_assert_eq!(*reason, NONCHARACTER, "{} refused", k);
            prop_assert!(has_noncharacter(v), "{} refused without a noncharacter", k);
        }
        for (k, v) in &s.accepted {
            prop_assert!(!has_noncharacter(v), "{} accepted with a noncharacter", k);
        }
        let file = s.file(Format::Systemd);
        prop_assert_eq!(
            systemd_model::load_env_file(file.as_bytes()),
            Ok(s.accepted.clone()),
            "systemd's parser rules on {:?}", file
        );
        let (_dir, path) = written(&file);
        let want = sorted(&s.accepted);
        for shell in ["sh", "bash"] {
            prop_assert_eq!(
                reader(shell_exports(shell, "set -a; . \"$1\"", &path))?,
                want.clone(),
                "{}: set -a; . FILE on {:?}", shell, file
            );
        }
    }

    /// The shell format accepts every value without NUL and sh and bash read
    /// it back exactly with `eval "$(cat FILE)"` and with `. FILE`.
    #[test]
    fn shell_values_round_trip_through_eval_and_dot_in_sh_and_bash(vars in test_vars(20)) {
        let s = split(Format::Shell, &vars)?;
        prop_assert!(s.refused.is_empty(), "shell refused {:?}", s.refused);
        let file = encode(Format::Shell, &refs(&vars)).expect("no NUL");
        let (_dir, path) = written(&file);
        let want = sorted(&vars);
        for shell in ["sh", "bash"] {
            for load in ["eval \"$(cat \"$1\")\"", ". \"$1\""] {
                prop_assert_eq!(
                    reader(shell_exports(shell, load, &path))?,
                    want.clone(),
                    "{}: {} on {:?}", shell, load, file
                );
            }
        }
    }

    // -----------------------------------------------------------------------
    // 2. dotenv and docker formats through their readers, or refused
    // -----------------------------------------------------------------------

    /// Accepted values read back exactly in python-dotenv and npm dotenv;
    /// refusals are the documented ones (a `${` reference, or no quoting).
    #[test]
    fn dotenv_values_round_trip_in_python_and_npm_dotenv_or_are_refused(vars in test_vars(20)) {
        let s = split(Format::Dotenv, &vars)?;
        for (k, v, reason) in &s.refused {
            match *reason {
                INTERPOLATION => prop_assert!(v.contains("${"), "{} refused as a reference", k),
                NO_DOTENV_QUOTING => {}
                r => prop_assert!(false, "{} refused: {}", k, r),
            }
        }
        let file = s.file(Format::Dotenv);
        let (_dir, path) = written(&file);
        let want = as_map(&s.accepted);
        prop_assert_eq!(python_dotenv(&path), want.clone(), "python-dotenv on {:?}", file);
        prop_assert_eq!(npm_dotenv(&path), want, "npm dotenv on {:?}", file);
    }

    /// Docker refuses exactly the values its format documents (newline or CR,
    /// a same-quote pair around the value, a line over 65535 bytes) and the
    /// rest read back exactly in docker's env-file rules, with and without
    /// the quote trimming of compose and newer releases.
    #[test]
    fn docker_values_read_back_in_the_env_file_rules_or_are_refused(vars in test_vars(20)) {
        let s = split(Format::Docker, &vars)?;
        let why = |k: &str, v: &str| {
            if v.contains(['\n', '\r']) {
                Some(DOCKER_NEWLINE)
            } else if is_quote_wrapped(v) {
                Some(QUOTE_WRAPPED)
            } else if k.len() + 1 + v.len() > 65535 {
                Some(DOCKER_TOO_LONG)
            } else {
                None
            }
        };
        for (k, v, reason) in &s.refused {
            prop_assert_eq!(Some(*reason), why(k, v), "{}", k);
        }
        for (k, v) in &s.accepted {
            prop_assert_eq!(why(k, v), None, "{} accepted", k);
        }
        let file = s.file(Format::Docker);
        let want = env_list(&s.accepted);
        prop_assert_eq!(docker_model(&file, false), Ok(want.clone()), "plain rules on {:?}", file);
        prop_assert_eq!(docker_model(&file, true), Ok(want), "quote-trimming rules on {:?}", file);
    }
}

/// Every value the docker format accepts reads back exactly through the
/// real docker CLI (`docker create --env-file` against a fake engine).
///
/// Each case is one `docker create` (about 0.7 s), so this property runs
/// 1/16 of the cases (at least 4), each a batch of up to 79 values. It uses
/// a `TestRunner` directly because `proptest!` lets `PROPTEST_CASES`
/// override any count it is given.
#[test]
fn docker_cli_reads_back_every_accepted_value() {
    let config = ProptestConfig {
        cases: (base_cases() / 16).max(4),
        max_shrink_iters: 128,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&test_vars(80), |vars| {
        let s = split(Format::Docker, &vars)?;
        let file = s.file(Format::Docker);
        let (_dir, path) = written(&file);
        let got = docker_cli(&[path]).remove(0);
        prop_assert_eq!(got, Ok(env_list(&s.accepted)), "docker CLI on {:?}", file);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}

// ---------------------------------------------------------------------------
// Every format: names and NUL
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(4.0))]

    /// Any name and any value: a bad name or a NUL is refused as such, other
    /// refusals are documented ones, and JSON carries every other value.
    #[test]
    fn every_format_refuses_only_bad_names_nul_and_documented_values(
        name in prop_oneof![3 => valid_name(), 1 => any_text()],
        value in prop_oneof![3 => value(), 1 => any_text()],
    ) {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        prop_assert_eq!(names::is_valid_var(&name), valid);
        for format in ALL_FORMATS {
            match encode(format, &[(&name, &value)]) {
                Ok(out) => {
                    prop_assert!(valid && !value.contains('\0'), "{} accepted", format);
                    if format == Format::Json {
                        let back: Map<String, Value> = serde_json::from_str(&out).unwrap();
                        prop_assert_eq!(back.get(&name).and_then(Value::as_str), Some(value.as_str()));
                        prop_assert_eq!(back.len(), 1);
                    }
                }
                Err(err) if !valid => {
                    prop_assert_eq!(err.reason, BAD_NAME);
                    prop_assert_eq!(&err.key, &name);
                }
                Err(err) if value.contains('\0') => {
                    prop_assert_eq!(err.reason, NUL);
                    check_refusal(&err, format, &name, &value)?;
                }
                Err(err) => check_refusal(&err, format, &name, &value)?,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 4. envfile reads back what encode writes
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(4.0))]

    /// `envfile::parse` gives back exactly the variables (names, values, order
    /// and line numbers) of a systemd or shell file, `parse_as(.., Dotenv)`
    /// those of a dotenv file.
    #[test]
    fn envfile_reads_back_what_systemd_shell_and_dotenv_write(
        vars in btree_map(valid_name(), value(), 1..12),
    ) {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        for (format, syntax) in [
            (Format::Systemd, Syntax::Shell),
            (Format::Shell, Syntax::Shell),
            (Format::Dotenv, Syntax::Dotenv),
        ] {
            let s = split(format, &vars)?;
            let file = s.file(format);
            // Where each entry starts: after the lines of those before it.
            let mut want = Vec::new();
            let mut line = 1;
            for (k, v) in &s.accepted {
                want.push((k.clone(), v.clone(), line));
                line += encode(format, &[(k, v)]).unwrap().matches('\n').count();
            }
            let got = entries(envfile::parse_as(file.as_bytes(), syntax));
            prop_assert_eq!(&got, &Ok(want), "{} file read as {:?}: {:?}", format, syntax, file);
            if syntax == Syntax::Shell {
                prop_assert_eq!(entries(envfile::parse(file.as_bytes())), got);
            }
        }
    }
}

/// A parse result as plain data: (name, value, line) or (line, reason).
type Entries = Result<Vec<(String, String, usize)>, (usize, &'static str)>;

fn entries(result: Result<Vec<envfile::Entry>, envfile::ParseError>) -> Entries {
    result
        .map(|entries| {
            entries
                .into_iter()
                .map(|e| (e.var, e.value.expose().to_owned(), e.line))
                .collect()
        })
        .map_err(|e| (e.line, e.reason))
}

// ---------------------------------------------------------------------------
// 3. Never panic: names and configuration
// ---------------------------------------------------------------------------

fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// One path segment: mostly valid, sometimes `.`, `..`, empty or anything.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z0-9_.-]{1,8}",
        3 => select(vec!["", ".", "..", "..", "...", " ..", ".. ", "a b", "é"]).prop_map(str::to_owned),
        1 => vec(prop_oneof![value_char(), Just('\0')], 0..6).prop_map(String::from_iter),
    ]
}

/// Segments joined by `/`, with or without a leading and trailing `/`.
fn slash_path() -> impl Strategy<Value = String> {
    (
        prop::bool::weighted(0.2),
        vec(segment(), 0..5),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(lead, segs, trail)| {
            let mut s = if lead { "/".to_owned() } else { String::new() };
            s.push_str(&segs.join("/"));
            if trail {
                s.push('/');
            }
            s
        })
}

proptest! {
    #![proptest_config(cases(4.0))]

    /// `key_to_var` maps a key iff it is made of `A-Za-z0-9_.-` and does not
    /// start with a digit, by `-`/`.` -> `_` (and upper-casing); never panics.
    #[test]
    fn key_to_var_maps_exactly_the_keys_the_rules_allow(
        key in prop_oneof![any_text(), "[A-Za-z0-9_.-]{0,12}", "[a-z][a-z0-9.-]{0,10}"],
    ) {
        let ok = key.chars().next().is_some_and(|c| !c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        let mapped: String = key
            .chars()
            .map(|c| if c == '-' || c == '.' { '_' } else { c })
            .collect();
        for (case, want) in [
            (KeyCase::Upper, mapped.to_ascii_uppercase()),
            (KeyCase::Keep, mapped.clone()),
        ] {
            let got = names::key_to_var(&key, case);
            prop_assert_eq!(got.clone(), ok.then_some(want), "{:?}", case);
            if let Some(var) = got {
                prop_assert!(names::is_valid_var(&var));
            }
        }
    }

    /// `var_to_key` never panics, and on a valid name `key_to_var` undoes it.
    #[test]
    fn var_to_key_is_undone_by_key_to_var(
        var in prop_oneof![any_text(), "[A-Za-z_][A-Za-z0-9_]{0,12}"],
    ) {
        let key = names::var_to_key(&var);
        if names::is_valid_var(&var) {
            prop_assert!(names::is_valid_segment(&key), "{:?}", key);
            prop_assert_eq!(
                names::key_to_var(&key, KeyCase::Upper),
                Some(var.to_ascii_uppercase())
            );
        }
    }

    /// `validate_prefix` (and `resolve_prefix`, from the flag or the
    /// environment) accepts exactly `/seg(/seg)*`; errors are printable.
    #[test]
    fn prefixes_are_accepted_exactly_by_the_spec_rule(
        prefix in prop_oneof![slash_path(), any_text()],
    ) {
        let want = prefix.strip_prefix('/').is_some_and(|rest| rest.split('/').all(segment_ok));
        match names::validate_prefix(&prefix) {
            Ok(()) => prop_assert!(want, "accepted {:?}", prefix),
            Err(msg) => {
                prop_assert!(!want, "refused {:?}: {}", prefix, msg);
                prop_assert!(msg.starts_with("invalid prefix "), "{}", msg);
                assert_printable(&msg)?;
            }
        }
        let from_env = |k: &str| (k == "SSMM_PREFIX_ROOT").then(|| prefix.clone());
        for got in [
            config::resolve_prefix(Some(&prefix), &|_| None),
            config::resolve_prefix(None, &from_env),
        ] {
            match got {
                Ok(p) => {
                    prop_assert!(want);
                    prop_assert_eq!(&p, &prefix);
                }
                Err(e) => {
                    prop_assert!(!want);
                    prop_assert_eq!(e.exit_code(), 2);
                    assert_printable(&e.render())?;
                }
            }
        }
    }

    /// App names: one valid segment; every way `resolve_apps` finds one
    /// (flags, $SSMM_APP, the ECS container name, the directory name)
    /// gives valid segments or a printable usage error.
    #[test]
    fn app_names_are_single_segments_however_they_are_found(
        flags in vec(prop_oneof![segment(), any_text()], 0..3),
        env_app in proptest::option::of(prop_oneof![segment(), any_text()]),
        container in proptest::option::of(prop_oneof![segment(), any_text()]),
        dir in prop_oneof![segment(), any_text()],
    ) {
        for app in flags.iter().chain(&env_app).chain(&container).chain([&dir]) {
            match names::validate_app(app, "app") {
                Ok(()) => prop_assert!(segment_ok(app), "accepted {:?}", app),
                Err(msg) => {
                    prop_assert!(!segment_ok(app), "refused {:?}", app);
                    prop_assert!(msg.starts_with("invalid app name "), "{}", msg);
                    assert_printable(&msg)?;
                }
            }
            let _ = names::normalize_detected(app);
        }
        let env = |k: &str| if k == "SSMM_APP" { env_app.clone() } else { None };
        let cwd = Path::new("/srv").join(&dir);
        match config::resolve_apps(&flags, &env, container.as_deref(), &cwd) {
            Ok(apps) => {
                prop_assert!(!apps.is_empty());
                for app in &apps {
                    prop_assert!(segment_ok(app), "resolved to {:?}", app);
                }
                if !flags.is_empty() {
                    prop_assert_eq!(&apps, &flags);
                }
            }
            Err(e) => {
                prop_assert_eq!(e.exit_code(), 2);
                assert_printable(&e.render())?;
            }
        }
    }

    /// `printable` output is plain ASCII without control characters, and
    /// leaves plain names alone.
    #[test]
    fn printable_escapes_everything_unprintable(s in any_text(), plain in "[A-Za-z0-9_./ -]{0,20}") {
        let shown = names::printable(&s);
        prop_assert!(shown.is_ascii());
        assert_printable(&shown)?;
        prop_assert_eq!(names::printable(&plain), plain);
    }

    /// Durations never panic, stay within a day, and timeouts are never 0.
    #[test]
    fn durations_never_panic_and_stay_in_range(
        s in prop_oneof![any_text(), "[ \t]?[0-9.]{0,8}(ms|s|m|h|)[ \t]?", "[0-9]{300,320}"],
    ) {
        match units::parse_duration(&s) {
            Ok(d) => prop_assert!(d <= Duration::from_secs(86_400), "{:?} -> {:?}", s, d),
            Err(msg) => assert_printable(&msg)?,
        }
        match units::parse_timeout(&s) {
            Ok(d) => prop_assert!(!d.is_zero() && d <= Duration::from_secs(86_400)),
            Err(msg) => assert_printable(&msg)?,
        }
    }

    /// Whole numbers read in every unit, up to a day, with blanks around.
    #[test]
    fn durations_read_whole_numbers_in_each_unit(
        n in prop_oneof![0u64..2000, 0u64..200_000_000],
        unit in select(vec!["", "s", "ms", "m"]),
        pad in select(vec!["", " ", "\t"]),
    ) {
        let millis = match unit {
            "ms" => u128::from(n),
            "m" => u128::from(n) * 60_000,
            _ => u128::from(n) * 1000,
        };
        let got = units::parse_duration(&format!("{pad}{n}{unit}{pad}"));
        if millis <= 86_400_000 {
            let d = got.map_err(TestCaseError::fail)?;
            prop_assert!(d.as_nanos().abs_diff(millis * 1_000_000) <= 1000, "{} -> {:?}", n, d);
        } else {
            prop_assert!(got.is_err());
        }
    }

    /// Sizes never panic; a number and a unit multiply or report overflow.
    #[test]
    fn sizes_multiply_or_report_overflow(
        s in any_text(),
        n in prop_oneof![any::<u64>(), 0u64..5000],
        unit in select(vec!["", "B", "K", "KiB", "M", "MiB", "G", "GiB", "KB", "MB", "GB"]),
        space in select(vec!["", " "]),
        digits in "[0-9]{18,25}",
    ) {
        if let Err(msg) = units::parse_size(&s) {
            assert_printable(&msg)?;
        }
        let mult: u64 = match unit {
            "" | "B" => 1,
            "K" | "KiB" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            "G" | "GiB" => 1 << 30,
            "KB" => 1000,
            "MB" => 1_000_000,
            _ => 1_000_000_000,
        };
        let got = units::parse_size(&format!("{n}{space}{unit}"));
        prop_assert_eq!(got.ok(), n.checked_mul(mult));
        let big = units::parse_size(&digits);
        prop_assert_eq!(big.ok(), digits.parse::<u64>().ok());
    }

    /// Tags: accepted iff every entry is KEY=VALUE of tag characters with a
    /// non-empty key; errors are printable usage errors.
    #[test]
    fn tags_are_accepted_exactly_by_the_tag_rule(
        raw in vec(prop_oneof![any_text(), "[a-zA-Z0-9 _.:/=+@-]{0,10}", "[a-z]{250,260}=[a-z]{0,3}"], 0..4),
    ) {
        let part = |s: &str| {
            s.len() <= 256
                && s.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c))
        };
        let want = raw
            .iter()
            .all(|t| t.split_once('=').is_some_and(|(k, v)| !k.is_empty() && part(k) && part(v)));
        match config::parse_tags(&raw, "--include-tag") {
            Ok(pairs) => {
                prop_assert!(want);
                prop_assert_eq!(pairs.len(), raw.len());
                for ((k, v), t) in pairs.iter().zip(&raw) {
                    prop_assert_eq!(&format!("{k}={v}"), t);
                }
            }
            Err(e) => {
                prop_assert!(!want);
                prop_assert_eq!(e.exit_code(), 2);
                assert_printable(&e.render())?;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 3. Never panic: .env parsing
// ---------------------------------------------------------------------------

const PARSE_REASONS: &[&str] = &[
    "not valid UTF-8",
    "NUL byte",
    "carriage return outside quotes",
    "expected NAME=VALUE",
    "invalid variable name",
    "unexpected text after the closing quote",
    "unterminated single quote",
    "unterminated double quote",
];

/// Random bytes, or bytes made of the pieces the grammar cares about.
fn envish_bytes() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&[u8]] = &[
        b"A",
        b"_x1",
        b"1",
        b"export",
        b"export ",
        b" ",
        b"\t",
        b"=",
        b"=",
        b"'",
        b"'",
        b"\"",
        b"\"",
        b"\\",
        b"\\",
        b"\n",
        b"\n",
        b"\r",
        b"\r\n",
        b"#",
        b" #",
        b"$",
        b"`",
        b"x",
        b"n",
        b"\xEF\xBB\xBF",
        b"\xff",
        b"\xc3",
        b"\0",
        b"\xc3\xa9",
        b"\xe2\x80\xa8",
        b"\\\n",
        b"\\\r\n",
    ];
    // U+00E9 and U+2028 in UTF-8.
    const U_E9: &[u8] = "\u{e9}".as_bytes();
    const U_2028: &[u8] = "\u{2028}".as_bytes();
    const VALUE_PIECES: &[&[u8]] = &[
        b"a", b"b c", b" ", b"\t", b"'", b"\"", b"\\", b"\\n", b"\\$", b"\\`", b"\\'", b"\\\"",
        b"\n", b"\r", b"\r\n", b"#", b" #", b"$", b"${A}", b"`", b"=", U_E9, U_2028, b"\\\n",
        b"\\\r\n",
    ];
    // Lines shaped like entries: [blanks][export ]NAME[blanks]=[value pieces].
    let entry = (
        select(vec!["", " ", "\t", "export ", " export\t", "#"]),
        valid_name(),
        select(vec!["=", " = ", "\t=", "="]),
        vec(select(VALUE_PIECES), 0..8),
    )
        .prop_map(|(lead, name, eq, value)| {
            let mut line = format!("{lead}{name}{eq}").into_bytes();
            line.extend(value.concat());
            line
        });
    prop_oneof![
        1 => vec(any::<u8>(), 0..200),
        2 => vec(select(PIECES), 0..60).prop_map(|v| v.concat()),
        4 => (vec(entry, 0..6), select(vec![&b"\n"[..], b"\r\n", b"\n\n"]), any::<bool>()).prop_map(
            |(lines, sep, bom)| {
                let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
                bytes.extend(lines.join(sep));
                bytes
            },
        ),
    ]
}

proptest! {
    #![proptest_config(cases(4.0))]

    /// `parse` and `parse_as` never panic; entries have valid names and
    /// increasing lines within the file; errors are a line in the file and a
    /// fixed phrase; the syntaxes differ only where a backslash is.
    #[test]
    fn envfile_parsing_never_panics_and_reports_only_fixed_phrases(bytes in envish_bytes()) {
        let shell = entries(envfile::parse(&bytes));
        prop_assert_eq!(&shell, &entries(envfile::parse_as(&bytes, Syntax::Shell)));
        let dotenv = entries(envfile::parse_as(&bytes, Syntax::Dotenv));
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        for result in [&shell, &dotenv] {
            match result {
                Ok(entries) => {
                    let mut last = 0;
                    for (var, value, line) in entries {
                        prop_assert!(names::is_valid_var(var), "{:?}", var);
                        prop_assert!(!value.contains('\0'));
                        prop_assert!(*line > last && *line <= lines, "line {} of {}", line, lines);
                        last = *line;
                    }
                }
                Err((line, reason)) => {
                    prop_assert!(PARSE_REASONS.contains(reason), "{:?}", reason);
                    prop_assert!(*line >= 1 && *line <= lines, "line {} of {}", line, lines);
                }
            }
        }
        if let Err(e) = envfile::parse(&bytes) {
            prop_assert_eq!(e.to_string(), format!("line {}: {}", e.line, e.reason));
        }
        if !bytes.contains(&b'\\') {
            prop_assert_eq!(shell, dotenv);
        }
    }
}

// ---------------------------------------------------------------------------
// 3. Never panic: ECS metadata (file and endpoint)
// ---------------------------------------------------------------------------

const CLUSTER_LABEL: &str = "com.amazonaws.ecs.cluster";

/// A string a metadata field might hold: ARNs, names, `/`-ended ARNs, or anything.
fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => select(vec![
            "", "/", "prod", "READY", "web", "a/b/c", "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
            "arn:aws:ecs:us-east-1:1:cluster/", "cluster/x/", "\u{0}", "\u{1b}[31m",
        ])
        .prop_map(str::to_owned),
        3 => value(),
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "Cluster", "ContainerName", "TaskDefinitionFamily", "MetadataFileStatus", "Labels",
            "Name", "Family", "ServiceName", CLUSTER_LABEL, "TaskARN",
        ])
        .prop_map(str::to_owned),
        1 => any_text(),
    ]
}

/// Any JSON value, strings most often, nested two deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        6 => json_string().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(json_key(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What a known field holds: mostly a string, sometimes null or anything.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => json_string().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => json_value(),
    ]
}

/// An object with each of `fields` present (80%) holding a field value, plus
/// a few other keys.
fn json_object(fields: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    (
        vec(proptest::option::weighted(0.8, field_value()), fields.len()),
        btree_map(json_key(), json_value(), 0..3),
    )
        .prop_map(move |(values, extra)| {
            let mut obj: Map<String, Value> = extra.into_iter().collect();
            for (field, v) in fields.iter().zip(values) {
                if let Some(v) = v {
                    obj.insert((*field).to_owned(), v);
                }
            }
            obj
        })
}

/// The bytes of a metadata file: mostly a READY object with random fields,
/// sometimes damaged by one byte, sometimes anything.
fn metadata_file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => ready_object(),
        2 => (ready_object(), any::<prop::sample::Index>(), any::<u8>(), any::<bool>()).prop_map(
            |(mut bytes, at, byte, cut)| {
                let i = at.index(bytes.len());
                if cut { bytes.truncate(i) } else { bytes[i] = byte }
                bytes
            },
        ),
        1 => vec(any::<u8>(), 0..200),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

/// A metadata object, READY most of the time, with random fields.
fn ready_object() -> impl Strategy<Value = Vec<u8>> {
    (
        json_object(&["Cluster", "ContainerName", "TaskDefinitionFamily"]),
        prop_oneof![8 => Just(Value::from("READY")), 1 => json_value()],
    )
        .prop_map(|(mut obj, status)| {
            obj.insert("MetadataFileStatus".into(), status);
            serde_json::to_vec(&Value::Object(obj)).unwrap()
        })
}

/// A string field per the docs: absent, null or empty is None, any other
/// type an error.
fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

/// A cluster field: the text after the last `/`; empty counts as missing.
fn cluster_field(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ()> {
    Ok(opt_str(obj, key)?
        .map(|c| c.rsplit('/').next().unwrap_or_default().to_owned())
        .filter(|c| !c.is_empty()))
}

/// What discovery must find in a metadata file: `None` when it never becomes
/// a READY object (discovery times out), else the info or an error.
fn expected_from_file(
    bytes: &[u8],
    need: ecs::Need,
    source: String,
) -> Option<Result<ecs::EcsInfo, ()>> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(bytes) else {
        return None;
    };
    if obj.get("MetadataFileStatus") != Some(&Value::from("READY")) {
        return None;
    }
    let info = || -> Result<ecs::EcsInfo, ()> {
        Ok(ecs::EcsInfo {
            cluster: Some(cluster_field(&obj, "Cluster")?.ok_or(())?),
            container_name: opt_str(&obj, "ContainerName")?,
            family: opt_str(&obj, "TaskDefinitionFamily")?,
            service_name: None,
            source,
        })
    };
    Some(info().and_then(|i| needed(i, need)))
}

/// A needed container name that is missing or empty is an error.
fn needed(info: ecs::EcsInfo, need: ecs::Need) -> Result<ecs::EcsInfo, ()> {
    if need.container_name && info.container_name.is_none() {
        return Err(());
    }
    Ok(info)
}

/// What discovery must find from the endpoint's two answers.
fn expected_from_endpoint(
    container: &[u8],
    task: &[u8],
    need: ecs::Need,
    source: String,
) -> Result<ecs::EcsInfo, ()> {
    let object = |b: &[u8]| match serde_json::from_slice::<Value>(b) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(()),
    };
    let (container, task) = (object(container)?, object(task)?);
    let cluster = match cluster_field(&task, "Cluster")? {
        Some(c) => c,
        None => match container.get("Labels") {
            Some(Value::Object(labels)) => cluster_field(labels, CLUSTER_LABEL)?,
            _ => None,
        }
        .ok_or(())?,
    };
    needed(
        ecs::EcsInfo {
            cluster: Some(cluster),
            container_name: opt_str(&container, "Name")?,
            family: opt_str(&task, "Family")?,
            service_name: opt_str(&task, "ServiceName")?,
            source,
        },
        need,
    )
}

/// An endpoint answer: an object with the given fields, anything JSON, or bytes.
fn endpoint_body(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => json_object(fields).prop_map(|o| serde_json::to_vec(&Value::Object(o)).unwrap()),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => vec(any::<u8>(), 0..100),
    ]
}

/// Serves `container` at any path and `task` at `.../task` on 127.0.0.1, in
/// the current runtime; returns the endpoint URI.
async fn serve_bodies(container: Vec<u8>, task: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = std::sync::Arc::new((container, task));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req);
                let path = head.split(' ').nth(1).unwrap_or_default();
                let body = if path.ends_with("/task") {
                    &bodies.1
                } else {
                    &bodies.0
                };
                let mut resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                resp.extend_from_slice(body);
                let _ = sock.write_all(&resp).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}/v4/abc-123")
}

proptest! {
    #![proptest_config(cases(1.0))]

    /// Any metadata file is read, never panics and never outlives the
    /// timeout: a READY object gives exactly the documented fields or an
    /// error (a needed container name missing or empty is one), anything
    /// else times out; errors are printable.
    #[test]
    fn ecs_metadata_file_parsing_never_panics_or_hangs(
        bytes in metadata_file(),
        timeout_ms in select(vec![0u64, 1, 10, 50]),
        container_name in any::<bool>(),
    ) {
        let need = ecs::Need { container_name };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ecs-metadata.json");
        std::fs::write(&path, &bytes).unwrap();
        let timeout = Duration::from_millis(timeout_ms);
        let start = Instant::now();
        let got = block_on(ecs::discover(Some(&path), None, timeout, need));
        let took = start.elapsed();
        prop_assert!(took < timeout + Duration::from_secs(2), "took {:?}", took);
        let want = expected_from_file(&bytes, need, format!("metadata file {}", path.display()));
        match (got, want) {
            (Ok(Some(info)), Some(Ok(want))) => prop_assert_eq!(info, want),
            (Err(e), Some(Err(()))) => assert_printable(&format!("{e:#}"))?,
            (Err(e), None) => {
                let msg = format!("{e:#}");
                assert_printable(&msg)?;
                prop_assert!(msg.contains(&format!("after {timeout_ms}")), "{}", msg);
            }
            (got, want) => prop_assert!(false, "got {:?}, want {:?}", got.map_err(|e| format!("{e:#}")), want),
        }
    }

    /// Any answers from the task metadata endpoint give exactly the
    /// documented fields or a printable error (a needed container name
    /// missing or empty is one), without panicking.
    #[test]
    fn ecs_metadata_endpoint_parsing_never_panics(
        container in endpoint_body(&["Name", "Labels"]),
        task in endpoint_body(&["Cluster", "Family", "ServiceName"]),
        label in proptest::option::weighted(0.5, json_value()),
        container_name in any::<bool>(),
    ) {
        let need = ecs::Need { container_name };
        // Give the Labels fallback a real chance: an object with the label.
        let container = match (serde_json::from_slice::<Value>(&container), label) {
            (Ok(Value::Object(mut obj)), Some(label)) => {
                let labels: Map<String, Value> = [(CLUSTER_LABEL.to_owned(), label)].into_iter().collect();
                obj.insert("Labels".into(), Value::Object(labels));
                serde_json::to_vec(&obj).unwrap()
            }
            _ => container,
        };
        let (uri, got) = block_on(async {
            let uri = serve_bodies(container.clone(), task.clone()).await;
            let got = ecs::discover(None, Some(&uri), Duration::from_secs(10), need).await;
            (uri, got)
        });
        let want = expected_from_endpoint(&container, &task, need, format!("metadata endpoint {uri}"));
        match (got, want) {
            (Ok(Some(info)), Ok(want)) => prop_assert_eq!(info, want),
            (Err(e), Err(())) => assert_printable(&format!("{e:#}"))?,
            (got, want) => prop_assert!(false, "got {:?}, want {:?}", got.map_err(|e| format!("{e:#}")), want),
        }
    }
}

// ---------------------------------------------------------------------------
// 3. Never panic: files/ paths, base64 and url values
// ---------------------------------------------------------------------------

fn spec(rel: &str, value: &str) -> FileSpec {
    FileSpec {
        rel: rel.to_owned(),
        param: format!("/t/app/files/{rel}"),
        value: Secret::new(value),
    }
}

/// `files::prepare` under a fresh empty root; inline values need no network.
fn prepare(specs: &[FileSpec]) -> anyhow::Result<Vec<files::Prepared>> {
    let root = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_size: 1 << 20,
        timeout: Duration::from_secs(5),
    };
    block_on(files::prepare(specs, &[], root.path(), &limits))
}

/// The rule of `check_rel`'s docs, written out.
fn rel_ok(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.chars().any(char::is_control)
        && rel
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && s.len() <= 255)
}

/// Checks a base64 error is one of its fixed phrases (no input in it).
fn base64_reason_ok(why: &str) -> bool {
    why == "truncated input"
        || why == "invalid padding"
        || why
            .strip_prefix("invalid character at offset ")
            .and_then(|rest| rest.strip_suffix(", whitespace ignored"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn is_loopback(url: &url::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// A `url:` value (without the `url:`) and the secrets it carries: mostly
/// URL-shaped from risky parts, sometimes anything.
fn url_value() -> impl Strategy<Value = (String, Vec<String>)> {
    let shaped = (
        select(vec![
            "https",
            "http",
            "HTTPS",
            "ftp",
            "file",
            "javascript",
            "data",
            "",
            "h\tttps",
        ]),
        select(vec![
            "example.com",
            "127.0.0.1",
            "127.1",
            "localhost",
            "LocalHost",
            "[::1]",
            "10.0.0.1",
            "",
            "user:hunter2@example.com",
            "user:hunter2@127.0.0.1",
            "ex ample.com",
            "[::ffff:127.0.0.1]",
            "localhost.",
            "0x7f.1",
        ]),
        proptest::option::of(0u32..70_000),
        "(/[a-z0-9%.]{0,6}){0,3}",
        proptest::option::of("[a-z0-9]{6}"),
        proptest::option::of(prop_oneof![
            Just(format!("sha256={}", "ab".repeat(32))),
            Just("sha256=zz".to_owned()),
            Just("x".to_owned()),
            Just(String::new()),
        ]),
        select(vec!["", " ", "\n", "\t"]),
    )
        .prop_map(|(scheme, host, port, path, query, fragment, ws)| {
            let mut secrets = Vec::new();
            if host.contains("hunter2") {
                secrets.push("hunter2".to_owned());
            }
            let mut url = format!("{ws}{scheme}://{host}");
            if let Some(port) = port {
                url.push_str(&format!(":{port}"));
            }
            url.push_str(&path);
            if let Some(q) = query {
                let q = format!("X-Amz-Signature=SECRET{q}");
                url.push('?');
                url.push_str(&q);
                secrets.push(q);
            }
            if let Some(f) = fragment {
                url.push('#');
                url.push_str(&f);
            }
            url.push_str(ws);
            (url, secrets)
        });
    prop_oneof![4 => shaped, 1 => any_text().prop_map(|s| (s, Vec::new()))]
}

proptest! {
    #![proptest_config(cases(4.0))]

    /// `check_rel` accepts exactly non-empty relative paths of non-empty
    /// segments, none `.` or `..` or over 255 bytes, without control
    /// characters: never an absolute path, `..` or `//`. An accepted path
    /// is only normal components and stays under any root; `prepare`
    /// applies the same rule with printable messages.
    #[test]
    fn check_rel_accepts_only_plain_relative_paths(rel in prop_oneof![3 => slash_path(), 1 => any_text()]) {
        let segs: Vec<&str> = rel.split('/').collect();
        match files::check_rel(&rel) {
            Ok(()) => {
                prop_assert!(rel_ok(&rel), "accepted {:?}", rel);
                prop_assert!(!rel.starts_with('/') && !rel.ends_with('/'));
                prop_assert!(!segs.contains(&"..") && !segs.contains(&"") && !segs.contains(&"."));
                let comps: Vec<Component> = Path::new(&rel).components().collect();
                prop_assert!(comps.iter().all(|c| matches!(c, Component::Normal(_))), "{:?}", comps);
                prop_assert_eq!(comps.len(), segs.len());
                let root = Path::new("/srv/root");
                prop_assert!(root.join(&rel).starts_with(root));
            }
            Err(why) => {
                prop_assert!(!rel_ok(&rel), "refused {:?}: {}", rel, why);
                assert_printable(&why)?;
            }
        }
        match prepare(&[spec(&rel, "content")]) {
            Ok(prepared) => {
                prop_assert!(rel_ok(&rel));
                prop_assert_eq!(prepared[0].content(), b"content");
            }
            Err(e) => {
                prop_assert!(!rel_ok(&rel), "refused {:?}: {:#}", rel, e);
                let msg = format!("{e:#}");
                assert_printable(&msg)?;
                prop_assert!(msg.contains("refused"), "{}", msg);
            }
        }
    }

    /// Any bytes, base64-encoded with or without padding and wrapped with
    /// ASCII whitespace anywhere, decode back to exactly those bytes.
    #[test]
    fn base64_values_decode_to_their_bytes_however_wrapped(
        bytes in vec(any::<u8>(), 0..300),
        pad in any::<bool>(),
        wraps in vec((any::<prop::sample::Index>(), select(vec![" ", "\n", "\r\n", "\t", "\x0C", "  \n"])), 0..6),
    ) {
        use base64::Engine as _;
        let mut encoded = if pad {
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes)
        };
        for (at, ws) in wraps {
            let i = at.index(encoded.len() + 1);
            encoded.insert_str(i, ws);
        }
        let prepared = prepare(&[spec("f.bin", &format!("base64:{encoded}"))])
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        prop_assert_eq!(prepared[0].content(), &bytes[..]);
    }

    /// Any text after `base64:` decodes or is refused by a fixed phrase that
    /// names the parameter and quotes nothing of the value.
    #[test]
    fn base64_errors_are_fixed_phrases(
        body in prop_oneof![any_text(), "[A-Za-z0-9+/=\\-_ \n]{0,40}"],
    ) {
        match prepare(&[spec("k.der", &format!("base64:{body}"))]) {
            Ok(_) => {
                let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                prop_assert!(compact.chars().all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)));
            }
            Err(e) => {
                let msg = format!("{e:#}");
                assert_printable(&msg)?;
                match e.downcast_ref::<FileError>() {
                    Some(FileError::Base64 { param, why }) => {
                        prop_assert_eq!(param.as_str(), "/t/app/files/k.der");
                        prop_assert!(base64_reason_ok(why), "{:?}", why);
                    }
                    other => prop_assert!(false, "not a base64 error: {:?}", other),
                }
            }
        }
    }

    /// `url:` values are vetted without any network access: refused with a
    /// printable message that never shows the query or a password, or
    /// accepted only for https and for http to a loopback host.
    #[test]
    fn url_values_are_vetted_without_echoing_secrets((url, secrets) in url_value()) {
        // The second file's `..` path fails after the first value is vetted
        // and before any download starts.
        let err = prepare(&[spec("a", &format!("url:{url}")), spec("..", "x")])
            .expect_err("the '..' path is always refused");
        let msg = format!("{err:#}");
        assert_printable(&msg)?;
        for secret in &secrets {
            prop_assert!(!msg.contains(secret.as_str()), "{:?} shows {:?}", msg, secret);
        }
        match err.downcast_ref::<FileError>() {
            Some(FileError::Url { param, .. }) => prop_assert_eq!(param.as_str(), "/t/app/files/a"),
            Some(FileError::Path { rel, .. }) => {
                prop_assert_eq!(rel.as_str(), "..");
                let parsed = url::Url::parse(url.trim()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(
                    parsed.scheme() == "https" || (parsed.scheme() == "http" && is_loopback(&parsed)),
                    "accepted {:?}", url
                );
            }
            other => prop_assert!(false, "unexpected error {:?}", other),
        }
    }
}
