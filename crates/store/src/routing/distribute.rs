//! Distribution under the routing lock: who gets a waiting conversation (the core's
//! `plan` applied to the group's queue), offers refreshed, a wanted operator served first,
//! places handed on when an operator is freed, conversations returned when one leaves.

use super::*;

/// How an assignment came about, for the audit log.
#[derive(Debug, Clone, Copy)]
pub(super) struct Assignment<'a> {
    pub(super) actor: Option<OperatorId>,
    /// What round robin remembers as the operator's last assignment.
    pub(super) last_assigned: Timestamp,
    pub(super) by: &'a str,
    pub(super) strategy: Option<Strategy>,
}

/// Gives a waiting (or bot) conversation to an operator: compare-and-set on the row, the
/// answer timer when its group has one, the audit entry. False when it was no longer waiting.
pub(super) async fn assign_row(
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
                TimerKind::AnswerTimeout,
                conversation,
                after(now, &rules.distribution),
            )
            .await?
        }
        _ => drop_timer(conn, TimerKind::AnswerTimeout, conversation).await?,
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
            drop_timer(conn, TimerKind::AnswerTimeout, *conversation).await?;
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
            set_timer(conn, TimerKind::AnswerTimeout, *conversation, after(now, d)).await?;
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
pub(super) async fn refresh_offers(
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
        drop_timer(conn, TimerKind::AnswerTimeout, conversation).await?;
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
