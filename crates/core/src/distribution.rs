//! Who in a group gets the next conversation ("распределение обращений"), as a pure choice
//! over a snapshot of the group's operators. The shell loads the snapshot and applies the
//! choice with a compare-and-set, so two nodes choosing at once cannot overfill anyone.

use jiff::Timestamp;

use crate::{group::Strategy, ids::OperatorId, operator::OperatorStatus};

/// One member of a group, as the choice needs to see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: OperatorId,
    pub status: OperatorStatus,
    /// Conversations they hold now.
    pub open: u32,
    /// The most they may hold (the group's capacity unless the operator has their own).
    pub capacity: u32,
    /// When they were last given a conversation; `None` for never.
    pub last_assigned_at: Option<Timestamp>,
    /// Their place in the group's priority order.
    pub position: usize,
}

impl Candidate {
    /// Only operators who are online and below capacity receive conversations.
    pub fn available(&self) -> bool {
        self.status == OperatorStatus::Online && self.open < self.capacity
    }
}

/// What to do with a conversation waiting in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Assign to this operator (who still has to answer within the answer timeout).
    Assign(OperatorId),
    /// Offer to all of these; the first to accept takes it (`all_at_once`).
    Offer(Vec<OperatorId>),
    /// Nobody can take it now: it waits in the queue until capacity frees.
    Wait,
}

/// Chooses for one conversation. `skip` lists operators it was already offered to (an
/// answer timeout moves it on to the next one).
pub fn choose(strategy: Strategy, candidates: &[Candidate], skip: &[OperatorId]) -> Choice {
    let mut eligible: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.available() && !skip.contains(&c.id))
        .collect();
    if eligible.is_empty() {
        return Choice::Wait;
    }
    // Ties are broken by priority order, then id, so the choice never depends on input order.
    match strategy {
        Strategy::AllAtOnce => {
            eligible.sort_by_key(|c| (c.position, c.id));
            return Choice::Offer(eligible.into_iter().map(|c| c.id).collect());
        }
        Strategy::RoundRobin => eligible.sort_by_key(|c| (c.last_assigned_at, c.position, c.id)),
        Strategy::LeastBusy => {
            eligible.sort_by_key(|c| (c.open, c.last_assigned_at, c.position, c.id))
        }
        Strategy::InOrder => eligible.sort_by_key(|c| (c.position, c.id)),
    }
    Choice::Assign(eligible[0].id)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest, Strategy as _};

    use super::*;

    fn at(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp::from_second(1_800_000_000 + seconds).unwrap())
    }

    fn candidate(position: usize, open: u32, last: Option<Timestamp>) -> Candidate {
        Candidate {
            id: OperatorId::new(),
            status: OperatorStatus::Online,
            open,
            capacity: 3,
            last_assigned_at: last,
            position,
        }
    }

    #[test]
    fn round_robin_takes_who_waited_longest() {
        let a = candidate(0, 0, at(30));
        let b = candidate(1, 2, at(10));
        let never = candidate(2, 0, None);
        assert_eq!(
            choose(Strategy::RoundRobin, &[a.clone(), b.clone()], &[]),
            Choice::Assign(b.id)
        );
        assert_eq!(
            choose(Strategy::RoundRobin, &[a, b, never.clone()], &[]),
            Choice::Assign(never.id),
            "never assigned comes first"
        );
    }

    #[test]
    fn least_busy_takes_the_fewest_open() {
        let a = candidate(0, 2, at(1));
        let b = candidate(1, 1, at(50));
        assert_eq!(
            choose(Strategy::LeastBusy, &[a, b.clone()], &[]),
            Choice::Assign(b.id)
        );
    }

    #[test]
    fn in_order_follows_priority_and_skips_who_was_tried() {
        let first = candidate(0, 2, at(1));
        let second = candidate(1, 0, at(1));
        assert_eq!(
            choose(Strategy::InOrder, &[second.clone(), first.clone()], &[]),
            Choice::Assign(first.id)
        );
        assert_eq!(
            choose(
                Strategy::InOrder,
                &[first.clone(), second.clone()],
                &[first.id]
            ),
            Choice::Assign(second.id)
        );
        assert_eq!(
            choose(
                Strategy::InOrder,
                &[first.clone(), second.clone()],
                &[first.id, second.id]
            ),
            Choice::Wait
        );
    }

    #[test]
    fn all_at_once_offers_everyone_available() {
        let a = candidate(1, 0, None);
        let b = candidate(0, 0, None);
        let full = Candidate {
            open: 3,
            ..candidate(2, 0, None)
        };
        let away = Candidate {
            status: OperatorStatus::Away,
            ..candidate(3, 0, None)
        };
        assert_eq!(
            choose(
                Strategy::AllAtOnce,
                &[a.clone(), b.clone(), full, away],
                &[]
            ),
            Choice::Offer(vec![b.id, a.id])
        );
    }

    #[test]
    fn nobody_available_means_wait() {
        let offline = Candidate {
            status: OperatorStatus::Offline,
            ..candidate(0, 0, None)
        };
        let full = Candidate {
            open: 3,
            ..candidate(1, 0, None)
        };
        for strategy in Strategy::ALL {
            assert_eq!(
                choose(*strategy, &[offline.clone(), full.clone()], &[]),
                Choice::Wait,
                "{strategy}"
            );
            assert_eq!(choose(*strategy, &[], &[]), Choice::Wait);
        }
    }

    fn arb_candidate() -> impl proptest::strategy::Strategy<Value = Candidate> {
        (
            0usize..10,
            0u32..6,
            1u32..5,
            proptest::option::of(0i64..1000),
            0usize..3,
        )
            .prop_map(|(position, open, capacity, last, status)| Candidate {
                id: OperatorId::new(),
                status: [
                    OperatorStatus::Online,
                    OperatorStatus::Away,
                    OperatorStatus::Offline,
                ][status],
                open,
                capacity,
                last_assigned_at: last.and_then(at),
                position,
            })
    }

    proptest! {
        #[test]
        fn only_available_unskipped_operators_are_chosen(
            candidates in proptest::collection::vec(arb_candidate(), 0..12),
            skip_mask in proptest::collection::vec(any::<bool>(), 12),
            strategy in 0usize..4,
        ) {
            let strategy = Strategy::ALL[strategy];
            let skip: Vec<OperatorId> = candidates.iter().zip(&skip_mask).filter(|(_, s)| **s).map(|(c, _)| c.id).collect();
            let ok = |id: &OperatorId| candidates.iter().any(|c| c.id == *id && c.available() && !skip.contains(id));
            let any_ok = candidates.iter().any(|c| ok(&c.id));
            match choose(strategy, &candidates, &skip) {
                Choice::Assign(id) => prop_assert!(ok(&id)),
                Choice::Offer(ids) => {
                    prop_assert!(!ids.is_empty());
                    prop_assert!(ids.iter().all(ok));
                    prop_assert_eq!(ids.len(), candidates.iter().filter(|c| ok(&c.id)).count());
                }
                Choice::Wait => prop_assert!(!any_ok, "waited although someone was available"),
            }
        }

        #[test]
        fn the_choice_does_not_depend_on_input_order(
            mut candidates in proptest::collection::vec(arb_candidate(), 1..8),
            strategy in 0usize..4,
        ) {
            let strategy = Strategy::ALL[strategy];
            let first = choose(strategy, &candidates, &[]);
            candidates.reverse();
            prop_assert_eq!(first, choose(strategy, &candidates, &[]));
        }
    }
}
