//! Routing in the shell: load a snapshot, ask the core (`switchboard_core::routing`) what to
//! do, write the result. Every change of who holds or is offered a conversation happens under
//! the account's routing lock (a transaction-scoped advisory lock on PostgreSQL; SQLite has
//! one writer anyway), so two nodes deciding at once cannot both fill an operator's last
//! place or both take one conversation. Compare-and-set updates guard the rows as well.

mod actions;
mod distribute;

pub(crate) use distribute::*;

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use sqlx::AnyConnection;
use switchboard_core::{
    admission::{Held, Refusal},
    audit::NewAuditEntry,
    conversation::{ClosedReason, ConversationStatus},
    distribution::Candidate,
    group::{Distribution, Strategy},
    ids::{AccountId, ConversationId, GroupId, OperatorId},
    routing::{self, assigned_at, free_places, Unanswered, Waiting},
    schedule::Hours,
    timer::TimerKind,
};

use crate::{
    audit,
    codec::{millis, RowExt},
    due::DueTimer,
    Dialect, Store, StoreError,
};

/// Where a transfer sends a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTarget {
    Operator(OperatorId),
    Group(GroupId),
}

/// Takes the account's routing lock for the rest of the transaction.
pub(crate) async fn lock(
    conn: &mut AnyConnection,
    dialect: Dialect,
    account: AccountId,
) -> Result<(), StoreError> {
    if dialect == Dialect::Postgres {
        let bytes = account.0.as_bytes();
        let mut key = [0u8; 8];
        key.copy_from_slice(&bytes[8..16]);
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(i64::from_be_bytes(key))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The rules of a group, as routing reads them.
struct Rules {
    distribution: Distribution,
}

async fn rules(
    conn: &mut AnyConnection,
    account: AccountId,
    group: GroupId,
) -> Result<Option<Rules>, StoreError> {
    let row = sqlx::query(
        "SELECT strategy, capacity, answer_timeout_secs, max_offers, fallback_group_id FROM groups
         WHERE account_id = $1 AND id = $2",
    )
    .bind(account.to_string())
    .bind(group.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let corrupt = |what: &str| StoreError::Corrupt(format!("groups.{what}"));
    Ok(Some(Rules {
        distribution: Distribution {
            strategy: row.parse("strategy")?,
            capacity: u32::try_from(row.int("capacity")?).map_err(|_| corrupt("capacity"))?,
            answer_timeout: u64::try_from(row.int("answer_timeout_secs")?)
                .ok()
                .and_then(|s| switchboard_core::DurationSpec::from_secs(s).ok())
                .ok_or_else(|| corrupt("answer_timeout_secs"))?,
            max_offers: u32::try_from(row.int("max_offers")?).map_err(|_| corrupt("max_offers"))?,
            fallback_group_id: row.opt_parse("fallback_group_id")?,
        },
    }))
}

const OPEN_COUNT: &str =
    "(SELECT COUNT(*) FROM conversations v WHERE v.assignee_id = o.id AND v.status = 'assigned')";

fn count(row: &sqlx::any::AnyRow, column: &str) -> Result<u32, StoreError> {
    u32::try_from(row.int(column)?).map_err(|_| StoreError::Corrupt(column.into()))
}

async fn candidates(
    conn: &mut AnyConnection,
    group: GroupId,
    capacity: u32,
) -> Result<Vec<Candidate>, StoreError> {
    let sql = format!(
        "SELECT o.id, o.status, o.capacity, o.last_assigned_at, m.position, {OPEN_COUNT} AS open_count
         FROM group_members m JOIN operators o ON o.id = m.operator_id
         WHERE m.group_id = $1 AND o.deleted_at IS NULL"
    );
    let rows = sqlx::query(&sql)
        .bind(group.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                id: row.parse("id")?,
                status: row.parse("status")?,
                open: count(row, "open_count")?,
                capacity: row
                    .opt_int("capacity")?
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(capacity),
                last_assigned_at: row.opt_time("last_assigned_at")?,
                position: usize::try_from(row.int("position")?).unwrap_or(usize::MAX),
            })
        })
        .collect()
}

/// One operator as a candidate outside any group (a conversation aimed at them): their own
/// capacity, else the largest of their groups', else the default.
async fn operator_candidate(
    conn: &mut AnyConnection,
    account: AccountId,
    operator: OperatorId,
    group_capacity: Option<u32>,
) -> Result<Option<Candidate>, StoreError> {
    let sql = format!(
        "SELECT o.id, o.status, o.capacity, o.last_assigned_at, {OPEN_COUNT} AS open_count,
            (SELECT MAX(g.capacity) FROM groups g JOIN group_members m ON m.group_id = g.id
             WHERE m.operator_id = o.id) AS groups_capacity
         FROM operators o WHERE o.account_id = $1 AND o.id = $2 AND o.deleted_at IS NULL"
    );
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(operator.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let capacity = row
        .opt_int("capacity")?
        .or(group_capacity.map(i64::from))
        .or(row.opt_int("groups_capacity")?)
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(Distribution::default().capacity);
    Ok(Some(Candidate {
        id: row.parse("id")?,
        status: row.parse("status")?,
        open: count(&row, "open_count")?,
        capacity,
        last_assigned_at: row.opt_time("last_assigned_at")?,
        position: 0,
    }))
}

fn tried_from(text: &str) -> Result<Vec<OperatorId>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("tried: {e}")))
}

fn tried_to(ids: &[OperatorId]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

/// Conversations waiting in a group's queue, oldest first.
async fn queue(
    conn: &mut AnyConnection,
    account: AccountId,
    group: GroupId,
    limit: usize,
) -> Result<Vec<Waiting>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, queued_at, opened_at, tried, declined FROM conversations
         WHERE account_id = $1 AND group_id = $2 AND status = 'queued' AND wanted_operator_id IS NULL
           AND needs_attention = 0 AND held_until IS NULL
         ORDER BY queued_at, id LIMIT $3",
    )
    .bind(account.to_string())
    .bind(group.to_string())
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Waiting {
                id: row.parse("id")?,
                queued_at: match row.opt_time("queued_at")? {
                    Some(at) => at,
                    None => row.time("opened_at")?,
                },
                tried: tried_from(&row.text("tried")?)?,
                declined: tried_from(&row.text("declined")?)?,
            })
        })
        .collect()
}

async fn set_timer(
    conn: &mut AnyConnection,
    kind: TimerKind,
    conversation: ConversationId,
    due: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO timers (kind, conversation_id, due_at) VALUES ($1, $2, $3)
         ON CONFLICT (kind, conversation_id) DO UPDATE SET due_at = excluded.due_at, lease_until = NULL",
    )
    .bind(kind.as_str())
    .bind(conversation.to_string())
    .bind(millis(due))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn drop_timer(
    conn: &mut AnyConnection,
    kind: TimerKind,
    conversation: ConversationId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM timers WHERE kind = $1 AND conversation_id = $2")
        .bind(kind.as_str())
        .bind(conversation.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Withdraws every offer of a conversation.
async fn drop_offers(
    conn: &mut AnyConnection,
    conversation: ConversationId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM offers WHERE conversation_id = $1")
        .bind(conversation.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn after(now: Timestamp, d: &Distribution) -> Timestamp {
    now.saturating_add(SignedDuration::from_secs(d.answer_timeout.as_secs() as i64))
        .unwrap_or(Timestamp::MAX)
}

/// The routing state of one conversation, read under the lock.
struct State {
    status: ConversationStatus,
    group_id: Option<GroupId>,
    assignee_id: Option<OperatorId>,
    assigned_at: Option<Timestamp>,
    answered: bool,
    offers_made: u32,
    tried: Vec<OperatorId>,
    held_until: Option<Timestamp>,
    wanted: Option<OperatorId>,
}

async fn state(
    conn: &mut AnyConnection,
    account: AccountId,
    conversation: ConversationId,
) -> Result<State, StoreError> {
    let row = sqlx::query(
        "SELECT status, group_id, assignee_id, assigned_at, answered, offers_made, tried, held_until,
                wanted_operator_id
         FROM conversations WHERE account_id = $1 AND id = $2",
    )
    .bind(account.to_string())
    .bind(conversation.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(State {
        status: row.parse("status")?,
        group_id: row.opt_parse("group_id")?,
        assignee_id: row.opt_parse("assignee_id")?,
        assigned_at: row.opt_time("assigned_at")?,
        answered: row.flag("answered")?,
        offers_made: count(&row, "offers_made")?,
        tried: tried_from(&row.text("tried")?)?,
        held_until: row.opt_time("held_until")?,
        wanted: row.opt_parse("wanted_operator_id")?,
    })
}

/// Moves a conversation on from operators who let their offer go (timed out or declined):
/// back to the queue for the next operator, to the fallback group after `max_offers`, or
/// flagged for a supervisor.
#[allow(clippy::too_many_arguments)]
async fn pass_on(
    conn: &mut AnyConnection,
    account: AccountId,
    conversation: ConversationId,
    current: &State,
    rules: &Rules,
    group: GroupId,
    missed: &[OperatorId],
    actor: Option<OperatorId>,
    now: Timestamp,
) -> Result<Vec<ConversationId>, StoreError> {
    let d = &rules.distribution;
    drop_timer(&mut *conn, TimerKind::AnswerTimeout, conversation).await?;
    let offers_made = current.offers_made + 1;
    let mut tried = current.tried.clone();
    tried.extend(missed.iter().filter(|o| !current.tried.contains(o)));
    let decision = routing::unanswered(offers_made, d.max_offers, d.fallback_group_id);
    let (group_after, offers_after, tried_after, flag) = match decision {
        Unanswered::Requeue => (group, offers_made, tried.clone(), false),
        Unanswered::Fallback(fallback) => (fallback, 0, Vec::new(), false),
        Unanswered::Flag => (group, offers_made, tried.clone(), true),
    };
    sqlx::query(
        "UPDATE conversations SET status = 'queued', assignee_id = NULL, assigned_at = NULL, answered = 0,
             queued_at = COALESCE(queued_at, opened_at), group_id = $2, offers_made = $3, tried = $4,
             needs_attention = $5, wanted_operator_id = NULL,
             declined = CASE WHEN group_id = $2 THEN declined ELSE '[]' END
         WHERE id = $1",
    )
    .bind(conversation.to_string())
    .bind(group_after.to_string())
    .bind(i64::from(offers_after))
    .bind(tried_to(&tried_after))
    .bind(i64::from(flag))
    .execute(&mut *conn)
    .await?;
    drop_offers(&mut *conn, conversation).await?;
    let outcome = match decision {
        Unanswered::Requeue => "requeued",
        Unanswered::Fallback(_) => "fallback",
        Unanswered::Flag => "needs_attention",
    };
    audit::record(
        &mut *conn,
        NewAuditEntry::new(account, actor, "conversation.unanswered", "conversation", conversation)
            .details(serde_json::json!({
                "operator_ids": missed, "offers_made": offers_made, "max_offers": d.max_offers,
                "outcome": outcome, "group_id": group_after, "assigned_at": current.assigned_at.map(millis),
            })),
    )
    .await?;
    let mut changed = vec![conversation];
    changed.extend(distribute_group(&mut *conn, account, group_after, now).await?);
    if current.status == ConversationStatus::Assigned {
        changed.extend(released(&mut *conn, account, current.assignee_id, None, now).await?);
    }
    if group_after != group {
        changed.extend(distribute_group(&mut *conn, account, group, now).await?);
    }
    Ok(changed)
}

impl From<Refusal> for StoreError {
    fn from(refusal: Refusal) -> Self {
        StoreError::Refused {
            code: refusal.code(),
            message: refusal.to_string(),
        }
    }
}

impl State {
    /// What the admission rules see of it.
    fn held(&self) -> Held {
        Held {
            status: self.status,
            assignee: self.assignee_id,
            answered: self.answered,
        }
    }
}

async fn account_of(
    conn: &mut AnyConnection,
    conversation: ConversationId,
) -> Result<Option<AccountId>, StoreError> {
    sqlx::query("SELECT account_id FROM conversations WHERE id = $1")
        .bind(conversation.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.parse("account_id"))
        .transpose()
}

/// Closes an open conversation inside the caller's locked transaction, and hands the place
/// it held to whoever can use it. Returns the other conversations that changed.
pub(crate) async fn close_row(
    conn: &mut AnyConnection,
    account: AccountId,
    conversation: ConversationId,
    reason: ClosedReason,
    actor: Option<OperatorId>,
    details: serde_json::Value,
    now: Timestamp,
) -> Result<Vec<ConversationId>, StoreError> {
    let current = state(conn, account, conversation).await?;
    let done = sqlx::query(
        "UPDATE conversations SET status = 'closed', assignee_id = NULL, closed_at = $2, closed_reason = $3,
             wanted_operator_id = NULL, held_until = NULL
         WHERE id = $1 AND closed_at IS NULL",
    )
    .bind(conversation.to_string())
    .bind(millis(now))
    .bind(reason.as_str())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(Vec::new());
    }
    let (assignee, group) = (current.assignee_id, current.group_id);
    sqlx::query("DELETE FROM timers WHERE conversation_id = $1")
        .bind(conversation.to_string())
        .execute(&mut *conn)
        .await?;
    drop_offers(&mut *conn, conversation).await?;
    audit::record(
        conn,
        NewAuditEntry::new(
            account,
            actor,
            "conversation.close",
            "conversation",
            conversation,
        )
        .details(details),
    )
    .await?;
    released(conn, account, assignee, group, now).await
}
