//! `ssmm history` and `ssmm rollback` against moto: versions with their
//! dates, writers, types, tiers and labels, never a value (moto's history
//! answer carries each value, a SecureString's as `kms:<key>:<value>`); a
//! rollback writes the old version's value, type, tier and KMS key as a new
//! version, and says so without the value.

use aws_sdk_ssm::types::{ParameterTier, ParameterType};

use crate::support::{Test, moto};

const STD: ParameterTier = ParameterTier::Standard;
const ADV: ParameterTier = ParameterTier::Advanced;
const PLAIN: ParameterType = ParameterType::String;
const SECURE: ParameterType = ParameterType::SecureString;

/// `2026-11-26T01:43:39Z`: RFC 3339, UTC, to the second.
fn is_utc_seconds(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Writes each `(value, type, tier, key)` as the next version of `rel`.
fn versions(t: &Test, rel: &str, each: &[(&str, ParameterType, ParameterTier, Option<&str>)]) {
    for (value, ty, tier, key) in each {
        t.secret(value);
        moto().put_version(&t.name(rel), value, ty.clone(), tier.clone(), *key);
    }
}

#[test]
fn history_lists_every_version_with_its_labels_as_an_aligned_table_and_never_a_value() {
    let t = Test::new();
    let name = t.name("api/db-url");
    versions(
        &t,
        "api/db-url",
        &[
            ("hist-value-one", PLAIN, STD, None),
            ("hist-value-two", SECURE, STD, None),
            ("hist-value-three", SECURE, ADV, Some("alias/hist-key")),
        ],
    );
    moto().label(&name, 2, &["prod", "stable"]);
    let full = name.clone();
    let mut seen = Vec::new();
    for key in ["DB_URL", "db-url", full.as_str()] {
        let out = t
            .ssmm(["history", key, "--app", "api"])
            .success()
            .stderr_is("")
            .stdout_lacks("kms:")
            .go();
        seen.push(out.stdout.clone());
    }
    assert!(seen.iter().all(|s| s == &seen[0]), "{seen:#?}");
    let lines: Vec<&str> = seen[0].lines().collect();
    assert_eq!(lines.len(), 4, "{}", seen[0]);
    assert_eq!(
        lines[0],
        "VERSION  LAST MODIFIED         USER  TYPE          TIER      LABELS"
    );
    let cells: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let want = [
        ["1", "N/A", "String", "Standard", "-"],
        ["2", "N/A", "SecureString", "Standard", "prod,stable"],
        ["3", "N/A", "SecureString", "Advanced", "-"],
    ];
    for (row, want) in cells.iter().zip(want) {
        assert_eq!(row.len(), 6, "{row:?}");
        assert!(is_utc_seconds(row[1]), "{row:?}");
        assert_eq!([row[0], row[2], row[3], row[4], row[5]], want);
    }
    // Aligned: every column starts where its heading does.
    for heading in ["LAST MODIFIED", "USER", "TYPE", "TIER", "LABELS"] {
        let at = lines[0].find(heading).unwrap();
        for l in &lines[1..] {
            assert!(
                l[..at].ends_with("  ") && !l[at..].starts_with(' '),
                "{heading} not aligned in {l:?}"
            );
        }
    }

    let out = t
        .ssmm(["history", "db-url", "--app", "api", "--json"])
        .success()
        .go();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let items = doc.as_array().expect("an array");
    assert_eq!(items.len(), 3);
    for (i, item) in items.iter().enumerate() {
        let obj = item.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["version", "last_modified", "user", "type", "labels", "tier"]
        );
        assert_eq!(obj["version"], i as i64 + 1);
        assert!(is_utc_seconds(obj["last_modified"].as_str().unwrap()));
        assert_eq!(obj["user"], "N/A");
    }
    assert_eq!(items[0]["type"], "String");
    assert_eq!(items[1]["type"], "SecureString");
    assert_eq!(items[1]["labels"], serde_json::json!(["prod", "stable"]));
    assert_eq!(items[0]["labels"], serde_json::json!([]));
    assert_eq!(items[2]["tier"], "Advanced");
}

#[test]
fn history_pages_through_more_than_fifty_versions() {
    let t = Test::new();
    let name = t.name("api/many");
    for i in 1..=60 {
        moto().put_version(&name, &format!("many-value-{i:02}"), PLAIN, STD, None);
    }
    t.secret("many-value-");
    let out = t
        .ssmm(["history", "many", "--app", "api", "-vv"])
        .success()
        .stderr_has("GetParameterHistory=2")
        .go();
    let numbers: Vec<String> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let want: Vec<String> = (1..=60).map(|i| i.to_string()).collect();
    assert_eq!(numbers, want);
}

#[test]
fn history_of_a_missing_parameter_exits_1_naming_it() {
    let t = Test::new();
    let name = t.name("api/nope");
    t.ssmm(["history", "NOPE", "--app", "api"])
        .code(1)
        .stderr_is(format!("ssmm: error: parameter {name} not found"))
        .stdout_is("")
        .go();
    t.ssmm(["history", "a b", "--app", "api"])
        .code(2)
        .stderr_has("invalid KEY \"a b\"")
        .go();
    t.ssmm(["history", "/elsewhere/x"])
        .code(2)
        .stderr_has("a full name must lie under the prefix")
        .go();
}

#[test]
fn rollback_writes_version_n_value_type_and_tier_as_a_new_version_and_leaves_the_rest() {
    let t = Test::new();
    let name = t.name("api/db-url");
    versions(
        &t,
        "api/db-url",
        &[
            ("rb-value-one", SECURE, STD, None),
            ("rb-value-two", SECURE, STD, None),
            ("rb-value-three", SECURE, STD, None),
        ],
    );
    moto().label(&name, 1, &["old"]);
    moto().add_tags(&name, &[("app", "api"), ("owner", "ops")]);
    let before = moto().tags(&name);
    t.ssmm(["rollback", "DB_URL", "--app", "api", "--to-version", "1"])
        .success()
        .stdout_is(format!(
            "rolled back {name} to version 1's value (SecureString, Standard): now version 4\n"
        ))
        .stderr_is("")
        .go();
    assert_eq!(moto().get(&name).as_deref(), Some("rb-value-one"));
    let h = moto().history(&name);
    assert_eq!(h.len(), 4);
    assert_eq!(h[3].r#type(), Some(&SECURE));
    assert_eq!(h[3].value(), Some("rb-value-one"));
    assert_eq!(h[0].labels(), ["old".to_string()]);
    assert!(h[3].labels().is_empty());
    assert_eq!(h[1].value(), Some("rb-value-two"));
    assert_eq!(moto().tags(&name), before);

    // Back to the current version: written again as a new version.
    t.ssmm(["rollback", &name, "--to-version", "4"])
        .success()
        .stdout_is(format!(
            "rolled back {name} to version 4's value (SecureString, Standard): now version 5\n"
        ))
        .go();
    assert_eq!(moto().history(&name).len(), 5);
    assert_eq!(moto().get(&name).as_deref(), Some("rb-value-one"));
}

#[test]
fn rollback_keeps_the_kms_key_of_the_version_it_restores() {
    let t = Test::new();
    let name = t.name("api/token");
    versions(
        &t,
        "api/token",
        &[
            ("kms-value-one", SECURE, STD, Some("alias/rollback-key-1")),
            ("kms-value-two", SECURE, STD, Some("alias/aws/ssm")),
        ],
    );
    t.ssmm(["rollback", "token", "--app", "api", "--to-version", "1"])
        .success()
        .go();
    let h = moto().history(&name);
    assert_eq!(h.len(), 3);
    assert_eq!(h[2].key_id(), Some("alias/rollback-key-1"));
    assert_eq!(
        moto().described(&name).unwrap().key_id(),
        Some("alias/rollback-key-1")
    );
    assert_eq!(moto().get(&name).as_deref(), Some("kms-value-one"));
}

#[test]
fn rollback_of_an_advanced_parameter_to_a_standard_version_stays_advanced() {
    let t = Test::new();
    let name = t.name("api/big");
    versions(
        &t,
        "api/big",
        &[
            ("adv-value-one", PLAIN, STD, None),
            ("adv-value-two", PLAIN, ADV, None),
        ],
    );
    t.ssmm(["rollback", "big", "--app", "api", "--to-version", "1"])
        .success()
        .stdout_is(format!(
            "rolled back {name} to version 1's value (String, Advanced): now version 3\n"
        ))
        .go();
    assert_eq!(
        moto().kind(&name),
        Some(("String".into(), "Advanced".into()))
    );
    assert_eq!(moto().get(&name).as_deref(), Some("adv-value-one"));
}

#[test]
fn rollback_to_a_version_of_another_type_writes_that_type_and_warns() {
    let t = Test::new();
    let name = t.name("api/flip");
    versions(
        &t,
        "api/flip",
        &[
            ("flip-value-one", PLAIN, STD, None),
            ("flip-value-two", SECURE, STD, None),
        ],
    );
    t.ssmm(["rollback", "flip", "--app", "api", "--to-version", "1"])
        .success()
        .stderr_line(format!(
            "ssmm: warning: {name}: version 1 is a String, the current version 2 a SecureString: the new version is a String"
        ))
        .go();
    assert_eq!(
        moto().kind(&name),
        Some(("String".into(), "Standard".into()))
    );
}

#[test]
fn rollback_to_a_missing_version_or_parameter_exits_1_and_changes_nothing() {
    let t = Test::new();
    let name = t.name("api/token");
    versions(
        &t,
        "api/token",
        &[
            ("miss-value-one", SECURE, STD, None),
            ("miss-value-two", SECURE, STD, None),
        ],
    );
    let p = t.prefix().to_string();
    t.ssmm(["rollback", "token", "--app", "api", "--to-version", "3"])
        .code(1)
        .stderr_is(format!(
            "ssmm: error: {name} has no version 3 (it has versions 1 to 2)"
        ))
        .stdout_is("")
        .ssm_untouched(&p)
        .go();
    t.ssmm(["rollback", "nope", "--app", "api", "--to-version", "1"])
        .code(1)
        .stderr_is(format!(
            "ssmm: error: parameter {} not found",
            t.name("api/nope")
        ))
        .ssm_untouched(&p)
        .go();
    assert_eq!(moto().history(&name).len(), 2);
}

#[test]
fn rollback_version_must_be_a_positive_integer() {
    let t = Test::new();
    t.put_secure("api/token", "int-value-one");
    let p = t.prefix().to_string();
    for bad in ["0", "-1", "x", "1.5", "", "+", "99999999999999999999"] {
        let arg = format!("--to-version={bad}");
        t.ssmm(["rollback", "token", "--app", "api", &arg])
            .code(2)
            .stderr_has("invalid value")
            .stderr_has("expected a version number")
            .ssm_untouched(&p)
            .go();
    }
    t.ssmm(["rollback", "token", "--app", "api"])
        .code(2)
        .stderr_has("--to-version <N>")
        .ssm_untouched(&p)
        .go();
}
