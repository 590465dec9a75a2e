//! `ssmm set`: values typed on a real pseudo-terminal with echo off, then
//! written as `put` writes them. Every test checks that a typed value never
//! shows on the terminal or in the output, and that the terminal echoes
//! again afterwards, whichever way the run ended.

use nix::sys::signal::Signal;

use crate::support::pty::{Pty, PtyOutcome};
use crate::support::sorted_pairs as tags;
use crate::support::{Ssmm, moto, unique_prefix};

/// `ssmm --prefix P set ARGS` against moto.
fn set(prefix: &str, args: &[&str]) -> Ssmm {
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(std::env::temp_dir())
        .args(["--prefix", prefix, "set"])
        .args(args)
}

fn prompt(name: &str) -> String {
    format!("Value for {name} (")
}

/// Waits for the prompt naming `name`, checks that echo is off, types
/// `value` and Enter.
#[track_caller]
fn answer(pty: &mut Pty, name: &str, value: &str) {
    pty.wait_for(&prompt(name));
    assert!(!pty.echo(), "echo is on at the prompt for {name}");
    pty.send(format!("{value}\n").as_bytes());
}

/// The run ended with `code`, echo back on, and none of `values` shown.
#[track_caller]
fn ended(out: &PtyOutcome, code: i32, values: &[&str]) {
    assert_eq!(out.code, Some(code), "{:?}", out.text);
    assert!(out.echo_after, "echo left off:\n{:?}", out.text);
    for v in values {
        assert!(!out.text.contains(v), "{v:?} was shown:\n{:?}", out.text);
    }
    assert!(!out.text.contains("panicked"), "{:?}", out.text);
}

#[test]
fn set_reads_each_value_with_echo_off_and_writes_it_like_put() {
    let p = unique_prefix();
    let (token, host) = (format!("{p}/api/api-token"), format!("{p}/api/db-host"));
    let mut pty = Pty::spawn(set(
        &p,
        &["API_TOKEN", "DB_HOST", "--app", "api", "--tag", "owner=ops"],
    ));
    answer(&mut pty, &token, "typed-token-value");
    // Nothing is written before every value is in.
    assert!(moto().names_under(&p).is_empty());
    answer(&mut pty, &host, "typed-host-value");
    let out = pty.wait();
    ended(&out, 0, &["typed-token-value", "typed-host-value"]);
    let t = &out.text;
    assert!(
        t.contains(&format!("{token} (SecureString, not echoed): ")),
        "{t:?}"
    );
    assert!(
        t.contains(&format!("{host} (String, not echoed): ")),
        "{t:?}"
    );
    assert!(
        t.contains(&format!("{token}  SecureString  auto: default  len=17")),
        "{t:?}"
    );
    assert!(
        t.contains(&format!("{host}  String  auto: suffix  len=16")),
        "{t:?}"
    );
    assert!(
        t.contains("ssmm: set 2 parameters (2 created, 0 replaced)"),
        "{t:?}"
    );
    assert_eq!(moto().get(&token).as_deref(), Some("typed-token-value"));
    assert_eq!(moto().get(&host).as_deref(), Some("typed-host-value"));
    assert_eq!(
        moto().kind(&token),
        Some(("SecureString".into(), "Standard".into()))
    );
    assert_eq!(
        moto().kind(&host),
        Some(("String".into(), "Standard".into()))
    );
    for name in [&token, &host] {
        assert_eq!(moto().tags(name), tags(&[("app", "api"), ("owner", "ops")]));
    }
}

#[test]
fn set_takes_keys_in_the_forms_show_takes_and_tags_each_with_its_own_app() {
    let p = unique_prefix();
    let full = format!("{p}/shared/sentry-url");
    let mut pty = Pty::spawn(set(
        &p,
        &[
            "db.port",
            "files/tls/key.pem",
            &full,
            "--app",
            "api",
            "--advanced",
            "--plain-key",
            "key.pem",
        ],
    ));
    answer(&mut pty, &format!("{p}/api/db.port"), "5432-typed");
    answer(
        &mut pty,
        &format!("{p}/api/files/tls/key.pem"),
        "pem-typed-value",
    );
    answer(&mut pty, &full, "https://typed-dsn");
    let out = pty.wait();
    ended(&out, 0, &["5432-typed", "pem-typed-value", "typed-dsn"]);
    assert_eq!(
        moto().kind(&format!("{p}/api/db.port")),
        Some(("String".into(), "Advanced".into()))
    );
    assert_eq!(
        moto().kind(&format!("{p}/api/files/tls/key.pem")),
        Some(("String".into(), "Advanced".into())),
        "--plain-key names the path's last segment"
    );
    assert_eq!(
        moto().kind(&full),
        Some(("SecureString".into(), "Advanced".into()))
    );
    assert_eq!(moto().tags(&full), tags(&[("app", "shared")]));
    assert_eq!(
        moto().tags(&format!("{p}/api/db.port")),
        tags(&[("app", "api")])
    );
}

#[test]
fn set_reads_the_terminal_even_when_standard_input_is_not_one() {
    let p = unique_prefix();
    let name = format!("{p}/api/token");
    let mut pty = Pty::spawn_stdin_null(set(&p, &["token", "--app", "api"]));
    answer(&mut pty, &name, "from-the-terminal");
    let out = pty.wait();
    ended(&out, 0, &["from-the-terminal"]);
    assert_eq!(moto().get(&name).as_deref(), Some("from-the-terminal"));
}

#[test]
fn set_empty_answer_or_end_of_input_aborts_with_nothing_written() {
    let p = unique_prefix();
    let (a, b) = (format!("{p}/api/a-token"), format!("{p}/api/b-token"));
    let mut pty = Pty::spawn(set(&p, &["A_TOKEN", "B_TOKEN", "--app", "api"]));
    answer(&mut pty, &a, "first-typed-value");
    answer(&mut pty, &b, "");
    let out = pty.wait();
    ended(&out, 1, &["first-typed-value"]);
    assert!(
        out.text.contains(&format!(
            "ssmm: error: empty value for {b}: nothing written"
        )),
        "{:?}",
        out.text
    );
    assert!(moto().names_under(&p).is_empty());

    // Ctrl-D on an empty line: the end of input.
    let mut pty = Pty::spawn(set(&p, &["A_TOKEN", "--app", "api"]));
    pty.wait_for(&prompt(&a));
    pty.send(b"\x04");
    let out = pty.wait();
    ended(&out, 1, &[]);
    assert!(
        out.text.contains(&format!(
            "ssmm: error: no value for {a} (end of input): nothing written"
        )),
        "{:?}",
        out.text
    );
    assert!(moto().names_under(&p).is_empty());

    // Bytes that are not UTF-8 (a terminal in another encoding).
    let mut pty = Pty::spawn(set(&p, &["A_TOKEN", "--app", "api"]));
    pty.wait_for(&prompt(&a));
    pty.send(b"caf\xe9-latin1\n");
    let out = pty.wait();
    ended(&out, 1, &["-latin1"]);
    assert!(
        out.text.contains(&format!(
            "ssmm: error: the value typed for {a} is not valid UTF-8: nothing written"
        )),
        "{:?}",
        out.text
    );
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn set_without_a_terminal_exits_2_pointing_to_put_env_and_reads_nothing() {
    let p = unique_prefix();
    for stdin in [None, Some("piped-value-never-read\n")] {
        let mut cmd = set(&p, &["TOKEN", "--app", "api"]).new_session();
        if let Some(bytes) = stdin {
            cmd = cmd.stdin_bytes(bytes);
        }
        let out = cmd.run();
        out.code(2)
            .stderr_contains("there is none to ask on (/dev/tty: ")
            .stderr_contains("use `ssmm put --env -` to read them from standard input");
        assert!(!out.combined().contains("piped-value"), "{out}");
        assert!(out.stdout.is_empty(), "{out}");
    }
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn set_refuses_an_existing_key_without_overwrite_before_asking() {
    let p = unique_prefix();
    let name = format!("{p}/api/token");
    moto().put_secure(&name, "old-secret-value");
    let mut pty = Pty::spawn(set(&p, &["TOKEN", "NEW_ONE", "--app", "api"]));
    let out = {
        // It fails without a prompt: nothing to type.
        pty.wait_for("ssmm: error: ");
        pty.wait()
    };
    ended(&out, 1, &["old-secret-value"]);
    assert!(
        out.text.contains(&format!(
            "ssmm: error: 1 of 2 parameters already exist; nothing was written (pass --overwrite to replace them): {name}"
        )),
        "{:?}",
        out.text
    );
    assert!(!out.text.contains("Value for"), "{:?}", out.text);
    assert_eq!(moto().get(&name).as_deref(), Some("old-secret-value"));
    assert_eq!(moto().names_under(&p), vec![name]);
}

#[test]
fn set_overwrite_keeps_a_secure_string_a_secure_string_unless_a_flag_names_it() {
    let p = unique_prefix();
    let host = format!("{p}/api/api-host");
    moto().put_secure(&host, "old-host-value");
    let mut pty = Pty::spawn(set(&p, &["API_HOST", "--app", "api", "--overwrite"]));
    pty.wait_for(&format!("{host} (SecureString, not echoed): "));
    answer(&mut pty, &host, "new-host-value");
    let out = pty.wait();
    ended(&out, 0, &["new-host-value", "old-host-value"]);
    assert!(
        out.text.contains(&format!(
            "{host}  SecureString  existing  len=14  (replaced)"
        )),
        "{:?}",
        out.text
    );
    assert!(
        out.text
            .contains("ssmm: set 1 parameter (0 created, 1 replaced)"),
        "{:?}",
        out.text
    );
    assert_eq!(moto().get(&host).as_deref(), Some("new-host-value"));
    assert_eq!(
        moto().kind(&host),
        Some(("SecureString".into(), "Standard".into()))
    );
    assert_eq!(moto().tags(&host), tags(&[("app", "api")]));

    let mut pty = Pty::spawn(set(
        &p,
        &[
            "API_HOST",
            "--app",
            "api",
            "--overwrite",
            "--plain-key",
            "api-host",
        ],
    ));
    answer(&mut pty, &host, "plain-host-value");
    let out = pty.wait();
    ended(&out, 0, &["plain-host-value"]);
    assert!(
        out.text
            .contains(&format!("{host}  String  flag  len=16  (replaced)")),
        "{:?}",
        out.text
    );
    assert_eq!(
        moto().kind(&host),
        Some(("String".into(), "Standard".into()))
    );
}

#[test]
fn set_ctrl_c_at_a_prompt_restores_echo_exits_130_and_writes_nothing() {
    let p = unique_prefix();
    let (a, b) = (format!("{p}/api/a-token"), format!("{p}/api/b-token"));
    let mut pty = Pty::spawn(set(&p, &["A_TOKEN", "B_TOKEN", "--app", "api"]));
    answer(&mut pty, &a, "typed-before-ctrl-c");
    pty.wait_for(&prompt(&b));
    assert!(!pty.echo());
    pty.send(b"half-typed");
    pty.send(b"\x03");
    let out = pty.wait();
    ended(&out, 130, &["typed-before-ctrl-c", "half-typed"]);
    assert!(
        out.text.contains(
            "ssmm: error: interrupted by SIGINT while asking for a value; nothing was written"
        ),
        "{:?}",
        out.text
    );
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn set_sigterm_sighup_or_ctrl_backslash_at_a_prompt_restores_echo_and_writes_nothing() {
    let p = unique_prefix();
    let name = format!("{p}/api/token");
    for (sig, code) in [(Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let mut pty = Pty::spawn(set(&p, &["TOKEN", "--app", "api"]));
        pty.wait_for(&prompt(&name));
        assert!(!pty.echo());
        pty.send(b"partly-typed");
        pty.signal(sig);
        let out = pty.wait();
        ended(&out, code, &["partly-typed"]);
        assert!(
            out.text.contains(&format!("interrupted by {sig}")),
            "{:?}",
            out.text
        );
    }
    // Ctrl-\ (SIGQUIT, which would dump core) ends it the same way.
    let mut pty = Pty::spawn(set(&p, &["TOKEN", "--app", "api"]));
    pty.wait_for(&prompt(&name));
    pty.send(b"partly-typed\x1c");
    let out = pty.wait();
    ended(&out, 131, &["partly-typed"]);
    assert!(
        out.text.contains("interrupted by SIGQUIT"),
        "{:?}",
        out.text
    );
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn set_ctrl_z_at_a_prompt_echoes_while_stopped_and_hides_again_when_continued() {
    let p = unique_prefix();
    let name = format!("{p}/api/token");
    let mut pty = Pty::spawn(set(&p, &["TOKEN", "--app", "api"]));
    pty.wait_for(&prompt(&name));
    assert!(!pty.echo());
    // Half a value, then Ctrl-Z: the terminal discards the half.
    pty.send(b"typed-before-stop");
    pty.send(b"\x1a");
    assert!(pty.stopped(), "Ctrl-Z did not stop ssmm");
    assert!(pty.echo(), "echo still off while ssmm is stopped");
    pty.signal(Signal::SIGCONT);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pty.echo() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!pty.echo(), "echo on again after the shell's `fg`");
    pty.wait_for("(continued: type the value again) ");
    pty.send(b"typed-after-resume\n");
    let out = pty.wait();
    ended(&out, 0, &["typed-after-resume", "typed-before-stop"]);
    assert_eq!(moto().get(&name).as_deref(), Some("typed-after-resume"));
}

/// `ssmm --prefix P set ARGS` run by a shell that then reads the terminal
/// for a second, as the interactive shell would read its next command.
fn set_then_read_the_terminal(prefix: &str, args: &[&str]) -> Ssmm {
    let script = r#""$0" "$@"; echo "code=$?"; timeout --foreground 1 cat; echo "read-done""#;
    Ssmm::with_program("sh")
        .endpoint(&moto().endpoint())
        .current_dir(std::env::temp_dir())
        .args([
            "-c",
            script,
            env!("CARGO_BIN_EXE_ssmm"),
            "--prefix",
            prefix,
            "set",
        ])
        .args(args)
}

#[test]
fn set_refuses_a_pasted_multi_line_value_and_leaves_none_of_it_for_the_shell() {
    let p = unique_prefix();
    let name = format!("{p}/api/tls-key");
    let pastes: [&[u8]; 2] = [
        b"-----BEGIN KEY-----\npaste-line-two\n-----END KEY-----\n",
        b"first-pasted-line\nsecond-line-without-newline",
    ];
    for paste in pastes {
        let mut pty = Pty::spawn(set_then_read_the_terminal(&p, &["TLS_KEY", "--app", "api"]));
        pty.wait_for(&prompt(&name));
        pty.send(paste);
        pty.wait_for("read-done");
        let out = pty.wait();
        assert!(out.text.contains("code=1"), "{:?}", out.text);
        assert!(
            out.text.contains(&format!(
                "ssmm: error: the value typed for {name} was followed by more lines (a pasted multi-line value?): nothing written, the rest discarded (use `ssmm put --env -` for multi-line values)"
            )),
            "{:?}",
            out.text
        );
        // The shell read none of the pasted lines: they would be commands.
        for piece in [
            "BEGIN",
            "paste-line-two",
            "END",
            "first-pasted",
            "second-line",
        ] {
            assert!(
                !out.text.contains(piece),
                "{piece:?} shown:\n{:?}",
                out.text
            );
        }
        assert!(out.echo_after);
        assert!(moto().names_under(&p).is_empty());
    }

    // Two answers typed ahead at once are a paste too.
    let mut pty = Pty::spawn(set(&p, &["A_TOKEN", "B_TOKEN", "--app", "api"]));
    pty.wait_for(&prompt(&format!("{p}/api/a-token")));
    pty.send(b"ahead-one\nahead-two\n");
    let out = pty.wait();
    ended(&out, 1, &["ahead-one", "ahead-two"]);
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn set_refuses_a_value_the_terminal_may_have_cut_at_its_line_limit() {
    let p = unique_prefix();
    let name = format!("{p}/api/token");
    // Linux keeps 4095 bytes of a line and drops the rest without a word.
    let mut pty = Pty::spawn(set(&p, &["TOKEN", "--app", "api", "--advanced"]));
    answer(&mut pty, &name, &"k".repeat(5000));
    let out = pty.wait();
    ended(&out, 1, &["kkkkkkkk"]);
    assert!(
        out.text.contains(&format!(
            "ssmm: error: the value typed for {name} reached the terminal's line limit (4095 bytes) and may have been cut: nothing written (use `ssmm put --env -` for long values)"
        )),
        "{:?}",
        out.text
    );
    assert!(moto().names_under(&p).is_empty());

    // One byte less is surely whole.
    let mut pty = Pty::spawn(set(&p, &["TOKEN", "--app", "api"]));
    answer(&mut pty, &name, &"k".repeat(4094));
    let out = pty.wait();
    ended(&out, 0, &["kkkkkkkk"]);
    assert_eq!(moto().get(&name).map(|v| v.len()), Some(4094));
}

#[test]
fn set_refuses_bad_keys_and_flags_before_opening_the_terminal() {
    let p = unique_prefix();
    let under_prefix = format!("{p}/x");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["a b"], "invalid KEY \"a b\""),
        (vec!["../x"], "invalid KEY \"../x\""),
        (vec!["x\u{1b}[31m"], "invalid KEY \"x\\u{1b}[31m\""),
        (vec!["/other/x"], "a full name must lie under the prefix"),
        (
            vec![&under_prefix],
            "a parameter right under the prefix is in no app",
        ),
        (vec!["TOKEN", "token"], "/api/token is named twice"),
        (
            vec!["TOKEN", "--plain-key", "OTHER"],
            "--plain-key OTHER names no variable being set",
        ),
        (
            vec!["TOKEN", "--plain-key", "TOKEN", "--secure", "token"],
            "TOKEN is given to both --plain-key and --secure",
        ),
        (
            vec!["TOKEN", "--tag", "app=x"],
            "--tag app=... is not needed: every parameter is tagged app=api",
        ),
    ];
    for (args, msg) in cases {
        let out = set(&p, &args).args(["--app", "api"]).new_session().run();
        out.code(2).stderr_contains(msg);
        crate::support::expect::assert_no_raw_controls(&out);
    }
    // No KEY at all: clap's usage error.
    set(&p, &["--app", "api"])
        .new_session()
        .run()
        .code(2)
        .stderr_contains("<KEY>...");
    assert!(moto().names_under(&p).is_empty());
}

#[test]
fn set_write_failure_names_the_parameter_and_never_the_value() {
    let p = unique_prefix();
    let name = format!("{p}/api/token");
    let proxy = crate::support::FaultProxy::start(&moto().endpoint());
    proxy.set_plan(
        crate::support::Plan::always(crate::support::Fault::Error {
            status: 400,
            code: "ValidationException".into(),
            message: "Value 'typed-refused-value' at 'value' failed to satisfy constraint".into(),
        })
        .only(&["PutParameter"]),
    );
    let mut pty = Pty::spawn(
        Ssmm::new()
            .endpoint(&proxy.endpoint())
            .current_dir(std::env::temp_dir())
            .args(["--prefix", &p, "set", "TOKEN", "--app", "api"]),
    );
    answer(&mut pty, &name, "typed-refused-value");
    let out = pty.wait();
    ended(&out, 1, &["typed-refused-value"]);
    assert!(
        out.text.contains(&format!(
            "PutParameter {name}: ValidationException: SSM refused the request"
        )),
        "{:?}",
        out.text
    );
    assert!(moto().names_under(&p).is_empty());
}
