//! Timing and settings of `--watch` (`docs/CONTRACT.md` §3 "Running
//! services"): how long to wait before each check (INTERVAL plus a random
//! splay), what to do on a change, and the one line that says what changed.
//! A leaf: the loops themselves are in `commands/sync.rs` and
//! `exec/supervise.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::names;
use crate::units;

/// What `exec --watch` does when a check finds a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// Stop the command (`--stop-signal`, `--stop-timeout`, then SIGKILL)
    /// and start it again with the new environment.
    Restart,
    /// Send this signal; the command keeps its environment.
    Signal(i32),
}

/// `restart` or `signal:SIG`.
pub fn parse_on_change(s: &str) -> Result<OnChange, String> {
    if s == "restart" {
        return Ok(OnChange::Restart);
    }
    match s.strip_prefix("signal:") {
        Some(sig) => units::parse_signal(sig).map(OnChange::Signal),
        None => Err(format!(
            "invalid --on-change {}: expected restart or signal:SIG (e.g. signal:HUP)",
            names::quoted(s)
        )),
    }
}

/// A `--watch` interval: more than 0.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = units::parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("interval {} must be more than 0", names::quoted(s)));
    }
    Ok(d)
}

/// When checks happen: every `interval` plus a random 0..`splay`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    pub splay: Duration,
}

impl Schedule {
    /// `--splay` defaults to a tenth of the interval under `--watch`.
    pub fn new(interval: Duration, splay: Option<Duration>) -> Schedule {
        Schedule {
            interval,
            splay: splay.unwrap_or(interval / 10),
        }
    }

    /// How long to wait before the next check.
    pub fn next_wait(&self) -> Duration {
        self.interval + random_upto(self.splay)
    }
}

/// `a check every 1m (plus up to 6s)`.
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a check every {} (plus up to {})",
            units::format_duration(self.interval),
            units::format_duration(self.splay)
        )
    }
}

/// A random duration from 0 to `max`, both included.
pub fn random_upto(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    // Without randomness the splay is simply not random: no reason to fail.
    if getrandom::fill(&mut bytes).is_err() {
        return max / 2;
    }
    Duration::from_nanos(u64::from_le_bytes(bytes) % (nanos + 1))
}

/// The warnings of failing checks: the first of its kind at warning level,
/// the same again only with `-v` (a watch every few seconds through an
/// hour's outage must not fill the journal), and a notice once checks
/// succeed again.
#[derive(Debug, Default)]
pub struct Failures {
    last: Option<String>,
}

impl Failures {
    pub fn failed(&mut self, message: String) {
        if self.last.as_deref() == Some(message.as_str()) {
            crate::log::info!("{message} (again)");
        } else {
            crate::log::warning!("{message}");
            self.last = Some(message);
        }
    }

    pub fn succeeded(&mut self) {
        if self.last.take().is_some() {
            crate::log::notice!("checks succeed again");
        }
    }
}

/// Each variable's SHA-256: what a check compares with the one before,
/// without keeping the values themselves.
pub type Fingerprint = BTreeMap<String, [u8; 32]>;

pub fn fingerprint<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Fingerprint {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_string(), Sha256::digest(value).into()))
        .collect()
}

/// What one check found different, by name only.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// `files/` paths written (relative to the root).
    pub files: Vec<String>,
    /// `--out` as shown, when it was rewritten.
    pub out: Option<String>,
}

impl Changes {
    /// The variables added, changed and removed from `old` to `new`.
    pub fn of_vars(old: &Fingerprint, new: &Fingerprint) -> Changes {
        let mut c = Changes::default();
        for (name, digest) in new {
            match old.get(name) {
                None => c.added.push(name.clone()),
                Some(d) if d != digest => c.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        c.removed = old
            .keys()
            .filter(|name| !new.contains_key(*name))
            .cloned()
            .collect();
        c
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.changed.is_empty()
            && self.removed.is_empty()
            && self.files.is_empty()
            && self.out.is_none()
    }

    /// Whether the command's environment differs.
    pub fn env_changed(&self) -> bool {
        !(self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty())
    }

    /// `variables changed: A, B; added: C; removed: D; files: conf/x; --out app.env`
    /// (names escaped, never values).
    pub fn describe(&self) -> String {
        let list = |names: &[String]| {
            names
                .iter()
                .map(|n| names::printable(n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        for (what, names) in [
            ("changed", &self.changed),
            ("added", &self.added),
            ("removed", &self.removed),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what} {}", list(names)));
            }
        }
        if !self.files.is_empty() {
            parts.push(format!("files {}", list(&self.files)));
        }
        if let Some(out) = &self.out {
            parts.push(format!("--out {}", names::printable(out)));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_change_is_restart_or_a_signal() {
        assert_eq!(parse_on_change("restart"), Ok(OnChange::Restart));
        assert_eq!(
            parse_on_change("signal:HUP"),
            Ok(OnChange::Signal(nix::libc::SIGHUP))
        );
        for bad in ["", "reload", "signal:", "signal:NOPE", "Restart"] {
            assert!(parse_on_change(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intervals_are_positive_and_splay_defaults_to_a_tenth() {
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("0s").is_err());
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        let s = Schedule::new(Duration::from_secs(10), None);
        assert_eq!(s.splay, Duration::from_secs(1));
        for _ in 0..100 {
            let w = s.next_wait();
            assert!(
                w >= Duration::from_secs(10) && w <= Duration::from_secs(11),
                "{w:?}"
            );
        }
        assert_eq!(
            Schedule::new(Duration::from_secs(1), Some(Duration::ZERO)).next_wait(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn random_waits_spread() {
        let max = Duration::from_millis(1000);
        let waits: Vec<Duration> = (0..200).map(|_| random_upto(max)).collect();
        assert!(waits.iter().all(|w| *w <= max));
        assert!(waits.iter().any(|w| *w < max / 4) && waits.iter().any(|w| *w > max * 3 / 4));
    }

    #[test]
    fn variables_are_compared_by_digest() {
        let old = fingerprint([("A", b"1".as_slice()), ("B", b"2"), ("C", b"3")]);
        let new = fingerprint([("A", b"1".as_slice()), ("B", b"two"), ("D", b"4")]);
        let c = Changes::of_vars(&old, &new);
        assert_eq!(c.changed, ["B"]);
        assert_eq!(c.added, ["D"]);
        assert_eq!(c.removed, ["C"]);
        assert!(Changes::of_vars(&new, &new).is_empty());
    }

    #[test]
    fn changes_name_what_changed_never_values() {
        let c = Changes {
            added: vec!["NEW".into()],
            changed: vec!["DB_PASSWORD".into(), "X\u{1b}Y".into()],
            removed: vec![],
            files: vec!["conf/app.yml".into()],
            out: Some("app.env".into()),
        };
        assert_eq!(
            c.describe(),
            "changed DB_PASSWORD, X\\u{1b}Y; added NEW; files conf/app.yml; --out app.env"
        );
        assert!(c.env_changed());
        assert!(Changes::default().is_empty());
    }
}
