//! Reads that SSM throttles are sent again until `--total-timeout`, paced by
//! one per-process gap between sends. The first throttle sets the gap to
//! [`FIRST_GAP`]; each further one multiplies it by [`GROW_FAST`] while it
//! is short (a crowd is found out in a few sends) and by [`GROW`] after,
//! up to [`MAX_GAP`]; each answer divides it by [`SHRINK`], and a small gap
//! is dropped. A throttled send waits the gap times a random factor in
//! [`JITTER`], so hosts throttled together do not come back together, and
//! sends in flight together go one gap apart. The SDK never retries a
//! read's throttling itself ([`NoThrottleRetries`]): its standard strategy
//! stops at `--max-attempts`, which is meant for the other errors.
//!
//! Tuned on the fleet start (`tests/it/fleet.rs`, `scripts/fleet`, README
//! "Speed"): 1,000 hosts reading 3 pages each at once against 40 TPS. The
//! gap settles where the fleet sends about two and a half requests a page,
//! and the cap bounds the tail, when the last hosts sit out their gaps
//! while the limit has room. A host throttled once, alone, waits under a
//! second and then sends freely. The price: under throttling that does not
//! ease as a host slows down (another caller holding the account at twice
//! its limit), each throttle costs a host seconds, up to [`MAX_GAP`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_types::retry::ErrorKind;

/// The gap after a first throttle.
pub const FIRST_GAP: Duration = Duration::from_millis(750);
/// Throttled again while the gap is under [`FAST_BELOW`]: the gap times
/// this, so that a crowd is found out fast.
const GROW_FAST: f64 = 4.0;
const FAST_BELOW: Duration = Duration::from_secs(5);
/// Throttled again with a longer gap: the gap times this.
const GROW: f64 = 2.0;
/// Answered: the gap divided by this; below half of [`FIRST_GAP`] it is gone.
const SHRINK: f64 = 2.0;
/// After an answer the next send still waits the (shorter) gap: a host
/// that got one page through does not at once crowd the limit again.
const PACE_ANSWERED: bool = false;
/// The largest gap. It sets a fleet's tail: the hosts that still wait sit
/// out their longest gaps while the limit has room.
pub const MAX_GAP: Duration = Duration::from_secs(20);
/// Each wait is the gap times a factor drawn from this range.
const JITTER: (f64, f64) = (0.7, 1.3);
/// A gap not touched for this long is forgotten (a `--watch` check long
/// after a throttled one starts unpaced).
const FORGET: Duration = Duration::from_secs(60);

/// The per-process pace of reads, shared by every clone of an `Ssm`.
#[derive(Debug, Default)]
pub struct Pacer {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// `None`: not throttled lately, sends go at once.
    gap: Option<Duration>,
    /// The earliest moment the next send may go.
    next: Option<Instant>,
    /// The last throttle or answer that moved the gap.
    touched: Option<Instant>,
    /// Counts the gap's moves. An outcome moves the gap only if nothing
    /// moved it since its send went: sends in flight together are throttled
    /// together, and count as one throttle (as one answer), not as many.
    moves: u64,
}

impl State {
    /// Unpaced again; the count of moves goes on, so that outcomes of sends
    /// from before do not move the new gap.
    fn forget(&mut self) {
        *self = State {
            moves: self.moves,
            ..State::default()
        };
    }
}

/// What [`Pacer::wait`] gives a send, for its outcome.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    pub wait: Duration,
    moves: u64,
}

impl Pacer {
    /// How long the next send waits (zero when unpaced). The moment after
    /// it is taken, so sends in flight together go one gap apart.
    pub fn wait(&self) -> Ticket {
        let Ok(mut s) = self.state.lock() else {
            return Ticket {
                wait: Duration::ZERO,
                moves: 0,
            };
        };
        let now = Instant::now();
        if s.touched.is_some_and(|t| now.duration_since(t) > FORGET) {
            s.forget();
        }
        let moves = s.moves;
        let Some(gap) = s.gap else {
            return Ticket {
                wait: Duration::ZERO,
                moves,
            };
        };
        let at = s.next.map_or(now, |n| n.max(now));
        s.next = Some(at + jittered(gap));
        Ticket {
            wait: at - now,
            moves,
        }
    }

    /// SSM throttled the send of `ticket`: a longer gap (or the first one),
    /// waited before the next send.
    pub fn throttled(&self, ticket: Ticket) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        // Throttled with others sent before the gap last moved: it waits
        // the gap as it is.
        if ticket.moves == s.moves {
            s.moves += 1;
            let gap = s
                .gap
                .map_or(FIRST_GAP, |g| {
                    g.mul_f64(if g < FAST_BELOW { GROW_FAST } else { GROW })
                })
                .clamp(FIRST_GAP, MAX_GAP);
            s.gap = Some(gap);
            s.touched = Some(now);
        }
        if let Some(gap) = s.gap {
            let at = now + jittered(gap);
            s.next = Some(s.next.map_or(at, |n| n.max(at)));
        }
    }

    /// The send of `ticket` was answered: a shorter gap, none once it is
    /// small.
    pub fn answered(&self, ticket: Ticket) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let Some(gap) = s.gap else {
            return;
        };
        if ticket.moves != s.moves {
            return;
        }
        s.moves += 1;
        let gap = gap.div_f64(SHRINK);
        if gap < FIRST_GAP / 2 {
            s.forget();
            return;
        }
        let now = Instant::now();
        s.gap = Some(gap);
        s.next = PACE_ANSWERED.then(|| now + jittered(gap));
        s.touched = Some(now);
    }

    #[cfg(test)]
    fn gap(&self) -> Option<Duration> {
        self.state.lock().unwrap().gap
    }
}

/// `gap` times a random factor in [`JITTER`].
fn jittered(gap: Duration) -> Duration {
    let (lo, hi) = JITTER;
    gap.mul_f64(lo) + crate::watch::random_upto(gap.mul_f64(hi - lo))
}

/// Runs last among the retry classifiers of a read client and forbids the
/// SDK's retry of what an earlier one called throttling: [`Pacer`] paces
/// those instead, without an attempt limit.
#[derive(Debug)]
pub struct NoThrottleRetries;

impl ClassifyRetry for NoThrottleRetries {
    fn classify_retry(&self, _ctx: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(&self, _ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        match previous {
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                ..
            }) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "ssmm-paced-throttling"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within_jitter(d: Duration, gap: Duration) -> bool {
        let (lo, hi) = JITTER;
        let (d, g) = (d.as_secs_f64(), gap.as_secs_f64());
        d >= g * lo - 0.01 && d <= g * hi + 0.01
    }

    /// One send after another, each with its outcome.
    fn throttle(p: &Pacer) -> Duration {
        let t = p.wait();
        p.throttled(t);
        t.wait
    }

    fn answer(p: &Pacer) -> Duration {
        let t = p.wait();
        p.answered(t);
        t.wait
    }

    #[test]
    fn the_gap_grows_with_throttles_and_goes_with_answers() {
        let p = Pacer::default();
        assert_eq!(throttle(&p), Duration::ZERO);
        assert_eq!(p.gap(), Some(FIRST_GAP));
        assert!(within_jitter(throttle(&p), FIRST_GAP));
        assert_eq!(p.gap(), Some(FIRST_GAP.mul_f64(GROW_FAST)));
        for _ in 0..30 {
            p.throttled(p.wait());
        }
        assert_eq!(p.gap(), Some(MAX_GAP));
        let mut answers = 0;
        while p.gap().is_some() {
            p.answered(p.wait());
            answers += 1;
        }
        // 20 s halved six times is under half the first gap.
        assert_eq!(answers, 6);
        assert_eq!(p.wait().wait, Duration::ZERO);
    }

    #[test]
    fn a_host_throttled_once_waits_about_the_first_gap_then_sends_freely() {
        let p = Pacer::default();
        throttle(&p);
        assert!(within_jitter(answer(&p), FIRST_GAP));
        // Answered: the next send goes at once, and the ones after it too
        // once that is answered.
        assert_eq!(answer(&p), Duration::ZERO);
        assert_eq!(p.gap(), None);
        assert_eq!(p.wait().wait, Duration::ZERO);
        assert_eq!(p.wait().wait, Duration::ZERO);
    }

    #[test]
    fn sends_in_flight_together_go_one_gap_apart_and_are_throttled_as_one() {
        let p = Pacer::default();
        throttle(&p);
        let (first, second) = (p.wait(), p.wait());
        assert!(within_jitter(first.wait, FIRST_GAP), "{first:?}");
        assert!(
            within_jitter(second.wait - first.wait, FIRST_GAP),
            "{second:?}"
        );
        p.throttled(first);
        p.throttled(second);
        assert_eq!(p.gap(), Some(FIRST_GAP.mul_f64(GROW_FAST)));
        let (third, fourth) = (p.wait(), p.wait());
        p.answered(third);
        p.answered(fourth);
        assert_eq!(p.gap(), Some(FIRST_GAP.mul_f64(GROW_FAST / SHRINK)));
    }
}
