//! Durable timers and what they do when due. Claiming takes a lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL), so of several nodes exactly one fires a timer; a node that dies
//! mid-fire leaves a lease that runs out, and another node fires it then.

use std::time::Duration;

use jiff::Timestamp;
use switchboard_core::{
    autoclose::{decide, AutoClose},
    conversation::ClosedReason,
    ids::{AccountId, ConversationId},
    message::Direction,
    timer::TimerKind,
    DurationSpec,
};

pub use crate::due::DueTimer;

use crate::{
    codec::{millis, RowExt},
    outbox::{send_notice, Notice},
    routing, Dialect, Store, StoreError,
};

/// A conversation closed by a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    pub reason: ClosedReason,
    /// Other conversations that moved because its place came free.
    pub changed: Vec<ConversationId>,
    /// Whether a closing message was queued.
    pub notified: bool,
}

/// Builds the channel action that sends `text` to `chat_id` (the store knows no channel).
pub type ActionFor = dyn Fn(&str, &str) -> String + Send + Sync;

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
        // A kind this version does not know is left for a newer one.
        let known = TimerKind::ALL
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE timers SET lease_until = $1
             WHERE id IN (SELECT id FROM timers WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                            AND kind IN ({known})
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
                    kind: r.parse("kind")?,
                    conversation_id: r.parse("conversation_id")?,
                })
            })
            .collect()
    }

    /// Fires an auto-close timer: closes the conversation if it has been quiet long enough
    /// (with the connection's closing message, when it has one), else moves the timer to when
    /// it will have been. One transaction either way.
    pub async fn fire_auto_close(
        &self,
        timer: &DueTimer,
        now: Timestamp,
        action_for: &ActionFor,
    ) -> Result<Option<Closed>, StoreError> {
        let mut tx = self.write.begin().await?;
        let account = sqlx::query("SELECT account_id FROM conversations WHERE id = $1")
            .bind(timer.conversation_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.parse::<AccountId>("account_id"))
            .transpose()?;
        if let Some(account) = account {
            routing::lock(&mut tx, self.dialect, account).await?;
        }
        let row = sqlx::query(
            "SELECT v.account_id, v.connection_id, v.last_message_at, c.auto_close_after_secs, c.auto_close_message,
                    i.external_id, COALESCE(i.reachable, 0) AS reachable,
                    (SELECT m.direction FROM messages m WHERE m.conversation_id = v.id
                     ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_direction
             FROM conversations v JOIN channel_connections c ON c.id = v.connection_id
             LEFT JOIN contact_identities i ON i.connection_id = v.connection_id AND i.contact_id = v.contact_id
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
                let message = row.opt_text("auto_close_message")?;
                let chat = row.opt_text("external_id")?;
                let mut notified = false;
                if let (Some(text), Some(chat_id), true) = (message, chat, row.flag("reachable")?) {
                    let notice = Notice {
                        action: action_for(&chat_id, &text),
                        chat_id,
                        text,
                    };
                    let connection = row.parse("connection_id")?;
                    send_notice(
                        &mut tx,
                        account,
                        connection,
                        timer.conversation_id,
                        &notice,
                        millis(now),
                    )
                    .await?;
                    notified = true;
                }
                let details = serde_json::json!({"reason": reason, "by": "auto_close", "after": after, "notified": notified});
                let changed = routing::close_row(
                    &mut tx,
                    account,
                    timer.conversation_id,
                    reason,
                    None,
                    details,
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(Some(Closed {
                    account_id: account,
                    conversation_id: timer.conversation_id,
                    reason,
                    changed,
                    notified,
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
