//! A timer whose time has come: what claiming hands to whoever fires it (`timers.rs`
//! claims, `routing` and `timers.rs` fire). A leaf, so the workflows that fire timers need
//! not import the claiming.

use switchboard_core::{ids::ConversationId, timer::TimerKind};

/// A timer whose time has come, claimed by this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub id: i64,
    pub kind: TimerKind,
    pub conversation_id: ConversationId,
}
