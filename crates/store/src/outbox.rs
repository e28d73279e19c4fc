//! The outbox: rows written with the action that caused them (in its transaction), claimed
//! by delivery workers in order per conversation, and finished as sent, failed or unknown.
//! A claim takes a lease (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two nodes never claim
//! the same row) and shares its transaction with recording the outcomes of the sends finished
//! meanwhile. Besides channel actions, a row may download a customer's file (`FetchMedia`,
//! not ordered with the conversation's messages): the bytes are stored under their SHA-256
//! and linked to the message in `attachments`, which is also what authorizes serving them.

use std::time::Duration;

use jiff::Timestamp;
use sqlx::AnyConnection;
use switchboard_core::{
    delivery::Step,
    ids::{AccountId, ConnectionId, ConversationId, MessageId},
    message::{AuthorKind, Content, DeliveryStatus, Direction},
};

use crate::{
    codec::{millis, now_millis, to_json, RowExt},
    rows::Rows,
    writes::Writes,
    Dialect, Store, StoreError,
};

/// A row to queue.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub account_id: AccountId,
    pub connection_id: ConnectionId,
    pub conversation_id: Option<ConversationId>,
    pub message_id: Option<MessageId>,
    pub chat_id: Option<String>,
    /// The channel-neutral action as JSON.
    pub action: String,
}

/// A claimed row, to send now.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub account_id: AccountId,
    pub connection_id: ConnectionId,
    pub conversation_id: Option<ConversationId>,
    pub message_id: Option<MessageId>,
    pub chat_id: Option<String>,
    pub action: String,
    /// Attempts including this one.
    pub attempts: u32,
}

pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    item: &NewOutbound,
    now: i64,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO outbox (account_id, connection_id, conversation_id, message_id, action, chat_id, status,
             next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $7) RETURNING id",
    )
    .bind(item.account_id.to_string())
    .bind(item.connection_id.to_string())
    .bind(item.conversation_id.map(|c| c.to_string()))
    .bind(item.message_id.map(|m| m.to_string()))
    .bind(&item.action)
    .bind(item.chat_id.as_deref())
    .bind(now)
    .fetch_one(conn)
    .await?;
    row.int("id")
}

/// Queues rows, each with its time, in one statement per chunk. Ids rise in the order
/// given, which is the order a conversation's rows are claimed in.
pub(crate) fn enqueue_all(writes: &mut Writes, items: &[(NewOutbound, i64)]) {
    let mut rows = Rows::new(7);
    for (item, at) in items {
        rows.push([
            item.account_id.to_string().into(),
            item.connection_id.to_string().into(),
            item.conversation_id.map(|c| c.to_string()).into(),
            item.message_id.map(|m| m.to_string()).into(),
            item.action.clone().into(),
            item.chat_id.clone().into(),
            (*at).into(),
        ]);
    }
    writes.execute(
        "INSERT INTO outbox (account_id, connection_id, conversation_id, message_id, action, chat_id, status,
             next_attempt_at, created_at, updated_at)
         SELECT column1, column2, column3, column4, column5, column6, 'pending', column7, column7, column7
         FROM (VALUES {rows}) AS v",
        rows,
    );
}

/// A delivery round to do in an ingest batch's transaction ([`Store::commit_batch`]): the
/// outcomes of finished sends to record, then up to `limit` due rows to claim for `lease`.
#[derive(Debug, Clone)]
pub struct Settle {
    pub finished: Vec<(i64, Finish)>,
    pub lease: Duration,
    pub limit: u32,
}

/// How an outbox row ended (or when to try it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub step: Step,
    /// The channel's id of the sent message.
    pub external_id: Option<String>,
    /// Why it failed or must be retried; shown to operators.
    pub error: Option<String>,
}

impl Store {
    /// Claims up to `limit` due rows for `lease`; see [`claim_in`].
    pub async fn claim_outbox(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut conn = self.write.acquire().await?;
        claim_in(
            &mut conn,
            &mut Writes::new(),
            self.dialect,
            now,
            lease,
            limit,
            None,
        )
        .await
    }

    /// Records how claimed rows ended and claims up to `limit` due rows, in ONE transaction:
    /// the next message of a conversation just settled is claimed in the same commit.
    pub async fn settle_and_claim(
        &self,
        finished: &[(i64, Finish)],
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        if finished.is_empty() {
            return self.claim_outbox(now, lease, limit).await;
        }
        let mut tx = self.write.begin().await?;
        let mut writes = Writes::new();
        finish_all(&mut writes, finished, now);
        let items = claim_in(&mut tx, &mut writes, self.dialect, now, lease, limit, None).await?;
        tx.commit().await?;
        Ok(items)
    }

    /// Records how a claimed row ended, and mirrors it on its message.
    pub async fn finish_outbox(
        &self,
        id: i64,
        finish: &Finish,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.finish_outbox_batch(&[(id, finish.clone())], now).await
    }

    /// Records how several claimed rows ended, in one transaction (one commit and one
    /// statement per table for a batch of sends).
    pub async fn finish_outbox_batch(
        &self,
        finished: &[(i64, Finish)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let mut writes = Writes::new();
        finish_all(&mut writes, finished, now);
        writes.flush(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Settles rows whose worker died mid-send (a crash, a kill): the request may have been
    /// written, so they end `unknown` rather than being sent twice.
    pub async fn expire_outbox_leases(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now_ms = millis(now);
        let mut tx = self.write.begin().await?;
        let rows = sqlx::query(
            "UPDATE outbox SET status = 'unknown', lease_until = NULL, updated_at = $1,
                 last_error = 'the sender stopped before the channel answered; it may or may not have been delivered'
             WHERE status = 'sending' AND lease_until < $1 RETURNING message_id, last_error",
        )
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            if let Some(message) = row.opt_text("message_id")? {
                sqlx::query("UPDATE messages SET delivery_status = 'unknown', failure_reason = $2 WHERE id = $1 AND direction = 'outbound'")
                    .bind(message)
                    .bind(row.opt_text("last_error")?)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    /// Settles every row left `sending` by an earlier process, whatever its lease: run at
    /// start-up on SQLite, where only this process sends.
    pub async fn expire_all_outbox_leases(&self) -> Result<u64, StoreError> {
        self.expire_outbox_leases(Timestamp::MAX).await
    }

    /// Counts rows per status, for tests, metrics and the bench.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status ORDER BY status")
                .fetch_all(&self.read)
                .await?;
        rows.iter()
            .map(|r| Ok((r.text("status")?, r.int("n")?)))
            .collect()
    }

    /// Marks a connection broken (credentials refused) or healthy again.
    pub async fn set_connection_broken(
        &self,
        id: ConnectionId,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE channel_connections SET broken_reason = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(reason)
        .bind(now_millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Marks the contact behind a chat unreachable (blocked the bot) or reachable.
    pub async fn set_chat_reachable(
        &self,
        connection: ConnectionId,
        chat_id: &str,
        reachable: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE contact_identities SET reachable = $3 WHERE connection_id = $1 AND external_id = $2")
            .bind(connection.to_string())
            .bind(chat_id)
            .bind(i64::from(reachable))
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

/// Claims up to `limit` due rows for `lease` on `conn`; a row is only due once every
/// earlier row of its conversation is finished, so a conversation's messages leave in order.
/// Ordered by due time so the partial index of pending rows serves it: ordered by id alone,
/// SQLite walked every row ever sent, and the claim slowed as the outbox grew.
pub(crate) async fn claim_in(
    conn: &mut AnyConnection,
    writes: &mut Writes,
    dialect: Dialect,
    now: Timestamp,
    lease: Duration,
    limit: u32,
    then: Option<&'static str>,
) -> Result<Vec<OutboxItem>, StoreError> {
    let lock = match dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
            "UPDATE outbox SET status = 'sending', lease_until = ?, attempts = attempts + 1, updated_at = ?
             WHERE id IN (
                 SELECT o.id FROM outbox o
                 WHERE o.status = 'pending' AND o.next_attempt_at <= ?
                   AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.conversation_id = o.conversation_id
                                   AND p.id < o.id AND p.status IN ('pending', 'sending'))
                 ORDER BY o.next_attempt_at, o.id LIMIT ? {lock})
             RETURNING id, account_id, connection_id, conversation_id, message_id, chat_id, action, attempts"
        );
    let now_ms = millis(now);
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let args = [
        now_ms.saturating_add(lease_ms).into(),
        now_ms.into(),
        now_ms.into(),
        i64::from(limit).into(),
    ];
    let rows = writes.fetch_plain(conn, &sql, &args, then).await?;
    let mut items = rows
        .iter()
        .map(|row| {
            Ok(OutboxItem {
                id: row.int("id")?,
                account_id: row.parse("account_id")?,
                connection_id: row.parse("connection_id")?,
                conversation_id: row.opt_parse("conversation_id")?,
                message_id: row.opt_parse("message_id")?,
                chat_id: row.opt_text("chat_id")?,
                action: row.text("action")?,
                attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    items.sort_by_key(|i| i.id);
    Ok(items)
}

/// Queues on `writes` how claimed rows ended, each mirrored on its message: one statement
/// per table for all of them. A row whose lease expired was already settled as unknown: it
/// is left be, and so is its message (which is why the messages go first, while the rows
/// still say `sending`).
///
/// The rows are found by id; their status is only checked (`status || ''`, which no index
/// serves). Written `status = 'sending'`, PostgreSQL read every row the partial index of
/// leases had ever held since the last vacuum (a bitmap scan does not skip index entries of
/// rows already settled, as an index scan learns to): 23,000 entries for 256 rows after 10 s
/// under load, and more the longer between vacuums.
pub(crate) fn finish_all(writes: &mut Writes, finished: &[(i64, Finish)], now: Timestamp) {
    let now_ms = millis(now);
    let mut rows = Rows::new(5);
    let mut messages = Rows::new(4);
    for (id, finish) in finished {
        let (status, next, delivery) = match finish.step {
            Step::Sent => ("sent", now_ms, DeliveryStatus::Sent),
            Step::Failed => ("failed", now_ms, DeliveryStatus::Failed),
            Step::Unknown => ("unknown", now_ms, DeliveryStatus::Unknown),
            Step::RetryIn(wait) => (
                "pending",
                now_ms.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2)),
                DeliveryStatus::Pending,
            ),
        };
        rows.push([
            (*id).into(),
            status.into(),
            next.into(),
            finish.error.clone().into(),
            now_ms.into(),
        ]);
        messages.push([
            (*id).into(),
            delivery.as_str().into(),
            finish.external_id.clone().into(),
            finish.error.clone().into(),
        ]);
    }
    writes.execute(
        "UPDATE messages SET delivery_status = v.column2, external_id = COALESCE(v.column3, messages.external_id),
             failure_reason = v.column4
         FROM (VALUES {rows}) AS v JOIN outbox o ON o.id = v.column1
         WHERE messages.id = o.message_id AND o.status || '' = 'sending' AND messages.direction = 'outbound'",
        messages,
    );
    writes.execute(
        "UPDATE outbox SET status = v.column2, next_attempt_at = v.column3, lease_until = NULL, last_error = v.column4,
             updated_at = v.column5
         FROM (VALUES {rows}) AS v WHERE outbox.id = v.column1 AND outbox.status || '' = 'sending'",
        rows,
    );
}

/// A message the system sends the customer by itself (out of hours, closing), with the
/// channel action that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub chat_id: String,
    pub text: String,
    /// The channel-neutral outbox action as JSON.
    pub action: String,
}

/// Stores a system message and queues it in the conversation's order.
pub(crate) async fn send_notice(
    conn: &mut AnyConnection,
    account: AccountId,
    connection: ConnectionId,
    conversation: ConversationId,
    notice: &Notice,
    now: i64,
) -> Result<MessageId, StoreError> {
    let message = MessageId::new();
    let content = Content {
        text: notice.text.clone(),
        ..Content::default()
    };
    sqlx::query(
        "INSERT INTO messages (id, account_id, conversation_id, direction, author_kind, content, delivery_status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(message.to_string())
    .bind(account.to_string())
    .bind(conversation.to_string())
    .bind(Direction::Outbound.as_str())
    .bind(AuthorKind::System.as_str())
    .bind(to_json(&content))
    .bind(DeliveryStatus::Pending.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let item = NewOutbound {
        account_id: account,
        connection_id: connection,
        conversation_id: Some(conversation),
        message_id: Some(message),
        chat_id: Some(notice.chat_id.clone()),
        action: notice.action.clone(),
    };
    enqueue(conn, &item, now).await?;
    Ok(message)
}
