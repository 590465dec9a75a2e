//! `--format credentials` and `--format credentials-encrypted`
//! (`docs/CONTRACT.md` §4): a directory of one file per variable for
//! systemd's `LoadCredential=` / `LoadCredentialEncrypted=`, checked with
//! the real `systemd-creds` (it works without systemd as PID 1).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::fs::mode;
use crate::support::{Run, Test};

/// Values a credential must carry byte for byte.
fn hostile() -> Vec<(&'static str, String)> {
    vec![
        ("MULTI_LINE", "line one\nline two\n".to_string()),
        ("CRLF", "a\r\nb".to_string()),
        ("QUOTES", r#"it's "quoted" `tick` $HOME \n \\"#.to_string()),
        ("UNICODE", "é ü 日本 🔑 \u{200b}".to_string()),
        ("SPACES", "  padded  ".to_string()),
        ("CONTROL", "bell\u{7} esc\u{1b}[0m tab\t".to_string()),
        ("LARGE", "x".repeat(4000)),
        (
            "PEM",
            "-----BEGIN KEY-----\nMIIB\n-----END KEY-----".to_string(),
        ),
    ]
}

/// A test with the hostile values under `api/`.
fn seeded() -> Test {
    let mut t = Test::new();
    for (var, value) in hostile() {
        t = t.param(
            &format!("api/{}", var.to_lowercase().replace('_', "-")),
            &value,
        );
    }
    t
}

fn sync(t: &Test, format: &str, args: &[&str]) -> Run {
    t.ssmm(["sync", "--app", "api", "--format", format])
        .args(args)
}

/// `systemd-creds decrypt --name=NAME FILE -`.
fn decrypt(name: &str, file: &Path) -> Result<Vec<u8>, String> {
    let out = Command::new("systemd-creds")
        .args(["decrypt", &format!("--name={name}")])
        .arg(file)
        .arg("-")
        .output()
        .expect("systemd-creds (scripts/setup installs the systemd package)");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The directory's entries: name -> bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn plain_credentials_hold_each_value_byte_for_byte() {
    let t = seeded();
    sync(&t, "credentials", &["--out", "run/creds"])
        .success()
        .stderr_has("wrote 8 variables to run/creds")
        .go();
    let dir = t.path("run/creds");
    assert_eq!(mode(&dir), 0o700);
    for (var, value) in hostile() {
        assert_eq!(fs::read(dir.join(var)).unwrap(), value.as_bytes(), "{var}");
        assert_eq!(mode(&dir.join(var)), 0o600);
    }
    let mut names: Vec<&str> = hostile().iter().map(|(v, _)| *v).collect();
    names.sort();
    assert_eq!(
        fs::read_to_string(dir.join(".ssmm-manifest")).unwrap(),
        names.iter().map(|n| format!("{n}\n")).collect::<String>()
    );
    // Again: nothing to write.
    sync(&t, "credentials", &["--out", "run/creds"])
        .success()
        .stderr_has("no change")
        .go();
}

#[test]
fn only_the_files_ssmm_wrote_are_removed_when_their_variable_is_gone() {
    let t = Test::new().param("api/a", "1").param("api/b", "2");
    sync(&t, "credentials", &["--out", "creds"]).success().go();
    fs::write(t.path("creds/MINE"), "not ssmm's").unwrap();
    fs::set_permissions(t.path("creds/MINE"), fs::Permissions::from_mode(0o600)).unwrap();
    crate::support::moto().delete(&t.name("api/b"));
    sync(&t, "credentials", &["--out", "creds"]).success().go();
    let names: Vec<String> = files(&t.path("creds"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, [".ssmm-manifest", "A", "MINE"]);
}

#[test]
fn encrypted_credentials_decrypt_to_each_value_under_its_own_name() {
    let t = seeded();
    sync(
        &t,
        "credentials-encrypted",
        &["--out", "creds", "--creds-key", "host"],
    )
    .success()
    .go();
    let dir = t.path("creds");
    for (var, value) in hostile() {
        let file = dir.join(var);
        assert_eq!(mode(&file), 0o600);
        let bytes = fs::read(&file).unwrap();
        assert!(
            !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
            "{var} is in plain text"
        );
        assert_eq!(decrypt(var, &file).unwrap(), value.as_bytes(), "{var}");
        // The name is sealed in: the file is no other credential.
        assert!(decrypt("OTHER", &file).is_err(), "{var} decrypted as OTHER");
    }
    // Unchanged values are not encrypted again (which would change the
    // bytes); a changed one is.
    let before = files(&dir);
    sync(
        &t,
        "credentials-encrypted",
        &["--out", "creds", "--creds-key", "host"],
    )
    .success()
    .stderr_has("no change")
    .go();
    assert_eq!(files(&dir), before);
    t.put_secure("api/spaces", "changed value");
    t.secret("changed value");
    sync(
        &t,
        "credentials-encrypted",
        &["--out", "creds", "--creds-key", "host"],
    )
    .success()
    .go();
    let after = files(&dir);
    let differ: Vec<&String> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| &a.0)
        .collect();
    assert_eq!(differ, ["SPACES"]);
    assert_eq!(
        decrypt("SPACES", &dir.join("SPACES")).unwrap(),
        b"changed value"
    );
}

#[test]
fn a_missing_or_failing_systemd_creds_names_the_variable_and_replaces_nothing() {
    let t = Test::new().param("api/token", "t0ken-value");
    sync(
        &t,
        "credentials-encrypted",
        &["--out", "creds", "--creds-key", "host"],
    )
    .success()
    .go();
    let before = files(&t.path("creds"));
    t.put_secure("api/token", "new-t0ken");
    t.secret("new-t0ken");
    // No systemd-creds on PATH.
    let empty = t.scratch("empty-path");
    fs::create_dir_all(&empty).unwrap();
    sync(&t, "credentials-encrypted", &["--out", "creds"])
        .env("PATH", &empty)
        .code(1)
        .stderr_has("cannot encrypt TOKEN: systemd-creds was not found in PATH")
        .go();
    // One that fails.
    let fake = t.scratch("fake-bin");
    fs::create_dir_all(&fake).unwrap();
    fs::write(
        fake.join("systemd-creds"),
        "#!/bin/sh\necho 'Failed to encrypt: no key' >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(
        fake.join("systemd-creds"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:/usr/bin:/bin", fake.display());
    sync(&t, "credentials-encrypted", &["--out", "creds"])
        .env("PATH", &path)
        .code(1)
        .stderr_has("cannot encrypt TOKEN: systemd-creds exited with 1: Failed to encrypt: no key")
        .go();
    assert_eq!(files(&t.path("creds")), before);
}

#[test]
fn bad_credentials_targets_are_refused_before_anything_is_fetched() {
    let t = Test::new().param("api/token", "tok").file("a-file", "x");
    fs::create_dir(t.path("real")).unwrap();
    std::os::unix::fs::symlink(t.path("real"), t.path("link")).unwrap();
    for (args, message) in [
        (
            &["--format", "credentials"][..],
            "--format credentials writes a directory: give it with --out DIR",
        ),
        (
            &["--format", "credentials", "--out", "-"],
            "writes a directory: give --out DIR, not standard output",
        ),
        (
            &["--format", "credentials-encrypted", "--out", "link"],
            "writing link: it is a symlink",
        ),
        (
            &["--format", "credentials", "--out", "a-file"],
            "writing a-file: it exists and is not a directory",
        ),
        (
            &[
                "--format",
                "credentials",
                "--creds-key",
                "nope",
                "--out",
                "d",
            ],
            "invalid value 'nope' for '--creds-key <KEY>'",
        ),
    ] {
        t.ssmm(["sync", "--app", "api"])
            .args(args)
            .endpoint("http://127.0.0.1:9")
            .code(2)
            .stderr_has(message)
            .untouched("a-file")
            .untouched("real")
            .go();
    }
    // A variable's file that is a directory.
    fs::create_dir_all(t.path("creds/TOKEN")).unwrap();
    t.ssmm([
        "sync",
        "--app",
        "api",
        "--format",
        "credentials",
        "--out",
        "creds",
    ])
    .code(2)
    .stderr_has("writing creds: TOKEN: it is a directory, not a regular file")
    .go();
}

#[test]
fn names_and_values_systemd_cannot_take_as_credentials_are_refused() {
    let t = Test::new().param("api/ok", "1");
    t.put_secure("api/nul", "a\u{0}b");
    t.secret("a\u{0}b");
    sync(&t, "credentials", &["--out", "creds"])
        .code(1)
        .stderr_has("cannot write NUL as a credential: the value contains a NUL byte")
        .absent("creds")
        .go();
    crate::support::moto().delete(&t.name("api/nul"));
    let long = "k".repeat(300);
    t.put(&format!("api/{long}"), "v");
    sync(&t, "credentials", &["--out", "creds", "--key-case", "keep"])
        .code(1)
        .stderr_has("the name is longer than the 255 bytes systemd allows a credential")
        .absent("creds")
        .go();
}

#[test]
fn exec_writes_a_credentials_directory_before_the_command_starts() {
    let t = Test::new().param("api/token", "exec-tok");
    t.ssmm([
        "exec",
        "--app",
        "api",
        "--format",
        "credentials",
        "--out",
        "creds",
    ])
    .args(["--", "sh", "-c", "test \"$(cat creds/TOKEN)\" = exec-tok"])
    .success()
    .go();
}
