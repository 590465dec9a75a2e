//! `--watch` (`docs/CONTRACT.md` §3 "Running services"): `exec --init
//! --watch` restarting or signalling a real child when a parameter changes
//! in moto, never two children at once, SIGKILL after `--stop-timeout`,
//! failed checks that leave the child alone, stop signals, PID 1 in a PID
//! namespace; `sync --watch` and `sync --on-change`. Parameters are changed
//! with the SDK while ssmm watches; intervals are a fraction of a second.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::init::{
    MARKER_WAIT, children_of, in_pid_namespace, namespace_init, stat, wait_for, wait_for_line,
};
use crate::support::{Fault, Outcome, Plan, Running, Test};

/// A child that logs `start PID VALUE` (VALUE: its `$DB_PASSWORD`),
/// `overlap OLD` if the previous child is still there when it starts, `term
/// PID` on SIGTERM (then exits 0) and `hup PID CONTENT` on SIGHUP (CONTENT:
/// the `conf/app.conf` file ssmm writes). `$1` is the test's directory.
const CHILD: &str = r#"d="$1"
if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then echo "overlap $(cat "$d/pid")" >> "$d/log"; fi
echo $$ > "$d/pid"
trap 'echo "term $$" >> "$d/log"; exit 0' TERM
trap 'echo "hup $$ $(cat "$d/conf/app.conf" 2>/dev/null)" >> "$d/log"' HUP
echo "start $$ $DB_PASSWORD" >> "$d/log"
while :; do sleep 0.05; done"#;

/// `sh -c SCRIPT sh DIR`.
fn sh(script: &str, dir: &Path) -> Vec<String> {
    crate::init::sh(script, dir)
}

/// `ssmm exec --init --app api --watch 200ms EXTRA -- sh -c CHILD`, running.
fn watch_exec(t: &Test, extra: &[&str], script: &str) -> Running {
    t.ssmm(["exec", "--init", "--app", "api", "--watch", "200ms"])
        .args(extra)
        .arg("--")
        .args(sh(script, t.dir()))
        .spawn()
}

/// The log's lines.
fn log(t: &Test) -> Vec<String> {
    fs::read_to_string(t.path("log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Waits until the log has a line starting with `prefix` and returns it.
#[track_caller]
fn wait_log(t: &Test, running: &mut Running, prefix: &str) -> String {
    let text = wait_for(&t.path("log"), running, prefix, |c| {
        c.lines().any(|l| l.starts_with(prefix))
    });
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap()
        .to_string()
}

/// The pid in a `start PID ...` line.
fn pid_of(line: &str) -> u32 {
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Zombies among the children of `pid`.
fn zombies_of(pid: u32) -> Vec<u32> {
    children_of(pid)
        .into_iter()
        .filter(|&c| stat(c).is_some_and(|(state, _)| state == 'Z'))
        .collect()
}

/// No seeded secret in what the run printed.
#[track_caller]
fn assert_no_values(out: &Outcome, values: &[&str]) {
    let all = out.combined();
    for v in values {
        assert!(!all.contains(v), "a value leaked: {v:?}\n{all}");
    }
    assert!(!all.contains("panicked"), "{all}");
}

/// Stops a watching ssmm with SIGTERM and returns how it ended.
fn stop(running: Running) -> Outcome {
    running.signal(15);
    running.wait()
}

#[test]
fn a_change_restarts_the_child_with_the_new_environment_never_two_at_once() {
    let t = Test::new().param("api/db-password", "first-c0ffee");
    t.secret("second-c0ffee");
    let mut running = watch_exec(&t, &["--out", "app.env"], CHILD);
    let first = wait_log(&t, &mut running, "start ");
    assert!(first.ends_with(" first-c0ffee"), "{first}");
    let mtime = fs::metadata(t.path("app.env")).unwrap().modified().unwrap();

    t.put_secure("api/db-password", "second-c0ffee");
    wait_for(&t.path("log"), &mut running, "a second start", |c| {
        c.lines().filter(|l| l.starts_with("start ")).count() == 2
    });
    let lines = log(&t);
    let old = pid_of(&first);
    let new = pid_of(lines.iter().rfind(|l| l.starts_with("start ")).unwrap());
    assert_ne!(old, new);
    // The old one got the stop signal, and was gone before the new one
    // started; the env file was rewritten before the restart.
    assert_eq!(
        lines,
        [
            format!("start {old} first-c0ffee"),
            format!("term {old}"),
            format!("start {new} second-c0ffee"),
        ]
    );
    assert!(t.read("app.env").contains("second-c0ffee"));
    assert!(fs::metadata(t.path("app.env")).unwrap().modified().unwrap() > mtime);
    assert!(zombies_of(running.pid()).is_empty(), "zombies left");

    let out = stop(running);
    out.code(0);
    out.stderr_contains(&format!(
        "ssmm: change: changed DB_PASSWORD; --out app.env; restarting sh (pid {old})"
    ));
    assert_no_values(&out, &["first-c0ffee", "second-c0ffee"]);
}

#[test]
fn a_child_that_ignores_the_stop_signal_is_killed_after_the_stop_timeout() {
    let t = Test::new().param("api/db-password", "one");
    t.secret("two");
    let script =
        r#"trap '' TERM; echo "start $$ $DB_PASSWORD" >> "$1/log"; while :; do sleep 0.05; done"#;
    let mut running = watch_exec(&t, &["--stop-timeout", "700ms"], script);
    let first = wait_log(&t, &mut running, "start ");
    t.put_secure("api/db-password", "two");
    let changed = Instant::now();
    wait_log(&t, &mut running, "start ");
    wait_for(&t.path("log"), &mut running, "a second start", |c| {
        c.lines().count() == 2
    });
    let waited = changed.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "restarted after {waited:?}"
    );
    assert!(
        stat(pid_of(&first)).is_none(),
        "the old child is still there"
    );
    assert!(log(&t)[1].ends_with(" two"));
    let running_pid = running.pid();
    // The orphaned `sleep` of the killed shell is reaped too.
    thread::sleep(Duration::from_millis(300));
    assert!(zombies_of(running_pid).is_empty());
    // SIGTERM to ssmm: the child ignores it too, so it is killed as well.
    let out = stop(running);
    out.code(137);
    out.stderr_contains("did not exit within 700ms (--stop-timeout): sending SIGKILL");
}

#[test]
fn signal_mode_writes_the_file_first_and_keeps_the_child() {
    let t = Test::new()
        .param("api/db-password", "pw")
        .param("api/files/conf/app.conf", "old-config");
    t.secret("new-config");
    let mut running = watch_exec(&t, &["--on-change", "signal:HUP"], CHILD);
    let first = wait_log(&t, &mut running, "start ");
    t.put_secure("api/files/conf/app.conf", "new-config");
    let hup = wait_log(&t, &mut running, "hup ");
    let pid = pid_of(&first);
    // The file had its new content when the signal arrived; same child.
    assert_eq!(hup, format!("hup {pid} new-config"));
    assert_eq!(
        log(&t).iter().filter(|l| l.starts_with("start ")).count(),
        1
    );

    // A variable cannot reach the running child: the line says so.
    t.put_secure("api/db-password", "pw2");
    t.secret("pw2");
    wait_for(&t.path("log"), &mut running, "a second hup", |c| {
        c.lines().filter(|l| l.starts_with("hup ")).count() == 2
    });
    let out = stop(running);
    out.code(0);
    out.stderr_contains(&format!(
        "ssmm: change: files conf/app.conf; sending SIGHUP to sh (pid {pid})"
    ));
    out.stderr_contains(&format!(
        "ssmm: change: changed DB_PASSWORD; sending SIGHUP to sh (pid {pid}); the running command keeps its environment (--on-change signal)"
    ));
    assert_no_values(&out, &["old-config", "new-config", "pw2"]);
}

#[test]
fn no_change_for_many_checks_touches_nothing() {
    let t = Test::new()
        .param("shared/db-password", "shared-steady")
        .param("api/db-password", "steady")
        .param("api/files/conf/app.conf", "steady-config");
    let mut running = watch_exec(&t, &["--out", "app.env", "-v"], CHILD);
    wait_log(&t, &mut running, "start ");
    wait_for(&t.path("app.env"), &mut running, "app.env", |_| true);
    let times = |t: &Test| {
        ["app.env", "conf/app.conf"].map(|f| fs::metadata(t.path(f)).unwrap().modified().unwrap())
    };
    let before = times(&t);
    thread::sleep(Duration::from_secs(3));
    assert_eq!(times(&t), before, "a file was rewritten");
    assert_eq!(log(&t).len(), 1, "{:?}", log(&t));
    let out = stop(running);
    out.code(0);
    let checks = out.stderr.matches("check: no change").count();
    assert!(checks >= 5, "only {checks} checks in 3s:\n{}", out.stderr);
    assert!(!out.stderr.contains("change: "), "{}", out.stderr);
    // The merge's warning is said once, not at every check.
    assert_eq!(
        out.stderr.matches("DB_PASSWORD: app:api").count(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn an_outage_leaves_the_child_alone_and_the_change_applies_after_recovery() {
    let t = Test::new()
        .faults(Plan::none())
        .param("api/db-password", "before");
    t.secret("rotated-c0ffee");
    let mut running = watch_exec(
        &t,
        &[
            "--out",
            "app.env",
            "--max-attempts",
            "2",
            "--timeout",
            "500ms",
            // A throttled check is sent again until this limit.
            "--total-timeout",
            "1s",
        ],
        CHILD,
    );
    let first = wait_log(&t, &mut running, "start ");
    let env_before = t.read("app.env");
    for fault in [Fault::Throttle, Fault::Status(500), Fault::Reset] {
        let shown = format!("{fault:?}");
        t.proxy().set_plan(Plan::always(fault));
        t.put_secure("api/db-password", "rotated-c0ffee");
        thread::sleep(Duration::from_millis(1200));
        assert_eq!(
            log(&t),
            std::slice::from_ref(&first),
            "the child was touched during {shown}"
        );
        assert_eq!(t.read("app.env"), env_before);
    }
    t.proxy().set_plan(Plan::none());
    wait_for(&t.path("log"), &mut running, "a restart", |c| {
        c.lines().any(|l| l.ends_with(" rotated-c0ffee"))
    });
    let out = stop(running);
    out.code(0);
    out.stderr_contains("check failed; sh keeps running unchanged:");
    out.stderr_contains("ssmm: checks succeed again");
    assert_no_values(&out, &["before", "rotated-c0ffee"]);
}

/// A check that SSM throttles is paced and sent again like a start's
/// reads, beyond `--max-attempts`: the change applies and no failure is
/// reported.
#[test]
fn a_throttled_check_is_paced_and_gets_through() {
    let t = Test::new()
        .faults(Plan::none())
        .param("api/db-password", "before");
    t.secret("rotated-c0ffee");
    let mut running = watch_exec(&t, &["--out", "app.env", "--max-attempts", "1"], CHILD);
    wait_log(&t, &mut running, "start ");
    t.proxy().set_plan(Plan::first(Fault::Throttle, 2));
    t.put_secure("api/db-password", "rotated-c0ffee");
    wait_for(&t.path("log"), &mut running, "a restart", |c| {
        c.lines().any(|l| l.ends_with(" rotated-c0ffee"))
    });
    let out = stop(running);
    out.code(0);
    assert!(
        !out.stderr.contains("check failed"),
        "a throttled check failed:\n{}",
        out.stderr
    );
    assert_eq!(t.proxy().faults_injected(), 2);
    assert_no_values(&out, &["before", "rotated-c0ffee"]);
}

#[test]
fn failed_checks_of_every_kind_leave_the_child_alone() {
    let t = Test::new().param("api/db-password", "ok-value");
    let mut running = watch_exec(
        &t,
        &[
            "--out",
            "app.env",
            "--format",
            "docker",
            "--require",
            "DB_PASSWORD",
        ],
        CHILD,
    );
    let first = wait_log(&t, &mut running, "start ");
    // A value docker's format cannot hold, then a required variable gone.
    t.put_secure("api/db-password", "two\nlines");
    t.secret("two\nlines");
    thread::sleep(Duration::from_millis(1000));
    crate::support::moto().delete(&t.name("api/db-password"));
    t.put("api/other", "1");
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(log(&t), [first]);
    let out = stop(running);
    out.code(0);
    let docker =
        "check failed; sh keeps running unchanged: cannot write DB_PASSWORD in docker format";
    out.stderr_contains(docker);
    // Each failure said once, however many checks it lasted.
    assert_eq!(out.stderr.matches(docker).count(), 1, "{}", out.stderr);
    out.stderr_contains("1 required variable missing from the environment of sh: DB_PASSWORD");
}

#[test]
fn the_child_exiting_on_its_own_ends_ssmm_with_its_code() {
    let t = Test::new().param("api/x", "1");
    let running = watch_exec(&t, &[], "sleep 0.5; exit 7");
    running.wait().code(7);
}

#[test]
fn sigterm_or_sigint_stops_the_child_and_ends_with_its_code() {
    for (sig, name) in [(15, "SIGTERM"), (2, "SIGINT")] {
        let t = Test::new().param("api/x", "1");
        // The child is stopped with --stop-signal (TERM) either way.
        let script = r#"trap 'echo term >> "$1/log"; exit 9' TERM; trap 'echo int >> "$1/log"' INT; echo start >> "$1/log"; while :; do sleep 0.05; done"#;
        let mut running = watch_exec(&t, &[], script);
        wait_for_line(&t.path("log"), "start", &mut running);
        running.signal(sig);
        let out = running.wait();
        out.code(9);
        assert_eq!(log(&t), ["start", "term"], "{name}");
        out.stderr_contains(&format!("stopped by {name}: stopping sh"));
    }
}

#[test]
fn a_chosen_stop_signal_is_used_and_other_signals_are_forwarded() {
    let t = Test::new().param("api/x", "1");
    let script = r#"trap 'echo usr1 >> "$1/log"' USR1; trap 'echo quit >> "$1/log"; exit 3' QUIT; echo start >> "$1/log"; while :; do sleep 0.05; done"#;
    let mut running = watch_exec(&t, &["--stop-signal", "QUIT"], script);
    wait_for_line(&t.path("log"), "start", &mut running);
    running.signal(10);
    wait_for_line(&t.path("log"), "usr1", &mut running);
    let out = stop(running);
    out.code(3);
    assert_eq!(log(&t), ["start", "usr1", "quit"]);
}

#[test]
fn as_pid_1_a_watch_forwards_signals_reaps_and_passes_the_code_through() {
    let t = Test::new().param("api/db-password", "one");
    t.secret("two");
    let script = r#"trap 'echo usr1 >> "$1/log"' USR1; trap 'exit 5' TERM
(sleep 0.1 &); echo "start $$ $DB_PASSWORD" >> "$1/log"; while :; do sleep 0.05; done"#;
    let mut args: Vec<String> = ["--prefix", t.prefix(), "exec", "--init", "--app", "api"]
        .map(String::from)
        .to_vec();
    args.extend(["--watch", "200ms", "--"].map(String::from));
    args.extend(sh(script, t.dir()));
    let mut running = in_pid_namespace(&args).current_dir(t.dir()).spawn();
    wait_log(&t, &mut running, "start ");
    let init = namespace_init(running.pid());
    kill(Pid::from_raw(init as i32), Signal::SIGUSR1).unwrap();
    wait_for_line(&t.path("log"), "usr1", &mut running);
    t.put_secure("api/db-password", "two");
    wait_for(&t.path("log"), &mut running, "a restart", |c| {
        c.lines().any(|l| l.ends_with(" two"))
    });
    thread::sleep(Duration::from_millis(300));
    assert!(zombies_of(init).is_empty(), "zombies under PID 1");
    kill(Pid::from_raw(init as i32), Signal::SIGTERM).unwrap();
    running.wait().code(5);
}

#[test]
fn watch_options_are_checked_before_anything_starts() {
    let t = Test::new().param("api/x", "1");
    let cases: [(&[&str], &str); 9] = [
        (&["--watch", "1s"], "--watch needs --init"),
        (&["--init", "--on-change", "signal:HUP"], "--watch"),
        (&["--init", "--stop-timeout", "1s"], "--watch"),
        (&["--init", "--watch", "0"], "must be more than 0"),
        (
            &["--init", "--watch", "1s", "--on-change", "reload"],
            "invalid --on-change \"reload\"",
        ),
        (
            &["--init", "--watch", "1s", "--stop-signal", "NOPE"],
            "invalid signal \"NOPE\"",
        ),
        (
            &["--init", "--watch", "1s", "--out", "-"],
            "--watch writes a file: give --out a path, not standard output",
        ),
        (
            &["--init", "--watch", "1s", "--splay", "soon"],
            "invalid duration \"soon\"",
        ),
        (
            &["--init", "--watch", "1s", "--stop-timeout", "10x"],
            "invalid duration unit in \"10x\"",
        ),
    ];
    for (args, message) in cases {
        t.ssmm(["exec", "--app", "api"])
            .args(args)
            .args(["--", "touch", "started"])
            .code(2)
            .stderr_has(message)
            .absent("started")
            .go();
    }
}

// ---- sync --watch / --on-change ----------------------------------------------

#[test]
fn sync_watch_rewrites_what_changed_runs_on_change_and_keeps_files_through_outages() {
    let t = Test::new()
        .faults(Plan::none())
        .param("api/db-password", "v1-5eed");
    t.secret("v2-5eed");
    let mut running = t
        .ssmm([
            "sync",
            "--app",
            "api",
            "--watch",
            "200ms",
            "--max-attempts",
            "2",
        ])
        .args(["--on-change", "echo changed >> changes"])
        .spawn();
    wait_for_line(&t.path("changes"), "changed", &mut running);
    assert!(t.read(".env").contains("v1-5eed"));
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(t.read("changes"), "changed\n", "ran without a change");

    t.proxy().set_plan(Plan::always(Fault::Status(500)));
    t.put_secure("api/db-password", "v2-5eed");
    thread::sleep(Duration::from_millis(1000));
    assert!(
        t.read(".env").contains("v1-5eed"),
        "an outage changed the file"
    );
    t.proxy().set_plan(Plan::none());
    wait_for(&t.path("changes"), &mut running, "a second run", |c| {
        c.lines().count() == 2
    });
    assert!(t.read(".env").contains("v2-5eed"));
    let out = stop(running);
    // A stop ends the watch: success, with the files whole.
    out.code(0);
    out.stderr_contains("ssmm: change: changed DB_PASSWORD");
    out.stderr_contains("check failed, the files stay as they were");
    out.stderr_contains("stopped by SIGTERM; the watch ended");
    assert_no_values(&out, &["v1-5eed", "v2-5eed"]);
}

#[test]
fn sync_on_change_runs_only_after_a_write_and_its_failure_is_exit_1() {
    let t = Test::new().param("api/x", "1");
    let sync = |cmd: &str| t.ssmm(["sync", "--app", "api", "--on-change"]).arg(cmd);
    sync("umask 077; echo ran >> ran").success().go();
    assert_eq!(t.read("ran"), "ran\n");
    sync("umask 077; echo ran >> ran")
        .success()
        .stderr_has("no change")
        .go();
    assert_eq!(t.read("ran"), "ran\n", "ran without a change");
    t.put("api/x", "2");
    sync("exit 4")
        .code(1)
        .stderr_has("--on-change command exited with 4 (the files were written)")
        .go();
    assert_eq!(t.read(".env"), "X=\"2\"\n");
}

#[test]
fn sync_watch_refuses_standard_output() {
    let t = Test::new().param("api/x", "1");
    t.ssmm(["sync", "--app", "api", "--watch", "1s", "--out", "-"])
        .code(2)
        .stderr_has("--watch writes a file")
        .go();
    for (args, message) in [
        (
            &["--watch", "0s"][..],
            "interval \"0s\" must be more than 0",
        ),
        (&["--splay", "2h"], "invalid duration unit in \"2h\""),
    ] {
        t.ssmm(["sync", "--app", "api"])
            .args(args)
            .code(2)
            .stderr_has(message)
            .writes_nothing()
            .go();
    }
}

#[test]
fn an_explicit_splay_delays_the_first_fetch() {
    let t = Test::new().param("api/x", "1");
    let started = Instant::now();
    t.ssmm(["sync", "--app", "api", "--splay", "0"])
        .success()
        .go();
    let fast = started.elapsed();
    // A random wait of up to 3s: over many runs some must be slow; one run
    // must never exceed the bound.
    let mut slowest = Duration::ZERO;
    for _ in 0..4 {
        let started = Instant::now();
        t.ssmm(["sync", "--app", "api", "--splay", "3s"])
            .success()
            .go();
        let took = started.elapsed();
        assert!(
            took < fast + Duration::from_secs(3) + MARKER_WAIT / 20,
            "{took:?}"
        );
        slowest = slowest.max(took);
    }
    assert!(
        slowest > fast + Duration::from_millis(300),
        "never waited: {slowest:?}"
    );
}

#[test]
fn a_target_turned_into_a_directory_while_watching_fails_the_check_only() {
    let t = Test::new().param("api/db-password", "one");
    t.secret("two");
    let mut running = watch_exec(&t, &["--out", "app.env"], CHILD);
    let first = wait_log(&t, &mut running, "start ");
    fs::remove_file(t.path("app.env")).unwrap();
    fs::create_dir(t.path("app.env")).unwrap();
    t.put_secure("api/db-password", "two");
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(log(&t), std::slice::from_ref(&first));
    assert!(t.path("app.env").is_dir());
    // Put right, the pending change applies.
    fs::remove_dir(t.path("app.env")).unwrap();
    wait_for(&t.path("log"), &mut running, "a restart", |c| {
        c.lines().any(|l| l.ends_with(" two"))
    });
    let out = stop(running);
    out.code(0);
    out.stderr_contains("check failed; sh keeps running unchanged: writing app.env:");
}

#[test]
fn a_strict_violation_found_by_a_check_leaves_the_child_alone() {
    let t = Test::new().param("api/db-password", "app-value");
    let mut running = watch_exec(&t, &["--strict"], CHILD);
    let first = wait_log(&t, &mut running, "start ");
    // An override appears: --strict refuses the merge at every check.
    t.put_secure("shared/db-password", "shared-value");
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(log(&t), std::slice::from_ref(&first));
    let out = stop(running);
    out.code(0);
    out.stderr_contains(
        "check failed; sh keeps running unchanged: --strict: 1 problem(s) found (overrides)",
    );
    assert_eq!(
        out.stderr.matches("DB_PASSWORD: app:api").count(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn a_changed_variable_re_renders_the_template_that_uses_it_before_the_signal() {
    let t = Test::new().param("api/db-password", "pw-one").param(
        "api/files/conf/app.conf.tmpl",
        "password = {{ DB_PASSWORD }}\n",
    );
    t.secret("pw-two");
    let mut running = watch_exec(&t, &["--on-change", "signal:HUP"], CHILD);
    let first = wait_log(&t, &mut running, "start ");
    assert_eq!(t.read("conf/app.conf"), "password = pw-one\n");
    t.put_secure("api/db-password", "pw-two");
    let hup = wait_log(&t, &mut running, "hup ");
    assert_eq!(hup, format!("hup {} password = pw-two", pid_of(&first)));
    let out = stop(running);
    out.code(0);
    out.stderr_contains("change: changed DB_PASSWORD; files conf/app.conf; sending SIGHUP");
}
