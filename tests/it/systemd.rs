//! `ssmm systemd` and `ssmm onboard` (`docs/CONTRACT.md` §3 "systemd
//! units"): what each mode prints, line for line; every generated unit and
//! drop-in through the real `systemd-analyze verify` beside a stand-in
//! service (and, where quoting matters, the command line as systemd split
//! it); `--apply` with a fake `systemctl`; the usage errors, which write
//! nothing; and the examples in `examples/systemd/generated/`, which must
//! be what the command prints.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::fs::mode;
use crate::support::rows::{Rows, Watch};
use crate::support::units::{
    calls, command_lines, fake_systemctl, loaded, path_with, put_files, unit_dir, verify,
};
use crate::support::{Run, Ssmm, Test, moto};

/// The binary under test: what units generated here run (systemd-analyze
/// checks the path exists and is executable).
fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ssmm")
}

/// `ssmm --prefix P systemd ARGS --ssmm-path BIN` against moto.
fn systemd(t: &Test, args: &[&str]) -> Run {
    t.ssmm(["systemd"]).args(args).args(["--ssmm-path", bin()])
}

/// The lines of `text` that are not comments or blank: the directives.
fn directives(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// What the units' command lines start with for app `api` under `t`'s
/// prefix.
fn base(t: &Test) -> String {
    format!(
        "{} --layout team --prefix {} --app api --no-files",
        bin(),
        t.prefix()
    )
}

/// Splits what `ssmm systemd` printed into its files: each starts with a
/// comment naming it (`# REL: written by ...`).
fn printed_files(stdout: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for chunk in stdout.split("\n\n# ") {
        let text = if chunk.starts_with("# ") {
            chunk.to_string()
        } else {
            format!("# {chunk}")
        };
        let rel = text[2..text.find(": written by").expect("a header")].to_string();
        let text = if text.ends_with('\n') {
            text
        } else {
            text + "\n"
        };
        files.push((rel, text));
    }
    files
}

/// Puts what `ssmm systemd` printed into a unit directory beside a
/// stand-in `unit` and verifies every file with systemd.
#[track_caller]
fn verify_printed(t: &Test, name: &str, unit: &str, stdout: &str, user: bool) -> PathBuf {
    let dir = unit_dir(&t.scratch(name), unit);
    let files = printed_files(stdout);
    let pairs: Vec<(&str, &str)> = files
        .iter()
        .map(|(r, c)| (r.as_str(), c.as_str()))
        .collect();
    put_files(&dir, &pairs);
    let mut units = vec![unit.to_string()];
    units.extend(
        files
            .iter()
            .filter(|(r, _)| !r.contains(".d/"))
            .map(|(r, _)| r.clone()),
    );
    let units: Vec<&str> = units.iter().map(String::as_str).collect();
    verify(&dir, &units, user);
    dir
}

// ---------------------------------------------------------------- the modes

#[test]
fn sync_mode_prints_a_drop_in_that_writes_to_run_and_reads_it_back() {
    let t = Test::new();
    let units = t.scratch("units");
    let out = systemd(&t, &["api", "--mode", "sync"])
        .success()
        .stderr_has("nothing written: pass --apply to install api.service.d/ssmm.conf")
        .untouched(&units)
        .go();
    let want = format!(
        "# api.service.d/ssmm.conf: written by `ssmm systemd --mode sync` for api.service.
# Layout team, prefix {p}, app api. Generate it again rather than editing it.
# Before every start, ssmm writes the environment to /run/ssmm/api.service/env
# (a tmpfs), never to a persistent disk or a backup; '+' runs it as root
# even with User=. systemd reads EnvironmentFile= for ExecStartPre= too,
# before a first start has written it: '-' lets that pass.
[Service]
ExecStartPre=+{base} sync --out /run/ssmm/api.service/env
EnvironmentFile=-/run/ssmm/api.service/env
",
        p = t.prefix(),
        base = base(&t)
    );
    assert_eq!(out.stdout, want);
    let dir = verify_printed(&t, "v", "api.service", &out.stdout, false);
    let dump = loaded(&dir, "api.service", false);
    assert!(
        dump.contains(&"EnvironmentFile: -/run/ssmm/api.service/env".to_string()),
        "{dump:#?}"
    );
    let lines = command_lines(&dump);
    assert_eq!(lines[0][0], bin());
    assert_eq!(lines[0].last().unwrap(), "/run/ssmm/api.service/env");
}

#[test]
fn a_user_sync_unit_writes_under_the_runtime_directory_specifier_without_plus() {
    let t = Test::new();
    let out = systemd(&t, &["api.service", "--mode", "sync", "--user"])
        .success()
        .stderr_has("run systemctl --user daemon-reload")
        .go();
    assert_eq!(
        directives(&out.stdout),
        [
            "[Service]".to_string(),
            format!(
                "ExecStartPre={} sync --out %t/ssmm/api.service/env",
                base(&t)
            ),
            "EnvironmentFile=-%t/ssmm/api.service/env".to_string(),
        ]
    );
    assert!(
        out.stdout
            .contains("(%t: the user's runtime directory, a tmpfs)")
    );
    let dir = verify_printed(&t, "v", "api.service", &out.stdout, true);
    // systemd --user expands %t to $XDG_RUNTIME_DIR.
    let runtime = dir.join("runtime");
    let dump = loaded(&dir, "api.service", true);
    let env = format!(
        "EnvironmentFile: -{}/ssmm/api.service/env",
        runtime.display()
    );
    assert!(dump.contains(&env), "{dump:#?}");
    let out_arg = format!("{}/ssmm/api.service/env", runtime.display());
    assert_eq!(command_lines(&dump)[0].last().unwrap(), &out_arg);
}

#[test]
fn exec_mode_resets_exec_start_and_runs_the_command_through_ssmm_exec() {
    let t = Test::new();
    let out = systemd(
        &t,
        &[
            "api",
            "--mode",
            "exec",
            "--exec-cmd",
            "/opt/api/bin/api --port 8080 \"a b\" 100%%",
        ],
    )
    .success()
    .stderr_lacks("warning")
    .go();
    assert_eq!(
        directives(&out.stdout),
        [
            "[Service]".to_string(),
            "ExecStart=".to_string(),
            format!(
                "ExecStart={} exec -- /opt/api/bin/api --port 8080 \"a b\" 100%%",
                base(&t)
            ),
        ]
    );
    let dir = verify_printed(&t, "v", "api.service", &out.stdout, false);
    let dump = loaded(&dir, "api.service", false);
    let lines = command_lines(&dump);
    assert_eq!(
        lines.len(),
        1,
        "the stand-in's ExecStart= was reset: {dump:#?}"
    );
    let tail: Vec<&str> = lines[0].iter().map(String::as_str).collect();
    assert_eq!(
        tail[tail.len() - 6..],
        ["--", "/opt/api/bin/api", "--port", "8080", "a b", "100%"]
    );
}

#[test]
fn an_exec_command_naming_a_variable_is_written_but_warned_about() {
    let t = Test::new();
    systemd(
        &t,
        &[
            "api",
            "--mode",
            "exec",
            "--exec-cmd",
            "/opt/api/bin/api --db $DB_URL --home $$HOME",
        ],
    )
    .success()
    .stdout_has("exec -- /opt/api/bin/api --db $DB_URL --home $$HOME\n")
    .stderr_has("warning: --exec-cmd: systemd replaces $DB_URL from the unit's own environment")
    .stderr_lacks("$HOME from")
    .go();
}

#[test]
fn credentials_mode_lists_the_variables_in_the_layers_and_never_a_value() {
    let t = Test::new()
        .param("shared/sentry-dsn", "https://secret-dsn.example/1")
        .param("api/db-password", "hunter2-db-pass")
        .param("api/token", "t0ken-value-xyz")
        .plain("api/db-host", "db.internal.example")
        .param("other/not-mine", "other-app-value");
    let out = systemd(&t, &["api", "--mode", "credentials", "-vvv"])
        .success()
        .go();
    let store = "/etc/credstore.encrypted/api.service";
    let mut want = vec![
        "[Unit]".to_string(),
        "Description=SSM parameters of api.service as encrypted credentials (ssmm)".into(),
        "Wants=network-online.target".into(),
        "After=network-online.target".into(),
        "Before=api.service".into(),
        "[Service]".into(),
        "Type=oneshot".into(),
        format!(
            "ExecStart={} sync --format credentials-encrypted --out {store}",
            base(&t)
        ),
        "[Unit]".into(),
        "Requires=ssmm-api.service".into(),
        "After=ssmm-api.service".into(),
        "[Service]".into(),
    ];
    for var in ["DB_HOST", "DB_PASSWORD", "SENTRY_DSN", "TOKEN"] {
        want.push(format!("LoadCredentialEncrypted={var}:{store}/{var}"));
    }
    assert_eq!(directives(&out.stdout), want);
    assert!(
        out.stdout.contains(
            "# The list below is the variables the layers held when this was\n# generated: one added since is not loaded, and one removed makes the\n# start fail, until the command is run again."
        ),
        "{}",
        out.stdout
    );
    let dir = verify_printed(&t, "v", "api.service", &out.stdout, false);
    let dump = loaded(&dir, "api.service", false);
    assert!(
        dump.iter().any(|l| l.contains("ssmm-api.service")),
        "{dump:#?}"
    );
    // A variable added later is not in the list until the command runs
    // again.
    t.put_secure("api/new-one", "new-secret-value");
    let again = systemd(&t, &["api", "--mode", "credentials"])
        .success()
        .go();
    assert!(again.stdout.contains("LoadCredentialEncrypted=NEW_ONE:"));
}

#[test]
fn credentials_mode_applies_strict_require_and_allow_empty_now() {
    let t = Test::new().param("api/token", "t0ken-value-xyz");
    systemd(&t, &["api", "--mode", "credentials", "--require", "DB_URL"])
        .code(1)
        .stderr_line(
            "ssmm: error: 1 required variable missing from the layers: DB_URL; no unit written",
        )
        .stdout_is("")
        .go();
    systemd(&t, &["empty", "--mode", "credentials"])
        .code(1)
        .stderr_line(format!(
            "ssmm: error: no parameters under {}/empty/ (pass --allow-empty if that is expected)",
            t.prefix()
        ))
        .stdout_is("")
        .go();
    let out = systemd(&t, &["empty", "--mode", "credentials", "--allow-empty"])
        .success()
        .go();
    assert!(!out.stdout.contains("LoadCredentialEncrypted="));
    assert!(
        out.stdout
            .contains("sync --allow-empty --format credentials-encrypted")
    );
    verify_printed(&t, "v", "empty.service", &out.stdout, false);
}

#[test]
fn arguments_reach_systemd_as_they_were_given() {
    // A --require-from file whose absolute path needs quoting, %-doubling
    // and $-doubling; a tag with a space; a unit name with a backslash.
    let t = Test::new();
    let req = "req 100% $HOME \"q\".env";
    fs::write(t.path(req), "A=1\n").unwrap();
    fs::set_permissions(t.path(req), fs::Permissions::from_mode(0o600)).unwrap();
    let out = systemd(
        &t,
        &[
            "a\\x2db",
            "--mode",
            "sync",
            "--app",
            "api",
            "--include-tag",
            "env=prod x",
            "--require-from",
            req,
            "--no-shared",
            "--strict",
            "--region",
            "eu-west-1",
        ],
    )
    .success()
    .go();
    let dir = verify_printed(&t, "v", "a\\x2db.service", &out.stdout, false);
    let dump = loaded(&dir, "a\\x2db.service", false);
    let argv = &command_lines(&dump)[0];
    // The dump is before the exec-time `$$` -> `$`.
    let req_abs = t.path(req).display().to_string().replace('$', "$$");
    let p = t.prefix().to_string();
    let want: Vec<&str> = vec![
        bin(),
        "--layout",
        "team",
        "--prefix",
        &p,
        "--app",
        "api",
        "--region",
        "eu-west-1",
        "--no-files",
        "sync",
        "--no-shared",
        "--include-tag",
        "env=prod x",
        "--strict",
        "--require-from",
        &req_abs,
        "--out",
        "/run/ssmm/a\\x2db.service/env",
    ];
    assert_eq!(argv, &want);
    assert!(
        dump.contains(&"EnvironmentFile: -/run/ssmm/a\\x2db.service/env".to_string()),
        "{dump:#?}"
    );
}

#[test]
fn the_app_is_the_flag_else_ssmm_app_else_the_unit_name() {
    let t = Test::new();
    let app_of = |run: Run| {
        let out = run.success().go();
        let line = directives(&out.stdout)[1].clone();
        let at = line.find("--app ").unwrap() + 6;
        line[at..].split(' ').next().unwrap().to_string()
    };
    assert_eq!(app_of(systemd(&t, &["My_Api", "--mode", "sync"])), "my-api");
    assert_eq!(
        app_of(systemd(&t, &["api", "--mode", "sync"]).env("SSMM_APP", "from-env")),
        "from-env"
    );
    assert_eq!(
        app_of(systemd(&t, &["api", "--mode", "sync", "--app", "flag"]).env("SSMM_APP", "env")),
        "flag"
    );
    // The environment's prefix and layout are written down: the unit does
    // not depend on them.
    let out = Ssmm::new()
        .current_dir(t.dir())
        .env("SSMM_PREFIX_ROOT", "/from-env")
        .args([
            "systemd",
            "api",
            "--mode",
            "sync",
            "--ssmm-path",
            "/usr/bin/ssmm",
        ])
        .run();
    out.success()
        .stdout_contains("--layout team --prefix /from-env --app api --no-files sync");
    // The ecs layout: cluster and app.
    let out = Ssmm::new()
        .current_dir(t.dir())
        .args([
            "--layout",
            "ecs",
            "--cluster",
            "prod",
            "systemd",
            "web",
            "--mode",
            "sync",
            "--ssmm-path",
            "/usr/bin/ssmm",
        ])
        .run();
    out.success()
        .stdout_contains("--layout ecs --cluster prod --app web --no-files sync")
        .stdout_contains("# Layout ecs, cluster prod, app web.");
    // --root is written (absolute); the working directory never is.
    let out = systemd(&t, &["api", "--mode", "sync", "--root", "srv"])
        .success()
        .go();
    let root = format!("--root {} sync", t.path("srv").display());
    assert!(out.stdout.contains(&root), "{}", out.stdout);
}

// ----------------------------------------------------------------- --apply

/// `--apply` into `units` with a fake systemctl exiting `code`.
fn apply(t: &Test, units: &Path, code: i32, args: &[&str]) -> (Run, PathBuf) {
    let (fake, log) = fake_systemctl(&t.scratch("fake"), code);
    let run = systemd(t, args)
        .arg("--apply")
        .env("SSMM_SYSTEMD_UNIT_DIR", units)
        .env("PATH", path_with(&fake));
    (run, log)
}

#[test]
fn apply_writes_the_drop_in_0644_and_reloads_systemd() {
    let t = Test::new();
    let units = t.scratch("units");
    let (run, log) = apply(&t, &units, 0, &["api", "--mode", "sync"]);
    let drop_in = units.join("api.service.d/ssmm.conf");
    run.success()
        .stdout_is("")
        .stderr_line(format!("ssmm: wrote {}", drop_in.display()))
        .stderr_line("ssmm: ran systemctl daemon-reload")
        .stderr_line("ssmm: restart api.service to use it: systemctl restart api.service")
        .go();
    assert_eq!(calls(&log), "daemon-reload\n");
    assert_eq!(mode(&drop_in), 0o644);
    assert_eq!(mode(&units.join("api.service.d")), 0o755);
    assert_eq!(
        crate::support::fs::entries(&units.join("api.service.d")),
        ["ssmm.conf"],
        "no temporary file left"
    );
    // What it wrote is what it prints.
    let printed = systemd(&t, &["api", "--mode", "sync"]).success().go();
    assert_eq!(fs::read_to_string(&drop_in).unwrap(), printed.stdout);
    fs::write(units.join("api.service"), crate::support::units::STAND_IN).unwrap();
    verify(&units, &["api.service"], false);
    // Again: nothing to write, systemd reloaded all the same (a reload that
    // failed last time is not skipped).
    let (run, log) = apply(&t, &units, 0, &["api", "--mode", "sync"]);
    run.success()
        .stderr_line(format!("ssmm: {}: no change", drop_in.display()))
        .go();
    assert_eq!(calls(&log), "daemon-reload\ndaemon-reload\n");
}

#[test]
fn apply_of_a_user_unit_writes_under_home_and_reloads_the_user_manager() {
    let t = Test::new();
    let (fake, log) = fake_systemctl(&t.scratch("fake"), 0);
    let out = systemd(&t, &["api", "--mode", "sync", "--user", "--apply"])
        .env("PATH", path_with(&fake))
        .success()
        .stderr_has("ran systemctl --user daemon-reload")
        .stderr_has("systemctl --user restart api.service")
        .go();
    assert_eq!(calls(&log), "--user daemon-reload\n");
    let drop_in = out
        .home
        .path()
        .join(".config/systemd/user/api.service.d/ssmm.conf");
    assert_eq!(mode(&drop_in), 0o644);
    assert!(
        fs::read_to_string(&drop_in)
            .unwrap()
            .contains("EnvironmentFile=-%t/ssmm/api.service/env")
    );
}

#[test]
fn apply_in_credentials_mode_writes_the_oneshot_and_the_drop_in() {
    let t = Test::new().param("api/token", "t0ken-value-xyz");
    let units = t.scratch("units");
    let (run, log) = apply(&t, &units, 0, &["api", "--mode", "credentials"]);
    run.success().go();
    assert_eq!(calls(&log), "daemon-reload\n");
    for rel in ["ssmm-api.service", "api.service.d/ssmm.conf"] {
        assert_eq!(mode(&units.join(rel)), 0o644, "{rel}");
    }
    fs::write(units.join("api.service"), crate::support::units::STAND_IN).unwrap();
    verify(&units, &["api.service", "ssmm-api.service"], false);
}

#[test]
fn switching_away_from_credentials_mode_says_the_oneshot_is_left_behind() {
    let t = Test::new().param("api/token", "t0ken-value-xyz");
    let units = t.scratch("units");
    let (run, _) = apply(&t, &units, 0, &["api", "--mode", "credentials"]);
    run.success().go();
    let (run, _) = apply(&t, &units, 0, &["api", "--mode", "sync"]);
    run.success()
        .stderr_line(format!(
            "ssmm: warning: {} (from --mode credentials) is still there, no longer required by api.service: remove it, and /etc/credstore.encrypted/api.service/, if nothing else uses them",
            units.join("ssmm-api.service").display()
        ))
        .go();
    assert!(units.join("ssmm-api.service").is_file(), "not removed");
    let drop_in = fs::read_to_string(units.join("api.service.d/ssmm.conf")).unwrap();
    assert!(!drop_in.contains("ssmm-api.service"), "{drop_in}");
}

#[test]
fn a_failing_or_missing_systemctl_is_exit_1_after_the_units_are_written() {
    let t = Test::new();
    let units = t.scratch("units");
    let (run, log) = apply(&t, &units, 3, &["api", "--mode", "sync"]);
    run.code(1)
        .stderr_has("ssmm: wrote ")
        .stderr_has(
            "ssmm: error: the units were written, but `systemctl daemon-reload` exited with 3: run it again",
        )
        .go();
    assert_eq!(calls(&log), "daemon-reload\n");
    assert!(units.join("api.service.d/ssmm.conf").is_file());
    let empty = t.scratch("empty-path");
    systemd(&t, &["web", "--mode", "sync", "--apply"])
        .env("SSMM_SYSTEMD_UNIT_DIR", &units)
        .env("PATH", &empty)
        .code(1)
        .stderr_has(
            "the units were written, but systemctl was not found in PATH: run `systemctl daemon-reload` yourself",
        )
        .go();
    assert!(units.join("web.service.d/ssmm.conf").is_file());
}

#[test]
fn a_unit_directory_that_is_a_symlink_is_followed() {
    let t = Test::new();
    let real = t.scratch("real-units");
    let link = t.scratch("links").join("units");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let (run, _) = apply(&t, &link, 0, &["api", "--mode", "sync"]);
    run.success().go();
    assert!(real.join("api.service.d/ssmm.conf").is_file());
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn apply_refuses_targets_it_must_not_replace_and_writes_nothing() {
    let t = Test::new().param("api/token", "t0ken-value-xyz");
    let mut rows = Rows::new();
    let (fake, log) = fake_systemctl(&t.scratch("fake"), 0);
    type Setup = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, &[&str], Setup, &str)> = vec![
        (
            "drop-in-dir-is-a-symlink",
            &["--mode", "sync"],
            Box::new(|d: &Path| {
                fs::create_dir_all(d.join("elsewhere")).unwrap();
                std::os::unix::fs::symlink(d.join("elsewhere"), d.join("api.service.d")).unwrap();
            }),
            "api.service.d is a symlink; ssmm does not write through one",
        ),
        (
            "drop-in-is-a-directory",
            &["--mode", "sync"],
            Box::new(|d: &Path| fs::create_dir_all(d.join("api.service.d/ssmm.conf")).unwrap()),
            "api.service.d/ssmm.conf is a directory; ssmm replaces only regular files",
        ),
        (
            "drop-in-dir-is-a-file",
            &["--mode", "sync"],
            Box::new(|d: &Path| fs::write(d.join("api.service.d"), "x").unwrap()),
            "api.service.d is not a directory",
        ),
        (
            "drop-in-is-a-symlink",
            &["--mode", "sync"],
            Box::new(|d: &Path| {
                fs::create_dir_all(d.join("api.service.d")).unwrap();
                fs::write(d.join("other.conf"), "[Service]\n").unwrap();
                std::os::unix::fs::symlink(d.join("other.conf"), d.join("api.service.d/ssmm.conf"))
                    .unwrap();
            }),
            "api.service.d/ssmm.conf is a symlink (a masked unit is one, to /dev/null)",
        ),
        (
            // The oneshot is checked before the drop-in is written.
            "oneshot-is-masked",
            &["--mode", "credentials"],
            Box::new(|d: &Path| {
                std::os::unix::fs::symlink("/dev/null", d.join("ssmm-api.service")).unwrap()
            }),
            "ssmm-api.service is a symlink (a masked unit is one, to /dev/null); ssmm replaces only regular files: remove it first",
        ),
    ];
    for (id, args, setup, msg) in cases {
        let units = t.scratch(&format!("units-{id}"));
        setup(&units);
        let cmd = Ssmm::new()
            .endpoint(&t.endpoint())
            .current_dir(t.dir())
            .args(["--prefix", t.prefix(), "systemd", "api"])
            .args(args)
            .args(["--ssmm-path", bin(), "--apply"])
            .env("SSMM_SYSTEMD_UNIT_DIR", &units)
            .env("PATH", path_with(&fake));
        rows.check(id, cmd, 2, msg, &Watch::dirs(&[&units]));
    }
    // A unit directory that is a file.
    let file = t.scratch("plain").join("a-file");
    fs::write(&file, "x").unwrap();
    let cmd = Ssmm::new()
        .endpoint(&t.endpoint())
        .current_dir(t.dir())
        .args(["--prefix", t.prefix(), "systemd", "api", "--mode", "sync"])
        .args(["--ssmm-path", bin(), "--apply"])
        .env("SSMM_SYSTEMD_UNIT_DIR", &file)
        .env("PATH", path_with(&fake));
    rows.check(
        "unit-dir-is-a-file",
        cmd,
        2,
        "a-file is not a directory",
        &Watch::dirs(&[&t.scratch("plain")]),
    );
    rows.finish();
    assert_eq!(calls(&log), "", "systemctl ran after a refusal");
}

// ---------------------------------------------------------- usage errors

#[test]
fn bad_unit_names_and_options_are_usage_errors_that_write_nothing() {
    let t = Test::new().param("api/token", "t0ken-value-xyz");
    let units = t.scratch("units");
    let (fake, log) = fake_systemctl(&t.scratch("fake"), 0);
    let mut rows = Rows::new().secret("t0ken-value-xyz");
    let long = "a".repeat(248);
    let helper_long = "a".repeat(246);
    let rows_of: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "unit-path-traversal",
            vec!["../../etc/passwd", "--mode", "sync"],
            "error: invalid value '../../etc/passwd' for '<UNIT>': unit names use only A-Z a-z 0-9 and : _ . \\ - @ (not \"/\")",
        ),
        (
            "unit-space",
            vec!["foo bar", "--mode", "sync"],
            "(not \" \")",
        ),
        (
            "unit-non-ascii",
            vec!["wéb", "--mode", "sync"],
            "(not \"\\u{e9}\")",
        ),
        (
            "unit-newline",
            vec!["a\nb", "--mode", "sync"],
            "(not \"\\n\")",
        ),
        (
            "unit-empty",
            vec!["", "--mode", "sync"],
            "a unit name cannot be empty",
        ),
        (
            "unit-socket",
            vec!["a.socket", "--mode", "sync"],
            "a .socket unit: ssmm writes drop-ins for services (NAME or NAME.service)",
        ),
        (
            "unit-timer",
            vec!["a.timer", "--mode", "sync"],
            "a .timer unit",
        ),
        (
            "unit-template",
            vec!["foo@.service", "--mode", "sync"],
            "foo@.service is a template, not a unit that runs: name an instance, such as foo@NAME.service",
        ),
        (
            "unit-template-no-suffix",
            vec!["foo@", "--mode", "sync"],
            "foo@.service is a template",
        ),
        (
            "unit-leading-at",
            vec!["@foo", "--mode", "sync"],
            "a unit name cannot start with '@'",
        ),
        (
            "unit-leading-dot",
            vec!["..", "--mode", "sync"],
            "a unit name cannot start with '.'",
        ),
        (
            "unit-drop-in-dir",
            vec!["api.service.d", "--mode", "sync"],
            "a drop-in directory's name: give the unit's (api.service)",
        ),
        (
            "unit-too-long",
            vec![&long, "--mode", "sync"],
            "256 characters: systemd allows a unit name at most 255",
        ),
        (
            "unit-too-long-for-its-oneshot",
            vec![&helper_long, "--mode", "credentials"],
            "the unit name is too long for its oneshot",
        ),
        (
            "unit-instance-no-app",
            vec!["foo@bar", "--mode", "sync"],
            "invalid app name \"foo@bar\": use one path segment of A-Z a-z 0-9 _ . - (taken from the unit name foo@bar.service); pass --app",
        ),
        ("mode-missing", vec!["api"], "--mode <MODE>"),
        (
            "mode-unknown",
            vec!["api", "--mode", "env"],
            "invalid value 'env' for '--mode <MODE>'",
        ),
        (
            "exec-without-exec-cmd",
            vec!["api", "--mode", "exec"],
            "error: the following required arguments were not provided:\n  --exec-cmd <CMD>",
        ),
        (
            "exec-cmd-without-exec",
            vec!["api", "--mode", "sync", "--exec-cmd", "/bin/api"],
            "ssmm: error: --exec-cmd is only used with --mode exec",
        ),
        (
            "exec-cmd-empty",
            vec!["api", "--mode", "exec", "--exec-cmd", "  "],
            "the command is empty",
        ),
        (
            "exec-cmd-newline",
            vec![
                "api",
                "--mode",
                "exec",
                "--exec-cmd",
                "/bin/api\nExecStartPre=/bin/evil",
            ],
            "the command holds a control character (a newline, a tab...): write it on one line, with spaces",
        ),
        (
            "exec-cmd-lone-percent",
            vec!["api", "--mode", "exec", "--exec-cmd", "/bin/api 100%"],
            "a % that starts no specifier: write %% for a literal %",
        ),
        (
            "exec-cmd-unbalanced-quote",
            vec!["api", "--mode", "exec", "--exec-cmd", "/bin/api \"x"],
            "the command has an unbalanced quote",
        ),
        (
            "exec-cmd-trailing-backslash",
            vec!["api", "--mode", "exec", "--exec-cmd", "/bin/api \\"],
            "the command ends with a backslash",
        ),
        (
            "exec-cmd-second-command",
            vec![
                "api",
                "--mode",
                "exec",
                "--exec-cmd",
                "/bin/api ; /bin/evil",
            ],
            "a lone ; would start a second command: write \\; for a literal semicolon",
        ),
        (
            "credentials-user",
            vec!["api", "--mode", "credentials", "--user"],
            "ssmm: error: --mode credentials writes system units",
        ),
    ];
    for (id, args, msg) in &rows_of {
        for apply in [false, true] {
            let mut cmd = Ssmm::new()
                .endpoint(&t.endpoint())
                .current_dir(t.dir())
                .args(["--prefix", t.prefix(), "systemd"])
                .args(args)
                .args(["--ssmm-path", bin()])
                .env("SSMM_SYSTEMD_UNIT_DIR", &units)
                .env("PATH", path_with(&fake));
            if apply {
                cmd = cmd.arg("--apply");
            }
            let id = format!("{id}{}", if apply { "-apply" } else { "" });
            let out = rows.check(&id, cmd, 2, msg, &Watch::dirs(&[&units]));
            if !out.stdout.is_empty() {
                rows.fail(&id, format!("printed a unit: {}", out.stdout));
            }
        }
    }
    // The ssmm path: relative, or not plain.
    for (id, path, msg) in [
        (
            "ssmm-path-relative",
            "ssmm",
            "error: invalid value 'ssmm' for '--ssmm-path <PATH>': must be an absolute path",
        ),
        ("ssmm-path-dot", "./target/ssmm", "must be an absolute path"),
        (
            "ssmm-path-space",
            "/opt/my tools/ssmm",
            "use a path of A-Z a-z 0-9 and / _ . - + @ : , = only (not \" \")",
        ),
        ("ssmm-path-dollar", "/opt/$x/ssmm", "(not \"$\")"),
    ] {
        let cmd = Ssmm::new()
            .endpoint(&t.endpoint())
            .current_dir(t.dir())
            .args([
                "--prefix",
                t.prefix(),
                "systemd",
                "api",
                "--mode",
                "sync",
                "--apply",
            ])
            .args(["--ssmm-path", path])
            .env("SSMM_SYSTEMD_UNIT_DIR", &units)
            .env("PATH", path_with(&fake));
        rows.check(id, cmd, 2, msg, &Watch::dirs(&[&units]));
    }
    // The unit directory from the environment must be absolute.
    let cmd = Ssmm::new()
        .endpoint(&t.endpoint())
        .current_dir(t.dir())
        .args([
            "--prefix",
            t.prefix(),
            "systemd",
            "api",
            "--mode",
            "sync",
            "--apply",
        ])
        .args(["--ssmm-path", bin()])
        .env("SSMM_SYSTEMD_UNIT_DIR", "units")
        .env("PATH", path_with(&fake));
    rows.check(
        "unit-dir-relative",
        cmd,
        2,
        "ssmm: error: $SSMM_SYSTEMD_UNIT_DIR \"units\" must be an absolute path",
        &Watch::dirs(&[t.dir()]),
    );
    rows.finish();
    assert_eq!(calls(&log), "", "systemctl ran after a usage error");
}

// ------------------------------------------------------------------ onboard

const ONBOARD_ENV: &str = "DB_URL=postgres://u:onboard-pass@db/app\nDB_HOST=db.onboard.example\nAPI_TOKEN=onboard-t0ken\n";

fn onboard_test() -> Test {
    let t = Test::new().file("api.env", ONBOARD_ENV);
    for v in [
        "postgres://u:onboard-pass@db/app",
        "db.onboard.example",
        "onboard-t0ken",
    ] {
        t.secret(v);
    }
    t
}

fn onboard(t: &Test, args: &[&str]) -> Run {
    t.ssmm(["onboard", "api", "--env", "api.env"])
        .args(args)
        .args(["--ssmm-path", bin()])
}

#[test]
fn onboard_without_apply_prints_the_plan_and_writes_nothing() {
    let t = onboard_test().param("shared/sentry-dsn", "https://dsn.example/9");
    let units = t.scratch("units");
    let (fake, log) = fake_systemctl(&t.scratch("fake"), 0);
    let p = t.prefix().to_string();
    let out = onboard(&t, &["--mode", "credentials"])
        .env("SSMM_SYSTEMD_UNIT_DIR", &units)
        .env("PATH", path_with(&fake))
        .success()
        .stderr_line(
            "ssmm: nothing written: pass --apply to put the parameters and install the units",
        )
        .ssm_untouched(&p)
        .untouched(&units)
        .go();
    let want_head = format!(
        "put under {p}/api/:
  create   {p}/api/db-url  SecureString  auto: default  len=32
  create   {p}/api/db-host  String  auto: suffix  len=18
  create   {p}/api/api-token  SecureString  auto: default  len=13
then write under {u} and run systemctl daemon-reload:
  ssmm-api.service
  api.service.d/ssmm.conf

",
        u = units.display()
    );
    assert!(out.stdout.starts_with(&want_head), "{}", out.stdout);
    // The units list what the layers would hold once the put is done.
    for var in ["API_TOKEN", "DB_HOST", "DB_URL", "SENTRY_DSN"] {
        assert!(
            out.stdout
                .contains(&format!("LoadCredentialEncrypted={var}:")),
            "{var}"
        );
    }
    assert_eq!(calls(&log), "");
    assert_eq!(moto().params_under(&format!("{p}/api")), vec![]);
}

#[test]
fn onboard_refuses_existing_keys_without_overwrite_in_the_plan_and_on_apply() {
    let t = onboard_test().param("api/api-token", "existing-t0ken");
    let units = t.scratch("units");
    let (fake, log) = fake_systemctl(&t.scratch("fake"), 0);
    let p = t.prefix().to_string();
    let refusal = format!(
        "ssmm: error: 1 of 3 parameters already exist; nothing was written (pass --overwrite to replace them): {p}/api/api-token"
    );
    let out = onboard(&t, &[])
        .env("SSMM_SYSTEMD_UNIT_DIR", &units)
        .env("PATH", path_with(&fake))
        .code(1)
        .stderr_line(&refusal)
        .ssm_untouched(&p)
        .untouched(&units)
        .go();
    assert!(
        out.stdout.contains(&format!(
            "  exists   {p}/api/api-token  (put refuses it without --overwrite)\n"
        )),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("[Service]"),
        "no units after a refusal"
    );
    onboard(&t, &["--apply"])
        .env("SSMM_SYSTEMD_UNIT_DIR", &units)
        .env("PATH", path_with(&fake))
        .code(1)
        .stderr_line(&refusal)
        .ssm_untouched(&p)
        .untouched(&units)
        .go();
    assert_eq!(calls(&log), "");
    // With --overwrite the plan says it would replace it, keeping its type.
    onboard(&t, &["--overwrite"])
        .env("SSMM_SYSTEMD_UNIT_DIR", &units)
        .success()
        .stdout_has(format!(
            "  replace  {p}/api/api-token  SecureString  existing  len=13\n"
        ))
        .ssm_untouched(&p)
        .go();
}

#[test]
fn onboard_apply_puts_like_put_then_writes_the_units_and_reloads() {
    let t = onboard_test();
    let units = t.scratch("units");
    let (fake, log) = fake_systemctl(&t.scratch("fake"), 0);
    let p = t.prefix().to_string();
    let out = onboard(
        &t,
        &["--apply", "--mode", "credentials", "--tag", "owner=ops"],
    )
    .env("SSMM_SYSTEMD_UNIT_DIR", &units)
    .env("PATH", path_with(&fake))
    .success()
    .stderr_line(format!(
        "ssmm: put 3 parameters under {p}/api/ (3 created, 0 replaced)"
    ))
    .stderr_line("ssmm: ran systemctl daemon-reload")
    .go();
    // put's own lines, in the order the writes finished.
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("{p}/api/api-token  SecureString  auto: default  len=13"),
            format!("{p}/api/db-host  String  auto: suffix  len=18"),
            format!("{p}/api/db-url  SecureString  auto: default  len=32"),
        ]
    );
    assert_eq!(calls(&log), "daemon-reload\n");
    assert_eq!(
        moto().tags(&format!("{p}/api/db-url")),
        crate::support::sorted_pairs(&[("app", "api"), ("owner", "ops")])
    );
    let drop_in = fs::read_to_string(units.join("api.service.d/ssmm.conf")).unwrap();
    for var in ["API_TOKEN", "DB_HOST", "DB_URL"] {
        assert!(
            drop_in.contains(&format!("LoadCredentialEncrypted={var}:")),
            "{var}"
        );
    }
    fs::write(units.join("api.service"), crate::support::units::STAND_IN).unwrap();
    verify(&units, &["api.service", "ssmm-api.service"], false);
}

#[test]
fn onboard_checks_its_unit_options_before_it_puts_anything() {
    let t = onboard_test();
    let p = t.prefix().to_string();
    onboard(&t, &["--apply", "--exec-cmd", "/bin/api"])
        .code(2)
        .stderr_has("--exec-cmd is only used with --mode exec")
        .ssm_untouched(&p)
        .go();
    onboard(&t, &["--apply", "--mode", "credentials", "--user"])
        .code(2)
        .stderr_has("--mode credentials writes system units")
        .ssm_untouched(&p)
        .go();
}

// ----------------------------------------------------------------- examples

/// The examples, generated by the command with a fixed ssmm path and
/// prefix: they must be what it prints today. `SSMM_BLESS=1` writes them
/// again.
#[test]
fn the_examples_are_what_the_command_generates() {
    let m = moto();
    m.put_secure("/acme/shared/sentry-dsn", "https://example-dsn.invalid/1");
    m.put_secure("/acme/api/db-password", "example-db-password");
    m.put("/acme/api/db-host", "db.example.internal");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systemd/generated");
    let t = Test::new();
    for (mode, extra) in [
        ("sync", &[][..]),
        ("exec", &["--exec-cmd", "/opt/api/bin/api --port 8080"][..]),
        ("credentials", &[][..]),
    ] {
        let units = t.scratch(&format!("gen-{mode}"));
        let (fake, _) = fake_systemctl(&t.scratch("fake"), 0);
        Ssmm::new()
            .endpoint(&t.endpoint())
            .current_dir(t.dir())
            .args(["--prefix", "/acme", "systemd", "api", "--mode", mode])
            .args(extra)
            .args([
                "--app",
                "api",
                "--ssmm-path",
                "/usr/local/bin/ssmm",
                "--apply",
            ])
            .env("SSMM_SYSTEMD_UNIT_DIR", &units)
            .env("PATH", path_with(&fake))
            .run()
            .success();
        let text = |dir: &Path| -> Vec<(String, String)> {
            crate::support::fs::Snapshot::of(dir)
                .files()
                .into_iter()
                .map(|(rel, (content, _))| (rel, String::from_utf8_lossy(&content).into_owned()))
                .collect()
        };
        let generated = text(&units);
        let dir = root.join(mode);
        if std::env::var_os("SSMM_BLESS").is_some() {
            let _ = fs::remove_dir_all(&dir);
            for (rel, content) in &generated {
                let path = dir.join(rel);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, content).unwrap();
            }
            continue;
        }
        assert_eq!(
            text(&dir),
            generated,
            "examples/systemd/generated/{mode} differs from what the command generates; \
             SSMM_BLESS=1 cargo test --test it the_examples_are_what_the_command_generates \
             writes it again"
        );
        // They pass systemd-analyze verify too (with a path that exists).
        let check = unit_dir(&t.scratch(&format!("verify-{mode}")), "api.service");
        let mut names = vec!["api.service".to_string()];
        for (rel, content) in &generated {
            put_files(
                &check,
                &[(rel, &content.replace("/usr/local/bin/ssmm", bin()))],
            );
            if !rel.contains(".d/") {
                names.push(rel.clone());
            }
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        verify(&check, &names, false);
    }
}
