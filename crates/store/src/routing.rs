//! Routing in the shell: load a snapshot, ask the core (`switchboard_core::routing`) what to
//! do, write the result. Every change of who holds or is offered a conversation happens under
//! the account's routing lock (a transaction-scoped advisory lock on PostgreSQL; SQLite has
//! one writer anyway), so two nodes deciding at once cannot both fill an operator's last
//! place or both take one conversation. Compare-and-set updates guard the rows as well.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use sqlx::AnyConnection;
use switchboard_core::{
    audit::NewAuditEntry,
    conversation::{ClosedReason, ConversationStatus},
    distribution::Candidate,
    group::{Distribution, Strategy},
    ids::{AccountId, ConversationId, GroupId, OperatorId},
    operator::OperatorStatus,
    routing::{self, assigned_at, free_places, Unanswered, Waiting},
    schedule::Hours,
};

use crate::{
    audit,
    codec::{millis, RowExt},
    timers::DueTimer,
    Dialect, Store, StoreError,
};

/// Moves an assigned conversation on when its operator has not answered in time; for
/// `all_at_once`, ends an offer round nobody accepted.
pub const ANSWER_TIMEOUT: &str = "answer_timeout";
/// Releases a conversation held out of hours when the schedule opens.
pub const HOLD: &str = "hold";

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
        "SELECT id, queued_at, opened_at, tried FROM conversations
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
            })
        })
        .collect()
}

async fn set_timer(
    conn: &mut AnyConnection,
    kind: &str,
    conversation: ConversationId,
    due: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO timers (kind, conversation_id, due_at) VALUES ($1, $2, $3)
         ON CONFLICT (kind, conversation_id) DO UPDATE SET due_at = excluded.due_at, lease_until = NULL",
    )
    .bind(kind)
    .bind(conversation.to_string())
    .bind(millis(due))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn drop_timer(
    conn: &mut AnyConnection,
    kind: &str,
    conversation: ConversationId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM timers WHERE kind = $1 AND conversation_id = $2")
        .bind(kind)
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

/// How an assignment came about, for the audit log.
#[derive(Debug, Clone, Copy)]
struct Assignment<'a> {
    actor: Option<OperatorId>,
    /// What round robin remembers as the operator's last assignment.
    last_assigned: Timestamp,
    by: &'a str,
    strategy: Option<Strategy>,
}

/// Gives a waiting (or bot) conversation to an operator: compare-and-set on the row, the
/// answer timer when its group has one, the audit entry. False when it was no longer waiting.
async fn assign_row(
    conn: &mut AnyConnection,
    account: AccountId,
    conversation: ConversationId,
    operator: OperatorId,
    rules: Option<&Rules>,
    now: Timestamp,
    how: Assignment<'_>,
) -> Result<bool, StoreError> {
    // An operator who accepts it has it in hand: no answer timeout runs against them.
    let accepted = how.by == "accept";
    let done = sqlx::query(
        "UPDATE conversations SET status = 'assigned', assignee_id = $2, assigned_at = $3, answered = $4,
             wanted_operator_id = NULL, held_until = NULL, needs_attention = 0
         WHERE id = $1 AND status IN ('queued', 'bot')",
    )
    .bind(conversation.to_string())
    .bind(operator.to_string())
    .bind(millis(now))
    .bind(i64::from(accepted))
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("UPDATE operators SET last_assigned_at = $2 WHERE id = $1")
        .bind(operator.to_string())
        .bind(millis(how.last_assigned))
        .execute(&mut *conn)
        .await?;
    drop_offers(&mut *conn, conversation).await?;
    match rules {
        Some(rules) if !accepted => {
            set_timer(
                conn,
                ANSWER_TIMEOUT,
                conversation,
                after(now, &rules.distribution),
            )
            .await?
        }
        _ => drop_timer(conn, ANSWER_TIMEOUT, conversation).await?,
    }
    audit::record(
        conn,
        NewAuditEntry::new(
            account,
            how.actor,
            "conversation.assign",
            "conversation",
            conversation,
        )
        .details(
            serde_json::json!({"operator_id": operator, "by": how.by, "strategy": how.strategy}),
        ),
    )
    .await?;
    Ok(true)
}

/// One distribution pass over a group's queue; returns the conversations it changed.
pub(crate) async fn distribute_group(
    conn: &mut AnyConnection,
    account: AccountId,
    group: GroupId,
    now: Timestamp,
) -> Result<Vec<ConversationId>, StoreError> {
    let Some(rules) = rules(conn, account, group).await? else {
        return Ok(Vec::new());
    };
    let d = &rules.distribution;
    let candidates = candidates(conn, group, d.capacity).await?;
    let places = free_places(&candidates);
    let mut changed = Vec::new();
    if d.strategy != Strategy::AllAtOnce {
        if places == 0 {
            return Ok(changed);
        }
        let waiting = queue(conn, account, group, places).await?;
        let plan = routing::plan(d.strategy, &candidates, &waiting, now);
        let mut busier = Vec::new();
        for (index, (conversation, operator)) in plan.assign.into_iter().enumerate() {
            let how = Assignment {
                actor: None,
                last_assigned: assigned_at(now, index),
                by: "distribution",
                strategy: Some(d.strategy),
            };
            if assign_row(
                conn,
                account,
                conversation,
                operator,
                Some(&rules),
                now,
                how,
            )
            .await?
            {
                changed.push(conversation);
                if !busier.contains(&operator) {
                    busier.push(operator);
                }
            }
        }
        changed.extend(refresh_offers(conn, account, &busier, Some(group), now).await?);
        return Ok(changed);
    }
    let waiting = queue(conn, account, group, places).await?;
    let plan = routing::plan(d.strategy, &candidates, &waiting, now);
    let mut current: BTreeMap<ConversationId, Vec<OperatorId>> = BTreeMap::new();
    let rows = sqlx::query(
        "SELECT f.conversation_id, f.operator_id FROM offers f JOIN conversations v ON v.id = f.conversation_id
         WHERE v.account_id = $1 AND v.group_id = $2",
    )
    .bind(account.to_string())
    .bind(group.to_string())
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        current
            .entry(row.parse("conversation_id")?)
            .or_default()
            .push(row.parse("operator_id")?);
    }
    let wanted: HashMap<ConversationId, Vec<OperatorId>> = plan.offer.into_iter().collect();
    for (conversation, had) in &current {
        if !wanted.contains_key(conversation) {
            drop_offers(&mut *conn, *conversation).await?;
            drop_timer(conn, ANSWER_TIMEOUT, *conversation).await?;
            if !had.is_empty() {
                changed.push(*conversation);
            }
        }
    }
    for (conversation, operators) in &wanted {
        let had = current.get(conversation).cloned().unwrap_or_default();
        if had == *operators {
            continue;
        }
        for gone in had.iter().filter(|o| !operators.contains(o)) {
            sqlx::query("DELETE FROM offers WHERE conversation_id = $1 AND operator_id = $2")
                .bind(conversation.to_string())
                .bind(gone.to_string())
                .execute(&mut *conn)
                .await?;
        }
        for new in operators.iter().filter(|o| !had.contains(o)) {
            sqlx::query(
                "INSERT INTO offers (conversation_id, operator_id, offered_at) VALUES ($1, $2, $3)",
            )
            .bind(conversation.to_string())
            .bind(new.to_string())
            .bind(millis(now))
            .execute(&mut *conn)
            .await?;
        }
        if had.is_empty() {
            // A new round: nobody accepting within the answer timeout counts as one offer.
            set_timer(conn, ANSWER_TIMEOUT, *conversation, after(now, d)).await?;
            audit::record(
                conn,
                NewAuditEntry::new(
                    account,
                    None,
                    "conversation.offer",
                    "conversation",
                    *conversation,
                )
                .details(serde_json::json!({"operator_ids": operators, "strategy": d.strategy})),
            )
            .await?;
        }
        changed.push(*conversation);
    }
    Ok(changed)
}

/// Re-plans the `all_at_once` offers of these operators' groups (but `except`): an operator
/// who took a conversation elsewhere may have no place left for what they were offered.
async fn refresh_offers(
    conn: &mut AnyConnection,
    account: AccountId,
    operators: &[OperatorId],
    except: Option<GroupId>,
    now: Timestamp,
) -> Result<Vec<ConversationId>, StoreError> {
    let mut groups: Vec<GroupId> = Vec::new();
    for operator in operators {
        let rows = sqlx::query(
            "SELECT g.id FROM groups g JOIN group_members m ON m.group_id = g.id
             WHERE m.operator_id = $1 AND g.strategy = 'all_at_once'",
        )
        .bind(operator.to_string())
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            let group: GroupId = row.parse("id")?;
            if Some(group) != except && !groups.contains(&group) {
                groups.push(group);
            }
        }
    }
    let mut changed = Vec::new();
    for group in groups {
        changed.extend(Box::pin(distribute_group(conn, account, group, now)).await?);
    }
    Ok(changed)
}

/// Assigns conversations waiting for one operator (a connection or transfer aimed at them)
/// while they are online with free places.
pub(crate) async fn distribute_wanted(
    conn: &mut AnyConnection,
    account: AccountId,
    operator: OperatorId,
    now: Timestamp,
) -> Result<Vec<ConversationId>, StoreError> {
    let Some(candidate) = operator_candidate(conn, account, operator, None).await? else {
        return Ok(Vec::new());
    };
    if !candidate.available() {
        return Ok(Vec::new());
    }
    let free = candidate.capacity - candidate.open;
    let rows = sqlx::query(
        "SELECT id, group_id FROM conversations
         WHERE account_id = $1 AND wanted_operator_id = $2 AND status = 'queued' AND needs_attention = 0
           AND held_until IS NULL
         ORDER BY queued_at, id LIMIT $3",
    )
    .bind(account.to_string())
    .bind(operator.to_string())
    .bind(i64::from(free))
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let conversation: ConversationId = row.parse("id")?;
        let group: Option<GroupId> = row.opt_parse("group_id")?;
        let rules = match group {
            Some(g) => rules(conn, account, g).await?,
            None => None,
        };
        let how = Assignment {
            actor: None,
            last_assigned: assigned_at(now, index),
            by: "wanted_operator",
            strategy: None,
        };
        if assign_row(
            conn,
            account,
            conversation,
            operator,
            rules.as_ref(),
            now,
            how,
        )
        .await?
        {
            changed.push(conversation);
        }
    }
    if !changed.is_empty() {
        changed.extend(refresh_offers(conn, account, &[operator], None, now).await?);
    }
    Ok(changed)
}

/// Everything that may change when an operator's places or status change: conversations
/// waiting for them, then the queues of their groups.
pub(crate) async fn distribute_operator(
    conn: &mut AnyConnection,
    account: AccountId,
    operator: OperatorId,
    now: Timestamp,
) -> Result<Vec<ConversationId>, StoreError> {
    let mut changed = distribute_wanted(conn, account, operator, now).await?;
    let groups = sqlx::query("SELECT group_id FROM group_members WHERE operator_id = $1")
        .bind(operator.to_string())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.parse::<GroupId>("group_id"))
        .collect::<Result<Vec<_>, _>>()?;
    for group in groups {
        changed.extend(distribute_group(conn, account, group, now).await?);
    }
    Ok(changed)
}

/// After a conversation let go of its operator or queue place: whoever can use the place.
pub(crate) async fn released(
    conn: &mut AnyConnection,
    account: AccountId,
    operator: Option<OperatorId>,
    group: Option<GroupId>,
    now: Timestamp,
) -> Result<Vec<ConversationId>, StoreError> {
    let mut changed = Vec::new();
    if let Some(group) = group {
        changed.extend(distribute_group(conn, account, group, now).await?);
    }
    if let Some(operator) = operator {
        changed.extend(distribute_operator(conn, account, operator, now).await?);
    }
    Ok(changed)
}

/// Gives an operator's conversations back to their queues: the unanswered ones when they go
/// offline, all of them when they are retired. A conversation with no group waits for the
/// same operator (when they are only offline) or for a supervisor.
pub(crate) async fn return_conversations(
    conn: &mut AnyConnection,
    account: AccountId,
    operator: OperatorId,
    only_unanswered: bool,
    why: &str,
    now: Timestamp,
) -> Result<Vec<ConversationId>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, group_id, tried FROM conversations
         WHERE account_id = $1 AND assignee_id = $2 AND status = 'assigned' AND ($3 = 0 OR answered = 0)",
    )
    .bind(account.to_string())
    .bind(operator.to_string())
    .bind(i64::from(only_unanswered))
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = Vec::new();
    let mut groups = Vec::new();
    for row in &rows {
        let conversation: ConversationId = row.parse("id")?;
        let group: Option<GroupId> = row.opt_parse("group_id")?;
        let mut tried = tried_from(&row.text("tried")?)?;
        if !tried.contains(&operator) {
            tried.push(operator);
        }
        let (wanted, attention) = match (group, only_unanswered) {
            (Some(_), _) => (None, false),
            (None, true) => (Some(operator), false),
            (None, false) => (None, true),
        };
        sqlx::query(
            "UPDATE conversations SET status = 'queued', assignee_id = NULL, assigned_at = NULL, answered = 0,
                 queued_at = COALESCE(queued_at, $2), tried = $3, wanted_operator_id = $4, needs_attention = $5
             WHERE id = $1",
        )
        .bind(conversation.to_string())
        .bind(millis(now))
        .bind(tried_to(&tried))
        .bind(wanted.map(|o| o.to_string()))
        .bind(i64::from(attention))
        .execute(&mut *conn)
        .await?;
        drop_timer(conn, ANSWER_TIMEOUT, conversation).await?;
        audit::record(
            conn,
            NewAuditEntry::new(
                account,
                None,
                "conversation.return",
                "conversation",
                conversation,
            )
            .details(
                serde_json::json!({"operator_id": operator, "reason": why, "group_id": group}),
            ),
        )
        .await?;
        changed.push(conversation);
        if let Some(g) = group.filter(|g| !groups.contains(g)) {
            groups.push(g);
        }
    }
    for group in groups {
        changed.extend(distribute_group(conn, account, group, now).await?);
    }
    Ok(changed)
}

/// Sends a just-queued conversation on its way: to its operator or through its group.
pub(crate) async fn route_queued(
    conn: &mut AnyConnection,
    account: AccountId,
    group: Option<GroupId>,
    wanted: Option<OperatorId>,
    now: Timestamp,
) -> Result<Vec<ConversationId>, StoreError> {
    match (wanted, group) {
        (Some(operator), _) => distribute_wanted(conn, account, operator, now).await,
        (None, Some(group)) => distribute_group(conn, account, group, now).await,
        (None, None) => Ok(Vec::new()),
    }
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
    drop_timer(&mut *conn, ANSWER_TIMEOUT, conversation).await?;
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
             needs_attention = $5, wanted_operator_id = NULL
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

fn refused(code: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Refused {
        code,
        message: message.into(),
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

impl Store {
    /// Gives a conversation to an operator: an operator accepting an offer or taking one from
    /// the queue, or a supervisor assigning. The operator must be online with a free place;
    /// a conversation someone else holds is refused (`already_assigned`): of two operators
    /// accepting one offer, the first takes it.
    pub async fn assign_conversation(
        &self,
        account: AccountId,
        conversation: ConversationId,
        operator: OperatorId,
        actor: OperatorId,
        now: Timestamp,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let mut tx = self.write.begin().await?;
        lock(&mut tx, self.dialect, account).await?;
        let current = state(&mut tx, account, conversation).await?;
        match (current.status, current.assignee_id) {
            (ConversationStatus::Closed, _) => {
                return Err(refused("conversation_closed", "the conversation is closed"))
            }
            (ConversationStatus::Assigned, Some(holder)) if holder == operator => {
                if current.answered || actor != operator {
                    return Ok(Vec::new());
                }
                // Accepting what distribution gave them: the operator has it in hand, so the
                // answer timeout no longer applies and going offline does not take it away.
                sqlx::query("UPDATE conversations SET answered = 1 WHERE id = $1")
                    .bind(conversation.to_string())
                    .execute(&mut *tx)
                    .await?;
                drop_timer(&mut tx, ANSWER_TIMEOUT, conversation).await?;
                audit::record(
                    &mut tx,
                    NewAuditEntry::new(
                        account,
                        Some(actor),
                        "conversation.accepted",
                        "conversation",
                        conversation,
                    ),
                )
                .await?;
                tx.commit().await?;
                return Ok(vec![conversation]);
            }
            (ConversationStatus::Assigned, _) => {
                return Err(refused(
                    "already_assigned",
                    "another operator has taken this conversation; transfer it instead",
                ))
            }
            _ => {}
        }
        let rules = match current.group_id {
            Some(g) => rules(&mut tx, account, g).await?,
            None => None,
        };
        let capacity = rules.as_ref().map(|r| r.distribution.capacity);
        let candidate = operator_candidate(&mut tx, account, operator, capacity)
            .await?
            .ok_or_else(|| StoreError::InvalidReference {
                what: "operator_id".into(),
            })?;
        if candidate.status != OperatorStatus::Online {
            return Err(refused(
                "operator_not_online",
                format!(
                    "the operator is {}; only online operators take conversations",
                    candidate.status
                ),
            ));
        }
        if candidate.open >= candidate.capacity {
            return Err(refused(
                "at_capacity",
                format!(
                    "the operator already has {} open conversations, their limit",
                    candidate.open
                ),
            ));
        }
        let how = Assignment {
            actor: Some(actor),
            last_assigned: now,
            by: if actor == operator {
                "accept"
            } else {
                "supervisor"
            },
            strategy: None,
        };
        assign_row(
            &mut tx,
            account,
            conversation,
            operator,
            rules.as_ref(),
            now,
            how,
        )
        .await?;
        let mut changed = vec![conversation];
        if let Some(group) = current.group_id {
            // Its offers are gone; the place they held goes to the next in the queue.
            changed.extend(distribute_group(&mut tx, account, group, now).await?);
        }
        // The operator has one place less in every group they are offered things in.
        changed.extend(refresh_offers(&mut tx, account, &[operator], current.group_id, now).await?);
        tx.commit().await?;
        Ok(changed)
    }

    /// Hands a conversation to another operator or group, from wherever it is (bot, queue,
    /// an operator). It starts afresh there: queued, then distributed.
    pub async fn transfer_conversation(
        &self,
        account: AccountId,
        conversation: ConversationId,
        target: TransferTarget,
        reason: Option<&str>,
        actor: Option<OperatorId>,
        now: Timestamp,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let mut tx = self.write.begin().await?;
        lock(&mut tx, self.dialect, account).await?;
        let current = state(&mut tx, account, conversation).await?;
        if current.status == ConversationStatus::Closed {
            return Err(refused("conversation_closed", "the conversation is closed"));
        }
        let (table, id, field) = match target {
            TransferTarget::Operator(o) => ("operators", o.to_string(), "operator_id"),
            TransferTarget::Group(g) => ("groups", g.to_string(), "group_id"),
        };
        let extra = if table == "operators" {
            " AND deleted_at IS NULL"
        } else {
            ""
        };
        let sql = format!("SELECT 1 AS one FROM {table} WHERE account_id = $1 AND id = $2{extra}");
        if sqlx::query(&sql)
            .bind(account.to_string())
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?
            .is_none()
        {
            return Err(StoreError::InvalidReference { what: field.into() });
        }
        let (group, wanted) = match target {
            TransferTarget::Operator(o) => (current.group_id, Some(o)),
            TransferTarget::Group(g) => (Some(g), None),
        };
        sqlx::query(
            "UPDATE conversations SET status = 'queued', assignee_id = NULL, assigned_at = NULL, answered = 0,
                 offers_made = 0, tried = '[]', needs_attention = 0, held_until = NULL, queued_at = $2,
                 group_id = $3, wanted_operator_id = $4
             WHERE id = $1",
        )
        .bind(conversation.to_string())
        .bind(millis(now))
        .bind(group.map(|g| g.to_string()))
        .bind(wanted.map(|o| o.to_string()))
        .execute(&mut *tx)
        .await?;
        drop_offers(&mut tx, conversation).await?;
        drop_timer(&mut tx, ANSWER_TIMEOUT, conversation).await?;
        drop_timer(&mut tx, HOLD, conversation).await?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(
                account,
                actor,
                "conversation.transfer",
                "conversation",
                conversation,
            )
            .details(serde_json::json!({
                "from_operator_id": current.assignee_id, "from_group_id": current.group_id,
                "to_operator_id": wanted, "to_group_id": group, "reason": reason,
            })),
        )
        .await?;
        let mut changed = vec![conversation];
        changed.extend(route_queued(&mut tx, account, group, wanted, now).await?);
        // It may have held an offer or a place in its old queue.
        changed
            .extend(released(&mut tx, account, current.assignee_id, current.group_id, now).await?);
        tx.commit().await?;
        Ok(changed)
    }

    /// Closes a conversation on an operator's word. Closing a closed one changes nothing.
    pub async fn close_conversation(
        &self,
        account: AccountId,
        conversation: ConversationId,
        actor: Option<OperatorId>,
        now: Timestamp,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let mut tx = self.write.begin().await?;
        lock(&mut tx, self.dialect, account).await?;
        let current = state(&mut tx, account, conversation).await?;
        if current.status == ConversationStatus::Closed {
            return Ok(Vec::new());
        }
        let mut changed = vec![conversation];
        changed.extend(
            close_row(
                &mut tx,
                account,
                conversation,
                ClosedReason::Operator,
                actor,
                serde_json::json!({"reason": ClosedReason::Operator}),
                now,
            )
            .await?,
        );
        tx.commit().await?;
        Ok(changed)
    }

    /// Fires an answer timeout: an assignee who has not written in time loses the
    /// conversation to the next operator; an `all_at_once` round nobody accepted ends. After
    /// `max_offers` the conversation goes to the fallback group, or is flagged and waits.
    pub async fn fire_answer_timeout(
        &self,
        timer: &DueTimer,
        now: Timestamp,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let mut tx = self.write.begin().await?;
        let Some(account) = account_of(&mut tx, timer.conversation_id).await? else {
            tx.commit().await?;
            return Ok(Vec::new());
        };
        lock(&mut tx, self.dialect, account).await?;
        let conversation = timer.conversation_id;
        let current = state(&mut tx, account, conversation).await?;
        let rules = match current.group_id {
            Some(g) => rules(&mut tx, account, g).await?,
            None => None,
        };
        let (Some(rules), Some(group)) = (rules, current.group_id) else {
            drop_timer(&mut tx, ANSWER_TIMEOUT, conversation).await?;
            tx.commit().await?;
            return Ok(Vec::new());
        };
        let d = &rules.distribution;
        // Who let it run out: the assignee, or everyone offered an `all_at_once` round.
        let (missed, since) = match (current.status, current.assignee_id) {
            (ConversationStatus::Assigned, Some(holder)) if !current.answered => {
                (vec![holder], current.assigned_at)
            }
            (ConversationStatus::Queued, None) => {
                let rows = sqlx::query(
                    "SELECT operator_id, offered_at FROM offers WHERE conversation_id = $1",
                )
                .bind(conversation.to_string())
                .fetch_all(&mut *tx)
                .await?;
                let mut since = None;
                let mut missed = Vec::new();
                for row in &rows {
                    missed.push(row.parse::<OperatorId>("operator_id")?);
                    let at = row.time("offered_at")?;
                    since = Some(since.map_or(at, |s: Timestamp| s.min(at)));
                }
                (missed, since)
            }
            _ => (Vec::new(), None),
        };
        let Some(since) = since.filter(|_| !missed.is_empty()) else {
            drop_timer(&mut tx, ANSWER_TIMEOUT, conversation).await?;
            tx.commit().await?;
            return Ok(Vec::new());
        };
        let due = after(since, d);
        if due > now {
            set_timer(&mut tx, ANSWER_TIMEOUT, conversation, due).await?;
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let changed = pass_on(
            &mut tx,
            account,
            conversation,
            &current,
            &rules,
            group,
            &missed,
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// An operator declines what they were offered: the conversation assigned to them that
    /// they have not answered, or their part of an `all_at_once` offer. It counts as an
    /// unanswered offer: on to the next operator, or the fallback group after `max_offers`.
    pub async fn decline_conversation(
        &self,
        account: AccountId,
        conversation: ConversationId,
        operator: OperatorId,
        now: Timestamp,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let mut tx = self.write.begin().await?;
        lock(&mut tx, self.dialect, account).await?;
        let current = state(&mut tx, account, conversation).await?;
        let offered: Vec<OperatorId> =
            sqlx::query("SELECT operator_id FROM offers WHERE conversation_id = $1")
                .bind(conversation.to_string())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.parse("operator_id"))
                .collect::<Result<_, _>>()?;
        let holds = current.status == ConversationStatus::Assigned
            && current.assignee_id == Some(operator)
            && !current.answered;
        let is_offered =
            current.status == ConversationStatus::Queued && offered.contains(&operator);
        if !holds && !is_offered {
            return Err(refused(
                "not_offered",
                "only a conversation offered to you, or assigned to you and not yet answered, can be declined",
            ));
        }
        let rules = match current.group_id {
            Some(g) => rules(&mut tx, account, g).await?,
            None => None,
        };
        let (Some(rules), Some(group)) = (rules, current.group_id) else {
            // Aimed at this operator alone: nobody else to pass it to.
            return Err(refused(
                "not_offered",
                "this conversation waits for you alone; transfer it instead",
            ));
        };
        let changed = if is_offered && offered.len() > 1 {
            // Others still hold the offer: only this operator steps out of the round.
            let mut tried = current.tried.clone();
            if !tried.contains(&operator) {
                tried.push(operator);
            }
            sqlx::query("DELETE FROM offers WHERE conversation_id = $1 AND operator_id = $2")
                .bind(conversation.to_string())
                .bind(operator.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE conversations SET tried = $2 WHERE id = $1")
                .bind(conversation.to_string())
                .bind(tried_to(&tried))
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                NewAuditEntry::new(
                    account,
                    Some(operator),
                    "conversation.declined",
                    "conversation",
                    conversation,
                ),
            )
            .await?;
            vec![conversation]
        } else {
            audit::record(
                &mut tx,
                NewAuditEntry::new(
                    account,
                    Some(operator),
                    "conversation.declined",
                    "conversation",
                    conversation,
                ),
            )
            .await?;
            pass_on(
                &mut tx,
                account,
                conversation,
                &current,
                &rules,
                group,
                &[operator],
                Some(operator),
                now,
            )
            .await?
        };
        tx.commit().await?;
        Ok(changed)
    }

    /// Fires an out-of-hours hold: the schedule has opened, the conversation is distributed.
    pub async fn fire_hold(
        &self,
        timer: &DueTimer,
        now: Timestamp,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let mut tx = self.write.begin().await?;
        let Some(account) = account_of(&mut tx, timer.conversation_id).await? else {
            tx.commit().await?;
            return Ok(Vec::new());
        };
        lock(&mut tx, self.dialect, account).await?;
        let conversation = timer.conversation_id;
        let current = state(&mut tx, account, conversation).await?;
        let mut changed = Vec::new();
        // The schedule is read again: its hours may have changed since the hold began.
        let hours = sqlx::query(
            "SELECT s.hours FROM conversations v JOIN channel_connections c ON c.id = v.connection_id
             JOIN schedules s ON s.id = c.schedule_id WHERE v.id = $1",
        )
        .bind(conversation.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.json::<Hours>("hours"))
        .transpose()?;
        let opens = hours.and_then(|h| h.next_open(now)).filter(|at| *at > now);
        match opens {
            Some(until)
                if current.status == ConversationStatus::Queued && current.held_until.is_some() =>
            {
                sqlx::query("UPDATE conversations SET held_until = $2 WHERE id = $1")
                    .bind(conversation.to_string())
                    .bind(millis(until))
                    .execute(&mut *tx)
                    .await?;
                set_timer(&mut tx, HOLD, conversation, until).await?;
            }
            _ => {
                drop_timer(&mut tx, HOLD, conversation).await?;
                if current.held_until.is_some() {
                    sqlx::query("UPDATE conversations SET held_until = NULL WHERE id = $1")
                        .bind(conversation.to_string())
                        .execute(&mut *tx)
                        .await?;
                    audit::record(
                        &mut tx,
                        NewAuditEntry::new(
                            account,
                            None,
                            "conversation.release",
                            "conversation",
                            conversation,
                        )
                        .details(serde_json::json!({"reason": "working hours began"})),
                    )
                    .await?;
                    changed.push(conversation);
                    if current.status == ConversationStatus::Queued {
                        changed.extend(
                            route_queued(&mut tx, account, current.group_id, current.wanted, now)
                                .await?,
                        );
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Makes every out-of-hours hold of the account due now, so each is checked against the
    /// schedule as it is now (its hours were changed). Returns how many holds there were.
    pub async fn recheck_holds(
        &self,
        account: AccountId,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE timers SET due_at = $2, lease_until = NULL
             WHERE kind = 'hold' AND conversation_id IN (SELECT id FROM conversations WHERE account_id = $1)",
        )
        .bind(account.to_string())
        .bind(millis(now))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    /// A safety net behind the event-driven passes: distributes every queue that has
    /// conversations waiting, as after a crash between a change and its pass.
    pub async fn sweep_queues(&self, now: Timestamp) -> Result<Vec<ConversationId>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT account_id, group_id, wanted_operator_id FROM conversations
             WHERE status = 'queued' AND needs_attention = 0 AND held_until IS NULL",
        )
        .fetch_all(&self.read)
        .await?;
        let mut changed = Vec::new();
        for row in &rows {
            let account: AccountId = row.parse("account_id")?;
            let group: Option<GroupId> = row.opt_parse("group_id")?;
            let wanted: Option<OperatorId> = row.opt_parse("wanted_operator_id")?;
            let mut tx = self.write.begin().await?;
            lock(&mut tx, self.dialect, account).await?;
            changed.extend(route_queued(&mut tx, account, group, wanted, now).await?);
            tx.commit().await?;
        }
        Ok(changed)
    }

    /// Runs distribution for a group now (after its members or rules changed).
    pub async fn redistribute_group(
        &self,
        account: AccountId,
        group: GroupId,
        now: Timestamp,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let mut tx = self.write.begin().await?;
        lock(&mut tx, self.dialect, account).await?;
        let changed = distribute_group(&mut tx, account, group, now).await?;
        tx.commit().await?;
        Ok(changed)
    }
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
