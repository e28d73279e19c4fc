//! Durable timers and what they do when due. Claiming takes a lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL), so of several nodes exactly one fires a timer; a node that dies
//! mid-fire leaves a lease that runs out, and another node fires it then.

use std::time::Duration;

use jiff::Timestamp;
use switchboard_core::{
    audit::NewAuditEntry,
    autoclose::{decide, AutoClose},
    conversation::ClosedReason,
    ids::{AccountId, ConversationId},
    message::Direction,
    DurationSpec,
};

use crate::{
    audit,
    codec::{millis, RowExt},
    Dialect, Store, StoreError,
};

/// Closes a conversation after `auto_close_after` without messages.
pub const AUTO_CLOSE: &str = "auto_close";

/// A timer whose time has come, claimed by this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub id: i64,
    pub kind: String,
    pub conversation_id: ConversationId,
}

/// A conversation closed by a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    pub reason: ClosedReason,
}

impl Store {
    /// Claims up to `limit` due timers for `lease`.
    pub async fn claim_timers(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<DueTimer>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE timers SET lease_until = $1
             WHERE id IN (SELECT id FROM timers WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                          ORDER BY due_at LIMIT $3 {lock})
             RETURNING id, kind, conversation_id"
        );
        let now_ms = millis(now);
        let rows = sqlx::query(&sql)
            .bind(now_ms.saturating_add(lease.as_millis() as i64))
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.write)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DueTimer {
                    id: r.int("id")?,
                    kind: r.text("kind")?,
                    conversation_id: r.parse("conversation_id")?,
                })
            })
            .collect()
    }

    /// Fires an auto-close timer: closes the conversation if it has been quiet long enough,
    /// else moves the timer to when it will have been. One transaction either way.
    pub async fn fire_auto_close(
        &self,
        timer: &DueTimer,
        now: Timestamp,
    ) -> Result<Option<Closed>, StoreError> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "SELECT v.account_id, v.last_message_at, c.auto_close_after_secs,
                    (SELECT m.direction FROM messages m WHERE m.conversation_id = v.id
                     ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_direction
             FROM conversations v JOIN channel_connections c ON c.id = v.connection_id
             WHERE v.id = $1 AND v.closed_at IS NULL",
        )
        .bind(timer.conversation_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            sqlx::query("DELETE FROM timers WHERE id = $1")
                .bind(timer.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(None);
        };
        let account: AccountId = row.parse("account_id")?;
        let after = u64::try_from(row.int("auto_close_after_secs")?)
            .ok()
            .and_then(|s| DurationSpec::from_secs(s).ok())
            .ok_or_else(|| StoreError::Corrupt("auto_close_after_secs".into()))?;
        let direction = row
            .opt_parse::<Direction>("last_direction")?
            .unwrap_or(Direction::Inbound);
        match decide(row.time("last_message_at")?, direction, after, now) {
            AutoClose::WaitUntil(due) => {
                sqlx::query("UPDATE timers SET due_at = $2, lease_until = NULL WHERE id = $1")
                    .bind(timer.id)
                    .bind(millis(due))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(None)
            }
            AutoClose::Close(reason) => {
                sqlx::query(
                    "UPDATE conversations SET status = 'closed', assignee_id = NULL, closed_at = $2, closed_reason = $3
                     WHERE id = $1 AND closed_at IS NULL",
                )
                .bind(timer.conversation_id.to_string())
                .bind(millis(now))
                .bind(reason.as_str())
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM timers WHERE id = $1")
                    .bind(timer.id)
                    .execute(&mut *tx)
                    .await?;
                let entry = NewAuditEntry::new(
                    account,
                    None,
                    "conversation.close",
                    "conversation",
                    timer.conversation_id,
                )
                .details(serde_json::json!({"reason": reason, "by": "auto_close", "after": after}));
                audit::record(&mut tx, entry).await?;
                tx.commit().await?;
                Ok(Some(Closed {
                    account_id: account,
                    conversation_id: timer.conversation_id,
                    reason,
                }))
            }
        }
    }

    /// Gives a claimed timer back (its work failed and should be tried again soon).
    pub async fn release_timer(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE timers SET lease_until = NULL WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
