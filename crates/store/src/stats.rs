//! What the supervisor view reads: facts about the conversations opened since a moment,
//! the group queues with their oldest waiting conversation, and each operator's load. The
//! figures themselves are computed by `switchboard_core::report`.

use jiff::Timestamp;
use switchboard_core::{
    ids::{AccountId, GroupId, OperatorId},
    operator::OperatorStatus,
    report::ConversationFacts,
};

use crate::{
    codec::{millis, RowExt},
    Store, StoreError,
};

/// One group's queue now.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueNow {
    pub group_id: GroupId,
    pub name: String,
    pub waiting: u64,
    /// Since when the oldest waiting conversation waits.
    pub oldest: Option<Timestamp>,
}

/// One operator's load now.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadNow {
    pub operator_id: OperatorId,
    pub name: String,
    pub status: OperatorStatus,
    pub open: u64,
    /// Their own capacity, else the largest of their groups'; none: the default applies.
    pub capacity: Option<u32>,
}

impl Store {
    /// Facts about the conversations of an account opened at or after `since`.
    pub async fn conversation_facts(
        &self,
        account: AccountId,
        since: Timestamp,
    ) -> Result<Vec<ConversationFacts>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.connection_id AS channel_id, v.group_id, v.opened_at, v.queued_at, v.closed_at, v.closed_reason,
                (SELECT MIN(m.created_at) FROM messages m
                 WHERE m.conversation_id = v.id AND m.author_kind = 'operator') AS first_response_at
             FROM conversations v WHERE v.account_id = $1 AND v.opened_at >= $2",
        )
        .bind(account.to_string())
        .bind(millis(since))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ConversationFacts {
                    channel_id: row.parse("channel_id")?,
                    group_id: row.opt_parse("group_id")?,
                    opened_at: row.time("opened_at")?,
                    queued_at: row.opt_time("queued_at")?,
                    first_response_at: row.opt_time("first_response_at")?,
                    closed_at: row.opt_time("closed_at")?,
                    closed_reason: row.opt_parse("closed_reason")?,
                })
            })
            .collect()
    }

    /// Every group of an account with its queue now.
    pub async fn queues_now(&self, account: AccountId) -> Result<Vec<QueueNow>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id, g.name, COUNT(v.id) AS waiting, MIN(COALESCE(v.queued_at, v.opened_at)) AS oldest
             FROM groups g LEFT JOIN conversations v ON v.group_id = g.id AND v.status = 'queued'
             WHERE g.account_id = $1 GROUP BY g.id, g.name ORDER BY g.name, g.id",
        )
        .bind(account.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QueueNow {
                    group_id: row.parse("id")?,
                    name: row.text("name")?,
                    waiting: u64::try_from(row.int("waiting")?).unwrap_or_default(),
                    oldest: row.opt_time("oldest")?,
                })
            })
            .collect()
    }

    /// Every operator of an account with the conversations they hold now.
    pub async fn loads_now(&self, account: AccountId) -> Result<Vec<LoadNow>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.status, o.capacity,
                (SELECT COUNT(*) FROM conversations v WHERE v.assignee_id = o.id AND v.status = 'assigned') AS open_count,
                (SELECT MAX(g.capacity) FROM groups g JOIN group_members m ON m.group_id = g.id
                 WHERE m.operator_id = o.id) AS groups_capacity
             FROM operators o WHERE o.account_id = $1 AND o.deleted_at IS NULL ORDER BY o.name, o.id",
        )
        .bind(account.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LoadNow {
                    operator_id: row.parse("id")?,
                    name: row.text("name")?,
                    status: row.parse("status")?,
                    open: u64::try_from(row.int("open_count")?).unwrap_or_default(),
                    capacity: row
                        .opt_int("capacity")?
                        .or(row.opt_int("groups_capacity")?)
                        .and_then(|c| u32::try_from(c).ok()),
                })
            })
            .collect()
    }
}
