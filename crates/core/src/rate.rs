//! A token bucket: how often something anyone on the internet can do (open a web-chat
//! session, send a visitor message) is allowed. Pure: the caller keeps the bucket and the
//! clock.

use std::time::Duration;

use jiff::Timestamp;

/// How much may happen at once (`burst`) and how fast it refills (`per_second`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

impl Rate {
    /// New web-chat sessions from one address: a page reloaded, a few tabs, an office
    /// behind one address; not a script minting thousands.
    pub const WEBCHAT_SESSIONS: Rate = Rate {
        burst: 20.0,
        per_second: 0.5,
    };
    /// Messages from one visitor: quick typing, not a flood.
    pub const VISITOR_MESSAGES: Rate = Rate {
        burst: 10.0,
        per_second: 1.0,
    };
}

/// What is left of a bucket, and when it was last filled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    at: Option<Timestamp>,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            tokens: f64::INFINITY,
            at: None,
        }
    }
}

impl Bucket {
    /// Takes one token at `now`: `Ok` when allowed, else how long until one is there.
    pub fn take(&mut self, rate: Rate, now: Timestamp) -> Result<(), Duration> {
        let elapsed = self
            .at
            .map_or(0.0, |at| now.duration_since(at).as_secs_f64().max(0.0));
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / rate.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64(wait.min(86_400.0)))
        }
    }

    /// Full again: nothing to remember about it.
    pub fn is_full(&self, rate: Rate, now: Timestamp) -> bool {
        let elapsed = self
            .at
            .map_or(f64::INFINITY, |at| now.duration_since(at).as_secs_f64());
        self.tokens + elapsed * rate.per_second >= rate.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_refill_rate() {
        let rate = Rate {
            burst: 3.0,
            per_second: 1.0,
        };
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut bucket = Bucket::default();
        for _ in 0..3 {
            assert_eq!(bucket.take(rate, t0), Ok(()));
        }
        assert_eq!(bucket.take(rate, t0), Err(Duration::from_secs(1)));
        let later = t0 + jiff::SignedDuration::from_millis(1500);
        assert_eq!(bucket.take(rate, later), Ok(()));
        assert!(bucket.take(rate, later).is_err());
        assert!(!bucket.is_full(rate, later));
        assert!(bucket.is_full(rate, later + jiff::SignedDuration::from_secs(3)));
    }
}
