//! Conversations ("обращение"): one episode of talk with one contact on one connection,
//! from the first message to the close.
//!
//! Architecture invariant: an open conversation is in exactly one of bot / queued /
//! assigned, and has at most one assignee; the database enforces the second with one
//! assignee column and at most one open conversation per (connection, contact).

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    ids::{AccountId, ConnectionId, ContactId, ConversationId, GroupId, OperatorId},
    operator::Role,
    string_enum,
};

string_enum! {
    /// Where a conversation stands.
    pub enum ConversationStatus {
        /// A bot scenario is talking to the contact.
        Bot = "bot",
        /// Waiting in a group queue or for an operator to accept.
        Queued = "queued",
        /// An operator holds it.
        Assigned = "assigned",
        Closed = "closed",
    }
}

impl ConversationStatus {
    pub fn is_open(self) -> bool {
        self != ConversationStatus::Closed
    }
}

string_enum! {
    /// Why a conversation was closed; kept for reports and the audit log.
    pub enum ClosedReason {
        /// An operator closed it.
        Operator = "operator",
        /// The bot's scenario ended with `close`.
        Bot = "bot",
        /// Auto-close: the customer wrote nothing for `auto_close_after`.
        CustomerSilent = "customer_silent",
        /// Auto-close: the last message was the customer's and nobody answered.
        OperatorSilent = "operator_silent",
        /// The connection was deleted.
        ConnectionRemoved = "connection_removed",
    }
}

/// The contact of a conversation, in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ContactSummary {
    pub id: ContactId,
    /// As the channel reported it: plain text, never markup.
    pub name: String,
    /// False once the customer blocked the channel: replies cannot reach them.
    pub reachable: bool,
}

/// A conversation as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub account_id: AccountId,
    pub channel_id: ConnectionId,
    pub contact_id: ContactId,
    /// Who is writing, as operators need to see them in a list.
    pub contact: ContactSummary,
    pub status: ConversationStatus,
    pub group_id: Option<GroupId>,
    pub assignee_id: Option<OperatorId>,
    /// The closed conversation this one continues, when the contact wrote again after a close.
    pub previous_id: Option<ConversationId>,
    pub closed_reason: Option<ClosedReason>,
    /// The operator a queued conversation waits for (a connection or transfer aimed at them).
    pub wanted_operator_id: Option<OperatorId>,
    /// `all_at_once`: the operators it is offered to now; the first to accept takes it.
    pub offered_to: Vec<OperatorId>,
    /// Whether the assignee has written, or accepted it, since they got it.
    pub answered: bool,
    /// Ran out of offers with no fallback group: a supervisor should assign it.
    pub needs_attention: bool,
    /// Out of hours: waits for the schedule to open until then.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub held_until: Option<Timestamp>,
    /// When it entered its queue (the queue is served oldest first).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub queued_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub assigned_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_message_at: Timestamp,
    /// When the customer last wrote: a channel's messaging window counts from here.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_inbound_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<Timestamp>,
}

impl Conversation {
    /// Whether an operator may open this conversation (read, answer, annotate): every one
    /// for roles that read all conversations; otherwise only one assigned or offered to
    /// them, or waiting in (or held by) one of their `groups`.
    pub fn visible_to(&self, operator: OperatorId, role: Role, groups: &[GroupId]) -> bool {
        role.reads_every_conversation()
            || self.assignee_id == Some(operator)
            || self.wanted_operator_id == Some(operator)
            || self.offered_to.contains(&operator)
            || self.group_id.is_some_and(|g| groups.contains(&g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation() -> Conversation {
        let now = Timestamp::UNIX_EPOCH;
        let contact_id = ContactId::new();
        Conversation {
            id: ConversationId::new(),
            account_id: AccountId::new(),
            channel_id: ConnectionId::new(),
            contact_id,
            contact: ContactSummary {
                id: contact_id,
                name: "Anna".into(),
                reachable: true,
            },
            status: ConversationStatus::Queued,
            group_id: None,
            assignee_id: None,
            previous_id: None,
            closed_reason: None,
            wanted_operator_id: None,
            offered_to: Vec::new(),
            answered: false,
            needs_attention: false,
            held_until: None,
            queued_at: None,
            assigned_at: None,
            opened_at: now,
            last_message_at: now,
            last_inbound_at: None,
            closed_at: None,
        }
    }

    #[test]
    fn plain_operators_see_their_own_and_their_groups_conversations() {
        let (me, other) = (OperatorId::new(), OperatorId::new());
        let (mine, theirs) = (GroupId::new(), GroupId::new());
        let mut c = conversation();
        assert!(!c.visible_to(me, Role::Operator, &[mine]));
        assert!(c.visible_to(me, Role::Supervisor, &[]));
        assert!(c.visible_to(me, Role::Admin, &[]));
        c.group_id = Some(theirs);
        assert!(!c.visible_to(me, Role::Operator, &[mine]));
        c.offered_to = vec![me];
        assert!(c.visible_to(me, Role::Operator, &[]));
        c.offered_to.clear();
        c.assignee_id = Some(other);
        assert!(!c.visible_to(me, Role::Operator, &[mine]));
        c.assignee_id = Some(me);
        assert!(c.visible_to(me, Role::Operator, &[]));
        c.assignee_id = None;
        c.group_id = Some(mine);
        assert!(c.visible_to(me, Role::Operator, &[mine]));
    }
}
