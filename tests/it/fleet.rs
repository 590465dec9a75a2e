//! A fleet start: many hosts run `ssmm sync` at the same moment against
//! SSM's throughput limit (40 TPS, burst 40, shared by GetParameter,
//! GetParameters and GetParametersByPath), which the proxy's token bucket
//! stands in for. Every host must get its file, exactly; the figures
//! (requests against the minimum, throttled requests, retries, time to the
//! last success against the rate bound) are printed (`--nocapture`).
//!
//! Two limits can bind: the 40 TPS bucket, and this machine (spawning the
//! processes and moto, which serves one call at a time). So the fleet runs
//! twice: first without the bucket (the machine's floor), then with it.
//!
//! Knobs, for `scripts/fleet`: `SSMM_FLEET_N` hosts (default 200),
//! `SSMM_FLEET_ARGS` extra ssmm flags (e.g. `--splay 10s`), `SSMM_FLEET_BIN`
//! another ssmm binary to run instead of this build's, `SSMM_FLEET_CSV` a
//! file to write the 40 TPS run's seconds to (`t,requests,throttled,done`:
//! requests and throttled requests in that second, hosts done by its end),
//! for the pictures.
//!
//! The watching fleet (`a_watching_fleet_...`, ignored by default: a
//! benchmark of several minutes that `scripts/fleet --watch N` runs) keeps
//! `SSMM_FLEET_N` hosts in `sync --watch SSMM_FLEET_INTERVAL` (default 90s)
//! and reports their calls a minute against the budget the README gives:
//! hosts x pages per check / the mean interval (INTERVAL plus half the
//! default splay of INTERVAL/10).

use crate::support;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::support::{Fault, FaultProxy, Plan, Ssmm, moto, unique_prefix};

/// Hosts started at once in the test suite (the issue asks for 200).
const DEFAULT_HOSTS: usize = 200;
/// Parameters of the one app: GetParametersByPath pages of 10 make 3 pages.
const PARAMS: usize = 25;
const PAGES: usize = 3;
/// SSM's default throughput for the Get* reads, and its burst.
const TPS: f64 = 40.0;
const BURST: f64 = 40.0;
const READS: [&str; 3] = ["GetParameter", "GetParameters", "GetParametersByPath"];
const OUT: &str = "fleet.env";

fn hosts() -> usize {
    match std::env::var("SSMM_FLEET_N") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SSMM_FLEET_N={v:?} is not a number")),
        _ => DEFAULT_HOSTS,
    }
}

fn extra_args() -> Vec<String> {
    std::env::var("SSMM_FLEET_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn program() -> Ssmm {
    match std::env::var_os("SSMM_FLEET_BIN").filter(|b| !b.is_empty()) {
        Some(bin) => Ssmm::with_program(bin),
        None => Ssmm::new(),
    }
}

/// The soft limit on open files: the test holds two pipes per host and the
/// proxy a client and an upstream socket per host.
fn open_files_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// What one host's `-v` summary says: `API calls: GetParametersByPath=3 (5
/// attempts)` (attempts are shown only when some call was retried).
fn calls_and_attempts(stderr: &str) -> Option<(u64, u64)> {
    let line = stderr.lines().find(|l| l.contains("API calls: "))?;
    let list = line.split("API calls: ").nth(1)?;
    let (mut calls, mut attempts) = (0, 0);
    for op in list.split(", ") {
        let (_, rest) = op.split_once('=')?;
        let (n, tries) = match rest.split_once(" (") {
            Some((n, tries)) => (n, tries.trim_end_matches(" attempts)")),
            None => (rest, rest),
        };
        calls += n.trim().parse::<u64>().ok()?;
        attempts += tries.trim().parse::<u64>().ok()?;
    }
    Some((calls, attempts))
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// What one fleet run did.
struct Figures {
    label: &'static str,
    hosts: usize,
    /// Requests the proxy saw (every attempt, throttled ones included).
    requests: usize,
    /// Requests the bucket refused.
    throttled: usize,
    /// Attempts beyond the first of each call, summed over the hosts.
    retries: u64,
    /// Most retries one host needed (over its three calls).
    max_host_retries: u64,
    /// From the first spawn to the last one returning.
    spawned: Duration,
    /// From the first spawn to the hosts' files being written (their
    /// modification times), median, 99th percentile and last, and all of
    /// them in order.
    median: Duration,
    p99: Duration,
    last: Duration,
    done: Vec<Duration>,
    /// The proxy's running totals (requests, throttled) each second from
    /// the first spawn.
    samples: Vec<(usize, usize)>,
    /// Hosts that failed, with the first failure's output.
    failed: usize,
    first_failure: Option<String>,
}

impl Figures {
    fn minimum(&self) -> usize {
        self.hosts * PAGES
    }
}

/// Starts `n` syncs at once through a proxy with `plan`, waits for them all
/// and checks every file against `want`.
fn run_fleet(
    label: &'static str,
    n: usize,
    plan: Plan,
    prefix: &str,
    want: &str,
    limit: Duration,
    extra: &[String],
) -> Figures {
    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(plan);
    let root = tempfile::tempdir().unwrap();
    let dirs = host_dirs(root.path(), n);

    let (t0, t0_wall) = (Instant::now(), SystemTime::now());
    let (outcomes, spawned, samples) = spawn_and_wait(&dirs, &proxy, prefix, limit, extra, t0);

    let (mut retries, mut max_host_retries, mut failed) = (0, 0, 0);
    let mut first_failure = None;
    let mut done = Vec::with_capacity(n);
    for (out, dir) in outcomes.iter().zip(&dirs) {
        let file = dir.join(OUT);
        if out.code != Some(0) {
            failed += 1;
            first_failure.get_or_insert_with(|| out.to_string());
            continue;
        }
        assert_eq!(
            fs::read_to_string(&file).unwrap_or_default(),
            want,
            "{label}: wrong file from {}",
            dir.display()
        );
        let (calls, attempts) = calls_and_attempts(&out.stderr)
            .unwrap_or_else(|| panic!("{label}: no API call summary in\n{out}"));
        assert_eq!(calls, PAGES as u64, "{label}: calls of one host\n{out}");
        retries += attempts - calls;
        max_host_retries = max_host_retries.max(attempts - calls);
        let written = fs::metadata(&file).unwrap().modified().unwrap();
        done.push(written.duration_since(t0_wall).unwrap_or_default());
    }
    done.sort();
    assert_eq!(
        proxy.count("GetParametersByPath"),
        proxy.total(),
        "{label}: only path reads expected: {:?}",
        proxy.counts()
    );
    Figures {
        label,
        hosts: n,
        requests: proxy.total(),
        throttled: proxy.faults_injected(),
        retries,
        max_host_retries,
        spawned,
        median: done.get(done.len() / 2).copied().unwrap_or_default(),
        p99: done.get(done.len() * 99 / 100).copied().unwrap_or_default(),
        last: done.last().copied().unwrap_or_default(),
        done,
        samples,
        failed,
        first_failure,
    }
}

/// Spawns a host per directory at once, then waits for every one, taking
/// the proxy's totals (requests, throttled) each second meanwhile.
fn spawn_and_wait(
    dirs: &[PathBuf],
    proxy: &FaultProxy,
    prefix: &str,
    limit: Duration,
    extra: &[String],
    t0: Instant,
) -> (Vec<support::cmd::Outcome>, Duration, Vec<(usize, usize)>) {
    // Each second's totals are taken while the hosts are spawned too.
    let mut samples = Vec::new();
    let mut next = t0 + Duration::from_secs(1);
    let mut take = |samples: &mut Vec<(usize, usize)>| {
        while Instant::now() >= next {
            samples.push((proxy.total(), proxy.faults_injected()));
            next += Duration::from_secs(1);
        }
    };
    let mut running = Vec::with_capacity(dirs.len());
    for dir in dirs {
        running.push(
            program()
                .endpoint(&proxy.endpoint())
                .current_dir(dir)
                .args(["--prefix", prefix, "sync", "--app", "api", "--no-shared"])
                .args(["--out", OUT, "-v"])
                .args(extra)
                .timeout(limit)
                .spawn(),
        );
        take(&mut samples);
    }
    let spawned = t0.elapsed();
    let mut first_running = 0;
    loop {
        while first_running < running.len() && !running[first_running].is_running() {
            first_running += 1;
        }
        // Past the limit, `wait` below kills what still runs and says so.
        if first_running == running.len() || t0.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        take(&mut samples);
    }
    samples.push((proxy.total(), proxy.faults_injected()));
    let outcomes = running.into_iter().map(|r| r.wait()).collect();
    (outcomes, spawned, samples)
}

/// The one app's parameters under a new prefix, and the file each host
/// must write from them.
fn seed_app() -> (String, String) {
    let p = unique_prefix();
    let items: Vec<(String, String)> = (1..=PARAMS)
        .map(|i| (format!("{p}/api/key-{i:02}"), format!("value {i}")))
        .collect();
    moto().put_many(&items);
    let want = (1..=PARAMS)
        .map(|i| format!("KEY_{i:02}=\"value {i}\"\n"))
        .collect();
    (p, want)
}

/// A working directory per host under `root`.
fn host_dirs(root: &std::path::Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let d = root.join(format!("host{i:04}"));
            fs::create_dir(&d).unwrap();
            d
        })
        .collect()
}

/// Writes `t,requests,throttled,done` a second to `$SSMM_FLEET_CSV`, if
/// set, for `scripts/fleet`'s pictures: from running totals (requests,
/// throttled, hosts done) taken each second.
fn write_csv(what: &str, seconds: &[(usize, usize, usize)]) {
    let Ok(path) = std::env::var("SSMM_FLEET_CSV") else {
        return;
    };
    if path.is_empty() {
        return;
    }
    let mut csv = String::from("t,requests,throttled,done\n");
    let mut before = (0, 0);
    for (i, &(total, throttled, done)) in seconds.iter().enumerate() {
        csv.push_str(&format!(
            "{},{},{},{done}\n",
            i + 1,
            total - before.0,
            throttled - before.1
        ));
        before = (total, throttled);
    }
    fs::write(&path, csv).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    eprintln!("fleet: wrote {what}'s seconds to {path}");
}

fn report(f: &Figures, bound: Option<Duration>) {
    let (bound, ratio) = match bound {
        Some(b) => (
            secs(b),
            format!("{:.2}", f.last.as_secs_f64() / b.as_secs_f64()),
        ),
        None => ("-".into(), "-".into()),
    };
    eprintln!(
        "fleet: {:<10} {:>5} {:>6} {:>7} {:>9} {:>7} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>6}",
        f.label,
        f.hosts,
        f.requests,
        f.minimum(),
        f.throttled,
        f.retries,
        f.max_host_retries,
        secs(f.spawned),
        secs(f.median),
        secs(f.p99),
        secs(f.last),
        bound,
        ratio,
        f.failed
    );
}

#[test]
fn a_fleet_starting_at_once_gets_through_ssms_rate_limit() {
    let n = hosts();
    if let Some(limit) = open_files_limit() {
        let need = 6 * n as u64 + 256;
        assert!(
            limit >= need,
            "{n} hosts need about {need} open files, the limit is {limit}: raise `ulimit -n`"
        );
    }
    let (p, want) = seed_app();

    // One host alone, straight to moto: the file every host must write, and
    // the page count the minimum assumes.
    let dir = tempfile::tempdir().unwrap();
    let one = program()
        .endpoint(&moto().endpoint())
        .current_dir(dir.path())
        .args(["--prefix", &p, "sync", "--app", "api", "--no-shared"])
        .args(["--out", OUT, "-v"])
        .run();
    one.success();
    assert_eq!(fs::read_to_string(dir.path().join(OUT)).unwrap(), want);
    assert_eq!(calls_and_attempts(&one.stderr).map(|c| c.0), Some(3));

    // Pure rate bound: the minimum of calls at 40 a second. The burst lets
    // the first 40 through at once, so the true floor is a second less;
    // the plain quotient is the figure quoted.
    let minimum = n * PAGES;
    let bound = Duration::from_secs_f64(minimum as f64 / TPS);
    let limit = (bound * 4 + Duration::from_secs(60)).max(support::cmd::DEFAULT_TIMEOUT);
    let extra = extra_args();
    let bin = std::env::var("SSMM_FLEET_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_ssmm").to_owned());
    eprintln!(
        "fleet: {n} hosts x {PAGES} pages ({PARAMS} parameters), bucket {TPS} TPS burst {BURST}, \
         binary {bin}, ssmm flags: {}",
        if extra.is_empty() {
            "(defaults)".to_owned()
        } else {
            extra.join(" ")
        }
    );
    eprintln!(
        "fleet: {:<10} {:>5} {:>6} {:>7} {:>9} {:>7} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>6}",
        "run",
        "hosts",
        "calls",
        "minimum",
        "throttled",
        "retries",
        "max/host",
        "spawn",
        "median",
        "p99",
        "last",
        "bound",
        "ratio",
        "failed"
    );

    // Without the bucket every host's first call reaches moto at once; a
    // large fleet queues there for longer than the 10 s --timeout, and
    // attempts that time out and come back only add to the queue. The
    // floor is what the machine can serve, so it waits as long as it takes.
    let mut patient = extra.clone();
    if !extra.iter().any(|a| a.starts_with("--timeout")) {
        patient.push(format!("--timeout={}s", limit.as_secs()));
    }
    if !extra.iter().any(|a| a.starts_with("--total-timeout")) {
        patient.push(format!("--total-timeout={}s", limit.as_secs()));
    }
    let floor = run_fleet("no limit", n, Plan::none(), &p, &want, limit, &patient);
    report(&floor, None);
    let plan = Plan::over_rate(Fault::Throttle, TPS, BURST).only(&READS);
    let fleet = run_fleet("40 TPS", n, plan, &p, &want, limit, &extra);
    report(&fleet, Some(bound));
    let seconds: Vec<_> = fleet
        .samples
        .iter()
        .enumerate()
        .map(|(i, &(total, throttled))| {
            let end = Duration::from_secs(i as u64 + 1);
            (total, throttled, fleet.done.partition_point(|d| *d <= end))
        })
        .collect();
    write_csv("the 40 TPS run", &seconds);

    // Which limit binds: the bucket's quotient, or what this machine needs
    // for the same calls without it (spawning, moto's serial service).
    let machine_rate = minimum as f64 / floor.last.as_secs_f64().max(0.001);
    let binding = floor.last.max(bound);
    eprintln!(
        "fleet: without the bucket this machine served {minimum} calls in {} \
         ({machine_rate:.0} calls/s, spawning included); the {} binds, \
         so the bound is {}; the last success came at {} ({:.2}x)",
        secs(floor.last),
        if bound >= floor.last {
            "40 TPS limit"
        } else {
            "machine (not the 40 TPS limit)"
        },
        secs(binding),
        secs(fleet.last),
        fleet.last.as_secs_f64() / binding.as_secs_f64()
    );
    eprintln!(
        "fleet: {} requests for {minimum} pages: {:.2} per page; {} throttled ({:.2} per page); \
         {} other retries; {:.0} requests/s on average, {:.1}x the limit",
        fleet.requests,
        fleet.requests as f64 / minimum as f64,
        fleet.throttled,
        fleet.throttled as f64 / minimum as f64,
        (fleet.requests - fleet.throttled).saturating_sub(minimum),
        fleet.requests as f64 / fleet.last.as_secs_f64().max(0.001),
        fleet.requests as f64 / fleet.last.as_secs_f64().max(0.001) / TPS
    );

    for f in [&floor, &fleet] {
        assert!(
            f.failed == 0,
            "{}: {} of {n} hosts failed; the first:\n{}",
            f.label,
            f.failed,
            f.first_failure.as_deref().unwrap_or_default()
        );
    }
    assert_eq!(floor.throttled, 0);
    // The hosts' own counts add up to what the proxy saw, and nearly every
    // retry was of a throttled request: on a loaded machine a few answers
    // from moto can come too late (--timeout) or fail, and are retried too.
    assert_eq!(fleet.requests as u64, minimum as u64 + fleet.retries);
    let unthrottled = fleet.requests - fleet.throttled;
    assert!(unthrottled >= minimum);
    assert!(
        unthrottled - minimum <= minimum / 10,
        "{unthrottled} unthrottled requests for {minimum} pages"
    );
    if minimum as f64 > 2.0 * BURST {
        assert!(fleet.throttled > 0, "the bucket never throttled");
    }
    // Not flooding: throttled requests stay within a few per page (200
    // hosts: 0.7-1.6 measured, 3.1 with the old 100 ms backoff). A bigger
    // fleet stays throttled for longer, so its allowance grows with it.
    let allowance = 3.0 * (n as f64 / DEFAULT_HOSTS as f64).max(1.0);
    assert!(
        fleet.throttled as f64 <= allowance * minimum as f64,
        "{} throttled requests for {minimum} pages (allowed {allowance} a page)",
        fleet.throttled
    );
    // Close to the bound, with room for a loaded 2-core CI machine.
    let allowed = binding * 4 + Duration::from_secs(5);
    assert!(
        fleet.last <= allowed,
        "last success after {}, allowed {} (bound {})",
        secs(fleet.last),
        secs(allowed),
        secs(binding)
    );
}

fn env_secs(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .trim_end_matches('s')
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number of seconds")),
        _ => default,
    }
}

/// One line of the watching fleet's seconds: requests, throttled, hosts
/// whose file exists.
fn watch_sample(proxy: &FaultProxy, dirs: &[PathBuf]) -> (usize, usize, usize) {
    let done = dirs.iter().filter(|d| d.join(OUT).exists()).count();
    (proxy.total(), proxy.faults_injected(), done)
}

#[test]
#[ignore = "a benchmark of several minutes: scripts/fleet --watch N runs it"]
fn a_watching_fleet_stays_within_its_call_budget() {
    let n = hosts();
    let interval = env_secs("SSMM_FLEET_INTERVAL", 90);
    let checks = env_secs("SSMM_FLEET_CHECKS", 3);
    // The default splay is INTERVAL/10: a check comes INTERVAL plus half
    // of that after the previous one, on average.
    let mean = interval as f64 * 1.05;
    let budget = n as f64 * PAGES as f64 * 60.0 / mean;
    let (p, want) = seed_app();

    let proxy = FaultProxy::start(&moto().endpoint());
    proxy.set_plan(Plan::over_rate(Fault::Throttle, TPS, BURST).only(&READS));
    let root = tempfile::tempdir().unwrap();
    let dirs = host_dirs(root.path(), n);
    let start_bound = Duration::from_secs_f64((n * PAGES) as f64 / TPS);
    let lives = start_bound * 4 + Duration::from_secs(interval * (checks + 2) + 120);
    eprintln!(
        "fleet: {n} hosts in sync --watch {interval}s, {checks} checks each measured, \
         bucket {TPS} TPS; budget {budget:.0} calls a minute ({:.1} a second)",
        budget / 60.0
    );
    // Each second: what the proxy saw and how many hosts have their file,
    // from the first spawn on.
    let t0 = Instant::now();
    let mut seconds: Vec<(usize, usize, usize)> = Vec::new();
    let due =
        |seconds: &Vec<(usize, usize, usize)>| t0 + Duration::from_secs(seconds.len() as u64 + 1);
    let mut running = Vec::with_capacity(n);
    for dir in &dirs {
        running.push(
            program()
                .endpoint(&proxy.endpoint())
                .current_dir(dir)
                .args(["--prefix", &p, "sync", "--app", "api", "--no-shared"])
                .args(["--out", OUT, "--watch", &format!("{interval}s")])
                .args(extra_args())
                .timeout(lives)
                .spawn(),
        );
        if Instant::now() >= due(&seconds) {
            seconds.push(watch_sample(&proxy, &dirs));
        }
    }
    let tick = |seconds: &mut Vec<(usize, usize, usize)>| {
        if let Some(wait) = due(seconds).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        seconds.push(watch_sample(&proxy, &dirs));
    };
    let deadline = start_bound * 4 + Duration::from_secs(60);
    while seconds.last().is_none_or(|s| s.2 < n) {
        assert!(
            t0.elapsed() < deadline,
            "the watching fleet's start took longer than {}",
            secs(deadline)
        );
        tick(&mut seconds);
    }
    let started = seconds.len();
    let window = Duration::from_secs_f64(mean * checks as f64);
    while Duration::from_secs((seconds.len() - started) as u64) < window {
        tick(&mut seconds);
    }
    let (r0, t0_throttled, _) = seconds[started - 1];
    let (r1, t1_throttled, _) = *seconds.last().unwrap();
    let minutes = (seconds.len() - started) as f64 / 60.0;
    let per_minute = (r1 - r0) as f64 / minutes;
    let throttled = t1_throttled - t0_throttled;
    let pages = (r1 - r0) - throttled;

    for r in &running {
        r.signal(15);
    }
    let outcomes: Vec<_> = running.drain(..).map(|r| r.wait()).collect();
    let mut ended = 0;
    for (out, dir) in outcomes.iter().zip(&dirs) {
        assert_eq!(
            fs::read_to_string(dir.join(OUT)).unwrap_or_default(),
            want,
            "wrong file from {}",
            dir.display()
        );
        if out.code == Some(0) && out.stderr.contains("watch ended") {
            ended += 1;
        }
    }
    write_csv("the watching fleet", &seconds);
    eprintln!(
        "fleet: watching: all {n} files written after {}s; then over {:.1} min \
         ({checks} mean intervals): {} requests, {per_minute:.0} a minute \
         ({:.1} a second) against a budget of {budget:.0} a minute ({:.2}x); \
         {throttled} throttled; {:.2} pages a host a check (minimum {PAGES}); \
         {ended} of {n} hosts ended cleanly on SIGTERM",
        started,
        minutes,
        r1 - r0,
        per_minute / 60.0,
        per_minute / budget,
        pages as f64 / n as f64 / (minutes * 60.0 / mean),
    );
    assert_eq!(ended, n, "hosts that did not end cleanly on SIGTERM");
}
