//! Ingest: channel events stored in ONE transaction: dedupe on (connection, external event
//! id), upsert the contact and its identity, open or continue the conversation (a new one
//! starts where `core::routing::start` said: routing target, schedule, out-of-hours rule),
//! append the message, let the bot answer, queue the channel's follow-ups (acknowledge a
//! button press, remove the pressed menu, fetch the customer's files) in the outbox. A
//! redelivered event finds its id taken and changes nothing.
//!
//! Events come in batches (the engine's group commit): one transaction, one commit, one
//! fsync for all of them. A batch is cut into rounds: the first event of every chat, then
//! the second, and so on. A round has at most one event per chat, so its events touch
//! different contacts and conversations and it is written set-wise (`rows.rs`): one
//! statement per table for all its events, customer messages in [`messages`], the rarer
//! events one by one here; a batch of 30 costs about 15 statements, not 400. Writes whose
//! answers nobody reads wait on `Writes` (`writes.rs`) until the next read needs them done.
//! If a batch fails, each event is stored again on its own, so one bad event costs the
//! others nothing.
//!
//! The delivery worker's round (record the outcomes of finished sends, claim due outbox
//! rows) can ride in a batch's transaction (`Store::commit_batch`; when, see the engine's
//! `group_commit.rs`): one commit for both, and the replies the batch wrote are claimed in
//! the commit that wrote them. On SQLite a lane writing batch after batch keeps the
//! writer's connection between them (`HeldWriter`).

mod contacts;
#[cfg(test)]
mod cursor;
mod messages;
mod other;
mod turns;

use contacts::{known_of, Known, IDENTITIES};

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use jiff::Timestamp;
use sqlx::{pool::PoolConnection, Any, AnyConnection};
use switchboard_core::{
    audit::NewAuditEntry,
    capabilities::ClientAbilities,
    conversation::ConversationStatus,
    ids::{AccountId, ConnectionId, ContactId, ConversationId, MessageId},
    message::{Content, DeliveryStatus},
    routing::Start,
    timer::TimerKind,
};

use crate::{
    audit,
    bot::Answer,
    codec::{millis, now_millis, RowExt},
    outbox::{claim_in, enqueue_all, finish_all, NewOutbound, Notice, OutboxItem, Settle},
    routing,
    rows::Rows,
    writes::Writes,
    Dialect, Store, StoreError,
};

/// What the channel reported, already mapped to neutral terms.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestEvent {
    Message {
        contact_external_id: String,
        contact_name: String,
        external_message_id: Option<String>,
        content: Content,
        /// What the customer's app shows, where the channel reported it.
        client: Option<ClientAbilities>,
    },
    Reachability {
        contact_external_id: String,
        contact_name: String,
        reachable: bool,
    },
    /// The customer changed a message: its stored content is replaced, nothing else.
    Edited {
        contact_external_id: String,
        external_message_id: String,
        content: Content,
    },
    /// The customer opened the chat without writing: a connection routed to a bot opens a
    /// conversation so the bot can greet them; otherwise only the contact is recorded.
    Started {
        contact_external_id: String,
        contact_name: String,
    },
    /// What became of a message we sent, by the channel's id of it.
    Delivery {
        external_message_id: String,
        status: DeliveryStatus,
        reason: Option<String>,
    },
    Ignored,
}

/// One inbound event to store.
#[derive(Debug, Clone)]
pub struct Ingest {
    pub account_id: AccountId,
    pub connection_id: ConnectionId,
    pub external_event_id: String,
    pub event: IngestEvent,
    /// Where a conversation this event opens starts: the routing decision, made by the core.
    pub start: Start,
    /// Out of hours: the notice to send, once per conversation.
    pub out_of_hours: Option<Notice>,
    /// Actions the channel expects in answer.
    pub follow_ups: Vec<FollowUp>,
}

impl Ingest {
    /// The chat the event belongs to, within its connection: one chat's events are stored
    /// in the order they came (group commit lanes and batch rounds go by it). Events of no
    /// chat (delivery reports, ignored updates) stand alone.
    pub fn chat(&self) -> &str {
        match &self.event {
            IngestEvent::Message {
                contact_external_id,
                ..
            }
            | IngestEvent::Reachability {
                contact_external_id,
                ..
            }
            | IngestEvent::Started {
                contact_external_id,
                ..
            }
            | IngestEvent::Edited {
                contact_external_id,
                ..
            } => contact_external_id,
            IngestEvent::Delivery { .. } | IngestEvent::Ignored => &self.external_event_id,
        }
    }
}

/// An action to queue with an inbound event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    pub chat_id: Option<String>,
    /// The channel-neutral action as JSON.
    pub action: String,
    /// Keeps its place among the conversation's outbound messages (else runs independently).
    pub ordered: bool,
}

/// What storing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Seen before: nothing changed.
    Duplicate,
    Stored {
        conversation_id: Option<ConversationId>,
        message_id: Option<MessageId>,
        opened: bool,
        /// The bot has work to do now (a message to read, an effect to perform): run it.
        bot: bool,
        /// The bot answered in the same transaction: its messages are queued.
        answered: bool,
    },
}

async fn upsert_contact(
    conn: &mut AnyConnection,
    account: AccountId,
    connection: ConnectionId,
    external_id: &str,
    name: &str,
    now: i64,
) -> Result<(ContactId, bool), StoreError> {
    let find =
        "SELECT contact_id FROM contact_identities WHERE connection_id = $1 AND external_id = $2";
    if let Some(row) = sqlx::query(find)
        .bind(connection.to_string())
        .bind(external_id)
        .fetch_optional(&mut *conn)
        .await?
    {
        return Ok((row.parse("contact_id")?, false));
    }
    let contact = ContactId::new();
    sqlx::query("INSERT INTO contacts (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(contact.to_string())
        .bind(account.to_string())
        .bind(name)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO contact_identities (connection_id, external_id, contact_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(connection.to_string())
    .bind(external_id)
    .bind(contact.to_string())
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok((contact, true));
    }
    // Another node stored this identity first: use its contact, drop ours.
    sqlx::query("DELETE FROM contacts WHERE id = $1")
        .bind(contact.to_string())
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(find)
        .bind(connection.to_string())
        .bind(external_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok((row.parse("contact_id")?, false))
}

#[allow(clippy::too_many_arguments)]
async fn open_or_continue(
    conn: &mut AnyConnection,
    dialect: Dialect,
    account: AccountId,
    connection: ConnectionId,
    (contact, new_contact): (ContactId, bool),
    start: Start,
    now: i64,
) -> Result<(ConversationId, bool, ConversationStatus), StoreError> {
    let find = "SELECT id, status FROM conversations WHERE connection_id = $1 AND contact_id = $2 AND closed_at IS NULL";
    // A contact stored in this transaction has no conversations yet.
    if !new_contact {
        if let Some(row) = sqlx::query(find)
            .bind(connection.to_string())
            .bind(contact.to_string())
            .fetch_optional(&mut *conn)
            .await?
        {
            return Ok((row.parse("id")?, false, row.parse("status")?));
        }
    }
    // Opening routes the conversation; routing happens under the account's lock.
    routing::lock(conn, dialect, account).await?;
    let previous = if new_contact {
        None
    } else {
        sqlx::query(
            "SELECT id FROM conversations WHERE connection_id = $1 AND contact_id = $2 ORDER BY opened_at DESC, id DESC LIMIT 1",
        )
        .bind(connection.to_string())
        .bind(contact.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.text("id"))
        .transpose()?
    };
    let id = ConversationId::new();
    let inserted = sqlx::query(
        "INSERT INTO conversations (id, account_id, connection_id, contact_id, status, group_id, wanted_operator_id,
             previous_id, opened_at, last_message_at, last_inbound_at, queued_at, held_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9, $10, $11)
         ON CONFLICT (connection_id, contact_id) WHERE closed_at IS NULL DO NOTHING",
    )
    .bind(id.to_string())
    .bind(account.to_string())
    .bind(connection.to_string())
    .bind(contact.to_string())
    .bind(start.status.as_str())
    .bind(start.group_id.map(|g| g.to_string()))
    .bind(start.wanted_operator_id.map(|o| o.to_string()))
    .bind(previous.clone())
    .bind(now)
    .bind((start.status == ConversationStatus::Queued).then_some(now))
    .bind(start.held_until.map(millis))
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        if let (ConversationStatus::Bot, Some(scenario)) = (start.status, start.scenario_id) {
            sqlx::query(
                "INSERT INTO bot_states (conversation_id, account_id, scenario_id, state, version, updated_at)
                 VALUES ($1, $2, $3, 'null', 0, $4)",
            )
            .bind(id.to_string())
            .bind(account.to_string())
            .bind(scenario.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        // The auto-close clock starts with the conversation; the timer re-reads the last
        // message when it fires, so messages need not touch it.
        sqlx::query(
            "INSERT INTO timers (kind, conversation_id, due_at)
             SELECT 'auto_close', $1, $2 + auto_close_after_secs * 1000 FROM channel_connections WHERE id = $3
             ON CONFLICT DO NOTHING",
        )
        .bind(id.to_string())
        .bind(now)
        .bind(connection.to_string())
        .execute(&mut *conn)
        .await?;
    }
    if inserted.rows_affected() == 0 {
        let row = sqlx::query(find)
            .bind(connection.to_string())
            .bind(contact.to_string())
            .fetch_one(&mut *conn)
            .await?;
        return Ok((row.parse("id")?, false, row.parse("status")?));
    }
    audit::record(
        conn,
        NewAuditEntry::new(account, None, "conversation.open", "conversation", id).details(serde_json::json!({
                "status": start.status, "group_id": start.group_id, "operator_id": start.wanted_operator_id,
                "held_until": start.held_until, "previous_id": previous,
                "reason": if start.held_until.is_some() { "out of hours: waits for the opening" } else { "the routing target of the connection" },
            })),
    )
    .await?;
    match start.held_until {
        Some(until) => {
            sqlx::query("INSERT INTO timers (kind, conversation_id, due_at) VALUES ($1, $2, $3)")
                .bind(TimerKind::Hold.as_str())
                .bind(id.to_string())
                .bind(millis(until))
                .execute(&mut *conn)
                .await?;
        }
        None if start.status == ConversationStatus::Queued => {
            let now = Timestamp::from_millisecond(now).unwrap_or_else(|_| Timestamp::now());
            routing::route_queued(conn, account, start.group_id, start.wanted_operator_id, now)
                .await?;
        }
        None => {}
    }
    Ok((id, true, start.status))
}

impl Store {
    /// Stores one inbound event; see the module documentation.
    pub async fn ingest(&self, input: &Ingest) -> Result<Ingested, StoreError> {
        self.ingest_answering(input, None).await
    }

    /// Stores one inbound event and, for a customer message to the bot, lets `answer`
    /// decide the bot's turn (pure, from the state loaded in the same transaction): the
    /// customer's message, the bot's reply and its outbox rows commit together. Without an
    /// answer (no scenario at hand, work pending), the bot timer is set due for the runner.
    pub async fn ingest_answering(
        &self,
        input: &Ingest,
        answer: Option<Answer<'_>>,
    ) -> Result<Ingested, StoreError> {
        let mut tx = self.write.begin().await?;
        let mut outcomes = ingest_all(&mut tx, self.dialect, &[(input, answer)]).await?;
        tx.commit().await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Corrupt("an ingest without an outcome".into()))
    }

    /// Stores a batch of inbound events in ONE transaction (group commit): one commit, one
    /// fsync for all of them, and one statement per table for each round of the batch (see
    /// [`ingest_all`]). If the batch fails, each event is stored again on its own, so one
    /// bad event costs the others nothing.
    pub async fn ingest_batch(
        &self,
        batch: &[(&Ingest, Option<Answer<'_>>)],
    ) -> Vec<Result<Ingested, StoreError>> {
        self.commit_batch(batch, None, &mut HeldWriter::default())
            .await
            .0
    }

    /// [`Store::ingest_batch`] with the delivery worker's round in the same transaction:
    /// the outcomes of finished sends recorded, then due outbox rows claimed, this batch's
    /// replies among them. One commit for both instead of one each: on SQLite every commit
    /// is an fsync on the one writer's path. If the transaction fails, the round is done on
    /// its own and the events one by one.
    pub async fn commit_batch(
        &self,
        batch: &[(&Ingest, Option<Answer<'_>>)],
        settle: Option<&Settle>,
        held: &mut HeldWriter,
    ) -> (
        Vec<Result<Ingested, StoreError>>,
        Option<Result<Vec<OutboxItem>, StoreError>>,
    ) {
        // On SQLite even a single event goes in scripts: two hand-offs fewer than
        // `ingest_answering`'s transaction.
        if batch.len() > 1 || settle.is_some() || self.dialect == Dialect::Sqlite {
            let together = match self.dialect {
                Dialect::Sqlite => self.batch_in_scripts(batch, settle, held).await,
                Dialect::Postgres => {
                    async {
                        let mut tx = self.write.begin().await?;
                        let mut writes = Writes::new();
                        let done =
                            batch_body(&mut tx, &mut writes, self.dialect, batch, settle, None)
                                .await?;
                        tx.commit().await?;
                        Ok(done)
                    }
                    .await
                }
            };
            match together {
                Ok((outcomes, claimed)) => {
                    return (outcomes.into_iter().map(Ok).collect(), claimed.map(Ok))
                }
                // One event alone: storing it again the same way would fail the same way.
                Err(e) if batch.len() == 1 && settle.is_none() => return (vec![Err(e)], None),
                Err(e) => {
                    tracing::debug!(error = %e, "a batch of ingests failed; storing them one by one")
                }
            }
        }
        // The one-by-one path takes the writer from the pool.
        held.release();
        let mut results = Vec::with_capacity(batch.len());
        for (input, answer) in batch {
            results.push(self.ingest_answering(input, *answer).await);
        }
        // After the events, as in a batch: their replies are claimed with the rest.
        let claimed = match settle {
            Some(settle) => Some(
                self.settle_and_claim(
                    &settle.finished,
                    Timestamp::now(),
                    settle.lease,
                    settle.limit,
                )
                .await,
            ),
            None => None,
        };
        (results, claimed)
    }

    /// A batch's transaction on SQLite, written as scripts: `BEGIN` goes to the writer's
    /// thread with the first statement and `COMMIT` with the last, two hand-offs fewer
    /// than sqlx's transaction. On an error the transaction is rolled back here.
    async fn batch_in_scripts(
        &self,
        batch: &[(&Ingest, Option<Answer<'_>>)],
        settle: Option<&Settle>,
        held: &mut HeldWriter,
    ) -> Result<(Vec<Ingested>, Option<Vec<OutboxItem>>), StoreError> {
        let (conn, since) = match held.0.take() {
            Some(kept) => kept,
            None => (self.write.acquire().await?, Instant::now()),
        };
        let mut conn = Unfinished {
            conn: Some(conn),
            finished: false,
        };
        let Some(inner) = conn.conn.as_mut() else {
            unreachable!("the connection was just put in")
        };
        let mut writes = Writes::new();
        writes.statement("BEGIN");
        let done = batch_body(
            inner,
            &mut writes,
            self.dialect,
            batch,
            settle,
            Some("COMMIT"),
        )
        .await;
        conn.finished = done.is_ok() || sqlx::query("ROLLBACK").execute(&mut **inner).await.is_ok();
        if conn.finished {
            held.0 = conn.conn.take().map(|c| (c, since));
        }
        done
    }
}

/// The writer's connection kept between batches by a caller that writes batch after batch
/// (the ingest lane). Handing it back to the pool costs a round trip to SQLite's thread
/// (sqlx pings a released connection) before the next batch can take it again; the caller
/// releases it when it runs out of work, and often enough that other writers get their
/// turn. Only SQLite's scripted batches keep it; dropped, it goes back to the pool.
#[derive(Debug, Default)]
pub struct HeldWriter(Option<(PoolConnection<Any>, Instant)>);

impl HeldWriter {
    /// Hands the connection back to the pool.
    pub fn release(&mut self) {
        self.0 = None;
    }

    /// How long the connection has been kept, if it is.
    pub fn held_for(&self) -> Option<Duration> {
        self.0.as_ref().map(|(_, since)| since.elapsed())
    }
}

/// The writer's connection while a transaction written as scripts may be open: dropped
/// unfinished (a panic, a failed rollback), it is closed rather than handed back to the
/// pool with a transaction open.
struct Unfinished {
    conn: Option<PoolConnection<Any>>,
    /// Committed or rolled back.
    finished: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut().filter(|_| !self.finished) {
            conn.close_on_drop();
        }
    }
}

/// A batch's events, then the delivery round if any, on `conn` inside a transaction; `then`
/// (a `COMMIT`) goes with the last statement.
async fn batch_body(
    conn: &mut AnyConnection,
    writes: &mut Writes,
    dialect: Dialect,
    batch: &[(&Ingest, Option<Answer<'_>>)],
    settle: Option<&Settle>,
    then: Option<&'static str>,
) -> Result<(Vec<Ingested>, Option<Vec<OutboxItem>>), StoreError> {
    let (outcomes, last) = ingest_in(conn, writes, dialect, batch).await?;
    let claimed = match settle {
        Some(settle) => {
            finish_all(writes, &settle.finished, Timestamp::now());
            // After every round's time, so this batch's replies are due.
            let at = now_millis().max(last.map_or(0, |l| l + 1));
            let at = Timestamp::from_millisecond(at).unwrap_or_else(|_| Timestamp::now());
            Some(claim_in(conn, writes, dialect, at, settle.lease, settle.limit, then).await?)
        }
        None => {
            if let Some(then) = then {
                writes.statement(then);
            }
            writes.flush(conn).await?;
            None
        }
    };
    Ok((outcomes, claimed))
}

/// Splits a batch into rounds, in order: the first event of every chat, then the second,
/// and so on. A round has at most one event per chat, so its events touch different
/// contacts and conversations and can be written together; a chat's events stay in order.
fn rounds(batch: &[(&Ingest, Option<Answer<'_>>)]) -> Vec<Vec<usize>> {
    let mut seen: HashMap<(ConnectionId, &str), usize> = HashMap::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (index, (input, _)) in batch.iter().enumerate() {
        let round = seen.entry((input.connection_id, input.chat())).or_insert(0);
        if rounds.len() <= *round {
            rounds.push(Vec::new());
        }
        rounds[*round].push(index);
        *round += 1;
    }
    rounds
}

/// Stores events on `tx`, inside the caller's transaction, round by round; outcomes in the
/// order given. Within a round every step is one statement for all of its events: dedupe,
/// contacts, conversations, messages, the bot's turns, the outbox.
async fn ingest_all(
    tx: &mut AnyConnection,
    dialect: Dialect,
    batch: &[(&Ingest, Option<Answer<'_>>)],
) -> Result<Vec<Ingested>, StoreError> {
    let mut writes = Writes::new();
    let (outcomes, _) = ingest_in(tx, &mut writes, dialect, batch).await?;
    writes.flush(tx).await?;
    Ok(outcomes)
}

/// [`ingest_all`] leaving its last writes queued on `writes` (a round's last writes go with
/// the next read); also the time of its last round.
async fn ingest_in(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    dialect: Dialect,
    batch: &[(&Ingest, Option<Answer<'_>>)],
) -> Result<(Vec<Ingested>, Option<i64>), StoreError> {
    let mut outcomes = vec![Ingested::Duplicate; batch.len()];
    let mut last = None;
    for round in rounds(batch) {
        let now = now_millis().max(last.map_or(0, |l| l + 1));
        ingest_round(tx, writes, dialect, batch, &round, now, &mut outcomes).await?;
        last = Some(now);
    }
    Ok((outcomes, last))
}

/// Stores one round.
async fn ingest_round(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    dialect: Dialect,
    batch: &[(&Ingest, Option<Answer<'_>>)],
    round: &[usize],
    now: i64,
    outcomes: &mut [Ingested],
) -> Result<(), StoreError> {
    // A message's id is known up front, so the event row carries it from the start.
    let message_ids: Vec<Option<MessageId>> = round
        .iter()
        .map(|&i| matches!(batch[i].0.event, IngestEvent::Message { .. }).then(MessageId::new))
        .collect();
    let (fresh, known) = claim(tx, writes, batch, round, &message_ids, now).await?;
    let mut incoming = Vec::new();
    for ((&index, fresh), message) in round.iter().zip(fresh).zip(message_ids) {
        if !fresh {
            continue;
        }
        let (input, answer) = batch[index];
        match (&input.event, message) {
            (
                IngestEvent::Message {
                    contact_external_id,
                    contact_name,
                    external_message_id,
                    content,
                    client,
                },
                Some(message),
            ) => incoming.push(messages::Incoming {
                index,
                input,
                answer,
                message,
                contact_external_id,
                contact_name,
                external_message_id: external_message_id.as_deref(),
                content,
                client: client.as_ref(),
            }),
            _ => {
                writes.flush(tx).await?;
                outcomes[index] = other::store_other(tx, dialect, input, now).await?;
            }
        }
    }
    let stored = messages::store(tx, writes, dialect, &incoming, known, now).await?;
    for (item, outcome) in incoming.iter().zip(stored) {
        outcomes[item.index] = outcome;
    }
    // The channel's follow-ups come after everything the event said.
    let mut follow_ups = Vec::new();
    for &index in round {
        let Ingested::Stored {
            conversation_id,
            message_id,
            ..
        } = &outcomes[index]
        else {
            continue;
        };
        let input = batch[index].0;
        for follow_up in &input.follow_ups {
            let item = NewOutbound {
                account_id: input.account_id,
                connection_id: input.connection_id,
                conversation_id: conversation_id.filter(|_| follow_up.ordered),
                message_id: *message_id,
                chat_id: follow_up.chat_id.clone(),
                action: follow_up.action.clone(),
            };
            follow_ups.push((item, now));
        }
    }
    enqueue_all(writes, &follow_ups);
    Ok(())
}

/// Records the round's events as seen, one statement for all; `false` for those seen
/// before (redeliveries, or a repeat later in the same round). With it goes the lookup of
/// the stored contacts of the round's chats (needed for the fresh messages among them; on
/// SQLite the two go to the writer together).
async fn claim(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    batch: &[(&Ingest, Option<Answer<'_>>)],
    round: &[usize],
    message_ids: &[Option<MessageId>],
    now: i64,
) -> Result<(Vec<bool>, Known), StoreError> {
    let mut rows = Rows::new(4);
    let mut chats = Rows::new(2);
    for (&index, message) in round.iter().zip(message_ids) {
        let input = batch[index].0;
        rows.push([
            input.connection_id.to_string().into(),
            input.external_event_id.clone().into(),
            now.into(),
            message.map(|m| m.to_string()).into(),
        ]);
        if let IngestEvent::Message {
            contact_external_id,
            ..
        } = &input.event
        {
            chats.push([
                input.connection_id.to_string().into(),
                contact_external_id.clone().into(),
            ]);
        }
    }
    let inserted = writes
        .fetch(
            tx,
            "INSERT INTO inbound_events (connection_id, external_event_id, received_at, message_id) VALUES {rows}
             ON CONFLICT DO NOTHING RETURNING connection_id, external_event_id",
            &rows,
        )
        .await?;
    let known = writes.fetch(tx, IDENTITIES, &chats).await?;
    let known = known_of(&known)?;
    let mut new: HashSet<(String, String)> = inserted
        .iter()
        .map(|row| Ok((row.text("connection_id")?, row.text("external_event_id")?)))
        .collect::<Result<_, StoreError>>()?;
    let fresh = round
        .iter()
        .map(|&index| {
            let input = batch[index].0;
            new.remove(&(
                input.connection_id.to_string(),
                input.external_event_id.clone(),
            ))
        })
        .collect();
    Ok((fresh, known))
}
