//! Who may take, decline or be handed a conversation: the routing rules' decisions, pure,
//! over what storage read under the routing lock. A refusal is typed; its [`Refusal::code`]
//! is what API clients see. Who is *offered* a conversation (the distribution policy) is
//! `distribution`'s.

use crate::{
    conversation::ConversationStatus, distribution::Candidate, ids::OperatorId,
    operator::OperatorStatus,
};

/// Why a routing action is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the conversation is closed")]
    Closed,
    #[error("another operator has taken this conversation; transfer it instead")]
    AlreadyAssigned,
    #[error("the operator is {0}; only online operators take conversations")]
    NotOnline(OperatorStatus),
    #[error("the operator already has {open} open conversations, their limit")]
    AtCapacity { open: u32 },
    #[error("only a conversation offered to you, or assigned to you and not yet answered, can be declined")]
    NotOffered,
    /// Declined by the only operator it waits for.
    #[error("this conversation waits for you alone; transfer it instead")]
    WaitsForYouAlone,
}

impl Refusal {
    /// The stable code API clients see.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Closed => "conversation_closed",
            Refusal::AlreadyAssigned => "already_assigned",
            Refusal::NotOnline(_) => "operator_not_online",
            Refusal::AtCapacity { .. } => "at_capacity",
            Refusal::NotOffered | Refusal::WaitsForYouAlone => "not_offered",
        }
    }
}

/// Where a conversation is, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub status: ConversationStatus,
    pub assignee: Option<OperatorId>,
    /// Its operator has it in hand (answered or accepted).
    pub answered: bool,
}

/// What giving a conversation to an operator comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// They already hold it: nothing changes.
    Nothing,
    /// They accept what distribution gave them: it is in hand, the answer timeout is over.
    Accept,
    /// It becomes theirs, if they may hold one more ([`may_hold`]).
    Assign,
}

/// `operator` takes the conversation (accepting an offer, taking it from the queue), or
/// `actor` (a supervisor) gives it to them. Of two operators accepting one offer, the first
/// takes it: the second finds it assigned.
pub fn take(held: &Held, operator: OperatorId, actor: OperatorId) -> Result<Take, Refusal> {
    match (held.status, held.assignee) {
        (ConversationStatus::Closed, _) => Err(Refusal::Closed),
        (ConversationStatus::Assigned, Some(holder)) if holder == operator => {
            if held.answered || actor != operator {
                Ok(Take::Nothing)
            } else {
                Ok(Take::Accept)
            }
        }
        (ConversationStatus::Assigned, _) => Err(Refusal::AlreadyAssigned),
        _ => Ok(Take::Assign),
    }
}

/// Whether `operator` may be given one more conversation: online, with a free place.
pub fn may_hold(operator: &Candidate) -> Result<(), Refusal> {
    if operator.status != OperatorStatus::Online {
        return Err(Refusal::NotOnline(operator.status));
    }
    if operator.open >= operator.capacity {
        return Err(Refusal::AtCapacity {
            open: operator.open,
        });
    }
    Ok(())
}

/// Whether the conversation can be handed elsewhere (a transfer, the bot's handoff).
pub fn transfer(held: &Held) -> Result<(), Refusal> {
    match held.status {
        ConversationStatus::Closed => Err(Refusal::Closed),
        _ => Ok(()),
    }
}

/// What declining comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decline {
    /// Others still hold the offer: only this operator steps out of the round.
    StepOut,
    /// It counts as an unanswered offer: on to the next operator (or the fallback group).
    PassOn,
}

/// `operator` declines: what they were offered, or what was assigned to them and is not yet
/// in hand. `offered`: who holds the conversation's offer now; `grouped`: it waits in a
/// group (else it was aimed at this operator alone, and nobody else could take it).
pub fn decline(
    held: &Held,
    operator: OperatorId,
    offered: &[OperatorId],
    grouped: bool,
) -> Result<Decline, Refusal> {
    let holds = held.status == ConversationStatus::Assigned
        && held.assignee == Some(operator)
        && !held.answered;
    let is_offered = held.status == ConversationStatus::Queued && offered.contains(&operator);
    if !holds && !is_offered {
        return Err(Refusal::NotOffered);
    }
    if !grouped {
        return Err(Refusal::WaitsForYouAlone);
    }
    Ok(if is_offered && offered.len() > 1 {
        Decline::StepOut
    } else {
        Decline::PassOn
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(status: ConversationStatus, assignee: Option<OperatorId>, answered: bool) -> Held {
        Held {
            status,
            assignee,
            answered,
        }
    }

    fn candidate(status: OperatorStatus, open: u32, capacity: u32) -> Candidate {
        Candidate {
            id: OperatorId::new(),
            status,
            open,
            capacity,
            last_assigned_at: None,
            position: 0,
        }
    }

    #[test]
    fn taking_follows_who_holds_it() {
        let (anna, boris) = (OperatorId::new(), OperatorId::new());
        use ConversationStatus::*;
        assert_eq!(
            take(&held(Queued, None, false), anna, anna),
            Ok(Take::Assign)
        );
        assert_eq!(take(&held(Bot, None, false), anna, boris), Ok(Take::Assign));
        assert_eq!(
            take(&held(Assigned, Some(anna), false), anna, anna),
            Ok(Take::Accept)
        );
        assert_eq!(
            take(&held(Assigned, Some(anna), true), anna, anna),
            Ok(Take::Nothing)
        );
        assert_eq!(
            take(&held(Assigned, Some(anna), false), anna, boris),
            Ok(Take::Nothing),
            "a supervisor giving it to its holder changes nothing"
        );
        assert_eq!(
            take(&held(Assigned, Some(anna), false), boris, boris),
            Err(Refusal::AlreadyAssigned)
        );
        assert_eq!(
            take(&held(Closed, None, false), anna, anna),
            Err(Refusal::Closed)
        );
    }

    #[test]
    fn only_online_operators_with_a_free_place_hold_more() {
        assert_eq!(may_hold(&candidate(OperatorStatus::Online, 2, 3)), Ok(()));
        assert_eq!(
            may_hold(&candidate(OperatorStatus::Online, 3, 3)),
            Err(Refusal::AtCapacity { open: 3 })
        );
        let away = may_hold(&candidate(OperatorStatus::Away, 0, 3)).unwrap_err();
        assert_eq!(away.code(), "operator_not_online");
        assert!(away.to_string().contains("away"), "{away}");
    }

    #[test]
    fn declining_needs_an_offer_and_someone_else() {
        let (anna, boris) = (OperatorId::new(), OperatorId::new());
        use ConversationStatus::*;
        let queued = held(Queued, None, false);
        assert_eq!(
            decline(&queued, anna, &[anna, boris], true),
            Ok(Decline::StepOut)
        );
        assert_eq!(decline(&queued, anna, &[anna], true), Ok(Decline::PassOn));
        assert_eq!(
            decline(&queued, anna, &[boris], true),
            Err(Refusal::NotOffered)
        );
        let mine = held(Assigned, Some(anna), false);
        assert_eq!(decline(&mine, anna, &[], true), Ok(Decline::PassOn));
        assert_eq!(
            decline(&mine, anna, &[], false),
            Err(Refusal::WaitsForYouAlone)
        );
        assert_eq!(
            decline(&held(Assigned, Some(anna), true), anna, &[], true),
            Err(Refusal::NotOffered),
            "in hand: transfer, not decline"
        );
        assert_eq!(transfer(&held(Closed, None, false)), Err(Refusal::Closed));
        assert_eq!(transfer(&mine), Ok(()));
    }
}
