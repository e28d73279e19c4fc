//! Auto-close ("автоматическое завершение диалогов"): a conversation with no message in either
//! direction for the connection's `auto_close_after` closes by itself. Why it closed depends on
//! who wrote last: the customer went silent after an answer, or nobody answered the customer.

use jiff::{SignedDuration, Timestamp};

use crate::{conversation::ClosedReason, message::Direction, DurationSpec};

/// What the auto-close timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoClose {
    /// Close now, for this reason.
    Close(ClosedReason),
    /// A message came since the timer was set: fire again then.
    WaitUntil(Timestamp),
}

/// Decides from the last message's time and direction. The clock counts from the last
/// message, so each message restarts it.
pub fn decide(
    last_message_at: Timestamp,
    last_direction: Direction,
    after: DurationSpec,
    now: Timestamp,
) -> AutoClose {
    let due = last_message_at
        .saturating_add(SignedDuration::from_secs(after.as_secs() as i64))
        .unwrap_or(Timestamp::MAX);
    if now < due {
        return AutoClose::WaitUntil(due);
    }
    AutoClose::Close(match last_direction {
        Direction::Outbound => ClosedReason::CustomerSilent,
        Direction::Inbound => ClosedReason::OperatorSilent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn waits_while_the_clock_runs() {
        let after: DurationSpec = "1h".parse().unwrap();
        assert_eq!(
            decide(t(0), Direction::Inbound, after, t(3599)),
            AutoClose::WaitUntil(t(3600))
        );
    }

    #[test]
    fn the_reason_follows_who_wrote_last() {
        let after: DurationSpec = "1h".parse().unwrap();
        assert_eq!(
            decide(t(0), Direction::Outbound, after, t(3600)),
            AutoClose::Close(ClosedReason::CustomerSilent)
        );
        assert_eq!(
            decide(t(0), Direction::Inbound, after, t(7200)),
            AutoClose::Close(ClosedReason::OperatorSilent)
        );
    }
}
