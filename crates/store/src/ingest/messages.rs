//! Customer messages of one round, stored set-wise: the round has at most one event per
//! chat, so one statement per table finds or adds the contacts, opens the conversations
//! that start with the bot, appends the messages and writes the bot's turns. Conversations
//! that start with people are routed one by one (routing reads what the previous decision
//! wrote), and so are out-of-hours notices; both are rare next to messages.

use std::collections::{HashMap, HashSet};

use sqlx::AnyConnection;
use switchboard_core::{
    audit::NewAuditEntry,
    capabilities::ClientAbilities,
    conversation::ConversationStatus,
    ids::{ContactId, ConversationId, MessageId},
    message::{AuthorKind, Content, DeliveryStatus, Direction},
};

use super::{
    contacts::{contacts, Known},
    open_or_continue,
    turns::{bot_turns, known_load},
    Ingest, Ingested,
};
use crate::{
    bot::{
        first_state, last_message_at, Answer, BotApply, BotLoad, BotNext, SameTx, Turn, TurnRows,
        MESSAGE_COLUMNS,
    },
    codec::{millis, to_json, RowExt},
    outbox::send_notice,
    rows::{single_writer, Arg, Rows},
    writes::Writes,
    Dialect, StoreError,
};

/// A fresh customer message (its event is recorded as seen).
pub(super) struct Incoming<'a> {
    /// Its place in the batch.
    pub index: usize,
    pub input: &'a Ingest,
    pub answer: Option<Answer<'a>>,
    pub message: MessageId,
    pub contact_external_id: &'a str,
    pub contact_name: &'a str,
    pub external_message_id: Option<&'a str>,
    pub content: &'a Content,
    pub client: Option<&'a ClientAbilities>,
}

/// A message's conversation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Place {
    pub conversation: ConversationId,
    pub opened: bool,
    pub status: ConversationStatus,
    /// The time of its last message until now.
    pub last_message_at: i64,
}

impl Place {
    /// The time of a message appended now: after everything the conversation holds (the
    /// bot's reply to the previous message may be stamped a millisecond ahead), so the
    /// conversation lists in the order it was stored.
    pub fn at(&self, now: i64) -> i64 {
        if self.opened {
            now
        } else {
            now.max(self.last_message_at + 1)
        }
    }
}

/// Stores the messages of one round; see the module documentation.
pub(super) async fn store(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    dialect: Dialect,
    items: &[Incoming<'_>],
    known: Known,
    now: i64,
) -> Result<Vec<Ingested>, StoreError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let contacts = contacts(tx, writes, items, known, now).await?;
    let mut places = open_conversations(tx, writes, items, &contacts).await?;
    let to_bot: Vec<usize> = (0..items.len())
        .filter(|&i| {
            let start = items[i].input.start;
            places[i].is_none()
                && start.status == ConversationStatus::Bot
                && start.held_until.is_none()
        })
        .collect();
    // A new contact's first message to the bot: nothing to read, so its turn is decided
    // before anything is written and goes into the rows that open the conversation.
    let mut first: HashMap<usize, (BotLoad, BotApply)> = HashMap::new();
    let mut opening = Vec::with_capacity(to_bot.len());
    for &i in &to_bot {
        let place = Place {
            conversation: ConversationId::new(),
            opened: true,
            status: ConversationStatus::Bot,
            last_message_at: now,
        };
        if let (Some(answer), Some(load)) = (
            items[i].answer,
            known_load(&items[i], contacts[i], &place, now),
        ) {
            if let Some(apply) = answer(&load) {
                first.insert(i, (load, apply));
            }
        }
        opening.push((i, place.conversation));
    }
    for (i, place) in open_for_bot(tx, writes, items, &contacts, &opening, &first, now).await? {
        if !place.opened {
            // Another node opened it first: the bot's turn is taken the usual way.
            first.remove(&i);
        }
        places[i] = Some(place);
    }
    let mut placed = Vec::with_capacity(items.len());
    for (i, (item, place)) in items.iter().zip(places).enumerate() {
        let place = match place {
            Some(place) => place,
            None => {
                // Starts with people (or waits for the opening): routed on its own.
                writes.flush(tx).await?;
                let (conversation, opened, status) = open_or_continue(
                    &mut *tx,
                    dialect,
                    item.input.account_id,
                    item.input.connection_id,
                    contacts[i],
                    item.input.start,
                    now,
                )
                .await?;
                Place {
                    conversation,
                    opened,
                    status,
                    last_message_at: now,
                }
            }
        };
        placed.push(place);
    }
    let mut first: Vec<(usize, BotLoad, BotApply)> =
        first.into_iter().map(|(i, (l, a))| (i, l, a)).collect();
    first.sort_by_key(|(i, _, _)| *i);
    let first_turns: Vec<Turn<'_>> = first
        .iter()
        .map(|(_, load, apply)| Turn {
            load,
            apply,
            same_tx: Some(SameTx { opened: true }),
            at: now + 1,
        })
        .collect();
    let mut first_rows = TurnRows::of(&first_turns);
    let said = std::mem::replace(&mut first_rows.messages, Rows::new(9));
    append(tx, writes, items, &mut placed, now, said).await?;
    let mut bot = bot_turns(
        tx,
        writes,
        items,
        &placed,
        &first,
        now,
        (first_turns, first_rows),
    )
    .await?;
    for (i, _, apply) in &first {
        bot[*i] = (matches!(apply.next, BotNext::Effect(_)), true);
    }
    for (item, place) in items.iter().zip(&placed) {
        let Some(notice) = &item.input.out_of_hours else {
            continue;
        };
        writes.flush(tx).await?;
        let first = sqlx::query(
            "UPDATE conversations SET out_of_hours_notified = 1 WHERE id = $1 AND out_of_hours_notified = 0",
        )
        .bind(place.conversation.to_string())
        .execute(&mut *tx)
        .await?;
        if first.rows_affected() == 1 {
            send_notice(
                &mut *tx,
                item.input.account_id,
                item.input.connection_id,
                place.conversation,
                notice,
                place.at(now) + 1,
            )
            .await?;
        }
    }
    Ok(items
        .iter()
        .zip(&placed)
        .zip(bot)
        .map(|((item, place), (bot, answered))| Ingested::Stored {
            conversation_id: Some(place.conversation),
            message_id: Some(item.message),
            opened: place.opened,
            bot,
            answered,
        })
        .collect())
}

/// The open conversation of each message's contact, if any. Two chats of one contact (a
/// merged contact) in one round would write one conversation twice: refused, so the batch
/// is stored event by event instead.
async fn open_conversations(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    items: &[Incoming<'_>],
    contacts: &[(ContactId, bool)],
) -> Result<Vec<Option<Place>>, StoreError> {
    let mut seen = HashSet::new();
    let mut keys = Rows::new(2);
    for (item, (contact, new)) in items.iter().zip(contacts) {
        if !seen.insert((item.input.connection_id, *contact)) {
            return Err(StoreError::Conflict {
                what: "two chats of one contact in one round".into(),
            });
        }
        // A contact stored in this transaction has no conversations yet.
        if !new {
            keys.push([
                item.input.connection_id.to_string().into(),
                contact.to_string().into(),
            ]);
        }
    }
    let open: HashMap<(String, String), Place> = writes
        .fetch(
        tx,
        "SELECT c.connection_id, c.contact_id, c.id, c.status, c.last_message_at FROM (VALUES {rows}) AS v
         JOIN conversations c ON c.connection_id = v.column1 AND c.contact_id = v.column2 AND c.closed_at IS NULL",
        &keys,
    )
    .await?
    .iter()
    .map(|row| {
        Ok((
            (row.text("connection_id")?, row.text("contact_id")?),
            Place {
                conversation: row.parse("id")?,
                opened: false,
                status: row.parse("status")?,
                last_message_at: row.int("last_message_at")?,
            },
        ))
    })
    .collect::<Result<_, StoreError>>()?;
    Ok(items
        .iter()
        .zip(contacts)
        .map(|(item, (contact, _))| {
            open.get(&(item.input.connection_id.to_string(), contact.to_string()))
                .copied()
        })
        .collect())
}

/// Opens a conversation with the bot for each of `which`: no routing, so set-wise. One
/// opened meanwhile by another node is continued instead.
async fn open_for_bot(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    items: &[Incoming<'_>],
    contacts: &[(ContactId, bool)],
    which: &[(usize, ConversationId)],
    first: &HashMap<usize, (BotLoad, BotApply)>,
    now: i64,
) -> Result<Vec<(usize, Place)>, StoreError> {
    let mut returning = Rows::new(2);
    for &(i, _) in which {
        if !contacts[i].1 {
            returning.push([
                items[i].input.connection_id.to_string().into(),
                contacts[i].0.to_string().into(),
            ]);
        }
    }
    // The latest earlier conversation of a returning contact links to this one.
    let mut previous: HashMap<(String, String), String> = HashMap::new();
    for row in writes
        .fetch(
            tx,
            "SELECT c.connection_id, c.contact_id, c.id FROM (VALUES {rows}) AS v
         JOIN conversations c ON c.connection_id = v.column1 AND c.contact_id = v.column2
         ORDER BY c.opened_at DESC, c.id DESC",
            &returning,
        )
        .await?
    {
        previous
            .entry((row.text("connection_id")?, row.text("contact_id")?))
            .or_insert(row.text("id")?);
    }
    let mut conversations = Rows::new(13);
    let mut opening = Vec::with_capacity(which.len());
    for &(i, id) in which {
        let input = items[i].input;
        let start = input.start;
        let turn = first.get(&i).map(|(load, apply)| Turn {
            load,
            apply,
            same_tx: Some(SameTx { opened: true }),
            at: now + 1,
        });
        let last_message_at = turn.as_ref().and_then(last_message_at).unwrap_or(now);
        let previous = previous
            .get(&(input.connection_id.to_string(), contacts[i].0.to_string()))
            .cloned();
        conversations.push([
            id.to_string().into(),
            input.account_id.to_string().into(),
            input.connection_id.to_string().into(),
            contacts[i].0.to_string().into(),
            start.status.as_str().into(),
            start.group_id.map(|g| g.to_string()).into(),
            start.wanted_operator_id.map(|o| o.to_string()).into(),
            previous.clone().into(),
            now.into(),
            last_message_at.into(),
            now.into(),
            (start.status == ConversationStatus::Queued)
                .then_some(now)
                .into(),
            start.held_until.map(millis).into(),
        ]);
        opening.push((i, id, previous));
    }
    const OPEN: &str = "INSERT INTO conversations (id, account_id, connection_id, contact_id, status, group_id,
             wanted_operator_id, previous_id, opened_at, last_message_at, last_inbound_at, queued_at, held_until)
         VALUES {rows}";
    let inserted: HashSet<String> = if single_writer(tx) {
        // The round's claim took the write lock: none of these has an open conversation
        // since the lookup (and a conflict would fail the batch loudly).
        writes.execute(OPEN, conversations);
        opening.iter().map(|(_, id, _)| id.to_string()).collect()
    } else {
        writes
            .fetch(
                tx,
                &format!(
                    "{OPEN} ON CONFLICT (connection_id, contact_id) WHERE closed_at IS NULL DO NOTHING RETURNING id"
                ),
                &conversations,
            )
            .await?
            .iter()
            .map(|row| row.text("id"))
            .collect::<Result<_, _>>()?
    };
    let mut states = Rows::new(10);
    let mut clocks = Rows::new(3);
    let mut audit = Rows::new(6);
    let mut places = Vec::with_capacity(opening.len());
    for (i, id, previous) in opening {
        let input = items[i].input;
        let start = input.start;
        if !inserted.contains(&id.to_string()) {
            writes.flush(tx).await?;
            let row = sqlx::query(
                "SELECT id, status, last_message_at FROM conversations
                 WHERE connection_id = $1 AND contact_id = $2 AND closed_at IS NULL",
            )
            .bind(input.connection_id.to_string())
            .bind(contacts[i].0.to_string())
            .fetch_one(&mut *tx)
            .await?;
            places.push((
                i,
                Place {
                    conversation: row.parse("id")?,
                    opened: false,
                    status: row.parse("status")?,
                    last_message_at: row.int("last_message_at")?,
                },
            ));
            continue;
        }
        if let Some(scenario) = start.scenario_id {
            // After the first turn when it was decided up front, else before any.
            let [state, version, read_at, read_id, pending, wake_at, updated_at] =
                match first.get(&i) {
                    Some((load, apply)) => first_state(&Turn {
                        load,
                        apply,
                        same_tx: Some(SameTx { opened: true }),
                        at: now + 1,
                    }),
                    None => [
                        "null".into(),
                        0.into(),
                        0.into(),
                        "".into(),
                        Arg::Text(None),
                        Arg::Int(None),
                        now.into(),
                    ],
                };
            states.push([
                id.to_string().into(),
                input.account_id.to_string().into(),
                scenario.to_string().into(),
                state,
                version,
                read_at,
                read_id,
                pending,
                wake_at,
                updated_at,
            ]);
        }
        clocks.push([
            id.to_string().into(),
            now.into(),
            input.connection_id.to_string().into(),
        ]);
        let entry = NewAuditEntry::new(input.account_id, None, "conversation.open", "conversation", id)
            .details(serde_json::json!({
                "status": start.status, "group_id": start.group_id, "operator_id": start.wanted_operator_id,
                "held_until": start.held_until, "previous_id": previous,
                "reason": "the routing target of the connection",
            }));
        audit.push([
            entry.account_id.to_string().into(),
            entry.action.into(),
            entry.object_type.into(),
            entry.object_id.into(),
            to_json(&entry.details).into(),
            now.into(),
        ]);
        places.push((
            i,
            Place {
                conversation: id,
                opened: true,
                status: start.status,
                last_message_at: now,
            },
        ));
    }
    writes.execute(
        "INSERT INTO bot_states (conversation_id, account_id, scenario_id, state, version, read_at, read_id,
             pending, wake_at, updated_at)
         VALUES {rows}",
        states,
    );
    // The auto-close clock starts with the conversation; the timer re-reads the last
    // message when it fires, so messages need not touch it.
    writes.execute(
        "INSERT INTO timers (kind, conversation_id, due_at)
         SELECT 'auto_close', v.column1, v.column2 + c.auto_close_after_secs * 1000
         FROM (VALUES {rows}) AS v JOIN channel_connections c ON c.id = v.column3
         WHERE true ON CONFLICT DO NOTHING",
        clocks,
    );
    writes.execute(
        "INSERT INTO audit_log (account_id, action, object_type, object_id, details, at) VALUES {rows}",
        audit,
    );
    Ok(places)
}

/// Appends the messages (with `said`, the bot's first replies in conversations just opened),
/// and moves their conversations' last message (opening set it).
///
/// A message's time is also the bot's read cursor, so within a conversation it must follow
/// the order in which messages commit. With one writer (SQLite) the time read when the
/// round began is still the last one. With several nodes (PostgreSQL), another node may
/// commit a message to the same conversation between that read and this commit: the time is
/// therefore taken from the conversation's row while updating it, under its row lock, after
/// every message committed before (a later writer waits for the lock and sees ours).
async fn append(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    items: &[Incoming<'_>],
    placed: &mut [Place],
    now: i64,
    said: Rows,
) -> Result<(), StoreError> {
    let mut continued = Rows::new(2);
    for place in placed.iter().filter(|p| !p.opened) {
        continued.push([place.conversation.to_string().into(), place.at(now).into()]);
    }
    if single_writer(tx) {
        writes.execute(
            "UPDATE conversations SET last_message_at = v.column2, last_inbound_at = v.column2
             FROM (VALUES {rows}) AS v WHERE conversations.id = v.column1",
            continued,
        );
    } else {
        let stamped = writes
            .fetch(
                tx,
                "UPDATE conversations SET
                     last_message_at = GREATEST(v.column2, conversations.last_message_at + 1),
                     last_inbound_at = GREATEST(v.column2, conversations.last_message_at + 1)
                 FROM (VALUES {rows}) AS v WHERE conversations.id = v.column1
                 RETURNING conversations.id, conversations.last_message_at",
                &continued,
            )
            .await?;
        for row in &stamped {
            let conversation: ConversationId = row.parse("id")?;
            let at = row.int("last_message_at")?;
            for place in placed.iter_mut().filter(|p| p.conversation == conversation) {
                // `Place::at` is then exactly the stamped time (it is at least `now`).
                place.last_message_at = at - 1;
            }
        }
    }
    let mut messages = Rows::new(9);
    for (item, place) in items.iter().zip(placed.iter()) {
        messages.push([
            item.message.to_string().into(),
            item.input.account_id.to_string().into(),
            place.conversation.to_string().into(),
            Direction::Inbound.as_str().into(),
            AuthorKind::Contact.as_str().into(),
            to_json(item.content).into(),
            item.external_message_id.into(),
            DeliveryStatus::Received.as_str().into(),
            place.at(now).into(),
        ]);
    }
    messages.extend(said);
    writes.execute(
        format!("INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES {{rows}}"),
        messages,
    );
    Ok(())
}
