//! End-to-end tests of how `ssmm exec` starts CMD, through the real binary
//! against moto: plain exec (CMD takes ssmm's PID, exit codes pass through,
//! 126/127 start nothing) and `--init` (tini semantics) as PID 1 of a PID
//! namespace: signals from outside and inside the namespace reach CMD,
//! orphans are reaped, and the static binary works alone in an empty root.
//! The namespace tests need root (`unshare`, `chroot`); they fail, never
//! skip, without it.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{Running, Ssmm, moto, unique_prefix};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Value of the one seeded parameter, `<prefix>/app/x` -> `X`.
const X: &str = "from-ssm";

/// How long to wait for a child's marker file: moto under a loaded CI
/// machine can take seconds to answer.
pub(crate) const MARKER_WAIT: Duration = Duration::from_secs(60);

/// A fresh prefix with `<prefix>/app/x` seeded, so exec has something to
/// fetch and the child can show it got it.
fn seeded() -> String {
    let p = unique_prefix();
    moto().put(&format!("{p}/app/x"), X);
    p
}

/// `ssmm --prefix P exec --app app [extra...] -- CMD...`.
fn exec<S: AsRef<std::ffi::OsStr>>(p: &str, extra: &[&str], cmd: &[S]) -> Ssmm {
    Ssmm::new()
        .endpoint(&moto().endpoint())
        .args(["--prefix", p, "exec", "--app", "app"])
        .args(extra)
        .arg("--")
        .args(cmd)
}

pub(crate) fn sh(script: &str, dir: &Path) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        script.into(),
        "sh".into(),
        dir.display().to_string(),
    ]
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (unshare --pid, chroot): run them as root, e.g. in the CI container"
    );
}

/// Waits until `path` exists and returns its content.
#[track_caller]
pub(crate) fn wait_for_file(path: &Path, running: &mut Running) -> String {
    let what = format!("{} appeared", path.display());
    wait_for(path, running, &what, |_| true)
}

/// Waits until the file at `path` has a line `line`.
#[track_caller]
pub(crate) fn wait_for_line(path: &Path, line: &str, running: &mut Running) {
    let what = format!("{} got {line:?}", path.display());
    wait_for(path, running, &what, |c| c.lines().any(|l| l == line));
}

/// Waits until `path` can be read and `found` holds for its content (which
/// it returns), while the command still runs and for at most
/// [`MARKER_WAIT`].
#[track_caller]
pub(crate) fn wait_for(
    path: &Path,
    running: &mut Running,
    what: &str,
    found: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + MARKER_WAIT;
    loop {
        let content = fs::read_to_string(path);
        match &content {
            Ok(c) if found(c) => return c.clone(),
            _ => {}
        }
        let has = content.unwrap_or_default();
        assert!(
            running.is_running(),
            "the command exited before {what} (has {has:?})"
        );
        assert!(
            Instant::now() < deadline,
            "not {what} within {MARKER_WAIT:?} (has {has:?})"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends each signal (by name: `TERM`) to the namespace's init and waits
/// until the command it runs has logged the name in `got`.
#[track_caller]
fn relay_each(init: u32, signals: &[&str], got: &Path, running: &mut Running) {
    for name in signals {
        let sig: Signal = format!("SIG{name}").parse().unwrap();
        kill(Pid::from_raw(init as i32), sig).unwrap();
        wait_for_line(got, name, running);
    }
}

// ---- /proc helpers -----------------------------------------------------------

/// (state, ppid) from /proc/<pid>/stat; the command name may hold spaces
/// and parentheses, so fields are counted after the last `)`.
pub(crate) fn stat(pid: u32) -> Option<(char, u32)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

pub(crate) fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The children of `parent`, by scanning /proc (the `children` file needs
/// CONFIG_PROC_CHILDREN, which not every kernel has).
pub(crate) fn children_of(parent: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&p| stat(p).is_some_and(|(_, pp)| pp == parent))
        .collect()
}

/// The PID namespace `pid` is in.
pub(crate) fn pid_ns(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// Host pid of ssmm, the PID 1 that `unshare --fork` started.
#[track_caller]
pub(crate) fn namespace_init(unshare: u32) -> u32 {
    let kids = children_of(unshare);
    assert_eq!(kids.len(), 1, "unshare {unshare} has children {kids:?}");
    let init = kids[0];
    let comm = fs::read_to_string(format!("/proc/{init}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "ssmm", "unshare's child is not ssmm");
    assert_ne!(
        pid_ns(init),
        pid_ns(unshare),
        "ssmm is not in a new PID namespace"
    );
    init
}

/// `unshare --pid --fork --mount-proc SSMM ...` with signal dispositions
/// reset first: a shell cannot trap a signal that was ignored when it
/// started, whatever ran the tests.
pub(crate) fn in_pid_namespace(ssmm_args: &[String]) -> Ssmm {
    require_root();
    Ssmm::with_program("/usr/bin/env")
        .endpoint(&moto().endpoint())
        .args(["--default-signal", "/usr/bin/unshare"])
        .args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_ssmm"))
        .args(ssmm_args)
}

fn init_args(p: &str, cmd: Vec<String>) -> Vec<String> {
    let mut v: Vec<String> = ["--prefix", p, "exec", "--init", "--app", "app", "--"]
        .map(String::from)
        .to_vec();
    v.extend(cmd);
    v
}

// ---- plain exec ----------------------------------------------------------------

#[test]
fn exec_replaces_ssmm_so_the_command_keeps_its_pid() {
    let p = seeded();
    let dir = tempfile::tempdir().unwrap();
    let running = exec(&p, &[], &["sh", "-c", "echo \"$$ $X\"; exit 3"]).spawn();
    let pid = running.pid();
    let out = running.wait();
    out.code(3);
    assert_eq!(out.stdout.trim(), format!("{pid} {X}"), "{out}");
    drop(dir);
}

#[test]
fn exec_passes_exit_codes_and_signals_through() {
    let p = seeded();
    for code in [0, 3, 255] {
        exec(&p, &[], &["sh", "-c", &format!("exit {code}")])
            .run()
            .code(code);
    }
    // CMD is ssmm's own process, so its death by signal is ssmm's.
    exec(&p, &[], &["sh", "-c", "kill -TERM $$"])
        .run()
        .killed_by(15);
    // And CMD starts with SIGPIPE's default action, not Rust's SIG_IGN.
    exec(&p, &[], &["sh", "-c", "kill -PIPE $$; exit 0"])
        .run()
        .killed_by(13);
}

#[test]
fn init_passes_exit_codes_through_and_maps_signals_to_128_plus_n() {
    let p = seeded();
    for code in [0, 3, 255] {
        exec(&p, &["--init"], &["sh", "-c", &format!("exit {code}")])
            .run()
            .code(code);
    }
    exec(&p, &["--init"], &["sh", "-c", "kill -TERM $$"])
        .run()
        .code(143);
    exec(&p, &["--init"], &["sh", "-c", "kill -KILL $$"])
        .run()
        .code(137);
    // The child gets X like plain exec does.
    exec(&p, &["--init"], &["sh", "-c", "echo \"$X\""])
        .run()
        .success()
        .stdout_contains(X);
}

#[test]
fn a_missing_command_is_127_and_a_non_executable_one_126_starting_nothing() {
    let p = seeded();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    // Would leave a marker if anything ran it.
    let script = dir.path().join("not-executable");
    fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    let script = script.display().to_string();
    let subdir = dir.path().display().to_string();

    for extra in [&[][..], &["--init"][..]] {
        let out = exec(&p, extra, &["no-such-command-xyz", "arg"]).run();
        out.code(127)
            .stderr_contains("ssmm: error: no-such-command-xyz: command not found");

        let out = exec(&p, extra, &[&script]).run();
        out.code(126)
            .stderr_contains(&format!("ssmm: error: {script}: permission denied"));

        exec(&p, extra, &[&subdir])
            .run()
            .code(126)
            .stderr_contains(&format!("{subdir}: is a directory"));
    }
    assert!(!marker.exists(), "a non-executable file was run");
}

#[test]
fn the_command_is_looked_up_in_the_path_the_child_gets() {
    // PATH comes from SSM here: the harness's PATH does not list the dir.
    let p = seeded();
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("only-in-ssm-path");
    fs::write(&tool, "#!/bin/sh\necho \"tool ran with X=$X\"\n").unwrap();
    fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
    moto().put(&format!("{p}/app/path"), &dir.path().display().to_string());
    for extra in [&[][..], &["--init"][..]] {
        exec(&p, extra, &["only-in-ssm-path"])
            .run()
            .success()
            .stdout_contains(&format!("tool ran with X={X}"));
    }
    // Without that parameter, the same name is not found.
    exec(&seeded(), &[], &["only-in-ssm-path"]).run().code(127);
}

// ---- --init outside a namespace ------------------------------------------------

#[test]
fn init_adopts_orphans_of_the_command_when_not_pid_1() {
    // The orphan reports its parent after its own parent has exited: that
    // must be ssmm (a child subreaper), not the host's init.
    let p = seeded();
    let dir = tempfile::tempdir().unwrap();
    let script = r#"(sh -c 'sleep 0.3; read -r _ _ _ pp _ < /proc/self/stat; echo "$pp" > "$0/orphan_ppid"' "$1" &); sleep 1.5; exit 9"#;
    let running = exec(&p, &["--init"], &sh(script, dir.path())).spawn();
    let pid = running.pid();
    running.wait().code(9);
    let ppid = fs::read_to_string(dir.path().join("orphan_ppid")).unwrap();
    assert_eq!(
        ppid.trim(),
        pid.to_string(),
        "the orphan was not re-parented to ssmm"
    );
}

// ---- --init as PID 1 ---------------------------------------------------------

/// Traps each signal into `$d/got`, reports its parent, signals PID 1 from
/// inside the namespace, then waits for `$d/done` and exits 42.
const TRAPPING_CHILD: &str = r#"d="$1"
for s in TERM INT HUP QUIT USR1 USR2 WINCH; do trap "echo $s >> '$d/got'" $s; done
echo "$PPID" > "$d/ppid"
echo "$X" > "$d/x"
kill -USR2 1
echo ready > "$d/ready"
while [ ! -e "$d/done" ]; do sleep 0.05; done
exit 42"#;

#[test]
fn as_pid_1_every_signal_reaches_the_child_and_its_code_passes_through() {
    let p = seeded();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut running = in_pid_namespace(&init_args(&p, sh(TRAPPING_CHILD, d))).spawn();
    wait_for_file(&d.join("ready"), &mut running);
    assert_eq!(
        fs::read_to_string(d.join("ppid")).unwrap().trim(),
        "1",
        "ssmm is not PID 1 in the namespace"
    );
    assert_eq!(fs::read_to_string(d.join("x")).unwrap().trim(), X);
    let init = namespace_init(running.pid());

    // PID 1 would drop a signal it has no handler for; ssmm must not.
    // USR2 came from inside the namespace (kill -USR2 1).
    wait_for_line(&d.join("got"), "USR2", &mut running);
    let signals = ["TERM", "INT", "HUP", "QUIT", "USR1", "WINCH"];
    relay_each(init, &signals, &d.join("got"), &mut running);
    fs::write(d.join("done"), "").unwrap();
    let out = running.wait();
    out.code(42);
    // Each signal once: a double delivery would show as a repeated line.
    let got = fs::read_to_string(d.join("got")).unwrap();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for l in got.lines() {
        *counts.entry(l).or_default() += 1;
    }
    assert!(counts.values().all(|&n| n == 1), "signals: {got:?}");
}

#[test]
fn as_pid_1_a_sigterm_ends_a_child_that_does_not_trap_it() {
    // The plain `docker stop` case: the child has no handler, dies of the
    // forwarded SIGTERM, and ssmm reports 128+15.
    let p = seeded();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = r#"echo ready > "$1/ready"; while :; do sleep 0.05; done"#;
    let mut running = in_pid_namespace(&init_args(&p, sh(script, d))).spawn();
    wait_for_file(&d.join("ready"), &mut running);
    let init = namespace_init(running.pid());
    kill(Pid::from_raw(init as i32), Signal::SIGTERM).unwrap();
    running.wait().code(143);
}

#[test]
fn as_pid_1_orphans_are_reaped_promptly() {
    let p = seeded();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Three double-forked grandchildren exit while the child still runs;
    // each reports its parent first (PID 1 = ssmm once orphaned).
    let script = r#"d="$1"
for i in 1 2 3; do
  (sh -c 'sleep 0.3; read -r _ _ _ pp _ < /proc/self/stat; echo "$pp" >> "$0/orphan_ppid"' "$d" &)
done
echo ready > "$d/ready"
sleep 3
exit 7"#;
    let mut running = in_pid_namespace(&init_args(&p, sh(script, d))).spawn();
    wait_for_file(&d.join("ready"), &mut running);
    let init = namespace_init(running.pid());
    let ns = pid_ns(init).expect("namespace of ssmm");

    // Watch every process of the namespace while the child runs: none may
    // stay a zombie longer than the grace period.
    let grace = Duration::from_millis(700);
    let mut zombie_since: HashMap<u32, Instant> = HashMap::new();
    let mut seen_in_ns = 0;
    while running.is_running() {
        let now = Instant::now();
        let mut zombies_now = Vec::new();
        for pid in all_pids() {
            if pid_ns(pid).as_ref() != Some(&ns) {
                continue;
            }
            seen_in_ns += 1;
            if let Some(('Z', _)) = stat(pid) {
                zombies_now.push(pid);
                let since = *zombie_since.entry(pid).or_insert(now);
                assert!(
                    now - since < grace,
                    "pid {pid} has been a zombie for {:?}",
                    now - since
                );
            }
        }
        zombie_since.retain(|pid, _| zombies_now.contains(pid));
        thread::sleep(Duration::from_millis(20));
    }
    running.wait().code(7);
    assert!(seen_in_ns > 0, "never saw the namespace's processes");
    let ppids = fs::read_to_string(d.join("orphan_ppid")).unwrap();
    assert_eq!(
        ppids.lines().collect::<Vec<_>>(),
        ["1", "1", "1"],
        "the grandchildren were not orphaned to ssmm as PID 1"
    );
}

// ---- the static binary, alone --------------------------------------------------

/// The static musl build, from `SSMM_STATIC_BIN` (scripts/test sets it).
/// Missing: a failure, unless `SSMM_ALLOW_NO_STATIC=1` says it is expected.
fn static_bin() -> Option<PathBuf> {
    match std::env::var_os("SSMM_STATIC_BIN").filter(|v| !v.is_empty()) {
        Some(p) => Some(p.into()),
        None if std::env::var_os("SSMM_ALLOW_NO_STATIC").is_some_and(|v| v == "1") => {
            eprintln!("SSMM_STATIC_BIN unset and SSMM_ALLOW_NO_STATIC=1: static test not run");
            None
        }
        None => panic!(
            "SSMM_STATIC_BIN is not set: run scripts/test (it builds the static binary with \
             scripts/build-static and passes target/static-bin-path), or set \
             SSMM_STATIC_BIN=$(cat target/static-bin-path); SSMM_ALLOW_NO_STATIC=1 \
             acknowledges not testing it"
        ),
    }
}

fn static_busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("busybox not found: install Debian's busybox-static (scripts/setup)")
}

#[test]
fn the_static_binary_is_pid_1_in_an_empty_root() {
    let Some(bin) = static_bin() else { return };
    require_root();
    let p = seeded();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::copy(&bin, r.join("ssmm")).expect("copy the static binary");
    fs::copy(static_busybox(), r.join("busybox")).unwrap();
    fs::create_dir(r.join("proc")).unwrap();
    fs::create_dir(r.join("w")).unwrap();
    let script = r#"d=/w
for s in TERM INT HUP USR1; do trap "echo $s >> $d/got" $s; done
echo "$PPID" > $d/ppid
/busybox env > $d/env
echo ready > $d/ready
while [ ! -e $d/done ]; do /busybox sleep 0.05; done
exit 42"#;
    let endpoint = moto().endpoint();
    let mut running = Ssmm::with_program("/usr/bin/env")
        .args(["-i", "--default-signal"])
        .args([
            "AWS_ACCESS_KEY_ID=testing",
            "AWS_SECRET_ACCESS_KEY=testing",
            "AWS_REGION=us-east-1",
        ])
        .args(["/usr/bin/unshare", "--pid", "--fork", "--kill-child"])
        .arg(format!("--mount-proc={}", r.join("proc").display()))
        .arg("/usr/sbin/chroot")
        .arg(r)
        .args(["/ssmm", "--endpoint-url", &endpoint, "--prefix", &p])
        .args(["exec", "--init", "--app", "app", "--"])
        .args(["/busybox", "sh", "-c", script])
        .spawn();
    let w = r.join("w");
    wait_for_file(&w.join("ready"), &mut running);
    assert_eq!(fs::read_to_string(w.join("ppid")).unwrap().trim(), "1");
    let env = fs::read_to_string(w.join("env")).unwrap();
    let mut names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    names.sort();
    assert!(env.lines().any(|l| l == format!("X={X}")), "env: {env}");
    // Only what env -i passed, plus the parameter (and what busybox sh
    // sets for itself: PATH, PWD, SHLVL).
    for name in &names {
        assert!(
            [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_REGION",
                "X",
                "PATH",
                "PWD",
                "SHLVL"
            ]
            .contains(name),
            "unexpected variable {name} in {names:?}"
        );
    }
    let init = namespace_init(running.pid());
    let signals = ["TERM", "INT", "HUP", "USR1"];
    relay_each(init, &signals, &w.join("got"), &mut running);
    fs::write(w.join("done"), "").unwrap();
    running.wait().code(42);
}

// ---- stop signals before the command starts -------------------------------------

/// An endpoint that takes connections and never answers, and a channel
/// that says when ssmm has connected (so it is surely mid-fetch).
fn silent_endpoint() -> (String, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
            let _ = tx.send(());
        }
    });
    (url, rx)
}

/// Regression: as PID 1 (a container), SIGTERM sent while ssmm was still
/// fetching was ignored (PID 1 gets no default signal actions), and ssmm
/// then started the command anyway. SIGTERM, SIGINT and SIGHUP before the
/// command starts now end ssmm promptly with 128+N, with and without
/// `--init`, as PID 1 and not, and for `sync` too; nothing is started or
/// written.
#[test]
fn a_stop_signal_during_the_fetch_ends_ssmm_with_128_plus_n_and_starts_nothing() {
    let p = seeded();
    let (endpoint, connected) = silent_endpoint();
    for (sig, n) in [
        (Signal::SIGTERM, 15),
        (Signal::SIGINT, 2),
        (Signal::SIGHUP, 1),
    ] {
        for (how, pid1) in [
            (&["exec", "--init"][..], true),
            (&["exec"][..], true),
            (&["sync"][..], true),
            (&["exec", "--init"][..], false),
            (&["exec"][..], false),
            // A watch that has not started yet is stopped the same way.
            (&["exec", "--init", "--watch", "1s"][..], true),
            (&["sync", "--watch", "1s"][..], false),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let marker = d.join("started");
            let mut argv: Vec<String> = ["--prefix", &p, "--endpoint-url", &endpoint]
                .map(String::from)
                .to_vec();
            argv.extend(how.iter().map(|s| s.to_string()));
            argv.extend(["--app", "app", "--timeout", "60s"].map(String::from));
            argv.extend(["--out".into(), d.join("app.env").display().to_string()]);
            if how[0] == "exec" {
                argv.extend(["--".into(), "touch".into(), marker.display().to_string()]);
            }
            let case = format!("{sig} to {} {how:?}", if pid1 { "PID 1" } else { "ssmm" });
            // Connections of the run before (one a layer) say nothing now.
            while connected.try_recv().is_ok() {}
            let running = if pid1 {
                in_pid_namespace(&argv).spawn()
            } else {
                Ssmm::new().args(&argv).spawn()
            };
            connected
                .recv_timeout(MARKER_WAIT)
                .unwrap_or_else(|_| panic!("{case}: ssmm never connected"));
            let target = if pid1 {
                namespace_init(running.pid())
            } else {
                running.pid()
            };
            let sent = Instant::now();
            kill(Pid::from_raw(target as i32), sig).unwrap();
            let out = running.wait();
            assert_eq!(out.code, Some(128 + n), "{case}: {}", out.combined());
            assert!(
                sent.elapsed() < Duration::from_secs(5),
                "{case}: took {:?}",
                sent.elapsed()
            );
            out.stderr_contains(&if how[0] == "exec" {
                format!("ssmm: error: stopped by {sig} before the command started")
            } else {
                format!("ssmm: error: stopped by {sig}; no file was left half-written")
            });
            assert!(!marker.exists(), "{case}: the command was started");
            assert!(!d.join("app.env").exists(), "{case}: --out was written");
        }
    }
}
