//! Crash safety (docs/CONTRACT.md §3 write rules): `ssmm sync` and `ssmm exec` killed
//! with SIGKILL at random moments, over and over. After every kill the env
//! file and every file under the root hold either the complete old or the
//! complete new content, mode 0600; temporary files a killed run left behind
//! are removed by the next run, and nothing else is.
//!
//! The number of kills is `SSMM_CRASH_ROUNDS` (default 200, split between
//! sync, exec and a credentials directory); `scripts/soak` runs thousands.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{Ssmm, mix64, moto, unique_prefix};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const FILES: usize = 24;
const VARS: usize = 30;

fn rounds() -> usize {
    std::env::var("SSMM_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Two versions of one app under two prefixes: same keys and file paths,
/// different values (and different lengths, so a torn write shows).
fn seed() -> [String; 2] {
    let m = moto();
    let versions = [unique_prefix(), unique_prefix()];
    for (v, p) in versions.iter().enumerate() {
        let mut items = Vec::new();
        for i in 0..VARS {
            items.push((
                format!("{p}/api/var-{i:02}"),
                format!("version {v} of variable {i} {}", "x".repeat(v * 50 + i)),
            ));
        }
        for i in 0..FILES {
            items.push((
                format!("{p}/api/files/dir{}/file-{i:02}.txt", i % 4),
                format!(
                    "version {v} of file {i}\n{}",
                    "y".repeat(2000 + v * 1500 + i)
                ),
            ));
        }
        m.put_many(&items);
    }
    versions
}

/// Every regular file under `dir` (relative path -> content and mode).
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, (Vec<u8>, u32)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                let mode = meta.permissions().mode() & 0o7777;
                out.insert(rel, (fs::read(&path).unwrap(), mode));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn is_temp(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.starts_with('.') && name.contains(".ssmm-") && name.ends_with(".tmp")
}

/// A command writing the env file and files of `prefix` into `dir`.
fn command(mode: &str, prefix: &str, dir: &Path) -> Ssmm {
    let cmd = Ssmm::new()
        .endpoint(&moto().endpoint())
        .current_dir(dir)
        .args(["--prefix", prefix, "--app", "api"]);
    match mode {
        "sync" => cmd.args(["sync", "--no-shared", "--out", "app.env"]),
        // The variables as a directory of credential files.
        "credentials" => cmd.args([
            "sync",
            "--no-shared",
            "--format",
            "credentials",
            "--out",
            "creds",
        ]),
        _ => cmd.args([
            "exec",
            "--no-shared",
            "--out",
            "app.env",
            "--root",
            ".",
            "--",
            "true",
        ]),
    }
}

/// How many files a complete run of `mode` leaves: the `files/` ones, and
/// the env file or one credential file per variable and the manifest.
fn expected_files(mode: &str) -> usize {
    match mode {
        "credentials" => FILES + VARS + 1,
        _ => FILES + 1,
    }
}

/// Runs `mode` to completion for each version and returns the two complete
/// states, and how long a run takes.
fn reference_states(
    mode: &str,
    versions: &[String; 2],
) -> ([BTreeMap<String, Vec<u8>>; 2], Duration) {
    let mut states = Vec::new();
    let mut longest = Duration::ZERO;
    for p in versions {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        command(mode, p, dir.path()).run().success();
        longest = longest.max(started.elapsed());
        let snap = snapshot(dir.path());
        assert_eq!(snap.len(), expected_files(mode), "{snap:?}");
        states.push(snap.into_iter().map(|(k, (c, _))| (k, c)).collect());
    }
    (states.try_into().unwrap(), longest)
}

fn kill_at_random_moments(mode: &str, kills: usize, seed: u64) {
    let versions = seed_once();
    let (states, took) = reference_states(mode, &versions);
    let dir = tempfile::tempdir().unwrap();
    // Start from version 0, complete.
    command(mode, &versions[0], dir.path()).run().success();
    let mut killed_mid_run = 0;
    let mut torn_sets = 0;
    let mut leftovers_seen = 0;
    for round in 0..kills {
        let h = mix64(seed ^ round as u64);
        let v = (h & 1) as usize;
        // Most kills late in the run, where the writes are; some anywhere.
        let span = took.as_micros() as u64;
        let at = if h >> 1 & 3 == 0 {
            (h >> 8) % span.max(1)
        } else {
            span * 3 / 10 + (h >> 8) % (span * 7 / 10).max(1)
        };
        let mut running = command(mode, &versions[v], dir.path()).spawn();
        std::thread::sleep(Duration::from_micros(at));
        if running.is_running() {
            killed_mid_run += 1;
        }
        let _ = kill(Pid::from_raw(running.pid() as i32), Signal::SIGKILL);
        let _ = running.wait();

        let snap = snapshot(dir.path());
        let mut from = [0usize; 2];
        for (rel, (content, mode_bits)) in &snap {
            if is_temp(rel) {
                leftovers_seen += 1;
                assert_eq!(
                    *mode_bits, 0o600,
                    "round {round}: temp {rel} is {mode_bits:o}"
                );
                continue;
            }
            assert_eq!(*mode_bits, 0o600, "round {round}: {rel} is {mode_bits:o}");
            let which = states
                .iter()
                .position(|s| s.get(rel) == Some(content))
                .unwrap_or_else(|| {
                    panic!(
                        "round {round} ({mode}): {rel} is neither the old nor the new content ({} bytes)",
                        content.len()
                    )
                });
            from[which] += 1;
        }
        let finals = snap.keys().filter(|k| !is_temp(k)).count();
        assert_eq!(
            finals,
            expected_files(mode),
            "round {round}: files went missing: {snap:?}"
        );
        if from[0] > 0 && from[1] > 0 {
            torn_sets += 1;
        }
    }
    // A run to the end cleans up after the killed ones.
    command(mode, &versions[1], dir.path()).run().success();
    let snap = snapshot(dir.path());
    let temps: Vec<&String> = snap.keys().filter(|k| is_temp(k)).collect();
    assert!(temps.is_empty(), "{mode}: leftovers not cleaned: {temps:?}");
    for (rel, (content, _)) in &snap {
        assert_eq!(Some(content), states[1].get(rel), "{rel}");
    }
    eprintln!(
        "{mode}: {kills} kills, {killed_mid_run} while running, {torn_sets} between files, {leftovers_seen} temp files seen"
    );
    // The kills must reach the writing phase, or this test proves nothing.
    assert!(
        torn_sets + leftovers_seen > 0,
        "{mode}: no kill landed while files were being written"
    );
}

fn seed_once() -> [String; 2] {
    static SEEDED: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    SEEDED.get_or_init(seed).clone()
}

#[test]
fn sync_killed_at_random_moments_leaves_old_or_new_files() {
    kill_at_random_moments("sync", rounds() * 3 / 5, 0x5eed_0001);
}

#[test]
fn exec_killed_while_writing_files_leaves_old_or_new_files() {
    kill_at_random_moments("exec", rounds() * 3 / 10, 0x5eed_0002);
}

#[test]
fn a_credentials_directory_killed_at_random_moments_holds_old_or_new_files() {
    kill_at_random_moments(
        "credentials",
        rounds() - rounds() * 3 / 5 - rounds() * 3 / 10,
        0x5eed_0003,
    );
}
