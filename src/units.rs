//! Units on the command line and in messages: durations (`10s`, `500ms`,
//! `2m`), sizes (`64MiB`), and the one way a duration is shown, which reads
//! back as a flag value, and signal names. A leaf: it imports nothing of
//! ssmm but `names`.

use crate::names;

/// `10s`, `500ms`, `2m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, ""), |i| s.split_at(i));
    let n: f64 = num.parse().map_err(|_| {
        format!(
            "invalid duration {}: expected e.g. 10s, 500ms, 2m",
            names::quoted(s)
        )
    })?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {}: use ms, s or m",
                names::quoted(s)
            ));
        }
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("duration {} out of range", names::quoted(s)));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A duration that must not be zero (timeouts).
pub fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("timeout {} must be more than 0", names::quoted(s)));
    }
    Ok(d)
}

/// A signal by name: `TERM`, `SIGTERM` or `term`; real-time signals as
/// `RTMIN+N`. Returned as its number.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(n) = bare
        .strip_prefix("RTMIN+")
        .and_then(|n| n.parse::<i32>().ok())
    {
        let sig = nix::libc::SIGRTMIN() + n;
        if (nix::libc::SIGRTMIN()..=nix::libc::SIGRTMAX()).contains(&sig) {
            return Ok(sig);
        }
    }
    format!("SIG{bare}")
        .parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| {
            format!(
                "invalid signal {}: expected a name such as TERM, HUP, USR1, QUIT",
                names::quoted(s)
            )
        })
}

/// A signal's name for messages: `SIGHUP`, `SIGRTMIN+2`.
pub fn signal_name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) if sig >= nix::libc::SIGRTMIN() => {
            format!("SIGRTMIN+{}", sig - nix::libc::SIGRTMIN())
        }
        Err(_) => format!("signal {sig}"),
    }
}

/// `1.5s`, `250ms`, `5m` for messages.
pub fn format_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// `64MiB`, `512KiB`, `10MB`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| {
        format!(
            "invalid size {}: expected e.g. 64MiB, 512KiB, 1048576",
            names::quoted(s)
        )
    })?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => {
            return Err(format!(
                "invalid size unit in {}: use B, KiB, MiB, GiB, KB, MB or GB",
                names::quoted(s)
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {} out of range", names::quoted(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named_with_or_without_sig_in_any_case() {
        for (given, sig) in [
            ("TERM", nix::libc::SIGTERM),
            ("SIGHUP", nix::libc::SIGHUP),
            ("usr1", nix::libc::SIGUSR1),
            ("sigquit", nix::libc::SIGQUIT),
            ("RTMIN+2", nix::libc::SIGRTMIN() + 2),
        ] {
            assert_eq!(parse_signal(given), Ok(sig), "{given}");
        }
        for bad in ["", "FOO", "SIG", "15", "RTMIN+99", "HUP\n"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
        assert_eq!(signal_name(nix::libc::SIGHUP), "SIGHUP");
        assert_eq!(signal_name(nix::libc::SIGRTMIN() + 1), "SIGRTMIN+1");
    }

    #[test]
    fn durations_and_sizes_parse() {
        use std::time::Duration;
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        for bad in ["", "x", "10h", "-1s", "1e9"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        for bad in ["", "MiB", "1TiB", "99999999999999999999"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_shown_as_they_are_written() {
        use std::time::Duration;
        assert_eq!(format_duration(Duration::from_secs(10)), "10s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
        for d in [1500, 300, 10_000, 300_000] {
            let d = Duration::from_millis(d);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
