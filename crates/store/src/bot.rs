//! The bot's side of a conversation, as storage sees it: the interpreter's state, the cursor
//! of customer messages it has read, and one durable `bot` timer per conversation that says
//! "the bot has something to do here" (a message to read, an HTTP call to make, a wait that
//! is over, a handoff to perform).
//!
//! A turn is load (state + unread messages), run (pure, in the caller), apply: ONE
//! transaction writes the bot's messages with their outbox rows, the new state and the timer,
//! and only if the state's version is still the one loaded. Ingest sets the timer due in the
//! same transaction that stores the customer's message, so a crash anywhere in between
//! leaves a due timer and nothing is lost: the next runner reads the message again.

use jiff::Timestamp;
use sqlx::AnyConnection;
use switchboard_core::{
    audit::NewAuditEntry,
    capabilities::ClientAbilities,
    conversation::ClosedReason,
    ids::{
        AccountId, ConnectionId, ContactId, ConversationId, GroupId, MessageId, OperatorId,
        ScenarioId,
    },
    message::{AuthorKind, Content, DeliveryStatus, Direction},
    timer::TimerKind,
};

use crate::{
    audit,
    codec::{millis, now_millis, to_json, RowExt},
    outbox::{enqueue_all, NewOutbound},
    routing,
    rows::{Arg, Rows},
    writes::Writes,
    Dialect, Store, StoreError,
};

/// The timer kind of the bot's pending work.
const BOT: &str = TimerKind::Bot.as_str();

/// How many unread customer messages one turn reads at most.
const READ_BATCH: i64 = 50;

/// A customer message the bot has not read yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Unread {
    pub id: MessageId,
    pub created_at: i64,
    pub content: Content,
}

/// Everything a turn starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct BotLoad {
    pub account_id: AccountId,
    pub conversation_id: ConversationId,
    pub connection_id: ConnectionId,
    pub contact_id: ContactId,
    pub contact_name: String,
    /// Where the bot's messages go.
    pub chat_id: String,
    /// What the customer's app shows, as last reported (VK); `None`: the channel's profile.
    pub client: Option<ClientAbilities>,
    pub scenario_id: ScenarioId,
    /// The interpreter's JSON state; `None` before the first turn.
    pub state: Option<String>,
    pub version: i64,
    /// A handoff or close decided but not yet performed (JSON).
    pub pending: Option<String>,
    pub wake_at: Option<i64>,
    /// The cursor: the last customer message read.
    pub read_at: i64,
    pub read_id: String,
    /// Customer messages after the cursor, oldest first.
    pub unread: Vec<Unread>,
}

/// One message the bot says: what is stored, and the channel action that sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct BotMessage {
    pub content: Content,
    pub action: String,
    /// Already handed to the channel in the answer to its webhook request (Viber's welcome
    /// message, the only way to greet a customer who has not subscribed): stored as sent,
    /// with no outbox row.
    pub sent: bool,
}

/// When the bot has work again.
#[derive(Debug, Clone, PartialEq)]
pub enum BotNext {
    /// Only when the customer writes.
    Idle,
    /// At this time (an HTTP call now, a wait's end).
    At(Timestamp),
    /// Now: a handoff or close to perform (the JSON is kept in `pending`).
    Effect(String),
}

/// What a turn changes.
#[derive(Debug, Clone, PartialEq)]
pub struct BotApply {
    pub state: String,
    /// The last customer message read in this turn.
    pub read: Option<(i64, MessageId)>,
    pub messages: Vec<BotMessage>,
    pub wake_at: Option<Timestamp>,
    pub next: BotNext,
}

/// Decides the bot's turn from a state loaded inside the ingest transaction, with no I/O;
/// `None` leaves the turn to the runner.
pub type Answer<'a> = &'a (dyn Fn(&BotLoad) -> Option<BotApply> + Send + Sync);

/// A turn applied in the transaction that loaded it (the bot's answer inside ingest).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SameTx {
    /// The conversation was opened in this transaction.
    pub opened: bool,
}

/// What applying did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Written; the bot's messages were queued.
    Done { messages: Vec<MessageId> },
    /// Another turn got there first (or the conversation left the bot): load again.
    Stale,
}

impl Store {
    /// Loads a conversation's bot for a turn; `None` when the conversation is not with the
    /// bot (any more), after dropping its stale timer.
    pub async fn bot_load(
        &self,
        conversation: ConversationId,
    ) -> Result<Option<BotLoad>, StoreError> {
        let mut conn = self.write.acquire().await?;
        load_in(&mut conn, conversation).await
    }

    /// Claims the bot timer of one conversation for `lease`, when it is due and free. The
    /// runner that gets it is the only one working on this conversation's bot.
    pub async fn claim_bot(
        &self,
        conversation: ConversationId,
        now: Timestamp,
        lease: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let now_ms = millis(now);
        let done = sqlx::query(
            "UPDATE timers SET lease_until = $3
             WHERE kind = $1 AND conversation_id = $2 AND due_at <= $4 AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(BOT)
        .bind(conversation.to_string())
        .bind(now_ms.saturating_add(lease.as_millis() as i64))
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the bot timer back to run again at `at` (after a failure).
    pub async fn release_bot(
        &self,
        conversation: ConversationId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE timers SET lease_until = NULL, due_at = $3 WHERE kind = $1 AND conversation_id = $2",
        )
        .bind(BOT)
        .bind(conversation.to_string())
        .bind(millis(at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Applies a turn computed from the state at `version`; see the module documentation.
    pub async fn bot_apply(&self, load: &BotLoad, apply: &BotApply) -> Result<Applied, StoreError> {
        let now = now_millis();
        let conversation = load.conversation_id.to_string();
        let mut tx = self.write.begin().await?;
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE",
            Dialect::Sqlite => "",
        };
        let current = sqlx::query(&format!(
            "SELECT b.version, c.status FROM bot_states b JOIN conversations c ON c.id = b.conversation_id
             WHERE b.conversation_id = $1 {lock}"
        ))
        .bind(&conversation)
        .fetch_optional(&mut *tx)
        .await?;
        let fresh = match &current {
            Some(row) => row.int("version")? == load.version && row.text("status")? == "bot",
            None => false,
        };
        if !fresh {
            return Ok(Applied::Stale);
        }
        let turn = Turn {
            load,
            apply,
            same_tx: None,
            at: now,
        };
        let ids = apply_all(&mut tx, &[turn]).await?;
        tx.commit().await?;
        Ok(Applied::Done {
            messages: ids.into_iter().flatten().collect(),
        })
    }

    /// The group of this name (case aside), for a scenario's handoff.
    pub async fn group_by_name(
        &self,
        account: AccountId,
        name: &str,
    ) -> Result<Option<GroupId>, StoreError> {
        let row =
            sqlx::query("SELECT id FROM groups WHERE account_id = $1 AND LOWER(name) = LOWER($2)")
                .bind(account.to_string())
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
        row.map(|r| r.parse("id")).transpose()
    }

    /// The operator with this e-mail, for a scenario's handoff.
    pub async fn operator_by_email(
        &self,
        account: AccountId,
        email: &str,
    ) -> Result<Option<OperatorId>, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM operators WHERE account_id = $1 AND LOWER(email) = LOWER($2) AND deleted_at IS NULL",
        )
        .bind(account.to_string())
        .bind(email)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| r.parse("id")).transpose()
    }

    /// Closes a conversation whose scenario ended with `close`.
    pub async fn bot_close(
        &self,
        account: AccountId,
        conversation: ConversationId,
        now: Timestamp,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let mut tx = self.write.begin().await?;
        routing::lock(&mut tx, self.dialect, account).await?;
        let open = sqlx::query("SELECT 1 AS one FROM conversations WHERE account_id = $1 AND id = $2 AND status = 'bot'")
            .bind(account.to_string())
            .bind(conversation.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let mut changed = Vec::new();
        if open.is_some() {
            changed.push(conversation);
            changed.extend(
                routing::close_row(
                    &mut tx,
                    account,
                    conversation,
                    ClosedReason::Bot,
                    None,
                    serde_json::json!({"reason": ClosedReason::Bot}),
                    now,
                )
                .await?,
            );
        }
        sqlx::query("DELETE FROM timers WHERE kind = $1 AND conversation_id = $2")
            .bind(BOT)
            .bind(conversation.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Forgets the bot's pending work once it was done elsewhere (a handoff).
    pub async fn bot_finished(&self, conversation: ConversationId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM timers WHERE kind = $1 AND conversation_id = $2")
            .bind(BOT)
            .bind(conversation.to_string())
            .execute(&self.write)
            .await?;
        sqlx::query("UPDATE bot_states SET pending = NULL WHERE conversation_id = $1")
            .bind(conversation.to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The bot could not go on (a broken scenario, a handoff to nobody): the conversation
    /// waits in the queue for people, flagged for a supervisor, with why in the audit log.
    pub async fn bot_failed(
        &self,
        account: AccountId,
        conversation: ConversationId,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        routing::lock(&mut tx, self.dialect, account).await?;
        let moved = sqlx::query(
            "UPDATE conversations SET status = 'queued', queued_at = $3, needs_attention = 1
             WHERE account_id = $1 AND id = $2 AND status = 'bot'",
        )
        .bind(account.to_string())
        .bind(conversation.to_string())
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM timers WHERE kind = $1 AND conversation_id = $2")
            .bind(BOT)
            .bind(conversation.to_string())
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() == 1 {
            audit::record(
                &mut tx,
                NewAuditEntry::new(account, None, "bot.failed", "conversation", conversation)
                    .details(serde_json::json!({"reason": reason})),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(moved.rows_affected() == 1)
    }
}

/// Loads a conversation's bot for a turn on `conn` (inside the caller's transaction, or
/// not); `None` when the conversation is not with the bot (any more), after dropping its
/// stale timer.
pub(crate) async fn load_in(
    conn: &mut AnyConnection,
    conversation: ConversationId,
) -> Result<Option<BotLoad>, StoreError> {
    let row = sqlx::query(
        "SELECT c.account_id, c.connection_id, c.contact_id, c.status, t.name AS contact_name,
                i.external_id, i.client, b.scenario_id, b.state, b.version, b.read_at, b.read_id, b.pending, b.wake_at
         FROM conversations c
         JOIN contacts t ON t.id = c.contact_id
         JOIN contact_identities i ON i.connection_id = c.connection_id AND i.contact_id = c.contact_id
         LEFT JOIN bot_states b ON b.conversation_id = c.id
         WHERE c.id = $1",
    )
    .bind(conversation.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let status = row.text("status")?;
    let scenario: Option<ScenarioId> = row.opt_parse("scenario_id")?;
    let (Some(scenario_id), "bot") = (scenario, status.as_str()) else {
        sqlx::query("DELETE FROM timers WHERE kind = $1 AND conversation_id = $2")
            .bind(BOT)
            .bind(conversation.to_string())
            .execute(&mut *conn)
            .await?;
        return Ok(None);
    };
    let read_at = row.int("read_at")?;
    let read_id = row.text("read_id")?;
    let messages = sqlx::query(
        "SELECT id, created_at, content FROM messages
         WHERE conversation_id = $1 AND direction = 'inbound' AND (created_at > $2 OR (created_at = $2 AND id > $3))
         ORDER BY created_at, id LIMIT $4",
    )
    .bind(conversation.to_string())
    .bind(read_at)
    .bind(&read_id)
    .bind(READ_BATCH)
    .fetch_all(&mut *conn)
    .await?;
    let unread = messages
        .iter()
        .map(|m| {
            Ok(Unread {
                id: m.parse("id")?,
                created_at: m.int("created_at")?,
                content: m.json("content")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let state = row.text("state")?;
    Ok(Some(BotLoad {
        account_id: row.parse("account_id")?,
        conversation_id: conversation,
        connection_id: row.parse("connection_id")?,
        contact_id: row.parse("contact_id")?,
        contact_name: row.text("contact_name")?,
        chat_id: row.text("external_id")?,
        client: row
            .opt_text("client")?
            .and_then(|c| serde_json::from_str(&c).ok()),
        scenario_id,
        state: (state != "null").then_some(state),
        version: row.int("version")?,
        pending: row.opt_text("pending")?,
        wake_at: row.opt_int("wake_at")?,
        read_at,
        read_id,
        unread,
    }))
}

/// A turn to write: the state it was decided from and what it decided.
pub(crate) struct Turn<'a> {
    pub load: &'a BotLoad,
    pub apply: &'a BotApply,
    pub same_tx: Option<SameTx>,
    /// When it is written: its messages are `at`, `at + 1`, ... so they list in the order
    /// they were said.
    pub at: i64,
}

/// The rows a set of turns writes, built before anything is written so that a caller may
/// write some of them with its own statements (ingest puts a new conversation's first turn
/// into the conversation's own rows).
pub(crate) struct TurnRows {
    /// The bot's messages, in the columns of [`MESSAGE_COLUMNS`].
    pub messages: Rows,
    outbound: Vec<(NewOutbound, i64)>,
    last_message_at: Rows,
    states: Rows,
    /// Each turn's message ids.
    pub ids: Vec<Vec<MessageId>>,
}

/// The columns of a message row, inbound or the bot's.
pub(crate) const MESSAGE_COLUMNS: &str =
    "id, account_id, conversation_id, direction, author_kind, content, external_id,
     delivery_status, created_at";

impl TurnRows {
    pub fn of(turns: &[Turn<'_>]) -> Self {
        let mut rows = TurnRows {
            messages: Rows::new(9),
            outbound: Vec::new(),
            last_message_at: Rows::new(2),
            states: Rows::new(7),
            ids: Vec::with_capacity(turns.len()),
        };
        for turn in turns {
            let (load, apply, now) = (turn.load, turn.apply, turn.at);
            let conversation = load.conversation_id.to_string();
            let mut ids = Vec::with_capacity(apply.messages.len());
            for (i, message) in apply.messages.iter().enumerate() {
                let id = MessageId::new();
                let at = now + i as i64;
                rows.messages.push([
                    id.to_string().into(),
                    load.account_id.to_string().into(),
                    conversation.clone().into(),
                    Direction::Outbound.as_str().into(),
                    AuthorKind::Bot.as_str().into(),
                    to_json(&message.content).into(),
                    Arg::Text(None),
                    if message.sent {
                        DeliveryStatus::Sent
                    } else {
                        DeliveryStatus::Pending
                    }
                    .as_str()
                    .into(),
                    at.into(),
                ]);
                ids.push(id);
                if message.sent {
                    continue;
                }
                rows.outbound.push((
                    NewOutbound {
                        account_id: load.account_id,
                        connection_id: load.connection_id,
                        conversation_id: Some(load.conversation_id),
                        message_id: Some(id),
                        chat_id: Some(load.chat_id.clone()),
                        action: message.action.clone(),
                    },
                    at,
                ));
            }
            if let Some(last) = last_message_at(turn) {
                rows.last_message_at
                    .push([conversation.clone().into(), last.into()]);
            }
            let (read_at, read_id) = read_cursor(apply);
            rows.states.push([
                conversation.into(),
                apply.state.clone().into(),
                read_at.into(),
                read_id.into(),
                pending(apply).into(),
                apply.wake_at.map(millis).into(),
                now.into(),
            ]);
            rows.ids.push(ids);
        }
        rows
    }

    /// Leaves the states and last-message times out: the caller wrote them with the
    /// conversations (see [`first_state`]).
    pub fn without_states(mut self) -> Self {
        self.states = Rows::new(7);
        self.last_message_at = Rows::new(2);
        self
    }

    /// Adds another set's rows after these.
    pub fn extend(&mut self, other: TurnRows) {
        self.messages.extend(other.messages);
        self.outbound.extend(other.outbound);
        self.last_message_at.extend(other.last_message_at);
        self.states.extend(other.states);
        self.ids.extend(other.ids);
    }
}

/// The conversation's last message after a turn, when it said anything.
pub(crate) fn last_message_at(turn: &Turn<'_>) -> Option<i64> {
    let said = turn.apply.messages.len() as i64;
    (said > 0).then(|| turn.at + said - 1)
}

fn read_cursor(apply: &BotApply) -> (Option<i64>, Option<String>) {
    match &apply.read {
        Some((at, id)) => (Some(*at), Some(id.to_string())),
        None => (None, None),
    }
}

fn pending(apply: &BotApply) -> Option<String> {
    match &apply.next {
        BotNext::Effect(effect) => Some(effect.clone()),
        _ => None,
    }
}

/// A new conversation's bot state as it stands after its first turn, for the insert that
/// creates it: (state, version, read_at, read_id, pending, wake_at, updated_at).
pub(crate) fn first_state(turn: &Turn<'_>) -> [Arg; 7] {
    let (read_at, read_id) = read_cursor(turn.apply);
    [
        turn.apply.state.clone().into(),
        1.into(),
        read_at.unwrap_or(0).into(),
        read_id.unwrap_or_default().into(),
        pending(turn.apply).into(),
        turn.apply.wake_at.map(millis).into(),
        turn.at.into(),
    ]
}

/// Writes turns on `conn`, inside the caller's transaction, one statement per table for all
/// of them: the bot's messages with their outbox rows, the new states (version + 1), the
/// read cursors and the bot timers. Returns each turn's message ids.
pub(crate) async fn apply_all(
    conn: &mut AnyConnection,
    turns: &[Turn<'_>],
) -> Result<Vec<Vec<MessageId>>, StoreError> {
    let mut writes = Writes::new();
    let ids = write_turns(conn, &mut writes, turns, TurnRows::of(turns)).await?;
    writes.flush(conn).await?;
    Ok(ids)
}

/// Queues on `writes` what `rows` hold for `turns` (built by [`TurnRows::of`], in the same
/// order), then the bot timers every turn asks for.
pub(crate) async fn write_turns(
    conn: &mut AnyConnection,
    writes: &mut Writes,
    turns: &[Turn<'_>],
    rows: TurnRows,
) -> Result<Vec<Vec<MessageId>>, StoreError> {
    writes.execute(
        format!("INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES {{rows}}"),
        rows.messages,
    );
    enqueue_all(writes, &rows.outbound);
    writes.execute(
        "UPDATE conversations SET last_message_at = v.column2 FROM (VALUES {rows}) AS v
         WHERE conversations.id = v.column1",
        rows.last_message_at,
    );
    writes.execute(
        "UPDATE bot_states SET state = v.column2, version = version + 1, read_at = COALESCE(v.column3, read_at),
             read_id = COALESCE(v.column4, read_id), pending = v.column5, wake_at = v.column6, updated_at = v.column7
         FROM (VALUES {rows}) AS v WHERE bot_states.conversation_id = v.column1",
        rows.states,
    );
    let mut due_rows = Rows::new(3);
    let mut drop_rows = Rows::new(1);
    for turn in turns {
        let conversation = turn.load.conversation_id.to_string();
        match due(conn, writes, turn).await? {
            Some(due) => due_rows.push([BOT.into(), conversation.into(), due.into()]),
            // A conversation opened in this transaction has no bot timer to drop.
            None if turn.same_tx.is_some_and(|t| t.opened) => {}
            None => drop_rows.push([conversation.into()]),
        }
    }
    writes.execute(
        "INSERT INTO timers (kind, conversation_id, due_at) VALUES {rows}
         ON CONFLICT (kind, conversation_id) DO UPDATE SET due_at = excluded.due_at, lease_until = NULL",
        due_rows,
    );
    writes.execute(
        format!("DELETE FROM timers WHERE kind = '{BOT}' AND conversation_id IN (VALUES {{rows}})"),
        drop_rows,
    );
    Ok(rows.ids)
}

/// When the bot has work again after this turn, if at all.
async fn due(
    conn: &mut AnyConnection,
    writes: &mut Writes,
    turn: &Turn<'_>,
) -> Result<Option<i64>, StoreError> {
    let (load, apply, now) = (turn.load, turn.apply, turn.at);
    Ok(match &apply.next {
        BotNext::At(at) => Some(millis(*at)),
        BotNext::Effect(_) => Some(now),
        BotNext::Idle
            if turn.same_tx.is_some()
                && load.unread.len() < READ_BATCH as usize
                && apply.read.map(|(_, id)| id) == load.unread.last().map(|u| u.id) =>
        {
            // Loaded in this very transaction and all read: nothing can have come since.
            None
        }
        BotNext::Idle => {
            // Messages that came in meanwhile (or past this turn's batch) keep it due.
            let (after_at, after_id) = match &apply.read {
                Some((at, id)) => (*at, id.to_string()),
                None => (load.read_at, load.read_id.clone()),
            };
            writes.flush(conn).await?;
            let more = sqlx::query(
                "SELECT 1 AS one FROM messages WHERE conversation_id = $1 AND direction = 'inbound'
                 AND (created_at > $2 OR (created_at = $2 AND id > $3)) LIMIT 1",
            )
            .bind(load.conversation_id.to_string())
            .bind(after_at)
            .bind(after_id)
            .fetch_optional(&mut *conn)
            .await?;
            more.map(|_| now)
        }
    })
}
