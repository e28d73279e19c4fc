//! The routing workflows on `Store`: assign, accept, decline, transfer, close, answer
//! timeouts and holds firing, status changes; each one transaction under the routing lock.

use super::*;
use switchboard_core::admission::{self, Decline, Take};
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
        match admission::take(&current.held(), operator, actor)? {
            Take::Nothing => return Ok(Vec::new()),
            Take::Accept => {
                // The operator has it in hand, so the answer timeout no longer applies and
                // going offline does not take it away.
                sqlx::query("UPDATE conversations SET answered = 1 WHERE id = $1")
                    .bind(conversation.to_string())
                    .execute(&mut *tx)
                    .await?;
                drop_timer(&mut tx, TimerKind::AnswerTimeout, conversation).await?;
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
            Take::Assign => {}
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
        admission::may_hold(&candidate)?;
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
        admission::transfer(&current.held())?;
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
                 offers_made = 0, tried = '[]', declined = '[]', needs_attention = 0, held_until = NULL, queued_at = $2,
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
        drop_timer(&mut tx, TimerKind::AnswerTimeout, conversation).await?;
        drop_timer(&mut tx, TimerKind::Hold, conversation).await?;
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
            drop_timer(&mut tx, TimerKind::AnswerTimeout, conversation).await?;
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
            drop_timer(&mut tx, TimerKind::AnswerTimeout, conversation).await?;
            tx.commit().await?;
            return Ok(Vec::new());
        };
        let due = after(since, d);
        if due > now {
            set_timer(&mut tx, TimerKind::AnswerTimeout, conversation, due).await?;
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
        let rules = match current.group_id {
            Some(g) => rules(&mut tx, account, g).await?,
            None => None,
        };
        let grouped = rules.is_some() && current.group_id.is_some();
        let decided = admission::decline(&current.held(), operator, &offered, grouped)?;
        let (Some(rules), Some(group)) = (rules, current.group_id) else {
            return Err(Refusal::WaitsForYouAlone.into());
        };
        // "Not me": never offered to this operator again in this group.
        let declined = sqlx::query("SELECT declined FROM conversations WHERE id = $1")
            .bind(conversation.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let mut declined = tried_from(&declined.text("declined")?)?;
        if !declined.contains(&operator) {
            declined.push(operator);
        }
        sqlx::query("UPDATE conversations SET declined = $2 WHERE id = $1")
            .bind(conversation.to_string())
            .bind(tried_to(&declined))
            .execute(&mut *tx)
            .await?;
        let changed = if decided == Decline::StepOut {
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
                set_timer(&mut tx, TimerKind::Hold, conversation, until).await?;
            }
            _ => {
                drop_timer(&mut tx, TimerKind::Hold, conversation).await?;
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
