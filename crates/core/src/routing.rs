//! Routing decisions over a queue: who gets which waiting conversation now, what happens when
//! an operator does not answer in time, and where a new conversation starts (including out of
//! working hours). Pure functions over snapshots; the store loads the snapshot under the
//! account's routing lock and applies the plan.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    channel::Routing,
    conversation::ConversationStatus,
    distribution::{choose, Candidate, Choice},
    group::Strategy,
    ids::{ConversationId, GroupId, OperatorId, ScenarioId},
};

/// A conversation waiting in a queue, as the plan needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub id: ConversationId,
    pub queued_at: Timestamp,
    /// Operators it was already given to in this group without an answer: tried again
    /// only when nobody else is free.
    pub tried: Vec<OperatorId>,
    /// Operators who declined it in this group: never offered it again here (they may
    /// still take it from the queue), so a lone operator's decline does not bring the same
    /// offer straight back.
    pub declined: Vec<OperatorId>,
}

/// What one distribution pass does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Conversations to assign, each to one operator.
    pub assign: Vec<(ConversationId, OperatorId)>,
    /// `all_at_once`: the operators each conversation is offered to now. Conversations of the
    /// queue not listed here are offered to nobody.
    pub offer: Vec<(ConversationId, Vec<OperatorId>)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.assign.is_empty() && self.offer.is_empty()
    }
}

/// Free places of the available candidates: how many conversations can be taken now.
pub fn free_places(candidates: &[Candidate]) -> usize {
    candidates
        .iter()
        .filter(|c| c.available())
        .map(|c| (c.capacity - c.open) as usize)
        .sum()
}

/// Distributes a group's queue (any order; the oldest is served first) over its candidates.
///
/// Assigning strategies give each conversation to one operator, preferring operators it was
/// not yet tried with, until nobody has a free place. `all_at_once` offers the oldest
/// conversations, as many as there are free places, to every available operator (but those
/// who declined it or let a round run out, while anyone else is available); the first
/// to accept takes one, and the offers follow the free places as they change.
pub fn plan(
    strategy: Strategy,
    candidates: &[Candidate],
    queue: &[Waiting],
    now: Timestamp,
) -> Plan {
    let mut queue: Vec<&Waiting> = queue.iter().collect();
    queue.sort_by_key(|w| (w.queued_at, w.id));
    let mut plan = Plan::default();
    if strategy == Strategy::AllAtOnce {
        let places = free_places(candidates);
        let Choice::Offer(everyone) = choose(strategy, candidates, &[]) else {
            return plan;
        };
        // Who declined is never offered it again; who let a round run out is left out
        // while anyone else is available.
        plan.offer = queue
            .iter()
            .filter_map(|w| {
                let willing: Vec<OperatorId> = everyone
                    .iter()
                    .copied()
                    .filter(|o| !w.declined.contains(o))
                    .collect();
                let fresh: Vec<OperatorId> = willing
                    .iter()
                    .copied()
                    .filter(|o| !w.tried.contains(o))
                    .collect();
                match (fresh.is_empty(), willing.is_empty()) {
                    (false, _) => Some((w.id, fresh)),
                    (true, false) => Some((w.id, willing)),
                    (true, true) => None,
                }
            })
            .take(places)
            .collect();
        return plan;
    }
    let mut candidates = candidates.to_vec();
    for waiting in queue {
        let skip: Vec<OperatorId> = waiting
            .tried
            .iter()
            .chain(&waiting.declined)
            .copied()
            .collect();
        let choice = match choose(strategy, &candidates, &skip) {
            // Everyone free was tried already: trying one of them again beats leaving the
            // customer waiting while an operator sits idle; who declined it is not asked.
            Choice::Wait => choose(strategy, &candidates, &waiting.declined),
            choice => choice,
        };
        let Choice::Assign(operator) = choice else {
            if free_places(&candidates) > 0 {
                // Only those who declined this one are free: the next may suit them.
                continue;
            }
            break;
        };
        if let Some(c) = candidates.iter_mut().find(|c| c.id == operator) {
            c.open += 1;
            c.last_assigned_at = Some(assigned_at(now, plan.assign.len()));
        }
        plan.assign.push((waiting.id, operator));
    }
    plan
}

/// When the `index`-th assignment of a pass counts as made: a millisecond apart, so round
/// robin sees the order of one pass the way it sees separate passes.
pub fn assigned_at(now: Timestamp, index: usize) -> Timestamp {
    now.checked_add(jiff::SignedDuration::from_millis(index as i64))
        .unwrap_or(now)
}

/// Where a conversation goes when an offer ran out unanswered (the assignee sent nothing, or
/// nobody accepted an `all_at_once` offer in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswered {
    /// Back to the group's queue, to be offered to the next operator.
    Requeue,
    /// `max_offers` reached: on to the fallback group, starting afresh there.
    Fallback(GroupId),
    /// `max_offers` reached and no fallback: stays queued, flagged to supervisors, and waits
    /// for a person to assign it.
    Flag,
}

/// Decides after the `offers_made`-th unanswered offer.
pub fn unanswered(offers_made: u32, max_offers: u32, fallback: Option<GroupId>) -> Unanswered {
    if offers_made < max_offers {
        return Unanswered::Requeue;
    }
    match fallback {
        Some(group) => Unanswered::Fallback(group),
        None => Unanswered::Flag,
    }
}

/// What a connection does with conversations that arrive out of working hours.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutOfHours {
    /// Sent once per conversation when the customer writes out of hours; none sends nothing.
    #[serde(default)]
    pub message: Option<String>,
    /// Who takes conversations opened out of hours. None keeps them queued for the usual
    /// target until the schedule opens.
    #[serde(default)]
    pub routing: Option<Routing>,
}

/// Where a new conversation starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    pub status: ConversationStatus,
    pub group_id: Option<GroupId>,
    /// The operator it waits for (a connection or transfer aimed at one person).
    pub wanted_operator_id: Option<OperatorId>,
    /// Not distributed before this time (out of hours, waiting for the opening).
    pub held_until: Option<Timestamp>,
    /// The scenario a conversation for the bot runs.
    pub scenario_id: Option<ScenarioId>,
}

/// Where a new conversation starts, by the connection's routing and, when the schedule is
/// closed now (`next_open` is `Some`), its out-of-hours behaviour. Conversations for people
/// start queued; the distribution pass assigns them when someone can take them.
pub fn start(
    routing: &Routing,
    out_of_hours: Option<&OutOfHours>,
    next_open: Option<Timestamp>,
) -> Start {
    let (routing, held_until) = match (next_open, out_of_hours.and_then(|o| o.routing.as_ref())) {
        (Some(_), Some(night)) => (night, None),
        (Some(opening), None) => (routing, Some(opening)),
        (None, _) => (routing, None),
    };
    let mut start = Start {
        status: ConversationStatus::Queued,
        group_id: None,
        wanted_operator_id: None,
        held_until,
        scenario_id: None,
    };
    match routing {
        Routing::Operator { operator_id } => start.wanted_operator_id = Some(*operator_id),
        Routing::Group { group_id } => start.group_id = Some(*group_id),
        Routing::Bot { scenario_id } => {
            start.status = ConversationStatus::Bot;
            start.scenario_id = Some(*scenario_id);
            start.held_until = None;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};

    use super::*;
    use crate::operator::OperatorStatus;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn online(position: usize, open: u32, capacity: u32) -> Candidate {
        Candidate {
            id: OperatorId::new(),
            status: OperatorStatus::Online,
            open,
            capacity,
            last_assigned_at: None,
            position,
        }
    }

    fn waiting(at: i64) -> Waiting {
        Waiting {
            declined: Vec::new(),
            id: ConversationId::new(),
            queued_at: t(at),
            tried: Vec::new(),
        }
    }

    #[test]
    fn round_robin_spreads_a_queue_evenly() {
        let a = online(0, 0, 5);
        let b = online(1, 0, 5);
        let queue: Vec<Waiting> = (0..4).map(waiting).collect();
        let plan = plan(
            Strategy::RoundRobin,
            &[a.clone(), b.clone()],
            &queue,
            t(100),
        );
        let to: Vec<OperatorId> = plan.assign.iter().map(|(_, o)| *o).collect();
        assert_eq!(to, vec![a.id, b.id, a.id, b.id]);
    }

    #[test]
    fn the_oldest_is_served_first_and_capacity_is_kept() {
        let a = online(0, 1, 2);
        let old = waiting(1);
        let new = waiting(5);
        let plan = plan(
            Strategy::InOrder,
            std::slice::from_ref(&a),
            &[new, old.clone()],
            t(9),
        );
        assert_eq!(plan.assign, vec![(old.id, a.id)]);
    }

    #[test]
    fn a_tried_operator_gets_it_again_only_when_nobody_else_is_free() {
        let a = online(0, 0, 5);
        let b = online(1, 0, 5);
        let mut w = waiting(0);
        w.tried = vec![a.id];
        let p = plan(
            Strategy::InOrder,
            &[a.clone(), b.clone()],
            &[w.clone()],
            t(1),
        );
        assert_eq!(p.assign, vec![(w.id, b.id)]);
        let busy_b = Candidate { open: 5, ..b };
        let p = plan(Strategy::InOrder, &[a.clone(), busy_b], &[w.clone()], t(1));
        assert_eq!(p.assign, vec![(w.id, a.id)]);
    }

    /// A decline is "not me": who declined is not given it again in this group, even when
    /// nobody else is free, and the queue behind it is still served.
    #[test]
    fn who_declined_is_not_given_it_again() {
        let a = online(0, 0, 5);
        let mut declined = waiting(0);
        declined.declined = vec![a.id];
        let next = waiting(1);
        for strategy in [Strategy::InOrder, Strategy::RoundRobin, Strategy::LeastBusy] {
            let p = plan(
                strategy,
                std::slice::from_ref(&a),
                &[declined.clone(), next.clone()],
                t(2),
            );
            assert_eq!(p.assign, vec![(next.id, a.id)], "{strategy:?}");
        }
        let p = plan(
            Strategy::AllAtOnce,
            std::slice::from_ref(&a),
            &[declined.clone(), next.clone()],
            t(2),
        );
        assert_eq!(p.offer, vec![(next.id, vec![a.id])]);
        let b = online(1, 0, 5);
        let p = plan(
            Strategy::InOrder,
            &[a.clone(), b.clone()],
            &[declined.clone()],
            t(2),
        );
        assert_eq!(p.assign, vec![(declined.id, b.id)]);
    }

    #[test]
    fn all_at_once_leaves_out_who_declined_while_others_are_free() {
        let a = online(0, 0, 5);
        let b = online(1, 0, 5);
        let mut w = waiting(0);
        w.tried = vec![a.id];
        let p = plan(
            Strategy::AllAtOnce,
            &[a.clone(), b.clone()],
            &[w.clone()],
            t(1),
        );
        assert_eq!(p.offer, vec![(w.id, vec![b.id])]);
        w.tried = vec![a.id, b.id];
        let p = plan(
            Strategy::AllAtOnce,
            &[a.clone(), b.clone()],
            &[w.clone()],
            t(1),
        );
        assert_eq!(p.offer, vec![(w.id, vec![a.id, b.id])]);
    }

    #[test]
    fn all_at_once_offers_as_many_as_there_are_free_places() {
        let a = online(0, 0, 1);
        let b = online(1, 1, 2);
        let queue: Vec<Waiting> = (0..5).map(waiting).collect();
        let p = plan(Strategy::AllAtOnce, &[a.clone(), b.clone()], &queue, t(9));
        assert!(p.assign.is_empty());
        assert_eq!(p.offer.len(), 2);
        assert_eq!(p.offer[0], (queue[0].id, vec![a.id, b.id]));
        assert_eq!(p.offer[1].0, queue[1].id);
    }

    #[test]
    fn unanswered_offers_end_in_the_fallback_or_a_flag() {
        let g = GroupId::new();
        assert_eq!(unanswered(1, 3, Some(g)), Unanswered::Requeue);
        assert_eq!(unanswered(3, 3, Some(g)), Unanswered::Fallback(g));
        assert_eq!(unanswered(3, 3, None), Unanswered::Flag);
    }

    #[test]
    fn out_of_hours_holds_or_reroutes() {
        let group = GroupId::new();
        let night = GroupId::new();
        let routing = Routing::Group { group_id: group };
        let day = start(&routing, None, None);
        assert_eq!(day.group_id, Some(group));
        assert_eq!(day.held_until, None);
        let held = start(&routing, Some(&OutOfHours::default()), Some(t(60)));
        assert_eq!((held.group_id, held.held_until), (Some(group), Some(t(60))));
        let rerouted = OutOfHours {
            message: None,
            routing: Some(Routing::Group { group_id: night }),
        };
        let s = start(&routing, Some(&rerouted), Some(t(60)));
        assert_eq!((s.group_id, s.held_until), (Some(night), None));
        let op = OperatorId::new();
        let s = start(&Routing::Operator { operator_id: op }, None, None);
        assert_eq!(
            (s.status, s.wanted_operator_id),
            (ConversationStatus::Queued, Some(op))
        );
    }

    proptest! {
        #[test]
        fn a_plan_never_overfills_and_only_uses_available_operators(
            specs in proptest::collection::vec((0u32..4, 1u32..4, 0usize..3), 0..6),
            queue_len in 0usize..12,
            strategy in 0usize..4,
        ) {
            let strategy = Strategy::ALL[strategy];
            let statuses = [OperatorStatus::Online, OperatorStatus::Away, OperatorStatus::Offline];
            let candidates: Vec<Candidate> = specs.iter().enumerate().map(|(i, (open, cap, s))| Candidate {
                status: statuses[*s], ..online(i, *open, *cap)
            }).collect();
            let queue: Vec<Waiting> = (0..queue_len as i64).map(waiting).collect();
            let p = plan(strategy, &candidates, &queue, t(1000));
            let places = free_places(&candidates);
            for c in &candidates {
                let got = p.assign.iter().filter(|(_, o)| *o == c.id).count() as u32;
                prop_assert!(got == 0 || c.available());
                prop_assert!(c.open + got <= c.capacity.max(c.open));
            }
            let mut seen: Vec<ConversationId> = p.assign.iter().map(|(w, _)| *w).collect();
            seen.extend(p.offer.iter().map(|(w, _)| *w));
            let before = seen.len();
            seen.sort();
            seen.dedup();
            prop_assert_eq!(before, seen.len(), "a conversation planned twice");
            // Work-conserving: as many are served as there are places and conversations.
            prop_assert_eq!(before, places.min(queue_len));
            // And the served ones are the oldest.
            for w in queue.iter().take(before) {
                prop_assert!(seen.contains(&w.id));
            }
        }
    }
}
