//! Conversations and their messages as operators see them, and operator replies (a message
//! and its outbox row in one transaction, deduplicated by the client's idempotency key).

use sqlx::any::AnyRow;
use switchboard_core::{
    audit::NewAuditEntry,
    conversation::{ContactSummary, Conversation, ConversationStatus},
    ids::{
        AccountId, ConnectionId, ContactId, ConversationId, GroupId, MessageId, NoteId, OperatorId,
    },
    message::{AuthorKind, Content, DeliveryStatus, Direction, Message, Note},
    timer::TimerKind,
};

use crate::{
    audit,
    codec::{now_millis, to_json, RowExt},
    outbox::{enqueue, NewOutbound},
    rows::{bind, Arg},
    Store, StoreError,
};

/// Filters for listing conversations; `None` matches all.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub channel_id: Option<ConnectionId>,
    pub assignee_id: Option<OperatorId>,
    pub group_id: Option<GroupId>,
    pub needs_attention: Option<bool>,
    /// Only conversations offered to this operator now.
    pub offered_to: Option<OperatorId>,
    /// Only this contact's conversations (their history across channels).
    pub contact_id: Option<ContactId>,
    /// Only those this plain operator may open (see `Conversation::visible_to`).
    pub visible_to: Option<OperatorId>,
    /// Only those after this place in the list's order (the next page).
    pub after: Option<ListCursor>,
    pub limit: u32,
}

/// A place in the conversation list's order (newest activity first): a page's last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    /// Unix milliseconds.
    pub last_message_at: i64,
    pub id: ConversationId,
}

impl ListCursor {
    /// Where the page after `conversation` starts.
    pub fn after(conversation: &Conversation) -> Self {
        Self {
            last_message_at: conversation.last_message_at.as_millisecond(),
            id: conversation.id,
        }
    }
}

/// As clients see it: opaque text, `{milliseconds}.{id}`.
impl std::fmt::Display for ListCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.last_message_at, self.id)
    }
}

impl std::str::FromStr for ListCursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (at, id) = s.split_once('.').unwrap_or_default();
        match (at.parse(), id.parse()) {
            (Ok(last_message_at), Ok(id)) => Ok(Self {
                last_message_at,
                id,
            }),
            _ => Err("not a cursor from this list".into()),
        }
    }
}

/// Where replies in a conversation go.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub connection_id: ConnectionId,
    pub chat_id: String,
    pub status: ConversationStatus,
    pub reachable: bool,
}

/// An operator's reply to store and send.
#[derive(Debug, Clone)]
pub struct NewReply {
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    pub author_id: OperatorId,
    pub content: Content,
    pub client_key: Option<String>,
    /// The outbox action (channel-neutral JSON) that sends it.
    pub action: String,
    pub target: DeliveryTarget,
}

/// Conversations (`v`) with their contact's name and reachability.
const CONVERSATION_SELECT: &str =
    "SELECT v.id, v.account_id, v.connection_id, v.contact_id, v.status, v.group_id, v.assignee_id, v.previous_id,
        v.closed_reason, v.opened_at, v.last_message_at, v.last_inbound_at, v.closed_at, v.wanted_operator_id, v.answered,
        v.needs_attention, v.held_until, v.queued_at, v.assigned_at, c.name AS contact_name,
        COALESCE(i.reachable, 1) AS contact_reachable
     FROM conversations v JOIN contacts c ON c.id = v.contact_id
     LEFT JOIN contact_identities i ON i.connection_id = v.connection_id AND i.contact_id = v.contact_id";

fn conversation_from_row(row: &AnyRow) -> Result<Conversation, StoreError> {
    Ok(Conversation {
        id: row.parse("id")?,
        account_id: row.parse("account_id")?,
        channel_id: row.parse("connection_id")?,
        contact_id: row.parse("contact_id")?,
        contact: ContactSummary {
            id: row.parse("contact_id")?,
            name: row.text("contact_name")?,
            reachable: row.flag("contact_reachable")?,
        },
        status: row.parse("status")?,
        group_id: row.opt_parse("group_id")?,
        assignee_id: row.opt_parse("assignee_id")?,
        previous_id: row.opt_parse("previous_id")?,
        closed_reason: row.opt_parse("closed_reason")?,
        wanted_operator_id: row.opt_parse("wanted_operator_id")?,
        offered_to: Vec::new(),
        answered: row.flag("answered")?,
        needs_attention: row.flag("needs_attention")?,
        held_until: row.opt_time("held_until")?,
        queued_at: row.opt_time("queued_at")?,
        assigned_at: row.opt_time("assigned_at")?,
        opened_at: row.time("opened_at")?,
        last_message_at: row.time("last_message_at")?,
        last_inbound_at: row.opt_time("last_inbound_at")?,
        closed_at: row.opt_time("closed_at")?,
    })
}

const MESSAGE_COLUMNS: &str =
    "id, conversation_id, direction, author_kind, author_id, content, external_id, delivery_status, failure_reason, created_at";

fn message_from_row(row: &AnyRow) -> Result<Message, StoreError> {
    Ok(Message {
        id: row.parse("id")?,
        conversation_id: row.parse("conversation_id")?,
        direction: row.parse("direction")?,
        author_kind: row.parse("author_kind")?,
        author_id: row.opt_parse("author_id")?,
        content: row.json("content")?,
        external_id: row.opt_text("external_id")?,
        delivery_status: row.parse("delivery_status")?,
        failure_reason: row.opt_text("failure_reason")?,
        created_at: row.time("created_at")?,
    })
}

impl Store {
    /// A page of the account's conversations, newest activity first, with only the filters
    /// given in the statement (a catch-all `($n IS NULL OR ...)` is served by no index), and
    /// from `filter.after` on when it is set (keyset paging: the cursor is a place in the
    /// order, so a page never repeats or skips a conversation as new ones arrive).
    pub async fn list_conversations(
        &self,
        account: AccountId,
        filter: &ConversationFilter,
    ) -> Result<Vec<Conversation>, StoreError> {
        let mut args: Vec<Arg> = vec![account.to_string().into()];
        let mut sql = format!("{CONVERSATION_SELECT} WHERE v.account_id = $1");
        let mut push = |sql: &mut String, condition: &str, values: Vec<Arg>| {
            let mut condition = condition.to_string();
            for (i, value) in values.into_iter().enumerate() {
                args.push(value);
                condition = condition.replace(&format!("${{{i}}}"), &format!("${}", args.len()));
            }
            sql.push_str(" AND ");
            sql.push_str(&condition);
        };
        if let Some(status) = filter.status {
            push(&mut sql, "v.status = ${0}", vec![status.as_str().into()]);
        }
        if let Some(channel) = filter.channel_id {
            push(
                &mut sql,
                "v.connection_id = ${0}",
                vec![channel.to_string().into()],
            );
        }
        if let Some(operator) = filter.assignee_id {
            push(
                &mut sql,
                "v.assignee_id = ${0}",
                vec![operator.to_string().into()],
            );
        }
        if let Some(group) = filter.group_id {
            push(
                &mut sql,
                "v.group_id = ${0}",
                vec![group.to_string().into()],
            );
        }
        if let Some(flag) = filter.needs_attention {
            push(
                &mut sql,
                "v.needs_attention = ${0}",
                vec![i64::from(flag).into()],
            );
        }
        if let Some(operator) = filter.offered_to {
            push(
                &mut sql,
                "EXISTS (SELECT 1 FROM offers f WHERE f.conversation_id = v.id AND f.operator_id = ${0})",
                vec![operator.to_string().into()],
            );
        }
        if let Some(contact) = filter.contact_id {
            push(
                &mut sql,
                "v.contact_id = ${0}",
                vec![contact.to_string().into()],
            );
        }
        if let Some(operator) = filter.visible_to {
            let id: Arg = operator.to_string().into();
            push(
                &mut sql,
                "(v.assignee_id = ${0} OR v.wanted_operator_id = ${1}
                  OR EXISTS (SELECT 1 FROM offers f WHERE f.conversation_id = v.id AND f.operator_id = ${2})
                  OR v.group_id IN (SELECT m.group_id FROM group_members m WHERE m.operator_id = ${3}))",
                vec![id.clone(), id.clone(), id.clone(), id],
            );
        }
        if let Some(after) = &filter.after {
            let at: Arg = after.last_message_at.into();
            push(
                &mut sql,
                "(v.last_message_at < ${0} OR (v.last_message_at = ${1} AND v.id < ${2}))",
                vec![at.clone(), at, after.id.to_string().into()],
            );
        }
        args.push(i64::from(filter.limit.max(1)).into());
        sql.push_str(&format!(
            " ORDER BY v.last_message_at DESC, v.id DESC LIMIT ${}",
            args.len()
        ));
        let rows = bind(sqlx::query(&sql), &args).fetch_all(&self.read).await?;
        let mut list = rows
            .iter()
            .map(conversation_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.fill_offers(&mut list).await?;
        Ok(list)
    }

    /// Fills in whom each conversation is offered to, in one query.
    async fn fill_offers(&self, list: &mut [Conversation]) -> Result<(), StoreError> {
        let queued: Vec<String> = list
            .iter()
            .filter(|c| c.status == ConversationStatus::Queued)
            .map(|c| c.id.to_string())
            .collect();
        if queued.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (1..=queued.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT conversation_id, operator_id FROM offers WHERE conversation_id IN ({}) ORDER BY offered_at, operator_id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in &queued {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.read).await?;
        for row in &rows {
            let conversation: ConversationId = row.parse("conversation_id")?;
            if let Some(c) = list.iter_mut().find(|c| c.id == conversation) {
                c.offered_to.push(row.parse("operator_id")?);
            }
        }
        Ok(())
    }

    pub async fn get_conversation(
        &self,
        account: AccountId,
        id: ConversationId,
    ) -> Result<Conversation, StoreError> {
        let sql = format!("{CONVERSATION_SELECT} WHERE v.account_id = $1 AND v.id = $2");
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut one = [conversation_from_row(&row)?];
        self.fill_offers(&mut one).await?;
        let [conversation] = one;
        Ok(conversation)
    }

    /// A conversation's messages, oldest first.
    pub async fn list_messages(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> Result<Vec<Message>, StoreError> {
        self.get_conversation(account, conversation).await?;
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .bind(conversation.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// The newest conversation of the contact a connection knows by `external_id`.
    pub async fn latest_conversation(
        &self,
        connection: ConnectionId,
        external_id: &str,
    ) -> Result<Option<ConversationId>, StoreError> {
        let row = sqlx::query(
            "SELECT c.id FROM conversations c
             JOIN contact_identities i ON i.connection_id = c.connection_id AND i.contact_id = c.contact_id
             WHERE c.connection_id = $1 AND i.external_id = $2 ORDER BY c.opened_at DESC, c.id DESC LIMIT 1",
        )
        .bind(connection.to_string())
        .bind(external_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| r.parse("id")).transpose()
    }

    /// Where a reply in this conversation goes.
    pub async fn delivery_target(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> Result<DeliveryTarget, StoreError> {
        let row = sqlx::query(
            "SELECT c.connection_id, c.status, i.external_id, i.reachable FROM conversations c
             JOIN contact_identities i ON i.connection_id = c.connection_id AND i.contact_id = c.contact_id
             WHERE c.account_id = $1 AND c.id = $2",
        )
        .bind(account.to_string())
        .bind(conversation.to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(DeliveryTarget {
            connection_id: row.parse("connection_id")?,
            chat_id: row.text("external_id")?,
            status: row.parse("status")?,
            reachable: row.flag("reachable")?,
        })
    }

    /// Queues a failed or unknown outbound message again, exactly as it was first queued.
    /// Returns the message, now `pending`. A message that is pending or sent is refused with
    /// a conflict: resending it could deliver it twice.
    pub async fn retry_message(
        &self,
        account: AccountId,
        conversation: ConversationId,
        message: MessageId,
    ) -> Result<Message, StoreError> {
        let now = now_millis();
        let mut tx = self.write.begin().await?;
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE account_id = $1 AND conversation_id = $2 AND id = $3");
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(conversation.to_string())
            .bind(message.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let current = message_from_row(&row)?;
        if current.direction != Direction::Outbound
            || !matches!(
                current.delivery_status,
                DeliveryStatus::Failed | DeliveryStatus::Unknown
            )
        {
            return Err(StoreError::Conflict {
                what: "delivery_status".into(),
            });
        }
        let last = sqlx::query(
            "SELECT connection_id, chat_id, action FROM outbox WHERE message_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(message.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let item = NewOutbound {
            account_id: account,
            connection_id: last.parse("connection_id")?,
            conversation_id: Some(conversation),
            message_id: Some(message),
            chat_id: last.opt_text("chat_id")?,
            action: last.text("action")?,
        };
        enqueue(&mut tx, &item, now).await?;
        let sql = format!(
            "UPDATE messages SET delivery_status = 'pending', failure_reason = NULL WHERE id = $1 RETURNING {MESSAGE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(message.to_string())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        message_from_row(&row)
    }

    /// Stores an operator's reply and queues it, unless a reply with the same client key was
    /// stored before: then that one is returned and nothing is queued again.
    /// Returns the message and whether it was created now.
    pub async fn create_reply(&self, reply: &NewReply) -> Result<(Message, bool), StoreError> {
        if let Some(existing) = self
            .message_by_client_key(reply.account_id, reply.client_key.as_deref())
            .await?
        {
            return Ok((existing, false));
        }
        let now = now_millis();
        let id = MessageId::new();
        let mut tx = self.write.begin().await?;
        let sql = format!(
            "INSERT INTO messages (id, account_id, conversation_id, direction, author_kind, author_id, content,
                 delivery_status, client_key, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {MESSAGE_COLUMNS}"
        );
        let inserted = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(reply.account_id.to_string())
            .bind(reply.conversation_id.to_string())
            .bind(Direction::Outbound.as_str())
            .bind(AuthorKind::Operator.as_str())
            .bind(reply.author_id.to_string())
            .bind(to_json(&reply.content))
            .bind(DeliveryStatus::Pending.as_str())
            .bind(reply.client_key.as_deref())
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
        let row = match inserted.map_err(StoreError::from) {
            Ok(row) => row,
            // The same key raced in from another request: answer with that one.
            Err(e) if e.is_conflict() => {
                drop(tx);
                let existing = self
                    .message_by_client_key(reply.account_id, reply.client_key.as_deref())
                    .await?;
                return existing.map(|m| (m, false)).ok_or(e);
            }
            Err(e) => return Err(e),
        };
        sqlx::query("UPDATE conversations SET last_message_at = $2 WHERE id = $1")
            .bind(reply.conversation_id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // The assignee answered: the answer timeout no longer runs.
        let answered = sqlx::query(
            "UPDATE conversations SET answered = 1 WHERE id = $1 AND assignee_id = $2 AND answered = 0",
        )
        .bind(reply.conversation_id.to_string())
        .bind(reply.author_id.to_string())
        .execute(&mut *tx)
        .await?;
        if answered.rows_affected() == 1 {
            sqlx::query("DELETE FROM timers WHERE kind = $1 AND conversation_id = $2")
                .bind(TimerKind::AnswerTimeout.as_str())
                .bind(reply.conversation_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let item = NewOutbound {
            account_id: reply.account_id,
            connection_id: reply.target.connection_id,
            conversation_id: Some(reply.conversation_id),
            message_id: Some(id),
            chat_id: Some(reply.target.chat_id.clone()),
            action: reply.action.clone(),
        };
        enqueue(&mut tx, &item, now).await?;
        tx.commit().await?;
        Ok((message_from_row(&row)?, true))
    }

    async fn message_by_client_key(
        &self,
        account: AccountId,
        key: Option<&str>,
    ) -> Result<Option<Message>, StoreError> {
        let Some(key) = key else { return Ok(None) };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE account_id = $1 AND client_key = $2"
        );
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(key)
            .fetch_optional(&self.write)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }
}

impl Store {
    /// Adds an internal note (never sent to the customer).
    pub async fn add_note(
        &self,
        account: AccountId,
        conversation: ConversationId,
        author: OperatorId,
        text: &str,
    ) -> Result<Note, StoreError> {
        self.get_conversation(account, conversation).await?;
        let id = NoteId::new();
        let now = now_millis();
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO notes (id, account_id, conversation_id, author_id, text, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(account.to_string())
        .bind(conversation.to_string())
        .bind(author.to_string())
        .bind(text)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(
                account,
                Some(author),
                "conversation.note",
                "conversation",
                conversation,
            )
            .details(serde_json::json!({"note_id": id})),
        )
        .await?;
        tx.commit().await?;
        Ok(Note {
            id,
            conversation_id: conversation,
            author_id: author,
            text: text.to_string(),
            created_at: crate::codec::to_timestamp(now)?,
        })
    }

    /// A conversation's notes, oldest first.
    pub async fn list_notes(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> Result<Vec<Note>, StoreError> {
        self.get_conversation(account, conversation).await?;
        let rows = sqlx::query(
            "SELECT id, conversation_id, author_id, text, created_at FROM notes
             WHERE account_id = $1 AND conversation_id = $2 ORDER BY created_at, id",
        )
        .bind(account.to_string())
        .bind(conversation.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Note {
                    id: row.parse("id")?,
                    conversation_id: row.parse("conversation_id")?,
                    author_id: row.parse("author_id")?,
                    text: row.text("text")?,
                    created_at: row.time("created_at")?,
                })
            })
            .collect()
    }
}
