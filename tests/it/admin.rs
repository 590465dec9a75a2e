//! End-to-end tests of the team admin commands (`put`, `list`, `show`,
//! `delete`, `tag`, `dirs`) and of the generated-text commands
//! (`completions`, `man`, `--help`), against a real moto server through the
//! real binary. Every effect on SSM is checked independently through the
//! harness's own SDK client, and no output may carry a value except `show`'s.

use std::time::Duration;

use crate::support::expect::assert_no_raw_controls;
use crate::support::pty::Pty;
use crate::support::sorted_pairs as tags;
use crate::support::{Fault, FaultProxy, Outcome, Plan, Ssmm, moto, unique_prefix};
use aws_sdk_ssm::types::ParameterType;

const NO_PREFIX: &str = "Error: no prefix configured. Pass --prefix /<your-team> or set $SSMM_PREFIX_ROOT=/<your-team>.";

/// `ssmm --prefix P ...` against moto, run in the temp directory (so a
/// forgotten `--app` would land in `P/tmp`, never in a real app).
fn ssmm(prefix: &str) -> Ssmm {
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(std::env::temp_dir())
        .args(["--prefix", prefix])
}

/// The non-empty lines of `text`, sorted (put prints in completion order).
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// The lines of `text`, in order.
fn lines_of(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Fails if any of `secrets` appears anywhere in stdout or stderr.
#[track_caller]
fn assert_no_values(out: &Outcome, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !out.combined().contains(s),
            "a value ({s:?}) was printed\n{out}"
        );
    }
}

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

/// The KMS key id DescribeParameters reports for `name`.
fn key_id(name: &str) -> Option<String> {
    let p = moto()
        .described(name)
        .unwrap_or_else(|| panic!("{name} not described"));
    p.key_id().map(str::to_string)
}

fn kind(ty: &str, tier: &str) -> Option<(String, String)> {
    Some((ty.to_string(), tier.to_string()))
}

fn json(out: &Outcome) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{out}"))
}

// ---------------------------------------------------------------- put

#[test]
fn put_types_names_and_tags_each_variable_and_prints_one_line_per_key_without_values() {
    let p = unique_prefix();
    let out = ssmm(&p)
        .args(["put", "--app", "api"])
        .args([
            "SLACK_CHANNEL=#ops-alerts-7731",
            "DB_URL=postgres://user:pw-9913@db/x",
            "db.host=db-host-4410.internal",
            "API_TOKEN=tok-secret-5521",
            "AWS_REGION=eu-west-9",
            "LOG_DIR=/var/log/app-3321",
            "CONFIG_PATH=/etc/app-8812.conf",
            "APP_NAME=name-value-2291",
            "API_PORT=80443",
            "S3_ENDPOINT=https://s3-endpoint-1177",
            "HOSTNAME=hostname-value-6630",
            "EQ_TOKEN=a=b=c ",
        ])
        .run();
    out.success();
    let n = |k: &str| format!("{p}/api/{k}");
    // Put as a String for a name suffix, as a SecureString by default.
    let plain = vec![
        ("slack-channel", "#ops-alerts-7731"),
        ("db.host", "db-host-4410.internal"),
        ("aws-region", "eu-west-9"),
        ("log-dir", "/var/log/app-3321"),
        ("config-path", "/etc/app-8812.conf"),
        ("app-name", "name-value-2291"),
        ("api-port", "80443"),
        ("s3-endpoint", "https://s3-endpoint-1177"),
    ];
    let secure = vec![
        ("db-url", "postgres://user:pw-9913@db/x"),
        ("api-token", "tok-secret-5521"),
        ("hostname", "hostname-value-6630"),
        ("eq-token", "a=b=c "),
    ];
    let typed = |list: Vec<(&'static str, &'static str)>, ty, why| {
        list.into_iter().map(move |(k, v)| (k, ty, why, v))
    };
    let want: Vec<_> = typed(plain, "String", "auto: suffix")
        .chain(typed(secure, "SecureString", "auto: default"))
        .collect();
    let mut lines: Vec<String> = want
        .iter()
        .map(|(k, ty, why, v)| format!("{}  {ty}  {why}  len={}", n(k), v.len()))
        .collect();
    lines.sort();
    assert_eq!(sorted_lines(&out.stdout), lines, "{out}");
    assert_eq!(
        out.stderr,
        format!("ssmm: put 12 parameters under {p}/api/ (12 created, 0 replaced)\n")
    );
    for &(k, ty, _, v) in &want {
        assert_eq!(moto().get(&n(k)).as_deref(), Some(v), "{k}");
        assert_eq!(moto().kind(&n(k)), kind(ty, "Standard"), "{k}");
        assert_eq!(moto().tags(&n(k)), tags(&[("app", "api")]), "{k}");
    }
    assert_eq!(moto().names_under(&p).len(), 12);
    assert_no_values(
        &out,
        &[
            "#ops-alerts-7731",
            "pw-9913",
            "db-host-4410",
            "tok-secret-5521",
            "eu-west-9",
            "app-3321",
            "app-8812",
            "name-value-2291",
            "80443",
            "s3-endpoint-1177",
            "hostname-value-6630",
            "a=b=c",
        ],
    );
}

#[test]
fn put_summary_is_singular_for_one_parameter_and_global_flags_work_after_the_subcommand() {
    let p = unique_prefix();
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(std::env::temp_dir())
        .args([
            "put",
            "ONLY_TOKEN=single-value-1",
            "--prefix",
            &p,
            "--app",
            "web",
        ])
        .run();
    out.success();
    assert_eq!(
        out.stdout,
        format!("{p}/web/only-token  SecureString  auto: default  len=14\n")
    );
    assert_eq!(
        out.stderr,
        format!("ssmm: put 1 parameter under {p}/web/ (1 created, 0 replaced)\n")
    );
    assert_eq!(
        moto().get(&format!("{p}/web/only-token")).as_deref(),
        Some("single-value-1")
    );
}

#[test]
fn put_app_comes_from_ssmm_app_when_no_flag_is_given() {
    let p = unique_prefix();
    ssmm(&p)
        .env("SSMM_APP", "from-env")
        .args(["put", "K_TOKEN=v-from-env"])
        .run()
        .success();
    assert_eq!(
        moto().names_under(&p),
        strings(&[&format!("{p}/from-env/k-token")])
    );
}

#[test]
fn put_type_flags_beat_the_suffix_rules_and_accept_variable_or_key_form() {
    let p = unique_prefix();
    let out = ssmm(&p)
        .args(["put", "--app", "api"])
        .args(["DB_URL=u-1", "A_HOST=h-1", "PLAIN=p-1"])
        .args(["--plain-key", "db-url", "--secure", "A_HOST"])
        .run();
    out.success();
    assert_eq!(
        sorted_lines(&out.stdout),
        strings(&[
            &format!("{p}/api/a-host  SecureString  flag  len=3"),
            &format!("{p}/api/db-url  String  flag  len=3"),
            &format!("{p}/api/plain  SecureString  auto: default  len=3"),
        ])
    );
    assert_eq!(
        moto().kind(&format!("{p}/api/db-url")),
        kind("String", "Standard")
    );
    assert_eq!(
        moto().kind(&format!("{p}/api/a-host")),
        kind("SecureString", "Standard")
    );

    let out = ssmm(&p)
        .args([
            "put",
            "--app",
            "all",
            "E_URL=e-1",
            "F_PORT=f-1",
            "--plain-all",
        ])
        .run();
    out.success();
    assert_eq!(
        sorted_lines(&out.stdout),
        strings(&[
            &format!("{p}/all/e-url  String  flag  len=3"),
            &format!("{p}/all/f-port  String  flag  len=3"),
        ])
    );
    assert_eq!(
        moto().kind(&format!("{p}/all/e-url")),
        kind("String", "Standard")
    );
    assert_eq!(
        moto().get(&format!("{p}/all/e-url")).as_deref(),
        Some("e-1")
    );
}

#[test]
fn put_refuses_type_flags_naming_no_variable_or_naming_one_twice_and_writes_nothing() {
    let p = unique_prefix();
    let out = ssmm(&p)
        .args([
            "put",
            "--app",
            "api",
            "X_TOKEN=x-1",
            "--plain-key",
            "Y_TOKEN",
        ])
        .run();
    out.code(2).stderr_contains("Y_TOKEN");
    let out = ssmm(&p)
        .args([
            "put",
            "--app",
            "api",
            "X_TOKEN=x-1",
            "--secure",
            "missing-key",
        ])
        .run();
    out.code(2).stderr_contains("names no variable");
    // The same variable, once as a variable and once as a key.
    let out = ssmm(&p)
        .args(["put", "--app", "api", "X_TOKEN=x-1"])
        .args(["--plain-key", "X_TOKEN", "--secure", "x-token"])
        .run();
    out.code(2).stderr_contains("X_TOKEN");
    assert_eq!(moto().names_under(&p), Vec::<String>::new());
}

#[test]
fn put_tags_every_parameter_with_app_and_each_extra_tag_and_refuses_tag_app() {
    let p = unique_prefix();
    ssmm(&p)
        .args(["put", "--app", "api", "A_TOKEN=a-1", "B_HOST=b-1"])
        .args(["--tag", "owner=payments", "--tag", "tier=1"])
        .run()
        .success();
    for k in ["a-token", "b-host"] {
        assert_eq!(
            moto().tags(&format!("{p}/api/{k}")),
            tags(&[("app", "api"), ("owner", "payments"), ("tier", "1")]),
            "{k}"
        );
    }
    let out = ssmm(&p)
        .args(["put", "--app", "web", "C_TOKEN=c-1", "--tag", "app=other"])
        .run();
    out.code(2);
    assert!(moto().names_under(&format!("{p}/web")).is_empty());
}

#[test]
fn put_kms_key_id_applies_to_secure_strings_only() {
    let p = unique_prefix();
    ssmm(&p)
        .args(["put", "--app", "api", "S_TOKEN=s-1", "P_HOST=p-1"])
        .args(["--kms-key-id", "alias/team-key"])
        .run()
        .success();
    assert_eq!(
        key_id(&format!("{p}/api/s-token")).as_deref(),
        Some("alias/team-key")
    );
    assert_eq!(key_id(&format!("{p}/api/p-host")), None);
    assert_eq!(
        moto().get(&format!("{p}/api/s-token")).as_deref(),
        Some("s-1")
    );
}

#[test]
fn put_env_file_reads_dotenv_syntax_and_arguments_given_after_win() {
    let p = unique_prefix();
    let dir = tempfile::tempdir().unwrap();
    let file = "# a comment line\n\
                \n\
                export EXPORTED_HOST=xp-h-6612\n\
                PLAIN_TOKEN=plain value  # trailing comment\n\
                SINGLE_TOKEN='single $NOT # kept'\n\
                DOUBLE_TOKEN=\"quote\\\" tab\\t nl\\n end\"\n\
                MULTI_PEM=\"-----BEGIN-----\n\
                line two\n\
                -----END-----\"\n\
                OVERRIDDEN_TOKEN=from-file\n";
    std::fs::write(dir.path().join("api.env"), file).unwrap();
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args(["--prefix", &p, "put", "--app", "api", "--env", "api.env"])
        .arg("OVERRIDDEN_TOKEN=from-argument")
        .run();
    out.success();
    let n = |k: &str| format!("{p}/api/{k}");
    let want = [
        ("exported-host", "xp-h-6612"),
        ("plain-token", "plain value"),
        ("single-token", "single $NOT # kept"),
        ("double-token", "quote\" tab\t nl\n end"),
        ("multi-pem", "-----BEGIN-----\nline two\n-----END-----"),
        ("overridden-token", "from-argument"),
    ];
    for (k, v) in want {
        assert_eq!(moto().get(&n(k)).as_deref(), Some(v), "{k}\n{out}");
    }
    assert_eq!(moto().names_under(&p).len(), want.len());
    assert_eq!(moto().kind(&n("exported-host")), kind("String", "Standard"));
    assert_eq!(sorted_lines(&out.stdout).len(), want.len(), "{out}");
    assert_no_values(
        &out,
        &[
            "xp-h-6612",
            "plain value",
            "single $NOT",
            "quote",
            "BEGIN",
            "from-file",
            "from-argument",
        ],
    );
}

#[test]
fn put_env_dash_reads_standard_input() {
    let p = unique_prefix();
    let out = ssmm(&p)
        .args(["put", "--app", "api", "--env", "-"])
        .stdin_bytes("STDIN_TOKEN=from-stdin-4471\nSTDIN_PORT=9\n")
        .run();
    out.success();
    assert_eq!(
        moto().params_under(&p),
        vec![
            (format!("{p}/api/stdin-port"), "9".to_string()),
            (
                format!("{p}/api/stdin-token"),
                "from-stdin-4471".to_string()
            ),
        ]
    );
    assert_no_values(&out, &["from-stdin-4471"]);
}

#[test]
fn put_env_file_syntax_error_names_file_and_line_but_never_the_content_and_writes_nothing() {
    let p = unique_prefix();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.env"),
        "GOOD_TOKEN=good-1\n\nthis-is-a-pasted-secret-8841\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("open.env"),
        "GOOD_TOKEN=good-1\nOPEN_TOKEN=\"unterminated-secret-5520\nmore\n",
    )
    .unwrap();
    for (file, line) in [("bad.env", 3), ("open.env", 2)] {
        let out = Ssmm::new()
            .endpoint(&moto().endpoint())
            .current_dir(dir.path())
            .args(["--prefix", &p, "put", "--app", "api", "--env", file])
            .run();
        out.code(2)
            .stderr_contains(&format!("ssmm: error: {file}: line {line}: "));
        assert_no_values(
            &out,
            &["pasted-secret-8841", "unterminated-secret-5520", "good-1"],
        );
    }
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn put_argument_without_equals_is_refused_by_position_without_echoing_it() {
    let p = unique_prefix();
    let out = ssmm(&p)
        .args([
            "put",
            "--app",
            "api",
            "GOOD_TOKEN=g-1",
            "raw-secret-without-key-3390",
        ])
        .run();
    out.code(2).stderr_contains("argument 2 is not KEY=VALUE");
    assert_no_values(&out, &["raw-secret-without-key-3390", "g-1"]);
    ssmm(&p).args(["put", "--app", "api"]).run().code(2);
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn put_empty_value_is_refused_naming_the_variable_and_writes_nothing() {
    let p = unique_prefix();
    let out = ssmm(&p)
        .args(["put", "--app", "api", "GOOD_TOKEN=g-1", "EMPTY_TOKEN="])
        .run();
    out.code(2).stderr_contains("EMPTY_TOKEN");
    let out = ssmm(&p)
        .args(["put", "--app", "api", "--env", "-"])
        .stdin_bytes("GOOD_TOKEN=g-1\nFILE_EMPTY=\n")
        .run();
    out.code(2).stderr_contains("FILE_EMPTY");
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn put_size_limits_are_4096_bytes_standard_and_8192_advanced_and_checked_before_writing() {
    let p = unique_prefix();
    let n = |k: &str| format!("{p}/api/{k}");
    let v4096 = "a".repeat(4096);
    let v4097 = "b".repeat(4097);
    let v8192 = "c".repeat(8192);
    let v8193 = "d".repeat(8193);
    // 2049 two-byte characters: 4098 bytes, so bytes count, not characters.
    let wide = "é".repeat(2049);

    let out = ssmm(&p)
        .args(["put", "--app", "api", "SMALL_TOKEN=s-1"])
        .arg(format!("BIG_TOKEN={v4097}"))
        .run();
    out.code(2)
        .stderr_contains("BIG_TOKEN")
        .stderr_contains("--advanced");
    assert!(!out.combined().contains(&"b".repeat(64)), "{out}");
    let out = ssmm(&p)
        .args(["put", "--app", "api"])
        .arg(format!("WIDE_TOKEN={wide}"))
        .run();
    out.code(2).stderr_contains("WIDE_TOKEN");
    assert!(moto().names_under(&p).is_empty(), "nothing may be written");

    let out = ssmm(&p)
        .args(["put", "--app", "api"])
        .arg(format!("EXACT_TOKEN={v4096}"))
        .run();
    out.success().stdout_contains(&format!(
        "{}  SecureString  auto: default  len=4096",
        n("exact-token")
    ));
    assert_eq!(moto().get(&n("exact-token")), Some(v4096.clone()));
    assert_eq!(
        moto().kind(&n("exact-token")),
        kind("SecureString", "Standard")
    );

    let out = ssmm(&p)
        .args(["put", "--app", "api", "--advanced"])
        .arg(format!("BIG_TOKEN={v4097}"))
        .arg(format!("MAX_TOKEN={v8192}"))
        .run();
    out.success();
    assert_eq!(moto().get(&n("big-token")), Some(v4097));
    assert_eq!(moto().get(&n("max-token")), Some(v8192));
    assert_eq!(
        moto().kind(&n("big-token")),
        kind("SecureString", "Advanced")
    );
    assert_eq!(
        moto().kind(&n("max-token")),
        kind("SecureString", "Advanced")
    );

    let out = ssmm(&p)
        .args(["put", "--app", "api", "--advanced", "OTHER_TOKEN=o-1"])
        .arg(format!("HUGE_TOKEN={v8193}"))
        .run();
    out.code(2).stderr_contains("HUGE_TOKEN");
    assert!(!out.combined().contains(&"d".repeat(64)), "{out}");
    assert_eq!(
        moto().names_under(&p),
        strings(&[&n("big-token"), &n("exact-token"), &n("max-token")])
    );
}

#[test]
fn put_refuses_to_touch_anything_when_one_key_exists() {
    let p = unique_prefix();
    let existing = format!("{p}/api/b-token");
    moto().put_secure(&existing, "old-value-7710");
    let out = ssmm(&p)
        .args(["put", "--app", "api"])
        .args(["A_TOKEN=new-a", "B_TOKEN=new-b", "C_HOST=new-c"])
        .run();
    out.code(1)
        .stderr_contains("already exist; nothing was written (pass --overwrite")
        .stderr_contains(&existing);
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(moto().names_under(&p), vec![existing.clone()]);
    assert_eq!(moto().get(&existing).as_deref(), Some("old-value-7710"));
    assert_no_values(&out, &["old-value-7710", "new-a", "new-b", "new-c"]);
}

#[test]
fn put_overwrite_replaces_values_readds_tags_and_creates_the_new_ones() {
    let p = unique_prefix();
    let n = |k: &str| format!("{p}/api/{k}");
    moto().put_secure(&n("old-token"), "old-value-1");
    moto().add_tags(&n("old-token"), &[("app", "stale-app"), ("keep", "me")]);
    let out = ssmm(&p)
        .args(["put", "--app", "api", "--overwrite", "--tag", "team=core"])
        .args(["OLD_TOKEN=replacement-2", "NEW_TOKEN=fresh-3"])
        .run();
    out.success();
    assert_eq!(
        sorted_lines(&out.stdout),
        strings(&[
            &format!("{}  SecureString  auto: default  len=7", n("new-token")),
            &format!(
                "{}  SecureString  existing  len=13  (replaced)",
                n("old-token")
            ),
        ])
    );
    assert_eq!(
        out.stderr,
        format!("ssmm: put 2 parameters under {p}/api/ (1 created, 1 replaced)\n")
    );
    assert_eq!(
        moto().get(&n("old-token")).as_deref(),
        Some("replacement-2")
    );
    assert_eq!(moto().get(&n("new-token")).as_deref(), Some("fresh-3"));
    assert_eq!(
        moto().tags(&n("old-token")),
        tags(&[("app", "api"), ("keep", "me"), ("team", "core")])
    );
    assert_eq!(
        moto().tags(&n("new-token")),
        tags(&[("app", "api"), ("team", "core")])
    );
    assert_no_values(&out, &["old-value-1", "replacement-2", "fresh-3"]);
}

/// The bug: an existing SecureString `api-host`, re-put from an env file
/// with `--overwrite`, became a String (the `_HOST` suffix rule), so the
/// secret was then stored unencrypted. Keys not there before still follow
/// the rules.
#[test]
fn put_overwrite_keeps_an_existing_secure_string_instead_of_the_suffix_rule() {
    let p = unique_prefix();
    let n = |k: &str| format!("{p}/api/{k}");
    moto().put_secure(&n("api-host"), "old-secret-host-3317");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("api.env"),
        "API_HOST=new-secret-host-8842\nNEW_HOST=new-host-5520\nNEW_TOKEN=new-token-6604\n",
    )
    .unwrap();
    let out = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args(["--prefix", &p, "put", "--app", "api", "--env", "api.env"])
        .arg("--overwrite")
        .run();
    out.success();
    assert_eq!(
        sorted_lines(&out.stdout),
        strings(&[
            &format!(
                "{}  SecureString  existing  len=20  (replaced)",
                n("api-host")
            ),
            &format!("{}  String  auto: suffix  len=13", n("new-host")),
            &format!("{}  SecureString  auto: default  len=14", n("new-token")),
        ]),
        "{out}"
    );
    assert_eq!(
        moto().kind(&n("api-host")),
        kind("SecureString", "Standard")
    );
    assert_eq!(
        moto().get(&n("api-host")).as_deref(),
        Some("new-secret-host-8842")
    );
    assert_eq!(moto().kind(&n("new-host")), kind("String", "Standard"));
    assert_eq!(
        moto().kind(&n("new-token")),
        kind("SecureString", "Standard")
    );
    assert_no_values(
        &out,
        &[
            "old-secret-host-3317",
            "new-secret-host-8842",
            "new-host-5520",
            "new-token-6604",
        ],
    );
}

/// "Keeps its type" both ways: a String that the default rule would make a
/// SecureString stays a String when replaced.
#[test]
fn put_overwrite_keeps_an_existing_string_where_the_default_rule_says_secure_string() {
    let p = unique_prefix();
    let n = |k: &str| format!("{p}/api/{k}");
    moto().put(&n("feature-flags"), "old-flags-1204");
    let out = ssmm(&p)
        .args(["put", "--app", "api", "--overwrite"])
        .arg("FEATURE_FLAGS=new-flags-7731")
        .run();
    out.success();
    assert_eq!(
        out.stdout,
        format!(
            "{}  String  existing  len=14  (replaced)\n",
            n("feature-flags")
        ),
        "{out}"
    );
    assert_eq!(moto().kind(&n("feature-flags")), kind("String", "Standard"));
    assert_eq!(
        moto().get(&n("feature-flags")).as_deref(),
        Some("new-flags-7731")
    );
    assert_no_values(&out, &["old-flags-1204", "new-flags-7731"]);
}

/// A flag naming the key changes an existing parameter's type; keys no
/// flag names keep theirs.
#[test]
fn put_overwrite_type_flags_beat_the_existing_type() {
    let p = unique_prefix();
    let n = |k: &str| format!("{p}/api/{k}");
    moto().put_secure(&n("api-host"), "old-1");
    moto().put(&n("api-token"), "old-2");
    moto().put_secure(&n("db-host"), "old-3");
    let out = ssmm(&p)
        .args(["put", "--app", "api", "--overwrite"])
        .args(["API_HOST=new-1", "API_TOKEN=new-2", "DB_HOST=new-3"])
        .args(["--plain-key", "api-host", "--secure", "API_TOKEN"])
        .run();
    out.success();
    assert_eq!(
        sorted_lines(&out.stdout),
        strings(&[
            &format!("{}  String  flag  len=5  (replaced)", n("api-host")),
            &format!("{}  SecureString  flag  len=5  (replaced)", n("api-token")),
            &format!(
                "{}  SecureString  existing  len=5  (replaced)",
                n("db-host")
            ),
        ]),
        "{out}"
    );
    assert_eq!(moto().kind(&n("api-host")), kind("String", "Standard"));
    assert_eq!(
        moto().kind(&n("api-token")),
        kind("SecureString", "Standard")
    );
    assert_eq!(moto().kind(&n("db-host")), kind("SecureString", "Standard"));

    let out = ssmm(&p)
        .args(["put", "--app", "api", "--overwrite", "--plain-all"])
        .args(["API_TOKEN=new-4", "DB_HOST=new-5"])
        .run();
    out.success();
    assert_eq!(
        sorted_lines(&out.stdout),
        strings(&[
            &format!("{}  String  flag  len=5  (replaced)", n("api-token")),
            &format!("{}  String  flag  len=5  (replaced)", n("db-host")),
        ]),
        "{out}"
    );
    assert_eq!(moto().kind(&n("api-token")), kind("String", "Standard"));
    assert_eq!(moto().kind(&n("db-host")), kind("String", "Standard"));
    assert_no_values(&out, &["old-", "new-"]);
}

#[test]
fn put_output_has_no_progress_bar_or_escape_codes_when_piped() {
    let p = unique_prefix();
    let pairs: Vec<String> = (0..20).map(|i| format!("PIPE_{i:02}=v{i}")).collect();
    let out = ssmm(&p).args(["put", "--app", "api"]).args(&pairs).run();
    out.success();
    assert!(!out.combined().contains('\r'), "CR in piped output\n{out}");
    assert!(
        !out.combined().contains('\x1b'),
        "ESC in piped output\n{out}"
    );
    let want: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "{p}/api/pipe-{i:02}  SecureString  auto: default  len={}",
                format!("v{i}").len()
            )
        })
        .collect();
    assert_eq!(sorted_lines(&out.stdout), want);
    assert_eq!(moto().names_under(&p).len(), 20);
}

/// Runs `args` (the ssmm binary's arguments) on a pseudo-terminal
/// (`support::pty`), in a hermetic AWS environment pointed at moto. With
/// `answer` `(prompt, bytes)`, `bytes` are typed once the terminal shows
/// `prompt`. Returns the exit code and everything the terminal showed.
fn run_on_pty(args: &[String], answer: Option<(&str, &[u8])>) -> (Option<i32>, String) {
    let mut pty = Pty::spawn(
        Ssmm::new()
            .endpoint(&moto().endpoint())
            .current_dir(std::env::temp_dir())
            .args(args),
    );
    if let Some((prompt, bytes)) = answer {
        pty.wait_for(prompt);
        pty.send(bytes);
    }
    let out = pty.wait();
    (out.code, out.text)
}

#[test]
fn put_shows_a_progress_bar_on_a_terminal_for_more_than_three_keys_only() {
    let p = unique_prefix();
    let mut args = strings(&["--prefix", &p, "put", "--app", "api"]);
    args.extend((0..20).map(|i| format!("TTY_{i:02}=value-{i}")));
    let (code, text) = run_on_pty(&args, None);
    assert_eq!(code, Some(0), "{text}");
    // The terminal turns every \n into \r\n, so only the escape sequences
    // (indicatif's line clearing) tell that a bar was drawn.
    assert!(
        text.contains("\x1b["),
        "no progress bar on a terminal:\n{text:?}"
    );
    for i in 0..20 {
        let line = format!(
            "{p}/api/tty-{i:02}  SecureString  auto: default  len={}",
            format!("value-{i}").len()
        );
        assert!(text.contains(&line), "missing {line:?} in\n{text:?}");
    }
    assert!(text.contains(&format!("ssmm: put 20 parameters under {p}/api/")));
    assert_eq!(moto().names_under(&p).len(), 20);

    // Four keys are already "more than a few".
    let r = unique_prefix();
    let mut args = strings(&["--prefix", &r, "put", "--app", "api"]);
    args.extend((0..4).map(|i| format!("FOUR_{i}=value-{i}")));
    let (code, text) = run_on_pty(&args, None);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\x1b["), "no bar for 4 keys:\n{text:?}");
    assert_eq!(moto().names_under(&r).len(), 4);

    // Three keys: not "more than a few", so no bar even on a terminal.
    let q = unique_prefix();
    let mut args = strings(&["--prefix", &q, "put", "--app", "api"]);
    args.extend((0..3).map(|i| format!("FEW_{i}=value-{i}")));
    let (code, text) = run_on_pty(&args, None);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains('\x1b'), "a bar for 3 keys:\n{text:?}");
    assert_eq!(moto().names_under(&q).len(), 3);
}

/// `put` of `n` keys through `proxy` with `extra` global flags; checks that
/// every value and tag arrived and that the proxy's throttles were retried.
fn put_through_throttling(proxy: &FaultProxy, n: usize, extra: &[&str]) -> Outcome {
    let p = unique_prefix();
    let pairs: Vec<String> = (0..n)
        .map(|i| format!("THROTTLED_{i:02}=throttled-value-{i}"))
        .collect();
    let out = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(std::env::temp_dir())
        .args(["--prefix", &p, "--max-attempts", "20", "-vv"])
        .args(extra)
        .args(["put", "--app", "api"])
        .args(&pairs)
        .timeout(Duration::from_secs(60))
        .run();
    out.success();
    let want: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                format!("{p}/api/throttled-{i:02}"),
                format!("throttled-value-{i}"),
            )
        })
        .collect();
    assert_eq!(moto().params_under(&p), want, "{out}");
    for (name, _) in &want {
        assert_eq!(moto().tags(name), tags(&[("app", "api")]), "{name}");
    }
    let faults = proxy.faults_injected();
    assert!(faults > 0, "no throttling happened");
    assert_eq!(proxy.count("PutParameter"), n + faults, "{out}");
    assert_eq!(sorted_lines(&out.stdout).len(), n, "{out}");
    assert!(
        out.stderr.contains(&format!("({n} created, 0 replaced)")),
        "{out}"
    );
    assert_no_values(&out, &["throttled-value"]);
    out
}

// Half of all writes throttled. Adaptive mode (the default for writes) took
// 10-50 s and sometimes over 60 s for 4-10 keys here: its client-side rate
// limiter drops to a crawl after the first throttle. So this test uses
// --retry-mode standard, and one write at a time so that the seeded pattern
// (7 throttles on 17 calls) is the same on every run (~4-8 s).
#[test]
fn put_of_ten_keys_survives_half_the_writes_being_throttled() {
    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(Plan::share(Fault::Throttle, 0.5, 7).only(&["PutParameter"]));
    let out = put_through_throttling(
        &proxy,
        10,
        &["--retry-mode", "standard", "--write-concurrency", "1"],
    );
    assert!(out.stderr.contains("retry Standard x20"), "{out}");
}

// The default retry mode of writes is adaptive; one throttle is enough to
// show it retries (and costs ~10 s of rate limiting already).
#[test]
fn put_retries_a_throttled_write_in_the_default_adaptive_mode() {
    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(Plan::first(Fault::Throttle, 1).only(&["PutParameter"]));
    let out = put_through_throttling(&proxy, 4, &[]);
    assert_eq!(proxy.faults_injected(), 1);
    assert!(out.stderr.contains("retry Adaptive x20"), "{out}");
}

// ---------------------------------------------------------------- list

/// A small team: api (with nested files/), apps whose names start like it,
/// shared, and another app.
fn seed_team(p: &str) {
    let m = moto();
    m.seed(
        p,
        ParameterType::SecureString,
        &[("api/db-url", "list-secret-1")],
    );
    m.seed(
        p,
        ParameterType::String,
        &[
            ("api/b-host", "list-plain-2"),
            ("api/b-host", "list-plain-2b"),
            ("api/files/tls/cert.pem", "list-cert-3"),
            ("api2/k", "list-api2"),
            ("api-x/k", "list-apix"),
            ("shared/sentry-dsn", "list-shared"),
            ("web/port", "list-web"),
        ],
    );
    m.add_tags(
        &format!("{p}/api/db-url"),
        &[("owner", "pay"), ("env", "prod")],
    );
    m.add_tags(&format!("{p}/api/b-host"), &[("owner", "pay")]);
    m.add_tags(
        &format!("{p}/web/port"),
        &[("owner", "pay"), ("env", "prod")],
    );
}

const LIST_SECRETS: [&str; 7] = [
    "list-secret-1",
    "list-plain-2",
    "list-cert-3",
    "list-api2",
    "list-apix",
    "list-shared",
    "list-web",
];

#[test]
fn list_shows_one_apps_parameters_recursively_as_a_sorted_table_without_values() {
    let p = unique_prefix();
    seed_team(&p);
    let out = ssmm(&p).args(["list", "--app", "api"]).run();
    out.success();
    assert_no_values(&out, &LIST_SECRETS);
    let rows: Vec<Vec<String>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    let expect = [
        (format!("{p}/api/b-host"), "String", "v2"),
        (format!("{p}/api/db-url"), "SecureString", "v1"),
        (format!("{p}/api/files/tls/cert.pem"), "String", "v1"),
    ];
    assert_eq!(rows.len(), expect.len(), "{out}");
    for (row, (name, ty, version)) in rows.iter().zip(&expect) {
        assert_eq!(row.len(), 5, "{row:?}");
        assert_eq!(&row[0], name);
        assert_eq!(row[1], *ty);
        assert_eq!(row[2], "Standard");
        assert_eq!(row[3], *version);
        assert!(is_utc_seconds(&row[4]), "{row:?}");
    }
    // Columns are separated by at least two spaces.
    for line in out.stdout.lines() {
        assert!(
            line.contains("  String  ") || line.contains("  SecureString  "),
            "{line:?}"
        );
    }
}

#[test]
fn list_several_apps_all_and_keys_only() {
    let p = unique_prefix();
    seed_team(&p);
    let out = ssmm(&p)
        .args(["list", "--app", "web", "--app", "api", "--keys-only"])
        .run();
    out.success();
    assert_eq!(
        out.stdout,
        format!("{p}/api/b-host\n{p}/api/db-url\n{p}/api/files/tls/cert.pem\n{p}/web/port\n")
    );
    let out = ssmm(&p).args(["list", "--all", "--keys-only"]).run();
    out.success();
    let mut want = moto().names_under(&p).join("\n");
    want.push('\n');
    assert_eq!(out.stdout, want);
    assert_eq!(out.stdout.lines().count(), 7);
    assert_no_values(&out, &LIST_SECRETS);

    ssmm(&p)
        .args(["list", "--all", "--app", "api"])
        .run()
        .code(2);
    // $SSMM_APP is a default, not an --app: --all still lists everything.
    let out = ssmm(&p)
        .env("SSMM_APP", "api")
        .args(["list", "--all", "--keys-only"])
        .run();
    out.success();
    assert_eq!(out.stdout.lines().count(), 7, "{out}");
}

#[test]
fn list_json_describes_each_parameter_with_app_and_key() {
    let p = unique_prefix();
    seed_team(&p);
    let out = ssmm(&p).args(["list", "--app", "api", "--json"]).run();
    out.success();
    assert_no_values(&out, &LIST_SECRETS);
    let v = json(&out);
    let rows = v.as_array().expect("array");
    let expect = [
        ("b-host", "String", 2),
        ("db-url", "SecureString", 1),
        ("files/tls/cert.pem", "String", 1),
    ];
    assert_eq!(rows.len(), expect.len(), "{out}");
    for (row, (key, ty, version)) in rows.iter().zip(expect) {
        let obj = row.as_object().unwrap();
        let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "app",
                "key",
                "last_modified",
                "name",
                "tier",
                "type",
                "version"
            ]
        );
        assert_eq!(row["name"], format!("{p}/api/{key}").as_str());
        assert_eq!(row["app"], "api");
        assert_eq!(row["key"], key);
        assert_eq!(row["type"], ty);
        assert_eq!(row["tier"], "Standard");
        assert_eq!(row["version"], version);
        assert!(
            is_utc_seconds(row["last_modified"].as_str().unwrap()),
            "{row}"
        );
    }
}

#[test]
fn list_and_dirs_page_through_every_parameter_using_describe_parameters_only() {
    let p = unique_prefix();
    let items: Vec<(String, String)> = (0..23)
        .map(|i| (format!("{p}/api/k{i:02}"), format!("paged-value-{i}")))
        .chain((0..4).map(|i| (format!("{p}/web/w{i}"), format!("paged-value-w{i}"))))
        .collect();
    moto().put_many(&items);
    let proxy = FaultProxy::start(&moto().endpoint());
    let run = |args: &[&str]| {
        Ssmm::new()
            .endpoint(&proxy.endpoint())
            .current_dir(std::env::temp_dir())
            .args(["--prefix", &p])
            .args(args)
            .run()
    };
    let out = run(&["list", "--app", "api", "--keys-only"]);
    out.success();
    let want: String = (0..23).map(|i| format!("{p}/api/k{i:02}\n")).collect();
    assert_eq!(out.stdout, want);
    let out = run(&["list", "--all", "--json"]);
    out.success();
    assert_eq!(json(&out).as_array().unwrap().len(), 27);
    assert_no_values(&out, &["paged-value"]);
    let out = run(&["dirs"]);
    out.success();
    let counts: Vec<(String, String)> = out
        .stdout
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            (format!("{p}/api/"), "23".to_string()),
            (format!("{p}/web/"), "4".to_string()),
        ]
    );
    let ops: Vec<String> = proxy.counts().into_iter().map(|(op, _)| op).collect();
    assert_eq!(ops, ["DescribeParameters"], "values must not be read");
}

#[test]
fn list_tag_filters_must_all_match() {
    let p = unique_prefix();
    seed_team(&p);
    let out = ssmm(&p)
        .args(["list", "--all", "--keys-only", "--tag", "owner=pay"])
        .run();
    out.success();
    assert_eq!(
        out.stdout,
        format!("{p}/api/b-host\n{p}/api/db-url\n{p}/web/port\n")
    );
    let out = ssmm(&p)
        .args([
            "list",
            "--all",
            "--keys-only",
            "--tag",
            "owner=pay",
            "--tag",
            "env=prod",
        ])
        .run();
    out.success();
    assert_eq!(out.stdout, format!("{p}/api/db-url\n{p}/web/port\n"));
    let out = ssmm(&p)
        .args(["list", "--app", "api", "--keys-only", "--tag", "env=prod"])
        .run();
    out.success();
    assert_eq!(out.stdout, format!("{p}/api/db-url\n"));
    let out = ssmm(&p)
        .args(["list", "--all", "--keys-only", "--tag", "owner=nobody"])
        .run();
    out.success();
    assert_eq!(out.stdout, "");
}

// ---------------------------------------------------------------- show

#[test]
fn show_accepts_a_variable_a_key_a_path_below_the_app_or_a_full_name() {
    let p = unique_prefix();
    let pem =
        "-----BEGIN CERTIFICATE-----\nMIIB line one\n  indented two\n-----END CERTIFICATE-----\n";
    moto().put_secure(&format!("{p}/api/db-url"), "postgres://u:pw@h/db");
    moto().put(&format!("{p}/api/db.host"), "dotted-host");
    moto().put_secure(&format!("{p}/api/files/tls/cert.pem"), pem);
    moto().put_secure(&format!("{p}/shared/sentry-dsn"), "https://dsn@sentry");
    for (key, value) in [
        ("DB_URL", "postgres://u:pw@h/db"),
        ("db-url", "postgres://u:pw@h/db"),
        ("db.host", "dotted-host"),
        ("files/tls/cert.pem", pem),
    ] {
        let out = ssmm(&p).args(["show", key, "--app", "api"]).run();
        out.success();
        assert_eq!(out.stdout, format!("{value}\n"), "{key}");
    }
    let full = format!("{p}/shared/sentry-dsn");
    let out = ssmm(&p).args(["show", &full]).run();
    out.success();
    assert_eq!(out.stdout, "https://dsn@sentry\n");
}

#[test]
fn show_json_gives_name_type_and_value() {
    let p = unique_prefix();
    moto().put_secure(&format!("{p}/api/multi"), "line1\nline2 \"q\"");
    let out = ssmm(&p)
        .args(["show", "multi", "--app", "api", "--json"])
        .run();
    out.success();
    assert_eq!(
        json(&out),
        serde_json::json!({
            "name": format!("{p}/api/multi"),
            "type": "SecureString",
            "value": "line1\nline2 \"q\"",
        })
    );
}

#[test]
fn show_missing_parameter_exits_1_and_a_name_outside_the_prefix_exits_2() {
    let p = unique_prefix();
    moto().put(&format!("{p}x/api/k"), "outside-value-1");
    let out = ssmm(&p).args(["show", "NOPE_TOKEN", "--app", "api"]).run();
    out.code(1)
        .stderr_contains(&format!("parameter {p}/api/nope-token not found"));
    for outside in [
        "/elsewhere/api/k".to_string(),
        format!("{p}x/api/k"),
        p.clone(),
    ] {
        let out = ssmm(&p).args(["show", &outside]).run();
        out.code(2);
        assert_no_values(&out, &["outside-value-1"]);
    }
}

// ---------------------------------------------------------------- delete

#[test]
fn delete_one_parameter_by_variable_key_or_full_name() {
    let p = unique_prefix();
    let n = |k: &str| format!("{p}/api/{k}");
    for k in ["old-token", "other", "third"] {
        moto().put(&n(k), "del-value");
    }
    let out = ssmm(&p).args(["delete", "OLD_TOKEN", "--app", "api"]).run();
    out.success();
    assert_eq!(out.stdout, format!("deleted {}\n", n("old-token")));
    assert_eq!(moto().get(&n("old-token")), None);

    let out = ssmm(&p).args(["delete", "OLD_TOKEN", "--app", "api"]).run();
    out.code(1)
        .stderr_contains(&format!("parameter {} not found", n("old-token")));

    let out = ssmm(&p).args(["delete", &n("other")]).run();
    out.success();
    assert_eq!(out.stdout, format!("deleted {}\n", n("other")));
    ssmm(&p)
        .args(["delete", "/elsewhere/api/third"])
        .run()
        .code(2);
    assert_eq!(moto().names_under(&p), vec![n("third")]);
    assert_no_values(&out, &["del-value"]);
}

#[test]
fn delete_all_without_yes_and_without_a_terminal_refuses_and_deletes_nothing() {
    let p = unique_prefix();
    for k in ["a", "b", "files/c"] {
        moto().put(&format!("{p}/api/{k}"), "v");
    }
    let out = ssmm(&p).args(["delete", "--app", "api", "--all"]).run();
    out.code(2).stderr_contains(&format!(
        "refusing to delete 3 parameters under {p}/api/ without confirmation: pass -y"
    ));
    assert_eq!(out.stdout, "");
    assert_eq!(moto().names_under(&p).len(), 3);
}

#[test]
fn delete_all_needs_exactly_one_app_on_the_command_line() {
    let p = unique_prefix();
    moto().put(&format!("{p}/api/a"), "v");
    moto().put(&format!("{p}/web/a"), "v");
    let out = ssmm(&p)
        .env("SSMM_APP", "api")
        .args(["delete", "--all", "-y"])
        .run();
    out.code(2);
    let out = ssmm(&p)
        .args(["delete", "--all", "-y", "--app", "api", "--app", "web"])
        .run();
    out.code(2);
    assert_eq!(moto().names_under(&p).len(), 2);
}

#[test]
fn delete_all_asks_on_a_terminal_and_only_yes_deletes() {
    let p = unique_prefix();
    for k in ["a", "b"] {
        moto().put(&format!("{p}/api/{k}"), "v");
    }
    let args = strings(&["--prefix", &p, "delete", "--app", "api", "--all"]);
    let (code, text) = run_on_pty(&args, Some(("[y/N] ", b"n\n")));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("Delete 2 parameters under {p}/api/?")),
        "{text:?}"
    );
    assert!(
        text.contains("ssmm: error: not confirmed; nothing deleted"),
        "{text:?}"
    );
    assert_eq!(moto().names_under(&p).len(), 2);

    let (code, text) = run_on_pty(&args, Some(("[y/N] ", b"y\n")));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("deleted {p}/api/a")), "{text:?}");
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn delete_all_uses_batches_of_ten_and_leaves_other_apps_alone() {
    let p = unique_prefix();
    let mut doomed: Vec<(String, String)> = (0..20)
        .map(|i| (format!("{p}/api/k{i:02}"), format!("v{i}")))
        .collect();
    doomed.extend((0..5).map(|i| (format!("{p}/api/files/d{i}/f.txt"), format!("f{i}"))));
    moto().put_many(&doomed);
    let survivors = [
        format!("{p}/api2/k"),
        format!("{p}/api-x/k"),
        format!("{p}/shared/k"),
        format!("{p}/web/api/k"),
    ];
    for s in &survivors {
        moto().put(s, "survivor");
    }
    let proxy = FaultProxy::start(&moto().endpoint());
    let out = Ssmm::new()
        .endpoint(&proxy.endpoint())
        .current_dir(std::env::temp_dir())
        .args([
            "--prefix", &p, "delete", "--app", "api", "--all", "-y", "-vv",
        ])
        .run();
    out.success();
    let mut want: Vec<String> = doomed.iter().map(|(n, _)| format!("deleted {n}")).collect();
    want.sort();
    assert_eq!(sorted_lines(&out.stdout), want);
    assert!(
        out.stderr
            .contains(&format!("ssmm: deleted 25 parameters under {p}/api/")),
        "{out}"
    );
    assert_eq!(proxy.count("DeleteParameters"), 3, "{:?}", proxy.counts());
    assert!(out.stderr.contains("DeleteParameters=3"), "{out}");
    assert!(moto().names_under(&format!("{p}/api")).is_empty());
    let mut left = survivors.to_vec();
    left.sort();
    assert_eq!(moto().names_under(&p), left);
    assert_no_values(&out, &["survivor"]);
}

// ---------------------------------------------------------------- tag

#[test]
fn tag_add_list_and_remove_change_exactly_the_named_tags() {
    let p = unique_prefix();
    let name = format!("{p}/api/db-url");
    moto().put_secure(&name, "tag-secret-1");
    moto().add_tags(&name, &[("app", "api")]);

    let out = ssmm(&p)
        .args([
            "tag",
            "add",
            "DB_URL",
            "owner=payments",
            "tier=1",
            "--app",
            "api",
        ])
        .run();
    out.success();
    assert_eq!(
        moto().tags(&name),
        tags(&[("app", "api"), ("owner", "payments"), ("tier", "1")])
    );
    // Adding an existing key replaces its value.
    ssmm(&p)
        .args(["tag", "add", "db-url", "tier=2", "--app", "api"])
        .run()
        .success();
    assert_eq!(
        moto().tags(&name),
        tags(&[("app", "api"), ("owner", "payments"), ("tier", "2")])
    );

    let out = ssmm(&p)
        .args(["tag", "list", "DB_URL", "--app", "api"])
        .run();
    out.success();
    assert_eq!(out.stdout, "app=api\nowner=payments\ntier=2\n");
    let out = ssmm(&p).args(["tag", "list", &name, "--json"]).run();
    out.success();
    assert_eq!(
        json(&out),
        serde_json::json!({"app": "api", "owner": "payments", "tier": "2"})
    );

    let out = ssmm(&p)
        .args(["tag", "remove", "DB_URL", "tier", "owner", "--app", "api"])
        .run();
    out.success();
    assert_eq!(moto().tags(&name), tags(&[("app", "api")]));
    assert_no_values(&out, &["tag-secret-1"]);
    assert_eq!(moto().get(&name).as_deref(), Some("tag-secret-1"));
}

#[test]
fn tag_commands_on_a_missing_parameter_exit_1() {
    let p = unique_prefix();
    let out = ssmm(&p)
        .args(["tag", "add", "NOPE", "owner=x", "--app", "api"])
        .run();
    out.code(1).stderr_contains(&format!("{p}/api/nope"));
    ssmm(&p)
        .args(["tag", "remove", "NOPE", "owner", "--app", "api"])
        .run()
        .code(1);
    ssmm(&p)
        .args(["tag", "list", "NOPE", "--app", "api"])
        .run()
        .code(1);
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn tag_arguments_are_checked() {
    let p = unique_prefix();
    let name = format!("{p}/api/k");
    moto().put(&name, "v");
    ssmm(&p)
        .args(["tag", "add", "k", "no-equals", "--app", "api"])
        .run()
        .code(2);
    ssmm(&p)
        .args(["tag", "remove", "k", "a=b", "--app", "api"])
        .run()
        .code(2);
    assert!(moto().tags(&name).is_empty());
}

// ---------------------------------------------------------------- dirs

#[test]
fn dirs_counts_every_app_namespace_including_nested_files() {
    let p = unique_prefix();
    seed_team(&p);
    let out = ssmm(&p).arg("dirs").run();
    out.success();
    assert_no_values(&out, &LIST_SECRETS);
    let rows: Vec<Vec<String>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    let expect = [
        ("api-x", 1),
        ("api", 3),
        ("api2", 1),
        ("shared", 1),
        ("web", 1),
    ];
    let mut got: Vec<(String, usize)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 3, "{out}");
            assert!(is_utc_seconds(&r[2]), "{r:?}");
            (r[0].clone(), r[1].parse().unwrap())
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, usize)> = expect
        .iter()
        .map(|(a, c)| (format!("{p}/{a}/"), *c))
        .collect();
    want.sort();
    assert_eq!(got, want, "{out}");

    let out = ssmm(&p).args(["dirs", "--json"]).run();
    out.success();
    let v = json(&out);
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), expect.len(), "{out}");
    // The app's last change is the newest of its parameters' (from list).
    let listed = json(&ssmm(&p).args(["list", "--app", "api", "--json"]).run());
    let newest = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["last_modified"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    for (app, count) in expect {
        let row = rows
            .iter()
            .find(|r| r["app"] == app)
            .unwrap_or_else(|| panic!("no row for {app}\n{out}"));
        let mut fields: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        assert_eq!(fields, ["app", "count", "last_modified", "path"]);
        assert_eq!(
            row["path"].as_str().unwrap().trim_end_matches('/'),
            format!("{p}/{app}")
        );
        assert_eq!(row["count"], count, "{app}");
        assert!(is_utc_seconds(row["last_modified"].as_str().unwrap()));
        if app == "api" {
            assert_eq!(row["last_modified"], newest.as_str());
        }
    }
}

// ---------------------------------------------------------------- names with control characters

// AWS refuses parameter names outside `[A-Za-z0-9_.-/]`; moto accepts any
// name, an ESC sequence and a newline included (both are used below), which
// stands in for a compromised or misbehaving endpoint.

/// A raw ESC, for the escape-sequence names.
const ESC: char = '\u{1b}';

/// Names with a newline and ESC sequences under `p`: in `api` and in an app
/// whose own name holds an ESC sequence, one key (`dup...`) in both, and two
/// names sharing one value (for `check --values`). Returns (name, value).
fn seed_control_names(p: &str) -> Vec<(String, String)> {
    let seeded = vec![
        (format!("{p}/api/two\nlines"), "same-value-5107".to_string()),
        (
            format!("{p}/api/red{ESC}[31m-key"),
            "same-value-5107".to_string(),
        ),
        (
            format!("{p}/api/dup{ESC}[0m"),
            "dup-a-value-3382".to_string(),
        ),
        (format!("{p}/api/plain"), "plain-value-9921".to_string()),
        (
            format!("{p}/ev{ESC}[2Jil/dup{ESC}[0m"),
            "dup-b-value-7415".to_string(),
        ),
    ];
    for (name, value) in &seeded {
        moto().put_secure(name, value);
    }
    seeded
}

/// How ssmm shows a name: control characters escaped as in Rust.
fn escaped(name: &str) -> String {
    name.replace('\n', r"\n").replace(ESC, r"\u{1b}")
}

/// The bug: a newline in a name split a `list` row in two and an ESC
/// sequence reached the terminal raw. Every row is one parameter, shown
/// escaped, in the table, `--keys-only` and `--all`; `--json` keeps the
/// real names (JSON escapes them).
#[test]
fn list_escapes_control_characters_in_names_one_row_per_parameter() {
    let p = unique_prefix();
    let seeded = seed_control_names(&p);
    let values: Vec<&str> = seeded.iter().map(|(_, v)| v.as_str()).collect();
    let mut api: Vec<String> = seeded
        .iter()
        .filter(|(n, _)| n.starts_with(&format!("{p}/api/")))
        .map(|(n, _)| n.clone())
        .collect();
    api.sort();

    let out = ssmm(&p).args(["list", "--app", "api"]).run();
    out.success();
    assert_no_raw_controls(&out);
    assert_no_values(&out, &values);
    let rows: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(rows.len(), api.len(), "one row per parameter\n{out}");
    for (row, name) in rows.iter().zip(&api) {
        assert!(
            row.starts_with(&format!("{}  ", escaped(name))),
            "{row:?} does not show {name:?} escaped\n{out}"
        );
    }

    let out = ssmm(&p).args(["list", "--app", "api", "--keys-only"]).run();
    out.success();
    assert_no_raw_controls(&out);
    let want: Vec<String> = api.iter().map(|n| escaped(n)).collect();
    assert_eq!(lines_of(&out.stdout), want, "{out}");

    let out = ssmm(&p).args(["list", "--all"]).run();
    out.success();
    assert_no_raw_controls(&out);
    assert_eq!(out.stdout.lines().count(), seeded.len(), "{out}");

    let out = ssmm(&p).args(["list", "--app", "api", "--json"]).run();
    out.success();
    assert!(!out.stdout.contains(ESC), "{out}");
    let names: Vec<String> = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, api);
    assert_no_values(&out, &values);
}

/// `dirs` shows an app whose name holds an ESC sequence escaped, and
/// `check` the keys, apps and names it reports.
#[test]
fn dirs_and_check_escape_control_characters_in_names() {
    let p = unique_prefix();
    let seeded = seed_control_names(&p);
    let values: Vec<&str> = seeded.iter().map(|(_, v)| v.as_str()).collect();

    let out = ssmm(&p).arg("dirs").run();
    out.success();
    assert_no_raw_controls(&out);
    let dirs: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.split("  ").next().unwrap().to_string())
        .collect();
    assert_eq!(
        dirs,
        [format!("{p}/api/"), format!(r"{p}/ev\u{{1b}}[2Jil/")],
        "{out}"
    );

    let out = ssmm(&p).arg("check").run();
    out.success();
    assert_no_raw_controls(&out);
    assert_no_values(&out, &values);
    let text = out.stdout.clone();
    assert!(
        text.contains(r"  dup\u{1b}[0m: api, ev\u{1b}[2Jil"),
        "duplicate key not shown escaped\n{out}"
    );
    let same = text
        .lines()
        .find(|l| l.contains("two"))
        .unwrap_or_else(|| panic!("no identical-values line\n{out}"));
    assert!(
        same.ends_with(&format!(r"{p}/api/red\u{{1b}}[31m-key, {p}/api/two\nlines")),
        "{same:?}\n{out}"
    );
}

/// `delete --all` prints one `deleted` line per parameter, escaped.
#[test]
fn delete_all_escapes_control_characters_in_the_names_it_prints() {
    let p = unique_prefix();
    let seeded = seed_control_names(&p);
    let out = ssmm(&p)
        .args(["delete", "--app", "api", "--all", "-y"])
        .run();
    out.success();
    assert_no_raw_controls(&out);
    let mut want: Vec<String> = seeded
        .iter()
        .filter(|(n, _)| n.starts_with(&format!("{p}/api/")))
        .map(|(n, _)| format!("deleted {}", escaped(n)))
        .collect();
    want.sort();
    assert_eq!(sorted_lines(&out.stdout), want, "{out}");
    assert_eq!(
        moto().names_under(&format!("{p}/api")),
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------- layout and prefix

#[test]
fn admin_commands_refuse_the_ecs_layout() {
    let p = unique_prefix();
    let commands: [&[&str]; 7] = [
        &["put", "--app", "api", "K_TOKEN=v"],
        &["list", "--app", "api"],
        &["show", "K", "--app", "api"],
        &["delete", "K", "--app", "api"],
        &["tag", "list", "K", "--app", "api"],
        &["dirs"],
        &["delete", "--app", "api", "--all", "-y"],
    ];
    for args in commands {
        let out = ssmm(&p).args(["--layout", "ecs"]).args(args).run();
        out.code(2).stderr_contains("team layout");
        let out = ssmm(&p).env("SSMM_LAYOUT", "ecs").args(args).run();
        out.code(2).stderr_contains("team layout");
    }
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn admin_commands_without_a_prefix_print_the_exact_message_and_exit_2() {
    let commands: [&[&str]; 7] = [
        &["put", "--app", "api", "K_TOKEN=v"],
        &["list", "--app", "api"],
        &["show", "K", "--app", "api"],
        &["delete", "K", "--app", "api"],
        &["tag", "add", "K", "a=b", "--app", "api"],
        &["dirs"],
        &["delete", "--app", "api", "--all", "-y"],
    ];
    for args in commands {
        let out = Ssmm::new()
            .endpoint(&moto().endpoint())
            .current_dir(std::env::temp_dir())
            .args(args)
            .run();
        out.code(2);
        assert_eq!(out.stderr.trim_end(), NO_PREFIX, "{out}");
        assert_eq!(out.stdout, "");
    }
}

// ---------------------------------------------------------------- generated text

#[test]
fn completions_are_printed_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Ssmm::new().args(["completions", shell]).run();
        out.success();
        assert!(out.stdout.len() > 200, "{shell}: {out}");
        assert!(out.stdout.contains("ssmm"), "{shell}");
        assert!(
            out.stdout.contains("migrate"),
            "{shell}: subcommands missing"
        );
    }
    Ssmm::new()
        .args(["completions", "bash"])
        .run()
        .stdout_contains("_ssmm");
    Ssmm::new().args(["completions", "tcsh"]).run().code(2);
}

#[test]
fn man_prints_a_roff_page_covering_the_commands() {
    let out = Ssmm::new().arg("man").run();
    out.success();
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.starts_with(".TH"),
        "{}",
        &out.stdout[..out.stdout.len().min(200)]
    );
    assert!(out.stdout.contains(".TH"), "no .TH header");
    for cmd in ["put", "list", "show", "delete", "dirs", "sync", "exec"] {
        assert!(out.stdout.contains(cmd), "man page lacks {cmd}");
    }
}

#[test]
fn generated_text_into_a_closed_pipe_does_not_crash() {
    let bin = env!("CARGO_BIN_EXE_ssmm");
    // As a user would type it.
    let out = Ssmm::with_program("sh")
        .args(["-c", "\"$0\" man | head -c 10", bin])
        .run();
    out.success();
    assert_eq!(out.stdout.len(), 10, "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    // The reader is certainly gone before ssmm writes: ssmm's own status is
    // reported on stderr.
    for cmd in ["man", "completions bash", "--help"] {
        let script = format!("(sleep 0.3; \"$0\" {cmd}; echo \"status=$?\" >&2) | true");
        let out = Ssmm::with_program("sh").args(["-c", &script, bin]).run();
        out.success();
        assert!(!out.stderr.contains("panicked"), "{cmd}: {out}");
        assert!(out.stderr.contains("status=0"), "{cmd}: {out}");
    }
}

#[test]
fn every_subcommand_help_exits_0_and_shows_examples() {
    for cmd in [
        "put",
        "list",
        "show",
        "delete",
        "tag",
        "dirs",
        "check",
        "diff",
        "migrate",
        "completions",
        "man",
        "sync",
        "exec",
    ] {
        let out = Ssmm::new().args([cmd, "--help"]).run();
        out.success();
        assert!(out.stdout.contains("Examples:"), "{cmd} --help\n{out}");
        assert!(
            out.stdout.contains(&format!("ssmm {cmd}")),
            "{cmd} --help\n{out}"
        );
        assert!(out.stdout.contains("Usage:"), "{cmd}");
    }
}
