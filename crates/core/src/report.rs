//! The supervisor's figures, computed from plain facts about conversations: how many,
//! first response and resolution times, auto-closed, and conversations per hour by channel.
//! Pure: the store reads the facts, this module does the arithmetic.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    conversation::ClosedReason,
    ids::{ConnectionId, GroupId},
};

/// What the figures need to know about one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationFacts {
    pub channel_id: ConnectionId,
    pub group_id: Option<GroupId>,
    pub opened_at: Timestamp,
    /// When it started waiting for people (it may have been with the bot before).
    pub queued_at: Option<Timestamp>,
    /// The first message an operator wrote in it.
    pub first_response_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub closed_reason: Option<ClosedReason>,
}

impl ConversationFacts {
    /// From waiting for people to the first operator message.
    fn first_response(&self) -> Option<SignedDuration> {
        let start = self.queued_at.unwrap_or(self.opened_at);
        let answered = self.first_response_at?;
        Some(answered.duration_since(start).max(SignedDuration::ZERO))
    }

    /// From opening to closing, for conversations people closed or that went quiet after
    /// an answer; bot-only conversations are not resolutions by people.
    fn resolution(&self) -> Option<SignedDuration> {
        let closed = self.closed_at?;
        self.first_response_at?;
        Some(
            closed
                .duration_since(self.opened_at)
                .max(SignedDuration::ZERO),
        )
    }

    fn auto_closed(&self) -> bool {
        matches!(
            self.closed_reason,
            Some(ClosedReason::CustomerSilent | ClosedReason::OperatorSilent)
        )
    }
}

/// Totals and averages over a set of conversations.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, ToSchema)]
pub struct Figures {
    pub conversations: u64,
    /// Average seconds from waiting for people to an operator's first message; none when
    /// nobody answered yet.
    pub first_response_secs: Option<f64>,
    /// Average seconds from opening to closing of conversations an operator answered.
    pub resolution_secs: Option<f64>,
    pub auto_closed: u64,
}

fn average(durations: impl Iterator<Item = SignedDuration>) -> Option<f64> {
    let (sum, n) = durations.fold((0.0, 0u64), |(s, n), d| (s + d.as_secs_f64(), n + 1));
    (n > 0).then(|| (sum / n as f64 * 10.0).round() / 10.0)
}

pub fn figures<'a>(facts: impl Iterator<Item = &'a ConversationFacts> + Clone) -> Figures {
    Figures {
        conversations: facts.clone().count() as u64,
        first_response_secs: average(facts.clone().filter_map(|f| f.first_response())),
        resolution_secs: average(facts.clone().filter_map(|f| f.resolution())),
        auto_closed: facts.filter(|f| f.auto_closed()).count() as u64,
    }
}

/// Figures per key (a channel, a group), in key order.
pub fn figures_by<K: Ord + Copy>(
    facts: &[ConversationFacts],
    key: impl Fn(&ConversationFacts) -> Option<K>,
) -> BTreeMap<K, Figures> {
    let mut keys: Vec<K> = facts.iter().filter_map(&key).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let f = figures(facts.iter().filter(|f| key(f) == Some(k)));
            (k, f)
        })
        .collect()
}

/// One bar of the hourly chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HourCount {
    /// The start of the hour (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub hour: Timestamp,
    pub channel_id: ConnectionId,
    pub conversations: u64,
}

const HOUR: i64 = 3600;

/// Conversations opened per hour and channel, from `since` to `until`; hours with none are
/// left out (the chart draws them as zero).
pub fn hourly(facts: &[ConversationFacts], since: Timestamp, until: Timestamp) -> Vec<HourCount> {
    let mut counts: BTreeMap<(i64, ConnectionId), u64> = BTreeMap::new();
    for f in facts
        .iter()
        .filter(|f| f.opened_at >= since && f.opened_at <= until)
    {
        let hour = f.opened_at.as_second().div_euclid(HOUR) * HOUR;
        *counts.entry((hour, f.channel_id)).or_default() += 1;
    }
    counts
        .into_iter()
        .filter_map(|((hour, channel_id), conversations)| {
            Some(HourCount {
                hour: Timestamp::from_second(hour).ok()?,
                channel_id,
                conversations,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + secs).unwrap()
    }

    fn fact(channel: ConnectionId, opened: i64) -> ConversationFacts {
        ConversationFacts {
            channel_id: channel,
            group_id: None,
            opened_at: t(opened),
            queued_at: None,
            first_response_at: None,
            closed_at: None,
            closed_reason: None,
        }
    }

    #[test]
    fn first_response_counts_from_waiting_for_people() {
        let c = ConnectionId::new();
        let mut a = fact(c, 0);
        a.queued_at = Some(t(100));
        a.first_response_at = Some(t(130));
        a.closed_at = Some(t(400));
        a.closed_reason = Some(ClosedReason::Operator);
        let mut b = fact(c, 0);
        b.first_response_at = Some(t(10));
        b.closed_at = Some(t(200));
        b.closed_reason = Some(ClosedReason::CustomerSilent);
        // The bot alone closed it: no response, no resolution by people.
        let mut bot = fact(c, 0);
        bot.closed_at = Some(t(50));
        bot.closed_reason = Some(ClosedReason::Bot);
        let f = figures([a, b, bot].iter());
        assert_eq!(f.conversations, 3);
        assert_eq!(f.first_response_secs, Some(20.0));
        assert_eq!(f.resolution_secs, Some(300.0));
        assert_eq!(f.auto_closed, 1);
    }

    #[test]
    fn nothing_to_average_is_none_not_zero() {
        let f = figures([fact(ConnectionId::new(), 0)].iter());
        assert_eq!(f.first_response_secs, None);
        assert_eq!(f.resolution_secs, None);
        assert_eq!(figures([].iter()), Figures::default());
    }

    #[test]
    fn hours_are_counted_per_channel() {
        let a = ConnectionId::new();
        let b = ConnectionId::new();
        // t(0) is 1_790_000_000, 800 s into its hour.
        let facts = [
            fact(a, 0),
            fact(a, 100),
            fact(b, 100),
            fact(a, 3000),
            fact(a, -9000),
        ];
        let h = hourly(&facts, t(-1000), t(4000));
        let total: u64 = h.iter().map(|c| c.conversations).sum();
        assert_eq!(total, 4);
        let first_hour = Timestamp::from_second(1_790_000_000 / 3600 * 3600).unwrap();
        assert!(h.contains(&HourCount {
            hour: first_hour,
            channel_id: a,
            conversations: 2
        }));
        assert!(h.contains(&HourCount {
            hour: first_hour,
            channel_id: b,
            conversations: 1
        }));
        assert!(h.iter().all(|c| c.hour.as_second() % 3600 == 0));
    }

    #[test]
    fn figures_by_group_keep_each_group_apart() {
        let c = ConnectionId::new();
        let g = GroupId::new();
        let mut a = fact(c, 0);
        a.group_id = Some(g);
        let by = figures_by(&[a, fact(c, 0)], |f| f.group_id);
        assert_eq!(by.len(), 1);
        assert_eq!(by[&g].conversations, 1);
    }
}
