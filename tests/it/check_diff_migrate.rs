//! End-to-end tests of the team admin commands that compare and move
//! parameters: `check` (keys in several apps, identical values shown as
//! salted hash prefixes), `diff` (a local env file against an app, reading
//! back what `sync` writes) and `migrate` (copy, verify and back up, delete),
//! against a real moto server through the real binary.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::expect::assert_no_raw_controls;
use crate::support::sorted_pairs as tags;
use crate::support::{Outcome, Ssmm, block_on, moto, unique_prefix};
use aws_sdk_ssm::types::{ParameterTier, ParameterType, ResourceTypeForTagging};
use sha2::{Digest, Sha256};

/// `ssmm --prefix P ...` in `dir`, against moto.
fn ssmm(prefix: &str, dir: &Path) -> Ssmm {
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir)
        .args(["--prefix", prefix])
}

fn is_hash(s: &str) -> bool {
    s.len() == 12
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn plain_sha256(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn json(out: &Outcome) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{out}"))
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn set(items: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    items.into_iter().collect()
}

/// A parameter with an explicit tier and description, which the harness's
/// `put_typed` does not set.
fn put_full(name: &str, value: &str, ty: ParameterType, tier: ParameterTier, description: &str) {
    let call = moto()
        .client()
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ty)
        .tier(tier)
        .description(description)
        .overwrite(true)
        .send();
    block_on(call).unwrap_or_else(|e| panic!("PutParameter {name}: {e:?}"));
}

fn description(name: &str) -> Option<String> {
    moto()
        .described(name)
        .and_then(|p| p.description().map(str::to_string))
}

fn remove_tag(name: &str, key: &str) {
    let call = moto()
        .client()
        .remove_tags_from_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .tag_keys(key)
        .send();
    block_on(call).unwrap_or_else(|e| panic!("RemoveTagsFromResource {name}: {e:?}"));
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------- check

/// Seeds a prefix for `check`: apps created out of alphabetical order, the
/// same key in several apps, values shared across parameters, and unique
/// ones that must not be listed.
fn seed_check() -> String {
    let p = unique_prefix();
    let m = moto();
    m.seed(
        &p,
        ParameterType::SecureString,
        &[
            ("zeta/db-url", "zeta-url-1"),
            ("alpha/db-url", "alpha-url-2"),
            ("mid/db-url", "mid-url-3"),
            ("zeta/files/a.pem", "PEM-SHARED-VALUE"),
            ("alpha/files/a.pem", "PEM-SHARED-VALUE"),
        ],
    );
    m.put(&format!("{p}/zeta/token"), "same-token-value");
    m.seed(
        &p,
        ParameterType::SecureString,
        &[
            ("alpha/other", "same-token-value"),
            ("mid/only-here", "unique-value-9"),
            ("orphan", "orphan-value"),
        ],
    );
    p
}

#[test]
fn check_text_lists_keys_in_several_apps_and_identical_values_sorted() {
    let p = seed_check();
    let dir = tempfile::tempdir().unwrap();
    let out = ssmm(&p, dir.path()).arg("check").run();
    out.success();
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 6, "{out}");
    assert_eq!(got[0], "Keys in several apps: 2", "{out}");
    assert_eq!(
        set(got[1..3].to_vec()),
        set([
            "  db-url: alpha, mid, zeta".to_string(),
            "  files/a.pem: alpha, zeta".to_string()
        ]),
        "{out}"
    );
    assert_eq!(got[3], "Identical values: 2", "{out}");
    let mut groups = BTreeSet::new();
    for line in &got[4..6] {
        let (hash, names) = line
            .strip_prefix("  ")
            .and_then(|l| l.split_once(": "))
            .unwrap_or_else(|| panic!("bad line {line:?}\n{out}"));
        assert!(is_hash(hash), "not a 12-hex hash: {hash:?}\n{out}");
        groups.insert(names.to_string());
    }
    assert_eq!(
        groups,
        set([
            format!("{p}/alpha/files/a.pem, {p}/zeta/files/a.pem"),
            format!("{p}/alpha/other, {p}/zeta/token"),
        ]),
        "{out}"
    );
    // A report: values are never printed, unique ones are not listed.
    for secret in [
        "PEM-SHARED-VALUE",
        "same-token-value",
        "url-",
        "unique-value",
    ] {
        assert!(!out.combined().contains(secret), "{secret} shown\n{out}");
    }
    assert!(!out.stdout.contains("only-here"), "{out}");
    assert!(!out.stdout.contains("orphan"), "{out}");
}

#[test]
fn check_hashes_group_equal_values_but_change_every_run_and_are_not_plain_sha256() {
    let p = unique_prefix();
    let m = moto();
    let value = "hash-me-please";
    m.put_secure(&format!("{p}/a/x"), value);
    m.put_secure(&format!("{p}/b/y"), value);
    m.put_secure(&format!("{p}/c/z"), value);
    m.put_secure(&format!("{p}/c/w"), "another-shared");
    m.put_secure(&format!("{p}/d/w"), "another-shared");
    let dir = tempfile::tempdir().unwrap();
    let plain = plain_sha256(value);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let out = ssmm(&p, dir.path())
            .args(["check", "--values", "--json"])
            .run();
        out.success();
        let doc = json(&out);
        let groups = doc["values"].as_array().expect("values array");
        assert_eq!(groups.len(), 2, "{out}");
        let group = groups
            .iter()
            .find(|g| g["parameters"].as_array().unwrap().len() == 3)
            .unwrap_or_else(|| panic!("no group of 3\n{out}"));
        // One group for the three equal values: they share one hash.
        assert_eq!(
            group["parameters"],
            serde_json::json!([format!("{p}/a/x"), format!("{p}/b/y"), format!("{p}/c/z")]),
            "{out}"
        );
        let hash = group["hash"].as_str().unwrap().to_string();
        assert!(is_hash(&hash), "{hash}");
        assert!(group.get("value").is_none(), "{out}");
        let other = groups.iter().find(|g| *g != group).unwrap()["hash"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(hash, other, "different values, same hash\n{out}");
        assert!(
            !plain.starts_with(&hash),
            "the hash {hash} is the plain SHA-256 of the value ({plain}): guessable offline"
        );
        seen.push(hash);
    }
    assert_ne!(seen[0], seen[1], "the hash did not change between runs");
    assert_ne!(seen[1], seen[2], "the hash did not change between runs");
    assert_ne!(seen[0], seen[2], "the hash did not change between runs");
}

#[test]
fn check_show_values_prints_json_quoted_values_instead_of_hashes() {
    let p = unique_prefix();
    let m = moto();
    let value = "line one \"q\"\nline two";
    m.put_secure(&format!("{p}/web/cert"), value);
    m.put_secure(&format!("{p}/api/cert"), value);
    m.put_secure(&format!("{p}/api/lonely"), "lonely-value");
    let dir = tempfile::tempdir().unwrap();

    // --show-values alone: both checks, values shown.
    let out = ssmm(&p, dir.path()).args(["check", "--show-values"]).run();
    out.success();
    let quoted = serde_json::Value::String(value.into()).to_string();
    assert_eq!(
        lines(&out.stdout),
        vec![
            "Keys in several apps: 1".to_string(),
            "  cert: api, web".to_string(),
            "Identical values: 1".to_string(),
            format!("  {quoted}: {p}/api/cert, {p}/web/cert"),
        ],
        "{out}"
    );
    assert!(!out.combined().contains("lonely-value"), "{out}");

    // --duplicates --show-values: --show-values implies --values.
    let out = ssmm(&p, dir.path())
        .args(["check", "--duplicates", "--show-values", "--json"])
        .run();
    out.success();
    let doc = json(&out);
    assert_eq!(
        doc["duplicates"],
        serde_json::json!([{"key": "cert", "apps": ["api", "web"]}]),
        "{out}"
    );
    let groups = doc["values"].as_array().expect("values with --show-values");
    assert_eq!(groups.len(), 1, "{out}");
    assert_eq!(groups[0]["value"], value, "{out}");
    assert!(is_hash(groups[0]["hash"].as_str().unwrap()), "{out}");
    assert_eq!(
        groups[0]["parameters"],
        serde_json::json!([format!("{p}/api/cert"), format!("{p}/web/cert")])
    );
}

#[test]
fn check_json_has_only_the_requested_sections_and_exits_0() {
    let p = seed_check();
    let dir = tempfile::tempdir().unwrap();

    let out = ssmm(&p, dir.path())
        .args(["check", "--duplicates", "--json"])
        .run();
    out.success();
    let doc = json(&out);
    assert_eq!(
        doc,
        serde_json::json!({"duplicates": [
            {"key": "db-url", "apps": ["alpha", "mid", "zeta"]},
            {"key": "files/a.pem", "apps": ["alpha", "zeta"]},
        ]}),
        "{out}"
    );

    let out = ssmm(&p, dir.path())
        .args(["check", "--values", "--json"])
        .run();
    out.success();
    let doc = json(&out);
    let obj = doc.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["values"], "{out}");
    let groups: BTreeSet<String> = doc["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            assert!(is_hash(g["hash"].as_str().unwrap()), "{out}");
            assert!(
                g.get("value").is_none(),
                "a value without --show-values\n{out}"
            );
            g["parameters"].to_string()
        })
        .collect();
    assert_eq!(
        groups,
        set([
            serde_json::json!([
                format!("{p}/alpha/files/a.pem"),
                format!("{p}/zeta/files/a.pem")
            ])
            .to_string(),
            serde_json::json!([format!("{p}/alpha/other"), format!("{p}/zeta/token")]).to_string(),
        ])
    );
    assert!(!out.combined().contains("same-token-value"), "{out}");

    let out = ssmm(&p, dir.path()).args(["check", "--json"]).run();
    out.success();
    let doc = json(&out);
    assert_eq!(doc["duplicates"].as_array().unwrap().len(), 2, "{out}");
    assert_eq!(doc["values"].as_array().unwrap().len(), 2, "{out}");

    // Nothing to report is still a report.
    let empty = unique_prefix();
    moto().put_secure(&format!("{empty}/solo/k"), "v1");
    let out = ssmm(&empty, dir.path()).arg("check").run();
    out.success();
    assert_eq!(
        lines(&out.stdout),
        vec!["Keys in several apps: 0", "Identical values: 0"],
        "{out}"
    );
}

// ----------------------------------------------------------------- diff

/// Values that stress every quoting rule of the env file formats; each
/// one is representable in systemd, shell and dotenv.
const TRICKY: &[(&str, &str)] = &[
    ("quotes-dollar", "a \"double\" $HOME and $1 \\ back"),
    ("single", "it's"),
    ("multi-line", "line1\nline2 # not a comment\n  indented  "),
    ("hash-first", "#starts-with-hash"),
    ("padded", "  padded  "),
    ("trailing-backslash", "ends with backslash\\"),
    ("only-backslash", "\\"),
    ("tab", "tab\there"),
    ("equals", "a=b=c"),
    ("backtick", "`backtick` and \\n literal"),
    ("crlf", "crlf\r\nend"),
    ("ends-newline", "trailing newline\n"),
    ("unicode", "h\u{e9}llo \u{2713} \u{65e5}\u{672c}"),
    ("hash-mid", "x #y"),
];

fn seed_tricky(p: &str, app: &str) {
    let m = moto();
    for (k, v) in TRICKY {
        m.put_secure(&format!("{p}/{app}/{k}"), v);
    }
}

#[test]
fn diff_reads_back_sync_files_of_every_text_format_exactly() {
    let p = unique_prefix();
    seed_tricky(&p, "api");
    let m = moto();
    // Neither compared: a shared layer (skipped by --no-shared) and a
    // nested files/ parameter (not a direct child of the app).
    m.put_secure(&format!("{p}/shared/shared-token"), "shared");
    m.put_secure(&format!("{p}/api/files/conf.yml"), "a: 1");
    let dir = tempfile::tempdir().unwrap();
    for format in ["systemd", "shell", "dotenv"] {
        let file = format!("{format}.env");
        ssmm(&p, dir.path())
            .args(["sync", "--app", "api", "--no-shared", "--no-files"])
            .args(["--out", &file, "--format", format])
            .run()
            .success();
        let out = ssmm(&p, dir.path())
            .args(["diff", "--app", "api", "--env", &file])
            .run();
        out.success();
        assert_eq!(out.stdout, "", "{format}: {out}");
        assert!(
            out.stderr.contains(&format!(
                "ssmm: {file} matches {p}/api/ ({} variables)",
                TRICKY.len()
            )),
            "{format}: {out}"
        );
    }
    // The default file is ./.env.
    ssmm(&p, dir.path())
        .args(["sync", "--app", "api", "--no-shared", "--no-files"])
        .run()
        .success();
    let out = ssmm(&p, dir.path()).args(["diff", "--app", "api"]).run();
    out.success().stderr_contains(".env matches");
}

/// The dotenv readers keep a backslash before `$`, a backtick or a line
/// break inside double quotes; sh and systemd drop it. A dotenv file from
/// sync holding such a value reads back with `--env-syntax dotenv`, and the
/// shell syntax (the default) really reads it differently.
#[test]
fn diff_reads_dotenv_backslashes_with_the_dotenv_syntax() {
    let p = unique_prefix();
    let m = moto();
    m.put_secure(&format!("{p}/api/price"), "it's \\$5 and \\`x`");
    m.put_secure(&format!("{p}/api/joined"), "it's a\\\nb");
    let dir = tempfile::tempdir().unwrap();
    ssmm(&p, dir.path())
        .args(["sync", "--app", "api", "--no-shared", "--no-files"])
        .args(["--out", "d.env", "--format", "dotenv"])
        .run()
        .success();
    let text = fs::read_to_string(dir.path().join("d.env")).unwrap();
    assert!(text.contains("PRICE=\"it's \\$5"), "{text}");
    ssmm(&p, dir.path())
        .args([
            "diff",
            "--app",
            "api",
            "--env",
            "d.env",
            "--env-syntax",
            "dotenv",
        ])
        .run()
        .success()
        .stderr_contains("matches");
    let out = ssmm(&p, dir.path())
        .args(["diff", "--app", "api", "--env", "d.env"])
        .run();
    out.code(1)
        .stdout_contains("~ JOINED")
        .stdout_contains("~ PRICE");
}

#[test]
fn diff_reports_added_removed_and_changed_variables_sorted_and_exits_1() {
    let p = unique_prefix();
    seed_tricky(&p, "api");
    let dir = tempfile::tempdir().unwrap();
    ssmm(&p, dir.path())
        .args(["sync", "--app", "api", "--no-shared", "--out", "app.env"])
        .run()
        .success();
    let m = moto();
    m.put_secure(&format!("{p}/api/multi-line"), "changed in SSM");
    m.put_secure(&format!("{p}/api/b-new-in-ssm"), "fresh");
    let mut text = fs::read_to_string(dir.path().join("app.env")).unwrap();
    text.push_str("A_ONLY_IN_FILE=\"local\"\n");
    fs::write(dir.path().join("app.env"), text).unwrap();

    let out = ssmm(&p, dir.path())
        .args(["diff", "--app", "api", "--env", "app.env"])
        .run();
    out.code(1);
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 3, "{out}");
    assert_eq!(got[0], "+ A_ONLY_IN_FILE", "{out}");
    assert_eq!(got[1], "- B_NEW_IN_SSM", "{out}");
    let rest = got[2]
        .strip_prefix("~ MULTI_LINE (file ")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("bad ~ line {:?}\n{out}", got[2]));
    let (file_hash, ssm_hash) = rest.split_once(", ssm ").expect("two hashes");
    assert!(is_hash(file_hash) && is_hash(ssm_hash), "{out}");
    assert_ne!(file_hash, ssm_hash, "{out}");
    for secret in ["changed in SSM", "fresh", "local", "line2"] {
        assert!(!out.combined().contains(secret), "{secret} shown\n{out}");
    }

    let out = ssmm(&p, dir.path())
        .args(["diff", "--app", "api", "--env", "app.env", "--json"])
        .run();
    out.code(1);
    let doc = json(&out);
    assert_eq!(doc["file"], "app.env", "{out}");
    assert_eq!(doc["path"], format!("{p}/api/"), "{out}");
    assert_eq!(doc["added"], serde_json::json!(["A_ONLY_IN_FILE"]), "{out}");
    assert_eq!(doc["removed"], serde_json::json!(["B_NEW_IN_SSM"]), "{out}");
    let changed = doc["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{out}");
    assert_eq!(changed[0]["name"], "MULTI_LINE");
    let (f, s) = (
        changed[0]["file"].as_str().unwrap(),
        changed[0]["ssm"].as_str().unwrap(),
    );
    assert!(is_hash(f) && is_hash(s) && f != s, "{out}");
}

#[test]
fn diff_hashes_match_equal_values_within_one_run_only() {
    let p = unique_prefix();
    // file: A=x B=x C=y; SSM: A=y B=z C=x
    let ssm = [
        ("api/a", "value-y"),
        ("api/b", "value-z"),
        ("api/c", "value-x"),
    ];
    moto().seed(&p, ParameterType::SecureString, &ssm);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".env"), "A=value-x\nB=value-x\nC=value-y\n").unwrap();
    let run = || {
        let out = ssmm(&p, dir.path())
            .args(["diff", "--app", "api", "--json"])
            .run();
        out.code(1);
        let doc = json(&out);
        let mut by = std::collections::BTreeMap::new();
        for c in doc["changed"].as_array().unwrap() {
            by.insert(
                c["name"].as_str().unwrap().to_string(),
                (
                    c["file"].as_str().unwrap().to_string(),
                    c["ssm"].as_str().unwrap().to_string(),
                ),
            );
        }
        assert_eq!(by.len(), 3, "{out}");
        by
    };
    let first = run();
    let (hx, hy, hz) = (&first["A"].0, &first["A"].1, &first["B"].1);
    assert_eq!(&first["B"].0, hx, "equal values, different hashes");
    assert_eq!(&first["C"].1, hx, "equal values, different hashes");
    assert_eq!(&first["C"].0, hy, "equal values, different hashes");
    assert!(hx != hy && hy != hz && hx != hz, "{first:?}");
    assert!(!plain_sha256("value-x").starts_with(hx.as_str()));
    let second = run();
    assert_ne!(&second["A"].0, hx, "the hash did not change between runs");
}

#[test]
fn diff_bad_line_is_a_usage_error_naming_the_line_but_not_its_text() {
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/token"), "t");
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("bad.env"),
        "TOKEN=t\n# a comment\nhunter2-SECRET-PASTED-HERE\n",
    )
    .unwrap();
    let out = ssmm(&p, dir.path())
        .args(["diff", "--app", "api", "--env", "bad.env"])
        .run();
    out.code(2).stderr_contains("line 3");
    assert!(!out.combined().contains("hunter2"), "{out}");

    fs::write(
        dir.path().join("bad2.env"),
        "TOKEN=t\nOTHER=\"never closed-SECRET\n",
    )
    .unwrap();
    let out = ssmm(&p, dir.path())
        .args(["diff", "--app", "api", "--env", "bad2.env"])
        .run();
    out.code(2).stderr_contains("line 2");
    assert!(!out.combined().contains("never closed"), "{out}");
}

#[test]
fn diff_with_a_missing_env_file_is_a_runtime_error() {
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/token"), "t");
    let dir = tempfile::tempdir().unwrap();
    let out = ssmm(&p, dir.path())
        .args(["diff", "--app", "api", "--env", "nope.env"])
        .run();
    out.code(1).stderr_contains("nope.env");
    assert_eq!(out.stdout, "", "{out}");
    // The default .env, missing too.
    ssmm(&p, dir.path())
        .args(["diff", "--app", "api"])
        .run()
        .code(1)
        .stderr_contains(".env");
}

/// Two keys mapping to one variable: sync uses the lexically last name
/// (docs/CONTRACT.md §2), so diff must compare with that one too, whatever order SSM
/// lists them in; otherwise a file sync just wrote "differs".
#[test]
fn diff_resolves_keys_mapping_to_one_variable_like_sync() {
    let p = unique_prefix();
    let m = moto();
    // Created in this order, moto lists db.password first.
    m.put_secure(&format!("{p}/api/db.password"), "dot-wins");
    m.put_secure(&format!("{p}/api/db-password"), "dash-loses");
    m.put_secure(&format!("{p}/api/other"), "o");
    let dir = tempfile::tempdir().unwrap();
    ssmm(&p, dir.path())
        .args(["sync", "--app", "api", "--no-shared"])
        .run()
        .success();
    let written = fs::read_to_string(dir.path().join(".env")).unwrap();
    assert!(written.contains("DB_PASSWORD=\"dot-wins\""), "{written}");
    let out = ssmm(&p, dir.path()).args(["diff", "--app", "api"]).run();
    out.success();
    assert_eq!(out.stdout, "", "{out}");
}

// -------------------------------------------------------------- migrate

/// An app `api` with String and SecureString values, an Advanced
/// parameter, a description, a nested files/ parameter and tags (an
/// `app=api` tag that must move, an `app=` tag naming another app that
/// must not).
fn seed_migrate() -> String {
    let p = unique_prefix();
    let m = moto();
    m.put_secure(&format!("{p}/api/db-url"), "postgres://u:p@h/db");
    m.add_tags(
        &format!("{p}/api/db-url"),
        &[("app", "api"), ("owner", "payments")],
    );
    m.put(&format!("{p}/api/db-host"), "db.internal");
    m.add_tags(&format!("{p}/api/db-host"), &[("app", "api")]);
    put_full(
        &format!("{p}/api/big"),
        &"B".repeat(5000),
        ParameterType::SecureString,
        ParameterTier::Advanced,
        "an advanced one",
    );
    m.put_secure(&format!("{p}/api/files/tls/a.pem"), "-----PEM-----\nxyz\n");
    m.add_tags(
        &format!("{p}/api/files/tls/a.pem"),
        &[("app", "api-legacy")],
    );
    p
}

const MIGRATE_KEYS: [&str; 4] = ["big", "db-host", "db-url", "files/tls/a.pem"];

fn names(p: &str, app: &str) -> Vec<String> {
    MIGRATE_KEYS
        .iter()
        .map(|k| format!("{p}/{app}/{k}"))
        .collect()
}

#[test]
fn migrate_copies_values_types_tiers_descriptions_and_tags_moving_the_app_tag() {
    let p = seed_migrate();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let before = m.params_under(&format!("{p}/api"));

    let out = ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2"])
        .run();
    out.success();
    let expected: BTreeSet<String> = MIGRATE_KEYS
        .iter()
        .map(|k| format!("{p}/api/{k} -> {p}/api-v2/{k}"))
        .collect();
    assert_eq!(set(lines(&out.stdout)), expected, "{out}");

    // The sources are untouched; each copy has the same value and kind.
    assert_eq!(m.params_under(&format!("{p}/api")), before);
    for k in MIGRATE_KEYS {
        let (src, dst) = (format!("{p}/api/{k}"), format!("{p}/api-v2/{k}"));
        assert_eq!(m.get(&dst), m.get(&src), "{dst}");
        assert_eq!(m.kind(&dst), m.kind(&src), "{dst}");
    }
    assert_eq!(
        m.kind(&format!("{p}/api-v2/big")),
        Some(("SecureString".into(), "Advanced".into()))
    );
    assert_eq!(
        m.kind(&format!("{p}/api-v2/db-host")),
        Some(("String".into(), "Standard".into()))
    );
    assert_eq!(
        description(&format!("{p}/api-v2/big")).as_deref(),
        Some("an advanced one")
    );
    assert_eq!(
        m.tags(&format!("{p}/api-v2/db-url")),
        tags(&[("app", "api-v2"), ("owner", "payments")])
    );
    assert_eq!(
        m.tags(&format!("{p}/api-v2/db-host")),
        tags(&[("app", "api-v2")])
    );
    assert_eq!(
        m.tags(&format!("{p}/api-v2/files/tls/a.pem")),
        tags(&[("app", "api-legacy")]),
        "only app=OLD is rewritten"
    );
    assert_eq!(
        m.tags(&format!("{p}/api/db-url"))[0],
        ("app".into(), "api".into())
    );
    assert!(!out.combined().contains("postgres://"), "{out}");

    // Again: nothing to copy, each reported as already there.
    let out = ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2"])
        .run();
    out.success();
    let expected: BTreeSet<String> = MIGRATE_KEYS
        .iter()
        .map(|k| format!("{p}/api/{k} = {p}/api-v2/{k} (already copied)"))
        .collect();
    assert_eq!(set(lines(&out.stdout)), expected, "{out}");
    assert_eq!(m.names_under(&format!("{p}/api-v2")), names(&p, "api-v2"));
}

#[test]
fn migrate_copies_nothing_when_a_target_holds_another_value_unless_overwrite() {
    let p = seed_migrate();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let clash = format!("{p}/api-v2/db-url");
    m.put_secure(&clash, "someone else's value");

    let out = ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2"])
        .run();
    out.code(1).stderr_contains(&clash);
    assert_eq!(m.names_under(&format!("{p}/api-v2")), vec![clash.clone()]);
    assert_eq!(m.get(&clash).as_deref(), Some("someone else's value"));
    assert!(!out.combined().contains("someone else"), "{out}");

    let out = ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2", "--overwrite"])
        .run();
    out.success();
    assert_eq!(m.names_under(&format!("{p}/api-v2")), names(&p, "api-v2"));
    assert_eq!(m.get(&clash).as_deref(), Some("postgres://u:p@h/db"));
    assert_eq!(
        m.tags(&clash),
        tags(&[("app", "api-v2"), ("owner", "payments")])
    );
    // And the migration goes on from there.
    let bk = tempfile::tempdir().unwrap();
    ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2", "--delete-old"])
        .arg("--backup-dir")
        .arg(bk.path())
        .run()
        .success();
}

/// The backup named on stderr by a successful `--delete-old`.
fn backup_path(out: &Outcome, p: &str, count: usize) -> PathBuf {
    let intro = format!("ssmm: verified {count} copies; backup of {p}/api/ written to ");
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix(&intro))
        .unwrap_or_else(|| panic!("no backup line {intro:?}\n{out}"));
    PathBuf::from(line.trim_end())
}

fn check_backup(path: &Path, dir: &Path, p: &str) {
    assert_eq!(path.parent(), Some(dir), "backup outside {}", dir.display());
    let file = path.file_name().unwrap().to_str().unwrap();
    let hex = file
        .strip_prefix("ssmm-migrate-backup-")
        .and_then(|r| r.strip_suffix(".json"))
        .unwrap_or_else(|| panic!("bad backup name {file}"));
    assert!(
        hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{file}"
    );
    let mode = fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "backup mode {mode:o}");
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    assert_eq!(doc["source"], format!("{p}/api"));
    assert_eq!(doc["destination"], format!("{p}/api-v2"));
    let params = doc["parameters"].as_array().unwrap();
    let mut got: Vec<String> = params
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, names(p, "api"));
    let m = moto();
    for x in params {
        let name = x["name"].as_str().unwrap();
        for field in [
            "type",
            "tier",
            "version",
            "key_id",
            "description",
            "data_type",
            "last_modified",
            "tags",
            "value",
        ] {
            assert!(x.get(field).is_some(), "{name}: no {field} in {x}");
        }
        assert_eq!(x["value"].as_str(), m.get(name).as_deref(), "{name}");
        let (ty, tier) = m.kind(name).unwrap();
        assert_eq!(x["type"], ty.as_str(), "{name}");
        assert_eq!(x["tier"], tier.as_str(), "{name}");
        let want: serde_json::Map<String, serde_json::Value> = m
            .tags(name)
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        assert_eq!(x["tags"], serde_json::Value::Object(want), "{name}");
    }
    let big = params
        .iter()
        .find(|x| x["name"] == format!("{p}/api/big"))
        .unwrap();
    assert_eq!(big["tier"], "Advanced");
    assert_eq!(big["description"], "an advanced one");
}

#[test]
fn migrate_delete_old_verifies_and_backs_up_then_confirm_deletes_the_old_app() {
    let p = seed_migrate();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let chosen = tempfile::tempdir().unwrap();
    ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2"])
        .run()
        .success();
    let sources = m.params_under(&format!("{p}/api"));

    // Step 2, twice: a backup each time, at a new unpredictable path in
    // $TMPDIR; nothing deleted.
    let mut backups = Vec::new();
    for _ in 0..2 {
        let out = ssmm(&p, dir.path())
            .env("TMPDIR", tmp.path())
            .args(["migrate", "api", "api-v2", "--delete-old"])
            .run();
        out.success();
        let want: Vec<String> = names(&p, "api")
            .iter()
            .map(|n| format!("would delete {n}"))
            .collect();
        let mut got = lines(&out.stdout);
        got.sort();
        assert_eq!(got, want, "{out}");
        assert!(!out.combined().contains("postgres://"), "{out}");
        let path = backup_path(&out, &p, 4);
        check_backup(&path, tmp.path(), &p);
        backups.push(path);
        assert_eq!(m.params_under(&format!("{p}/api")), sources);
    }
    assert_ne!(backups[0], backups[1], "two backups share a path");
    assert_eq!(files_in(tmp.path()), {
        let mut b = backups.clone();
        b.sort();
        b
    });

    // Step 3, backing up to --backup-dir (relative to the working
    // directory): the old app goes, the new one stays.
    fs::create_dir(dir.path().join("bk")).unwrap();
    let out = ssmm(&p, dir.path())
        .env("TMPDIR", chosen.path())
        .args(["migrate", "api", "api-v2", "--delete-old", "--confirm"])
        .args(["--backup-dir", "bk"])
        .run();
    out.success();
    let want: Vec<String> = names(&p, "api")
        .iter()
        .map(|n| format!("deleted {n}"))
        .collect();
    let mut got = lines(&out.stdout);
    got.sort();
    assert_eq!(got, want, "{out}");
    let path = backup_path(&out, &p, 4);
    assert_eq!(
        fs::canonicalize(path.parent().unwrap()).unwrap(),
        fs::canonicalize(dir.path().join("bk")).unwrap()
    );
    assert!(files_in(chosen.path()).is_empty(), "backup went to $TMPDIR");
    assert_eq!(files_in(&dir.path().join("bk")).len(), 1);
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let mut backed: Vec<(String, String)> = doc["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                x["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    backed.sort();
    assert_eq!(
        backed, sources,
        "the backup does not hold the deleted values"
    );
    assert!(m.names_under(&format!("{p}/api")).is_empty());
    assert_eq!(m.names_under(&format!("{p}/api-v2")), names(&p, "api-v2"));
}

/// One way to spoil a copy between step 1 and step 3, and what the
/// product must say about it.
type Spoil = fn(&str);

#[test]
fn migrate_deletes_nothing_and_backs_up_nothing_when_any_copy_does_not_verify() {
    let cases: [(&str, &str, Option<&str>, Spoil); 5] = [
        ("db-url", "changed value", Some("the value differs"), |n| {
            moto().put_secure(n, "tampered")
        }),
        ("db-host", "deleted copy", None, |n| moto().delete(n)),
        ("db-url", "removed tag", None, |n| remove_tag(n, "owner")),
        ("db-host", "app tag moved back", None, |n| {
            moto().add_tags(n, &[("app", "api")])
        }),
        ("files/tls/a.pem", "other type", None, |n| {
            moto().delete(n);
            moto().put(n, "-----PEM-----\nxyz\n");
            moto().add_tags(n, &[("app", "api-legacy")]);
        }),
    ];
    for (key, what, phrase, spoil) in cases {
        let p = seed_migrate();
        let m = moto();
        let dir = tempfile::tempdir().unwrap();
        let bk = tempfile::tempdir().unwrap();
        ssmm(&p, dir.path())
            .args(["migrate", "api", "api-v2"])
            .run()
            .success();
        let (src, dst) = (format!("{p}/api/{key}"), format!("{p}/api-v2/{key}"));
        spoil(&dst);
        let sources = m.params_under(&format!("{p}/api"));
        for confirm in [false, true] {
            let mut cmd = ssmm(&p, dir.path()).env("TMPDIR", bk.path()).args([
                "migrate",
                "api",
                "api-v2",
                "--delete-old",
            ]);
            if confirm {
                cmd = cmd.arg("--confirm");
            }
            let out = cmd.run();
            out.code(1);
            let named = format!("{src} -> {dst}:");
            assert!(
                out.stderr.contains(&named),
                "{what}: {named} not named\n{out}"
            );
            if let Some(phrase) = phrase {
                out.stderr_contains(&format!("{named} {phrase}"));
            }
            for other in MIGRATE_KEYS.iter().filter(|k| **k != key) {
                assert!(
                    !out.stderr.contains(&format!("{p}/api/{other} ->")),
                    "{what}: a good copy named as bad\n{out}"
                );
            }
            assert!(!out.stdout.contains("deleted"), "{what}: {out}");
            assert!(!out.combined().contains("postgres://"), "{out}");
            assert_eq!(
                m.params_under(&format!("{p}/api")),
                sources,
                "{what}: something was deleted"
            );
            assert!(
                files_in(bk.path()).is_empty(),
                "{what}: a backup was written for a failed verification"
            );
        }
    }
}

#[test]
fn migrate_confirm_deletes_nothing_when_the_backup_cannot_be_written() {
    let p = seed_migrate();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2"])
        .run()
        .success();
    let out = ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2", "--delete-old", "--confirm"])
        .args(["--backup-dir", "no/such/dir"])
        .run();
    out.code(1);
    assert!(!out.stdout.contains("deleted"), "{out}");
    assert_eq!(m.names_under(&format!("{p}/api")), names(&p, "api"));
}

#[test]
fn migrate_refuses_bad_usage_and_an_empty_source_without_writing() {
    let p = seed_migrate();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let before = m.params_under(&p);
    let usage: [&[&str]; 7] = [
        &["migrate", "api", "api-v2", "--confirm"],
        &["migrate", "api", "api-v2", "--overwrite", "--delete-old"],
        &["migrate", "api", "api/x"],
        &["migrate", "api", "api"],
        &["migrate", "api", &format!("{p}/api/x")],
        &["migrate", &format!("{p}/api/x"), "api"],
        &["migrate", "api"],
    ];
    for args in usage {
        let out = ssmm(&p, dir.path()).args(args).run();
        out.code(2);
        assert_eq!(out.stdout, "", "{out}");
    }
    let out = ssmm(&p, dir.path())
        .args(["migrate", "nothing-here", "api-v3"])
        .run();
    out.code(1).stderr_contains(&format!("{p}/nothing-here"));
    for step in [&[][..], &["--delete-old"], &["--delete-old", "--confirm"]] {
        ssmm(&p, dir.path())
            .env("TMPDIR", dir.path())
            .args(["migrate", "nothing-here", "api"])
            .args(step)
            .run()
            .code(1);
    }
    assert_eq!(
        m.params_under(&p),
        before,
        "a refused migrate wrote or deleted"
    );
    assert!(
        !fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("backup")),
        "a backup of nothing"
    );
}

#[test]
fn migrate_between_full_paths_needs_no_prefix() {
    let p = seed_migrate();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (format!("{p}/api"), format!("{p}/moved/api"));
    let run = |extra: &[&str]| {
        Ssmm::new()
            .endpoint(&moto().endpoint())
            .current_dir(dir.path())
            .env("TMPDIR", dir.path())
            .args(["migrate", &old, &new])
            .args(extra)
            .run()
    };
    run(&[]).success();
    for k in MIGRATE_KEYS {
        assert_eq!(m.get(&format!("{new}/{k}")), m.get(&format!("{old}/{k}")));
    }
    run(&["--delete-old"]).success();
    run(&["--delete-old", "--confirm"]).success();
    assert!(m.names_under(&old).is_empty());
    assert_eq!(m.names_under(&new).len(), MIGRATE_KEYS.len());
}

/// "Advanced stays Advanced": a target that already holds the value but as
/// a Standard parameter is not a finished copy. Step 1 reported it as
/// "already copied" (even with --overwrite) and step 2 then refused it
/// ("the tier differs"), a migration that could never finish.
#[test]
fn migrate_makes_an_advanced_copy_even_when_the_target_already_holds_the_value() {
    let p = unique_prefix();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (format!("{p}/api/big"), format!("{p}/api-v2/big"));
    put_full(
        &src,
        "same",
        ParameterType::SecureString,
        ParameterTier::Advanced,
        "d",
    );
    m.put_secure(&dst, "same");

    let out = ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2"])
        .run();
    // Either it upgrades the copy, or it refuses it as a conflict; it must
    // not call a Standard copy of an Advanced parameter "already copied".
    match out.code {
        Some(0) => assert_eq!(
            m.kind(&dst),
            Some(("SecureString".into(), "Advanced".into())),
            "step 1 succeeded but left a Standard copy\n{out}"
        ),
        Some(1) => {}
        _ => panic!("unexpected exit\n{out}"),
    }
    ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2", "--overwrite"])
        .run()
        .success();
    assert_eq!(
        m.kind(&dst),
        Some(("SecureString".into(), "Advanced".into())),
        "--overwrite left a Standard copy"
    );
    ssmm(&p, dir.path())
        .env("TMPDIR", dir.path())
        .args(["migrate", "api", "api-v2", "--delete-old"])
        .run()
        .success();
}

/// The remedy the verify failure suggests (run step 1 again) repairs a copy
/// that vanished or lost a tag, and the migration then finishes.
#[test]
fn migrate_step_1_again_repairs_a_vanished_copy_and_a_lost_tag() {
    let p = seed_migrate();
    let m = moto();
    let dir = tempfile::tempdir().unwrap();
    ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2"])
        .run()
        .success();
    m.delete(&format!("{p}/api-v2/db-host"));
    remove_tag(&format!("{p}/api-v2/db-url"), "owner");
    ssmm(&p, dir.path())
        .env("TMPDIR", dir.path())
        .args(["migrate", "api", "api-v2", "--delete-old"])
        .run()
        .code(1);

    let out = ssmm(&p, dir.path())
        .args(["migrate", "api", "api-v2"])
        .run();
    out.success()
        .stdout_contains(&format!("{p}/api/db-host -> {p}/api-v2/db-host"))
        .stdout_contains(&format!(
            "{p}/api/db-url = {p}/api-v2/db-url (already copied)"
        ));
    assert_eq!(
        m.tags(&format!("{p}/api-v2/db-url")),
        tags(&[("app", "api-v2"), ("owner", "payments")])
    );
    assert_eq!(
        m.tags(&format!("{p}/api-v2/db-host")),
        tags(&[("app", "api-v2")])
    );
    ssmm(&p, dir.path())
        .env("TMPDIR", dir.path())
        .args(["migrate", "api", "api-v2", "--delete-old", "--confirm"])
        .run()
        .success();
    assert!(m.names_under(&format!("{p}/api")).is_empty());
}

/// Past one page of every call involved (GetParametersByPath and
/// DescribeParameters page at 10, GetParameters and DeleteParameters take
/// 10 names): nothing is lost at a page or batch boundary.
#[test]
fn check_and_migrate_cover_every_page_of_a_large_app() {
    let p = unique_prefix();
    let m = moto();
    let items: Vec<(String, String)> = (0..23)
        .map(|i| (format!("{p}/big/key-{i:02}"), format!("value-{}", i % 11)))
        .collect();
    m.put_many(&items);
    m.put_many(&[(format!("{p}/small/key-22"), "value-0".to_string())]);
    let dir = tempfile::tempdir().unwrap();

    let out = ssmm(&p, dir.path()).args(["check", "--json"]).run();
    out.success();
    let doc = json(&out);
    assert_eq!(
        doc["duplicates"],
        serde_json::json!([{"key": "key-22", "apps": ["big", "small"]}]),
        "{out}"
    );
    // value-0: key-00, key-11, key-22 and small/key-22; value-1..10: two each.
    let groups = doc["values"].as_array().unwrap();
    assert_eq!(groups.len(), 11, "{out}");
    let sizes: usize = groups
        .iter()
        .map(|g| g["parameters"].as_array().unwrap().len())
        .sum();
    assert_eq!(sizes, 24, "{out}");

    let out = ssmm(&p, dir.path()).args(["migrate", "big", "big2"]).run();
    out.success();
    assert_eq!(out.stdout.lines().count(), 23, "{out}");
    let copied: Vec<(String, String)> = m
        .params_under(&format!("{p}/big2"))
        .into_iter()
        .map(|(n, v)| (n.replacen("/big2/", "/big/", 1), v))
        .collect();
    assert_eq!(copied, m.params_under(&format!("{p}/big")));
    let out = ssmm(&p, dir.path())
        .env("TMPDIR", dir.path())
        .args(["migrate", "big", "big2", "--delete-old", "--confirm"])
        .run();
    out.success();
    assert_eq!(out.stdout.lines().count(), 23, "{out}");
    assert!(m.names_under(&format!("{p}/big")).is_empty());
    assert_eq!(m.names_under(&format!("{p}/big2")).len(), 23);
}

// ------------------------------------------------ names with control characters

/// The bug: names with control characters (moto accepts them, AWS does
/// not) were printed raw. `migrate`'s copy, `would delete` and `deleted`
/// lines and `diff`'s warning show them escaped, one line per parameter.
#[test]
fn migrate_and_diff_escape_control_characters_in_parameter_names() {
    let p = unique_prefix();
    let m = moto();
    let esc = '\u{1b}';
    let keys = [
        "two\nlines".to_string(),
        format!("red{esc}[31m-key"),
        "plain".to_string(),
    ];
    for (i, k) in keys.iter().enumerate() {
        m.put_secure(&format!("{p}/api/{k}"), &format!("ctl-value-{i}-8806"));
    }
    let shown = |app: &str, k: &str| {
        format!("{p}/{app}/{k}")
            .replace('\n', r"\n")
            .replace(esc, r"\u{1b}")
    };
    let check = |out: &Outcome| {
        assert_no_raw_controls(out);
        assert!(
            !out.combined().contains("ctl-value-"),
            "a value was printed\n{out}"
        );
    };
    let sorted = |v: Vec<String>| {
        let mut v = v;
        v.sort();
        v
    };
    let dir = tempfile::tempdir().unwrap();

    let out = ssmm(&p, dir.path()).args(["migrate", "api", "api2"]).run();
    out.success();
    check(&out);
    let want = keys
        .iter()
        .map(|k| format!("{} -> {}", shown("api", k), shown("api2", k)))
        .collect();
    assert_eq!(sorted(lines(&out.stdout)), sorted(want), "{out}");

    let out = ssmm(&p, dir.path())
        .env("TMPDIR", dir.path())
        .args(["migrate", "api", "api2", "--delete-old"])
        .run();
    out.success();
    check(&out);
    let want = keys
        .iter()
        .map(|k| format!("would delete {}", shown("api", k)))
        .collect();
    assert_eq!(sorted(lines(&out.stdout)), sorted(want), "{out}");

    fs::write(dir.path().join("api.env"), "PLAIN=other\n").unwrap();
    let out = ssmm(&p, dir.path())
        .args(["diff", "--app", "api2", "--env", "api.env"])
        .run();
    out.code(1);
    check(&out);
    for k in &keys[..2] {
        let line = format!(
            "ssmm: warning: {}: not a valid variable name; left out of the comparison",
            shown("api2", k)
        );
        assert!(
            out.stderr.lines().any(|l| l == line),
            "missing {line:?}\n{out}"
        );
    }

    let out = ssmm(&p, dir.path())
        .env("TMPDIR", dir.path())
        .args(["migrate", "api", "api2", "--delete-old", "--confirm"])
        .run();
    out.success();
    check(&out);
    let want = keys
        .iter()
        .map(|k| format!("deleted {}", shown("api", k)))
        .collect();
    assert_eq!(sorted(lines(&out.stdout)), sorted(want), "{out}");
    assert!(m.names_under(&format!("{p}/api")).is_empty());
}
