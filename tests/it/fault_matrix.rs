//! The fault matrix: `sync`, `exec` and `put` through the fault proxy, for
//! throttling (50 % and 90 % of requests), HTTP 500 and 503, connection
//! resets, stalls longer than `--timeout`, answers cut off half-way and
//! answers that are not JSON at all.
//!
//! Every case ends in one of two ways, decided per case:
//! - success within the retry budget, and then the result is exactly right
//!   (the env file's bytes, what the child saw, what moto holds);
//! - a clean failure: exit 1 in bounded time, a message naming the operation
//!   and the reason, the existing env file untouched, no temporary file left,
//!   the command never started, and no parameter holding anything but its
//!   old value or the whole new one.
//!
//! Transient faults (`first(n)` with n below the attempts, `share` at 50 %)
//! must be ridden out; permanent ones (`always`) must fail cleanly. Every
//! value holds a canary marker that must never reach stdout or stderr.
//!
//! The cases of a table run a few at a time, each with its own proxy, and
//! each table prints what every case did and how long it took (visible with
//! `--nocapture`, and on failure).

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crate::support::fs::entries;
use crate::support::{Fault, FaultProxy, Outcome, Plan, Run, Test, moto, unique_prefix};

/// In every value seeded or put; never in ssmm's stdout or stderr.
const MARK: &str = "CANARY-FM-91d2";

/// A permanent fault must end in a clean failure within this, given the
/// small `--max-attempts` and `--timeout` its case passes.
const FAIL_WITHIN: Duration = Duration::from_secs(15);
/// A transient fault must be ridden out within this.
const SUCCEED_WITHIN: Duration = Duration::from_secs(20);
/// Cases of one table in flight at once: they mostly sleep in backoffs.
const WORKERS: usize = 4;

/// What the env file holds before a sync; a failed sync must leave it so.
const OLD_ENV: &[u8] = b"OLD=\"untouched\"\n";

/// The exec child: writes what it saw to `seen`, prints nothing (the values
/// must not reach the output this test scans).
const CHILD: &str =
    r#"printf '%s\n' "$DB_PASSWORD" "$LOG_LEVEL" "$PORT" "$REGION" "$TOKEN" > seen"#;

// ---------------------------------------------------------------------------
// Cases

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Ridden out within the retry budget; the result is exactly right.
    Succeed,
    /// A clean failure whose error line names the operation and holds this.
    Fail(&'static str),
    /// Either; a failure must be clean and hold this (90 % throttling on a
    /// default budget).
    Either(&'static str),
}

struct Case {
    name: &'static str,
    plan: Plan,
    args: Vec<&'static str>,
    expect: Expect,
    /// The operation a failure must name (default: the command's first).
    op: Option<&'static str>,
    /// At most this many requests of `op` (shows a fault is not retried).
    at_most: Option<usize>,
    within: Option<Duration>,
    /// put: one of the parameters exists already and `--overwrite` is given.
    overwrite: bool,
}

fn case(name: &'static str, plan: Plan, expect: Expect) -> Case {
    Case {
        name,
        plan,
        args: Vec::new(),
        expect,
        op: None,
        at_most: None,
        within: None,
        overwrite: false,
    }
}

impl Case {
    fn args(mut self, args: &[&'static str]) -> Case {
        self.args.extend_from_slice(args);
        self
    }

    fn op(mut self, op: &'static str) -> Case {
        self.op = Some(op);
        self
    }

    fn at_most(mut self, n: usize) -> Case {
        self.at_most = Some(n);
        self
    }

    fn within(mut self, limit: Duration) -> Case {
        self.within = Some(limit);
        self
    }

    fn overwrite(mut self) -> Case {
        self.overwrite = true;
        self
    }

    fn limit(&self) -> Duration {
        self.within.unwrap_or(match self.expect {
            Expect::Succeed => SUCCEED_WITHIN,
            Expect::Fail(_) | Expect::Either(_) => FAIL_WITHIN,
        })
    }

    fn no_shared(&self) -> bool {
        self.args.contains(&"--no-shared")
    }
}

/// For the 50 % throttling cases: `XX.X.X..XX.X..X.X...`, so the first
/// requests are throttled (seeds whose pattern starts with a run of misses
/// would let a command of two or three requests through untouched).
const SEED_50: u64 = 28;

/// The faults every read command must handle. Two layers (shared and app)
/// are read concurrently, one GetParametersByPath each.
fn read_cases() -> Vec<Case> {
    use Expect::*;
    use Fault::*;
    let few = ["--max-attempts", "3"];
    // Ridden out: the first `n` requests meet the fault.
    let rides = |name, fault, n| case(name, Plan::first(fault, n), Succeed);
    // A clean failure on a small budget: every request meets the fault.
    let fails = |name, fault, why| case(name, Plan::always(fault), Fail(why)).args(&few);
    vec![
        case("throttle-50%", Plan::share(Throttle, 0.5, SEED_50), Succeed),
        // Sent again until --total-timeout, not bounded by --max-attempts.
        fails(
            "throttle-always",
            Throttle,
            "ThrottlingException: Rate exceeded",
        )
        .args(&["--total-timeout", "2s"]),
        rides("500-first-3", Status(500), 3),
        fails("500-always", Status(500), "InternalServerError"),
        rides("503-first-3", Status(503), 3),
        fails("503-always", Status(503), "ServiceUnavailable"),
        rides("reset-first-3", Reset, 3),
        fails("reset-always", Reset, "request failed"),
        rides("stall-first-1", Stall, 1).args(&["--timeout", "1s"]),
        case("stall-always", Plan::always(Stall), Fail("timed out")).args(&[
            "--timeout",
            "1s",
            "--max-attempts",
            "2",
        ]),
        rides("truncate-first-3", Truncate, 3),
        fails("truncate-always", Truncate, "the answer was cut off"),
        // The SDK does not retry a complete answer it cannot parse: a 200
        // with an HTML page is what a captive portal or a wrong endpoint
        // gives, and asking again would not help. So even one such answer
        // fails the command, at once (one request per layer).
        case(
            "not-json-first-1",
            Plan::first(NotJson, 1),
            Fail("not SSM's JSON"),
        )
        .at_most(2),
        case(
            "not-json-always",
            Plan::always(NotJson),
            Fail("not SSM's JSON"),
        )
        .at_most(2),
    ]
}

// ---------------------------------------------------------------------------
// Running a table

/// What one case did, for the table.
struct Row {
    label: String,
    expect: Expect,
    result: Result<Summary, String>,
}

struct Summary {
    code: Option<i32>,
    elapsed: Duration,
    requests: String,
    faults: usize,
    note: String,
}

impl Summary {
    /// `note` plus, for a failure, its first error line with the test's
    /// prefix shortened to `/P`.
    fn new(out: &Outcome, proxy: &FaultProxy, prefix: &str, note: String) -> Summary {
        let error = out
            .stderr
            .lines()
            .find(|l| l.starts_with("ssmm: error: "))
            .map(|l| l.replace(prefix, "/P"));
        let note = match (note.is_empty(), error) {
            (_, None) => note,
            (true, Some(e)) => e,
            (false, Some(e)) => format!("{note}; {e}"),
        };
        let requests = proxy
            .counts()
            .iter()
            .map(|(op, n)| format!("{op}={n}"))
            .collect::<Vec<_>>()
            .join(" ");
        Summary {
            code: out.code,
            elapsed: out.elapsed,
            requests,
            faults: proxy.faults_injected(),
            note,
        }
    }
}

/// Runs `one` for every case, `WORKERS` at a time, each on a thread named
/// `title/case` (so a failed assertion names its case), then prints the
/// table and fails with the list of failed cases.
fn run_table(title: &str, cases: &[Case], one: impl Fn(&str, &Case) -> Summary + Sync) {
    run_table_with(title, cases, WORKERS, one);
}

fn run_table_with(
    title: &str,
    cases: &[Case],
    workers: usize,
    one: impl Fn(&str, &Case) -> Summary + Sync,
) {
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<(usize, Row)>> = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..workers.min(cases.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let label = format!("{title}/{}", case.name);
                    let joined = thread::scope(|s| {
                        thread::Builder::new()
                            .name(label.clone())
                            .spawn_scoped(s, || one(&label, case))
                            .expect("spawn a case thread")
                            .join()
                    });
                    let result = joined.map_err(|payload| {
                        payload
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panicked".to_string())
                    });
                    let row = Row {
                        label,
                        expect: case.expect,
                        result,
                    };
                    rows.lock().unwrap().push((i, row));
                }
            });
        }
    });
    let mut rows = rows.into_inner().unwrap();
    rows.sort_by_key(|(i, _)| *i);
    let rows: Vec<Row> = rows.into_iter().map(|(_, r)| r).collect();
    eprintln!("{}", table(&rows));
    let failed: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.result.as_ref().err().map(|e| {
                let first = e.lines().next().unwrap_or_default();
                format!("  {}: {first}", r.label)
            })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed (details above):\n{}",
        failed.len(),
        rows.len(),
        failed.join("\n")
    );
}

fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<34} {:<9} {:<11} {:>7}  {:>6}  requests / note",
        "case", "expected", "outcome", "time", "faults"
    );
    for r in rows {
        let expected = match r.expect {
            Expect::Succeed => "success",
            Expect::Fail(_) => "failure",
            Expect::Either(_) => "either",
        };
        match &r.result {
            Ok(sum) => {
                let outcome = match sum.code {
                    Some(0) => "success".to_string(),
                    Some(c) => format!("exit {c}"),
                    None => "signal".to_string(),
                };
                let _ = writeln!(
                    s,
                    "{:<34} {:<9} {:<11} {:>6.2}s  {:>6}  {}{}",
                    r.label,
                    expected,
                    outcome,
                    sum.elapsed.as_secs_f64(),
                    sum.faults,
                    sum.requests,
                    if sum.note.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", sum.note)
                    }
                );
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or_default();
                let _ = writeln!(s, "{:<34} {:<9} TEST FAILED: {first}", r.label, expected);
            }
        }
    }
    s
}

/// Checks what every case must satisfy, and returns whether it succeeded:
/// no marker in the output; exit 0 or 1 as expected, within the limit; a
/// failure's error line names `op` (with the parameter path) and the reason.
fn judge(label: &str, case: &Case, out: &Outcome, op: &str, prefix: &str) -> bool {
    let all = out.combined();
    assert!(
        !all.contains(MARK),
        "{label}: a value leaked into the output\n{out}"
    );
    let limit = case.limit();
    assert!(
        out.elapsed < limit,
        "{label}: took {:?}, over the {limit:?} allowed\n{out}",
        out.elapsed
    );
    let reason = match (case.expect, out.code) {
        (Expect::Succeed | Expect::Either(_), Some(0)) => return true,
        (Expect::Fail(_), Some(0)) => {
            panic!("{label}: expected a clean failure, but it succeeded\n{out}")
        }
        (Expect::Succeed, Some(1)) => {
            panic!("{label}: expected success within the retry budget, but it failed\n{out}")
        }
        (Expect::Fail(reason) | Expect::Either(reason), Some(1)) => reason,
        _ => panic!("{label}: expected exit 0 or 1\n{out}"),
    };
    let named = format!("{op} {prefix}/");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("ssmm: error: ") && l.contains(&named) && l.contains(reason)),
        "{label}: no error line naming {named:?} with {reason:?}\n{out}"
    );
    false
}

/// A fresh test (prefix, directory) whose ssmm talks through a proxy with
/// `plan`.
fn proxied(plan: &Plan) -> Test {
    Test::new().faults(plan.clone())
}

/// `ssmm --prefix PREFIX ARGS -vv` in `t`'s directory, through its proxy.
fn ssmm(t: &Test, prefix: &str, args: &[&str]) -> Run {
    t.bare(["--prefix", prefix]).args(args).arg("-vv")
}

/// `put --app api API_TOKEN=VALUE ARGS` under `t`'s prefix.
fn put_token(t: &Test, value: &str, args: &[&str]) -> Outcome {
    ssmm(t, t.prefix(), &["put", "--app", "api"])
        .arg(format!("API_TOKEN={value}"))
        .args(args)
        .secret(value)
        .go()
}

/// Checks that the case really met its fault, and the `at_most` bound.
fn check_proxy(label: &str, case: &Case, proxy: &FaultProxy, op: &str) {
    assert!(
        proxy.faults_injected() > 0,
        "{label}: no fault was injected, so the case tests nothing"
    );
    if let Some(n) = case.at_most {
        let seen = proxy.count(op);
        assert!(
            seen <= n,
            "{label}: {seen} {op} requests, expected at most {n} (the fault should not be retried)"
        );
    }
}

// ---------------------------------------------------------------------------
// sync and exec

/// The parameters sync and exec read: (layer, key, variable, value).
struct Reads {
    prefix: String,
    params: Vec<(&'static str, &'static str, &'static str, String)>,
}

impl Reads {
    /// The variables the app sees, sorted by name: without the shared layer
    /// when `no_shared`.
    fn vars(&self, no_shared: bool) -> Vec<(&'static str, &str)> {
        let mut vars: Vec<(&'static str, &str)> = self
            .params
            .iter()
            .filter(|(layer, ..)| !(no_shared && *layer == "shared"))
            .map(|(_, _, var, value)| (*var, value.as_str()))
            .collect();
        vars.sort();
        vars
    }

    /// The env file sync must write, byte for byte.
    fn env_file(&self, no_shared: bool) -> String {
        self.vars(no_shared)
            .iter()
            .map(|(var, value)| format!("{var}=\"{value}\"\n"))
            .collect()
    }

    /// What the exec child writes to `seen` (an unset variable is an empty
    /// line).
    fn seen(&self, no_shared: bool) -> String {
        let vars = self.vars(no_shared);
        ["DB_PASSWORD", "LOG_LEVEL", "PORT", "REGION", "TOKEN"]
            .iter()
            .map(|name| {
                let value = vars
                    .iter()
                    .find(|(v, _)| v == name)
                    .map(|(_, value)| *value)
                    .unwrap_or_default();
                format!("{value}\n")
            })
            .collect()
    }
}

/// Seeded once per test process and only read afterwards.
fn reads() -> &'static Reads {
    static READS: OnceLock<Reads> = OnceLock::new();
    READS.get_or_init(|| {
        let prefix = unique_prefix();
        let params = vec![
            (
                "shared",
                "log-level",
                "LOG_LEVEL",
                format!("{MARK}-log-level"),
            ),
            ("shared", "region", "REGION", format!("{MARK}-region")),
            (
                "api",
                "db-password",
                "DB_PASSWORD",
                format!("{MARK}-pw with spaces"),
            ),
            ("api", "port", "PORT", format!("{MARK}-8080")),
            ("api", "token", "TOKEN", format!("{MARK}-token")),
        ];
        for (layer, key, _, value) in &params {
            let name = format!("{prefix}/{layer}/{key}");
            if key.contains("password") || key.contains("token") {
                moto().put_secure(&name, value);
            } else {
                moto().put(&name, value);
            }
        }
        let r = Reads { prefix, params };
        // The expectations themselves, checked once without faults.
        let t = Test::new();
        t.bare(["--prefix", &r.prefix, "sync", "--app", "api"])
            .success()
            .go();
        assert_eq!(
            t.read(".env"),
            r.env_file(false),
            "the baseline sync without faults"
        );
        r
    })
}

fn sync_case(label: &str, case: &Case) -> Summary {
    let r = reads();
    let t = proxied(&case.plan).file_mode(".env", OLD_ENV, 0o644);
    let (proxy, env) = (t.proxy(), t.path(".env"));
    let out = ssmm(&t, &r.prefix, &["sync", "--app", "api"])
        .args(&case.args)
        .go();
    let op = case.op.unwrap_or("GetParametersByPath");
    let ok = judge(label, case, &out, op, &r.prefix);
    check_proxy(label, case, proxy, op);
    if ok {
        assert_eq!(
            fs::read_to_string(&env).unwrap(),
            r.env_file(case.no_shared()),
            "{label}: the env file is not exactly the parameters\n{out}"
        );
        let mode = fs::metadata(&env).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "{label}: env file mode {mode:o}");
    } else {
        assert_eq!(
            fs::read(&env).unwrap(),
            OLD_ENV,
            "{label}: a failed sync changed the existing env file\n{out}"
        );
    }
    assert_eq!(
        entries(t.dir()),
        [".env"],
        "{label}: something besides .env was left behind\n{out}"
    );
    Summary::new(&out, proxy, &r.prefix, String::new())
}

fn exec_case(label: &str, case: &Case) -> Summary {
    let r = reads();
    let t = proxied(&case.plan);
    let proxy = t.proxy();
    let out = ssmm(&t, &r.prefix, &["exec", "--app", "api"])
        .args(&case.args)
        .args(["--", "sh", "-c", CHILD])
        .not_ssmm("seen")
        .go();
    let op = case.op.unwrap_or("GetParametersByPath");
    let ok = judge(label, case, &out, op, &r.prefix);
    check_proxy(label, case, proxy, op);
    if ok {
        let seen = fs::read_to_string(t.path("seen"))
            .unwrap_or_else(|e| panic!("{label}: the child did not run: {e}\n{out}"));
        assert_eq!(
            seen,
            r.seen(case.no_shared()),
            "{label}: the child did not see exactly the parameters"
        );
    } else {
        assert_eq!(
            entries(t.dir()),
            Vec::<String>::new(),
            "{label}: the command ran (or something was written) despite the failure\n{out}"
        );
    }
    Summary::new(&out, proxy, &r.prefix, String::new())
}

#[test]
fn sync_rides_out_transient_faults_and_fails_cleanly_on_permanent_ones() {
    run_table("sync", &read_cases(), sync_case);
}

#[test]
fn exec_rides_out_transient_faults_and_never_starts_the_command_on_permanent_ones() {
    run_table("exec", &read_cases(), exec_case);
}

// ---------------------------------------------------------------------------
// put

/// `put --app api API_TOKEN=... DB_HOST=...`: a SecureString and a String.
/// With `overwrite`, DB_HOST exists beforehand and `--overwrite` is given.
fn put_case(label: &str, case: &Case) -> Summary {
    let t = proxied(&case.plan);
    let (prefix, proxy) = (t.prefix(), t.proxy());
    let token = t.name("api/api-token");
    let host = t.name("api/db-host");
    let new_token = format!("{MARK}-token-new");
    let new_host = format!("{MARK}-host-new");
    let old_host = format!("{MARK}-host-old");
    if case.overwrite {
        moto().put(&host, &old_host);
    }
    let before_host = case.overwrite.then(|| old_host.clone());

    let host_arg = format!("DB_HOST={new_host}");
    let args = [&[host_arg.as_str()][..], &case.args].concat();
    let overwrite: &[&str] = if case.overwrite {
        &["--overwrite"]
    } else {
        &[]
    };
    let out = put_token(&t, &new_token, &[&args[..], overwrite].concat());
    let op = case.op.unwrap_or("GetParameters");
    let ok = judge(label, case, &out, op, prefix);
    check_proxy(label, case, proxy, op);

    let got_token = moto().get(&token);
    let got_host = moto().get(&host);
    if ok {
        assert_eq!(
            got_token.as_deref(),
            Some(new_token.as_str()),
            "{label}: API_TOKEN"
        );
        assert_eq!(
            got_host.as_deref(),
            Some(new_host.as_str()),
            "{label}: DB_HOST"
        );
    } else {
        // Never half-written: each parameter holds what it held before or
        // the whole new value.
        assert!(
            got_token.is_none() || got_token.as_deref() == Some(new_token.as_str()),
            "{label}: API_TOKEN holds a wrong value after a failed put"
        );
        assert!(
            got_host == before_host || got_host.as_deref() == Some(new_host.as_str()),
            "{label}: DB_HOST holds a wrong value after a failed put"
        );
    }
    let state = |got: &Option<String>, new: &str, old: &str| match got.as_deref() {
        None => "absent",
        Some(v) if v == new => "new",
        Some(v) if v == old => "old",
        Some(_) => "WRONG",
    };
    let note = format!(
        "API_TOKEN {}, DB_HOST {}",
        state(&got_token, &new_token, ""),
        state(&got_host, &new_host, &old_host)
    );
    Summary::new(&out, proxy, prefix, note)
}

/// The writes' own retry settings: the default adaptive mode slows every
/// write for seconds after a throttle (its client-side limiter), so throttle
/// cases use standard mode with a budget of 20
/// (`put_keeps_adaptive_mode_under_mild_throttling` keeps adaptive). Other
/// faults keep the defaults.
const PUT_THROTTLE: [&str; 4] = ["--retry-mode", "standard", "--max-attempts", "20"];

fn put_cases() -> Vec<Case> {
    use Expect::*;
    use Fault::*;
    let put = &["PutParameter"];
    let few = ["--max-attempts", "3"];
    let writes = "PutParameter";
    // Only the writes meet the fault: the first `n` of them...
    let rides = |name, fault, n| case(name, Plan::first(fault, n).only(put), Succeed);
    // ...or all of them, on a small budget.
    let fails = |name, fault, why| {
        case(name, Plan::always(fault).only(put), Fail(why))
            .args(&few)
            .op(writes)
    };
    vec![
        // Every operation: the GetParameters existence check and the writes.
        case("throttle-50%", Plan::share(Throttle, 0.5, SEED_50), Succeed).args(&PUT_THROTTLE),
        fails("throttle-always-writes", Throttle, "ThrottlingException")
            .args(&["--retry-mode", "standard"]),
        rides("500-first-2-writes", Status(500), 2),
        fails("500-always-writes", Status(500), "InternalServerError"),
        case("503-first-2", Plan::first(Status(503), 2), Succeed),
        case(
            "503-always",
            Plan::always(Status(503)),
            Fail("ServiceUnavailable"),
        )
        .args(&few),
        fails(
            "503-always-writes-overwrite",
            Status(503),
            "ServiceUnavailable",
        )
        .overwrite(),
        rides("reset-first-2-writes", Reset, 2),
        fails("reset-always-writes", Reset, "request failed"),
        rides("stall-first-1-writes", Stall, 1).args(&["--timeout", "1s"]),
        case(
            "stall-always-writes",
            Plan::always(Stall).only(put),
            Fail("timed out"),
        )
        .args(&["--timeout", "1s", "--max-attempts", "2"])
        .op(writes),
        case("stall-always", Plan::always(Stall), Fail("timed out")).args(&[
            "--timeout",
            "1s",
            "--max-attempts",
            "2",
        ]),
        // A cut-off answer to a write: the write happened. With --overwrite
        // the retry replaces it with the same value.
        rides("truncate-first-1-writes-overwrite", Truncate, 1).overwrite(),
        case("truncate-first-2", Plan::first(Truncate, 2), Succeed),
        // Every answer cut off, but moto performed the first write: put
        // reads the parameter back, finds its value and counts it written.
        case(
            "truncate-always-writes",
            Plan::always(Truncate).only(put),
            Succeed,
        )
        .args(&few)
        .op(writes),
        // Not retried (see read_cases): one such answer fails the write.
        case(
            "not-json-first-1-writes",
            Plan::first(NotJson, 1).only(put),
            Fail("not SSM's JSON"),
        )
        .op(writes)
        .at_most(2),
        case(
            "not-json-always",
            Plan::always(NotJson),
            Fail("not SSM's JSON"),
        )
        .at_most(1),
    ]
}

#[test]
fn put_rides_out_transient_faults_and_never_half_writes() {
    run_table("put", &put_cases(), put_case);
}

/// A write whose answer is cut off has happened; the SDK retries it, and
/// without `--overwrite` moto (like SSM) refuses the retry as "already
/// exists" though the parameter holds exactly the value this very command
/// wrote. A transient fault must be ridden out, and the message must not
/// tell the user to pass `--overwrite` for their own write.
#[test]
fn put_survives_a_cut_off_answer_to_its_own_create() {
    let t = proxied(&Plan::first(Fault::Truncate, 1).only(&["PutParameter"]));
    let name = t.name("api/api-token");
    let value = format!("{MARK}-token-cut");
    let out = put_token(&t, &value, &[]);
    assert!(!out.combined().contains(MARK), "a value leaked\n{out}");
    assert_eq!(t.proxy().faults_injected(), 1);
    // The write went through, whole, with its tag.
    assert_eq!(moto().get(&name).as_deref(), Some(value.as_str()));
    assert_eq!(moto().tags(&name), [("app".to_string(), "api".to_string())]);
    assert!(
        !out.stderr.contains("already exists"),
        "put blames an existing parameter for its own retried write\n{out}"
    );
    out.success();
}

/// When every answer to a write is cut off, put cannot tell from the answers
/// whether the write happened (here it did, on the first attempt): it reads
/// the parameter back, finds its value, and reports success, never "not
/// written" (the user would believe SSM still holds the old state).
#[test]
fn put_confirms_a_write_whose_answers_were_all_cut_off() {
    let t = proxied(&Plan::always(Fault::Truncate).only(&["PutParameter"]));
    let name = t.name("api/api-token");
    let value = format!("{MARK}-token-unconfirmed");
    let out = put_token(&t, &value, &["--max-attempts", "3"]);
    assert!(!out.combined().contains(MARK), "a value leaked\n{out}");
    out.success()
        .stdout_contains(&format!("{name}  SecureString"));
    assert!(t.proxy().faults_injected() >= 1);
    // The first attempt's write went through whole.
    assert_eq!(moto().get(&name).as_deref(), Some(value.as_str()));
    assert!(
        !out.stderr.contains("were not written"),
        "put says the parameter was not written, but SSM holds the new value\n{out}"
    );
}

/// The default (adaptive) write mode under mild throttling still succeeds;
/// its client-side limiter only makes it slower.
#[test]
fn put_keeps_adaptive_mode_under_mild_throttling() {
    let cases = [case(
        "adaptive-throttle-first-1-writes",
        Plan::first(Fault::Throttle, 1).only(&["PutParameter"]),
        Expect::Succeed,
    )
    .within(Duration::from_secs(45))];
    run_table("put", &cases, put_case);
}

// ---------------------------------------------------------------------------
// 90 % throttling

/// 90 % of requests throttled. The proxy's choice depends only on the seed
/// and the request's index, so with one request at a time (`--no-shared`,
/// one parameter for put) each seed gives a fixed pattern; only the
/// jittered waits vary. Seeds, with `X` a throttled request:
/// - 2: `XXXXXXXXXXXX.` — a read needs 13 sends. Reads send a throttled
///   call again until `--total-timeout`, paced by a gap that grows with
///   each throttle (0.75 s, 3 s, 12 s, then at most 20 s): on an 8 s
///   limit that is 3 sends, a clean failure naming the throttling;
/// - 4: `XXXXXXXXX.` — the same for exec;
/// - 17: `XXXX.XXX.` — put's existence check (a read, paced: about 36 s to
///   its fifth send) needs 5 sends, the write 4 attempts of the SDK's
///   standard mode (see `PUT_THROTTLE`), within the default 10 or 60.
#[test]
fn ninety_percent_throttling_fails_cleanly_on_a_short_limit_or_is_paced_through() {
    use Expect::*;
    let plan = |seed| Plan::share(Fault::Throttle, 0.9, seed);
    let read = ["--no-shared", "--total-timeout", "8s"];
    let slow = Duration::from_secs(110);
    // A read on a short limit: a clean failure, without flooding.
    let paced = |name, seed| {
        case(name, plan(seed), Fail("ThrottlingException: Rate exceeded"))
            .args(&read)
            .at_most(4)
            .within(Duration::from_secs(30))
    };
    let reads = vec![
        paced("sync-seed2-8s", 2),
        paced("exec-seed4-8s", 4),
        case(
            "put-seed17-default",
            plan(17),
            Either("ThrottlingException"),
        )
        .args(&["--retry-mode", "standard"])
        .within(slow),
        case("put-seed17-60", plan(17), Succeed)
            .args(&["--retry-mode", "standard", "--max-attempts", "60"])
            .within(slow),
    ];
    // All at once: they spend their time sleeping in backoffs.
    run_table_with("throttle-90%", &reads, reads.len(), |label, case| {
        if case.name.starts_with("sync") {
            sync_case(label, case)
        } else if case.name.starts_with("exec") {
            exec_case(label, case)
        } else {
            put_one_case(label, case)
        }
    });
}

/// `put --app api API_TOKEN=...`: one parameter, so one request at a time.
fn put_one_case(label: &str, case: &Case) -> Summary {
    let t = proxied(&case.plan);
    let (prefix, proxy) = (t.prefix(), t.proxy());
    let name = t.name("api/api-token");
    let value = format!("{MARK}-token-90");
    let out = put_token(&t, &value, &case.args);
    let op = case.op.unwrap_or("GetParameters");
    let ok = judge(label, case, &out, op, prefix);
    check_proxy(label, case, proxy, op);
    let got = moto().get(&name);
    if ok {
        assert_eq!(got.as_deref(), Some(value.as_str()), "{label}: API_TOKEN");
    } else {
        assert!(
            got.is_none() || got.as_deref() == Some(value.as_str()),
            "{label}: API_TOKEN holds a wrong value after a failed put"
        );
    }
    Summary::new(&out, proxy, prefix, String::new())
}
