//! The audit log: an append-only record of who changed what, including every routing
//! decision, so a supervisor can always answer "why did this go there".

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::{AccountId, OperatorId};

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub account_id: AccountId,
    /// The operator who acted; none for the system (timers, bots, channels).
    pub actor_id: Option<OperatorId>,
    /// A dotted verb such as `operator.create` or `conversation.assign`.
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    /// Action-specific details; never secrets.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// An entry before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub account_id: AccountId,
    pub actor_id: Option<OperatorId>,
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: String,
    pub details: serde_json::Value,
}

impl NewAuditEntry {
    /// An entry without details.
    pub fn new(
        account_id: AccountId,
        actor_id: Option<OperatorId>,
        action: &'static str,
        object_type: &'static str,
        object_id: impl ToString,
    ) -> Self {
        let object_id = object_id.to_string();
        Self {
            account_id,
            actor_id,
            action,
            object_type,
            object_id,
            details: serde_json::json!({}),
        }
    }

    /// The same entry with action-specific details.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}
