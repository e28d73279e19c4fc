//! What the delivery worker does after a send attempt: finish the row, or try again when.
//! Capped exponential backoff with jitter, at least the channel's `retry_after` on 429, and
//! no blind resend when the request may have reached the channel.

use std::time::Duration;

/// How an attempt ended, as the connector sorted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Sent,
    RetryAfter(Duration),
    /// Nothing was delivered; safe to retry.
    Transient,
    /// Written, no answer.
    Unknown,
    ContactUnreachable,
    ConnectionBroken,
    Permanent,
}

/// What to do with the outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Sent,
    Failed,
    Unknown,
    RetryIn(Duration),
}

/// Transient failures are retried this many times in all before the row fails.
pub const MAX_ATTEMPTS: u32 = 8;
/// Rate-limit answers are honoured longer: the channel is telling us it works.
pub const MAX_RATE_LIMITED_ATTEMPTS: u32 = 30;
pub const BASE_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(300);

/// The backoff before attempt `attempts + 1`, scaled by `jitter` in `[0, 1]` into the upper
/// half of the window so retries of many rows spread out but never come early.
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let full = BASE_DELAY.saturating_mul(1 << exponent).min(MAX_DELAY);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// Decides the next step after attempt number `attempts` (1 for the first) ended as `attempt`.
pub fn next_step(attempts: u32, attempt: Attempt, jitter: f64) -> Step {
    match attempt {
        Attempt::Sent => Step::Sent,
        Attempt::Unknown => Step::Unknown,
        Attempt::ContactUnreachable | Attempt::ConnectionBroken | Attempt::Permanent => {
            Step::Failed
        }
        Attempt::Transient if attempts >= MAX_ATTEMPTS => Step::Failed,
        Attempt::Transient => Step::RetryIn(backoff(attempts, jitter)),
        Attempt::RetryAfter(_) if attempts >= MAX_RATE_LIMITED_ATTEMPTS => Step::Failed,
        Attempt::RetryAfter(wait) => Step::RetryIn(wait.max(Duration::from_millis(100))),
    }
}

/// The shortest an empty poll may take: a long poll that comes back at once with nothing
/// (an API that does not hold the request, a proxy that cuts it) is asked again after this,
/// not in a busy loop.
pub const MIN_EMPTY_POLL: Duration = Duration::from_secs(1);

/// How long to wait before the next long poll, after one that took `took` and brought
/// `events`: none when it brought something (more may be waiting), else the rest of
/// [`MIN_EMPTY_POLL`].
pub fn after_poll(events: usize, took: Duration) -> Duration {
    if events > 0 {
        Duration::ZERO
    } else {
        MIN_EMPTY_POLL.saturating_sub(took)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_poll_that_came_back_at_once_waits_out_the_second() {
        assert_eq!(after_poll(3, Duration::ZERO), Duration::ZERO);
        assert_eq!(
            after_poll(0, Duration::from_millis(2)),
            Duration::from_millis(998)
        );
        assert_eq!(after_poll(0, Duration::from_secs(25)), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 1.0), MAX_DELAY);
        assert_eq!(
            backoff(4, 0.0),
            Duration::from_secs(4),
            "jitter never halves below half"
        );
    }

    #[test]
    fn rate_limits_wait_at_least_what_the_channel_asks() {
        let step = next_step(1, Attempt::RetryAfter(Duration::from_secs(7)), 0.3);
        assert_eq!(step, Step::RetryIn(Duration::from_secs(7)));
    }

    #[test]
    fn only_safe_failures_are_retried() {
        assert_eq!(
            next_step(1, Attempt::Unknown, 0.5),
            Step::Unknown,
            "no blind resend"
        );
        assert_eq!(next_step(1, Attempt::ContactUnreachable, 0.5), Step::Failed);
        assert_eq!(next_step(1, Attempt::ConnectionBroken, 0.5), Step::Failed);
        assert!(matches!(
            next_step(1, Attempt::Transient, 0.5),
            Step::RetryIn(_)
        ));
        assert_eq!(
            next_step(MAX_ATTEMPTS, Attempt::Transient, 0.5),
            Step::Failed,
            "gives up visibly"
        );
    }

    proptest::proptest! {
        #[test]
        fn backoff_stays_within_bounds(attempts in 1u32..100, jitter in 0.0f64..=1.0) {
            let d = backoff(attempts, jitter);
            proptest::prop_assert!(d >= BASE_DELAY / 2 && d <= MAX_DELAY);
        }
    }
}
