//! Login throttling: how many failed attempts are allowed before a login is refused for a
//! while. The policy is pure; the server keeps the attempt history.
//!
//! Attempts are admitted before the password is checked and counted while in flight, so a
//! hundred concurrent guesses get no more checks than the policy allows. Each lockout within
//! a day of the previous one lasts twice as long (exponential backoff), so a patient guesser
//! gets a handful of tries a day, while a person who mistypes is never locked out for long.

use std::collections::VecDeque;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// How many failures are tolerated within a window, and how long the first lockout lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_failures: usize,
    pub window: Duration,
    /// The longest a repeated lockout lasts.
    pub max_lockout: Duration,
}

/// Lockouts closer together than this count as repeats (and double).
const REPEAT_WITHIN: SignedDuration = SignedDuration::from_hours(24);

impl Policy {
    /// Per login (e-mail) and client address.
    pub const PER_LOGIN: Policy = Policy {
        max_failures: 5,
        window: Duration::from_secs(15 * 60),
        max_lockout: Duration::from_secs(24 * 3600),
    };
    /// Per client address over all logins: stops spraying one password over many accounts.
    /// A login that has succeeded from the address lately is not held by it (see the
    /// server's `LoginThrottle`), so a spray does not lock out the people it shares the
    /// address with.
    pub const PER_ADDRESS: Policy = Policy {
        max_failures: 30,
        window: Duration::from_secs(15 * 60),
        max_lockout: Duration::from_secs(3600),
    };
}

/// The recent failures of one key (login and address, or address), oldest first, with the
/// attempts in flight and the lockout in force.
#[derive(Debug, Clone, Default)]
pub struct Failures {
    times: VecDeque<Timestamp>,
    in_flight: usize,
    locked_until: Option<Timestamp>,
    lockouts: u32,
    last_lockout: Option<Timestamp>,
}

impl Failures {
    fn forget_before(&mut self, policy: Policy, now: Timestamp) {
        let window = SignedDuration::try_from(policy.window).unwrap_or(SignedDuration::MAX);
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.times.pop_front();
        }
        if self.locked_until.is_some_and(|until| until <= now) {
            self.locked_until = None;
        }
    }

    /// `Some(wait)` when another attempt now must be refused, with how long until it is not.
    /// Attempts in flight count as failures until they are decided.
    pub fn blocked(&mut self, policy: Policy, now: Timestamp) -> Option<Duration> {
        self.forget_before(policy, now);
        if let Some(until) = self.locked_until {
            return Some(
                until
                    .duration_since(now)
                    .unsigned_abs()
                    .max(Duration::from_secs(1)),
            );
        }
        (self.times.len() + self.in_flight >= policy.max_failures).then_some(Duration::from_secs(1))
    }

    /// An attempt was admitted; it counts until [`Failures::finish`].
    pub fn begin(&mut self) {
        self.in_flight += 1;
    }

    /// An admitted attempt was decided: a failure is recorded (and may lock the key out).
    pub fn finish(&mut self, policy: Policy, failed: bool, now: Timestamp) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if failed {
            self.record(policy, now);
        }
    }

    /// Records a failure; the `max_failures`-th within the window locks the key out, for the
    /// window the first time and twice as long for each repeat within a day.
    pub fn record(&mut self, policy: Policy, now: Timestamp) {
        self.forget_before(policy, now);
        self.times.push_back(now);
        if self.times.len() < policy.max_failures {
            return;
        }
        let repeat = self
            .last_lockout
            .is_some_and(|last| now.duration_since(last) < REPEAT_WITHIN);
        self.lockouts = if repeat { self.lockouts + 1 } else { 1 };
        let lockout = policy
            .window
            .saturating_mul(1 << self.lockouts.saturating_sub(1).min(20))
            .min(policy.max_lockout);
        let lockout = SignedDuration::try_from(lockout).unwrap_or(SignedDuration::MAX);
        self.locked_until = Some(now.saturating_add(lockout).unwrap_or(now));
        self.last_lockout = Some(now);
        self.times.clear();
    }

    /// Nothing worth keeping: no failures, nothing in flight, no lockout that could repeat.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
            && self.in_flight == 0
            && self.locked_until.is_none()
            && self.last_lockout.is_none()
    }

    /// Whether the key can be forgotten at `now`.
    pub fn is_stale(&self, now: Timestamp) -> bool {
        self.times.is_empty()
            && self.in_flight == 0
            && self.locked_until.is_none_or(|u| u <= now)
            && self
                .last_lockout
                .is_none_or(|l| now.duration_since(l) >= REPEAT_WITHIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        max_failures: 3,
        window: Duration::from_secs(60),
        max_lockout: Duration::from_secs(600),
    };

    fn at(s: i64) -> Timestamp {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        t0 + SignedDuration::from_secs(s)
    }

    #[test]
    fn blocks_after_the_limit_for_the_window() {
        let mut f = Failures::default();
        for s in 0..3 {
            assert_eq!(f.blocked(POLICY, at(s)), None);
            f.record(POLICY, at(s));
        }
        // Locked for a window from the third failure.
        assert_eq!(f.blocked(POLICY, at(12)), Some(Duration::from_secs(50)));
        assert_eq!(f.blocked(POLICY, at(62)), None, "the lockout ended");
    }

    #[test]
    fn old_failures_are_forgotten() {
        let mut f = Failures::default();
        f.record(POLICY, at(0));
        f.record(POLICY, at(30));
        f.record(POLICY, at(120));
        assert_eq!(f.blocked(POLICY, at(121)), None);
    }

    #[test]
    fn attempts_in_flight_count_until_decided() {
        let mut f = Failures::default();
        f.record(POLICY, at(0));
        f.begin();
        f.begin();
        assert!(
            f.blocked(POLICY, at(1)).is_some(),
            "two in flight + one failure"
        );
        f.finish(POLICY, false, at(1));
        assert_eq!(f.blocked(POLICY, at(1)), None, "one attempt succeeded");
        f.finish(POLICY, true, at(2));
        assert_eq!(f.blocked(POLICY, at(3)), None, "two failures of three");
    }

    #[test]
    fn repeated_lockouts_double_up_to_the_cap() {
        let mut f = Failures::default();
        let mut now = 0;
        let mut lockouts = Vec::new();
        for _ in 0..6 {
            for _ in 0..3 {
                f.record(POLICY, at(now));
            }
            let wait = f.blocked(POLICY, at(now)).unwrap();
            lockouts.push(wait.as_secs());
            now += wait.as_secs() as i64;
            assert_eq!(f.blocked(POLICY, at(now)), None);
        }
        assert_eq!(lockouts, [60, 120, 240, 480, 600, 600]);
        // A day later the count starts again.
        now += 24 * 3600;
        for _ in 0..3 {
            f.record(POLICY, at(now));
        }
        assert_eq!(f.blocked(POLICY, at(now)), Some(Duration::from_secs(60)));
        assert!(!f.is_stale(at(now)));
        assert!(f.is_stale(at(now + 24 * 3600)));
    }
}
