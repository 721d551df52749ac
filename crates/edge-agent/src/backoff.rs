//! Jittered exponential back-off, as a pure value: the caller supplies the randomness and the
//! elapsed times, so the schedule is unit-tested without a clock.
//!
//! Used for everything the agent retries: dialling the hub (join and sync, [`LINK`]), the MQTT
//! connection ([`LINK`]) and runtime calls that failed for one pod ([`POD_OPERATION`]).
//!
//! The delay before retry *n* (0-based) is `min(initial * 2^n, max)`, then scaled by a random
//! factor in `[1 - jitter, 1 + jitter]` so a fleet that lost its hub at the same moment does not
//! come back in lock-step. A connection that stayed healthy for `reset_after` starts the schedule
//! over.

use std::time::Duration;

use rand::Rng;

/// The shape of one back-off schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffPolicy {
    /// Delay before the first retry (before jitter).
    pub initial: Duration,
    /// Largest delay before jitter; the doubling stops here.
    pub max: Duration,
    /// Relative jitter, e.g. `0.3` for ±30 %.
    pub jitter: f64,
    /// A session that lasted at least this long resets the schedule.
    pub reset_after: Duration,
}

/// Reconnecting to the hub or the MQTT broker: 0.5 s doubling to 30 s, ±30 %, reset after a
/// healthy minute. With jitter a single delay is therefore at most 39 s.
pub const LINK: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(30),
    jitter: 0.3,
    reset_after: Duration::from_secs(60),
};

/// Retrying runtime calls for one pod after they failed (an image that cannot be pulled, a
/// Podman error): 2 s doubling to 60 s, ±10 %. Reset as soon as a call succeeds.
pub const POD_OPERATION: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_secs(2),
    max: Duration::from_secs(60),
    jitter: 0.1,
    reset_after: Duration::ZERO,
};

/// The delay before retry number `attempt` (0-based) under `policy`. `jitter_unit` is a random
/// number in `[-1, 1]` (values outside are clamped); 0 gives the un-jittered delay.
pub fn delay(policy: &BackoffPolicy, attempt: u32, jitter_unit: f64) -> Duration {
    // Design: 2^attempt saturates long before u32 overflows, so a device that has been offline
    // for weeks keeps retrying at `max`, never at zero or at an overflowed value.
    let factor = 2u32.checked_pow(attempt.min(31)).unwrap_or(u32::MAX);
    let base = policy.initial.saturating_mul(factor).min(policy.max);
    let jitter = jitter_unit.clamp(-1.0, 1.0) * policy.jitter.clamp(0.0, 1.0);
    base.mul_f64(1.0 + jitter)
}

/// A running back-off schedule: how many retries in a row failed.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoff { policy, attempt: 0 }
    }

    /// The delay before the next retry, with `jitter_unit` in `[-1, 1]`; advances the schedule.
    pub fn next_delay_with(&mut self, jitter_unit: f64) -> Duration {
        let d = delay(&self.policy, self.attempt, jitter_unit);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// [`Backoff::next_delay_with`] with thread-local randomness.
    pub fn next_delay(&mut self) -> Duration {
        let unit = rand::thread_rng().gen_range(-1.0..=1.0);
        self.next_delay_with(unit)
    }

    /// Call when a session (connection) ended after `lasted`: a healthy one resets the schedule.
    pub fn session_ended(&mut self, lasted: Duration) {
        if lasted >= self.policy.reset_after {
            self.reset();
        }
    }

    /// Starts the schedule over (the next delay is the initial one).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failed retries in a row so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn link_schedule_doubles_to_the_cap() {
        let want = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
        for (attempt, want) in want.into_iter().enumerate() {
            assert_eq!(
                ms(delay(&LINK, attempt as u32, 0.0)),
                want,
                "attempt {attempt}"
            );
        }
        assert_eq!(
            ms(delay(&LINK, u32::MAX, 0.0)),
            30_000,
            "huge attempt saturates"
        );
    }

    #[test]
    fn jitter_stays_within_thirty_percent() {
        assert_eq!(ms(delay(&LINK, 0, -1.0)), 350);
        assert_eq!(ms(delay(&LINK, 0, 1.0)), 650);
        assert_eq!(ms(delay(&LINK, 10, 1.0)), 39_000);
        assert_eq!(ms(delay(&LINK, 10, -1.0)), 21_000);
        // Out-of-range randomness is clamped, never negative or unbounded.
        assert_eq!(ms(delay(&LINK, 0, -7.0)), 350);
        assert_eq!(ms(delay(&LINK, 0, f64::INFINITY)), 650);
        let mut b = Backoff::new(LINK);
        for _ in 0..1000 {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(350) && d <= Duration::from_secs(39),
                "{d:?}"
            );
        }
    }

    #[test]
    fn healthy_session_resets_short_one_does_not() {
        let mut b = Backoff::new(LINK);
        for _ in 0..5 {
            b.next_delay_with(0.0);
        }
        assert_eq!(b.attempt(), 5);
        b.session_ended(Duration::from_secs(59));
        assert_eq!(
            ms(b.next_delay_with(0.0)),
            16_000,
            "a short session keeps backing off"
        );
        b.session_ended(Duration::from_secs(60));
        assert_eq!(b.attempt(), 0);
        assert_eq!(
            ms(b.next_delay_with(0.0)),
            500,
            "a healthy minute starts over"
        );
    }

    #[test]
    fn pod_operation_schedule() {
        let mut b = Backoff::new(POD_OPERATION);
        let got: Vec<u128> = (0..7).map(|_| ms(b.next_delay_with(0.0))).collect();
        assert_eq!(got, [2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    }
}
