//! Login throttling: how many failed attempts are allowed before a login is refused for a
//! while. The policy is pure; the server keeps the attempt history.

use std::collections::VecDeque;
use std::time::Duration;

use jiff::Timestamp;

/// How many failures are tolerated within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_failures: usize,
    pub window: Duration,
}

impl Policy {
    /// Per login (e-mail) and client address: slows a guesser to a handful of tries per
    /// quarter hour while a person who mistypes a few times is never locked out for long.
    pub const PER_LOGIN: Policy = Policy {
        max_failures: 5,
        window: Duration::from_secs(15 * 60),
    };
    /// Per client address over all logins: stops spraying one password over many accounts.
    pub const PER_ADDRESS: Policy = Policy {
        max_failures: 30,
        window: Duration::from_secs(15 * 60),
    };
}

/// The recent failures of one key (login or address), oldest first.
#[derive(Debug, Clone, Default)]
pub struct Failures {
    times: VecDeque<Timestamp>,
}

impl Failures {
    fn forget_before(&mut self, policy: Policy, now: Timestamp) {
        let window =
            jiff::SignedDuration::try_from(policy.window).unwrap_or(jiff::SignedDuration::MAX);
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.times.pop_front();
        }
    }

    /// `Some(wait)` when another attempt now must be refused, with how long until it is not.
    pub fn blocked(&mut self, policy: Policy, now: Timestamp) -> Option<Duration> {
        self.forget_before(policy, now);
        if self.times.len() < policy.max_failures {
            return None;
        }
        let oldest = self.times.front()?;
        let elapsed = now.duration_since(*oldest).unsigned_abs();
        Some(
            policy
                .window
                .saturating_sub(elapsed)
                .max(Duration::from_secs(1)),
        )
    }

    pub fn record(&mut self, policy: Policy, now: Timestamp) {
        self.forget_before(policy, now);
        self.times.push_back(now);
        while self.times.len() > policy.max_failures {
            self.times.pop_front();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_passes() {
        let policy = Policy {
            max_failures: 3,
            window: Duration::from_secs(60),
        };
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut f = Failures::default();
        for s in 0..3 {
            assert_eq!(
                f.blocked(policy, t0 + jiff::SignedDuration::from_secs(s)),
                None
            );
            f.record(policy, t0 + jiff::SignedDuration::from_secs(s));
        }
        let wait = f
            .blocked(policy, t0 + jiff::SignedDuration::from_secs(10))
            .unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(
            f.blocked(policy, t0 + jiff::SignedDuration::from_secs(60)),
            None,
            "the first failure aged out"
        );
    }

    #[test]
    fn old_failures_are_forgotten() {
        let policy = Policy {
            max_failures: 2,
            window: Duration::from_secs(60),
        };
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut f = Failures::default();
        f.record(policy, t0);
        f.record(policy, t0 + jiff::SignedDuration::from_secs(120));
        assert_eq!(
            f.blocked(policy, t0 + jiff::SignedDuration::from_secs(121)),
            None
        );
    }
}
