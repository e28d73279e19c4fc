//! Group commit stores exactly what storing event by event stores. Random sequences of
//! customer messages (to the bot and to people, with and without an out-of-hours notice),
//! redeliveries, reachability changes, chats opened without a message and ignored events
//! are stored twice, on two databases: one event per transaction, and in random batches
//! through `ingest_batch` (which writes each round set-wise). Per chat, everything stored
//! must be the same: contacts, conversations, messages in listing order, the bot's state
//! and replies, outbox rows in claim order, timers, the audit trail, and each outcome.

use std::collections::BTreeMap;

use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use sqlx::Row;
use switchboard_core::{
    conversation::ConversationStatus,
    ids::{AccountId, ConnectionId, GroupId, ScenarioId},
    message::Content,
    routing::Start,
};
use switchboard_store::{
    backends,
    testing::{self, Backend, TestDb},
    BotApply, BotLoad, BotMessage, BotNext, FollowUp, Ingest, IngestEvent, Ingested, NewConnection,
    Notice, Store,
};

backends!(batches_store_what_one_event_at_a_time_stores);

const CHATS: u8 = 6;
/// Chats below this go to the bot; the rest to the support group.
const BOT_CHATS: u8 = 4;
const TEXTS: [&str; 5] = ["Привет", "wait", "effect", "1", "<b>x</b>"];

#[derive(Debug, Clone)]
enum Event {
    Message {
        chat: u8,
        text: usize,
        notice: bool,
    },
    /// The channel delivers an earlier event again.
    Again(usize),
    Reachability {
        chat: u8,
        reachable: bool,
    },
    Started {
        chat: u8,
    },
    Ignored,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => (0..CHATS, 0..TEXTS.len(), proptest::bool::weighted(0.2))
            .prop_map(|(chat, text, notice)| Event::Message { chat, text, notice }),
        2 => (0usize..64).prop_map(Event::Again),
        1 => (0..CHATS, any::<bool>()).prop_map(|(chat, reachable)| Event::Reachability { chat, reachable }),
        1 => (0..CHATS).prop_map(|chat| Event::Started { chat }),
        1 => Just(Event::Ignored),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    events: Vec<Event>,
    /// Batch sizes, used in turn.
    batches: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(event(), 1..48),
        proptest::collection::vec(1usize..12, 1..8),
    )
        .prop_map(|(events, batches)| Case { events, batches })
}

/// A deterministic bot: echoes the last message; "wait" leaves the turn to the runner and
/// "effect" asks for a handoff (pending until performed).
fn answer(load: &BotLoad) -> Option<BotApply> {
    let last = load.unread.last()?;
    if last.content.text == "wait" {
        return None;
    }
    let text = format!("echo {} after {}", last.content.text, load.unread.len());
    Some(BotApply {
        state: serde_json::json!({"turn": load.version + 1}).to_string(),
        read: Some((last.created_at, last.id)),
        messages: vec![BotMessage {
            content: Content::text(text.clone()),
            action: serde_json::json!({"action": "send_text", "text": text}).to_string(),
            sent: false,
        }],
        wake_at: None,
        next: if last.content.text == "effect" {
            BotNext::Effect(r#"{"handoff":"Support"}"#.into())
        } else {
            BotNext::Idle
        },
    })
}

/// One account with a connection, a group and a scenario in one store.
struct Place {
    account: AccountId,
    connection: ConnectionId,
    group: GroupId,
    scenario: ScenarioId,
}

async fn place(store: &Store, connection: ConnectionId) -> Place {
    let (account, _, group) = testing::account_with_group(store).await;
    let scenario = store
        .create_scenario(account, "Echo", "start: hello", None)
        .await
        .unwrap()
        .id;
    store
        .create_connection(
            &NewConnection {
                id: connection,
                external_account_id: connection.to_string(),
                ..testing::telegram_connection(account, group)
            },
            None,
        )
        .await
        .unwrap();
    Place {
        account,
        connection,
        group,
        scenario,
    }
}

/// The events of a case as one store receives them (its own group and scenario ids).
fn inputs(case: &Case, at: &Place) -> Vec<Ingest> {
    let mut out: Vec<Ingest> = Vec::new();
    for (i, event) in case.events.iter().enumerate() {
        let start = |chat: u8| {
            if chat < BOT_CHATS {
                Start {
                    status: ConversationStatus::Bot,
                    group_id: None,
                    wanted_operator_id: None,
                    held_until: None,
                    scenario_id: Some(at.scenario),
                }
            } else {
                Start {
                    status: ConversationStatus::Queued,
                    group_id: Some(at.group),
                    wanted_operator_id: None,
                    held_until: None,
                    scenario_id: None,
                }
            }
        };
        let base = |event: IngestEvent, start: Start| Ingest {
            account_id: at.account,
            connection_id: at.connection,
            external_event_id: format!("e{i}"),
            event,
            start,
            out_of_hours: None,
            follow_ups: Vec::new(),
        };
        let input = match event {
            Event::Message { chat, text, notice } => {
                let mut input = base(
                    IngestEvent::Message {
                        contact_external_id: format!("c{chat}"),
                        contact_name: format!("Клиент {chat}"),
                        external_message_id: Some(format!("m{i}")),
                        content: Content::text(TEXTS[*text]),
                        client: None,
                    },
                    start(*chat),
                );
                if *notice {
                    input.out_of_hours = Some(Notice {
                        chat_id: format!("c{chat}"),
                        text: "Мы откроемся утром".into(),
                        action: r#"{"action":"send_text","text":"night"}"#.into(),
                    });
                }
                input.follow_ups.push(FollowUp {
                    chat_id: Some(format!("c{chat}")),
                    action: format!(r#"{{"action":"acknowledge_choice","callback_id":"{i}"}}"#),
                    ordered: *text == 3,
                });
                input
            }
            Event::Again(earlier) => match out.get(*earlier % out.len().max(1)) {
                Some(earlier) => earlier.clone(),
                None => base(IngestEvent::Ignored, start(0)),
            },
            Event::Reachability { chat, reachable } => base(
                IngestEvent::Reachability {
                    contact_external_id: format!("c{chat}"),
                    contact_name: format!("Клиент {chat}"),
                    reachable: *reachable,
                },
                start(*chat),
            ),
            Event::Started { chat } => base(
                IngestEvent::Started {
                    contact_external_id: format!("c{chat}"),
                    contact_name: format!("Клиент {chat}"),
                },
                start(*chat),
            ),
            Event::Ignored => base(IngestEvent::Ignored, start(0)),
        };
        out.push(input);
    }
    out
}

/// An outcome without its ids: the chat of its conversation stands for it.
fn outcome(result: &Ingested, chats: &BTreeMap<String, String>) -> String {
    match result {
        Ingested::Duplicate => "duplicate".into(),
        Ingested::Stored {
            conversation_id,
            message_id,
            opened,
            bot,
            answered,
        } => format!(
            "stored in {:?} message={} opened={opened} bot={bot} answered={answered}",
            conversation_id.map(|c| chats.get(&c.to_string()).cloned()),
            message_id.is_some()
        ),
    }
}

/// What one connection's data looks like per chat, without ids and times.
async fn snapshot(store: &Store, connection: ConnectionId) -> BTreeMap<String, Vec<String>> {
    let pool = store.raw_pool();
    let conn = connection.to_string();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let rows = sqlx::query(
        "SELECT i.external_id, i.reachable, t.name FROM contact_identities i JOIN contacts t ON t.id = i.contact_id
         WHERE i.connection_id = $1 ORDER BY i.external_id",
    )
    .bind(&conn)
    .fetch_all(pool)
    .await
    .unwrap();
    for row in rows {
        let chat: String = row.get("external_id");
        let line = format!(
            "contact {} reachable={}",
            row.get::<String, _>("name"),
            row.get::<i64, _>("reachable")
        );
        out.entry(chat).or_default().push(line);
    }
    let rows = sqlx::query(
        "SELECT i.external_id, c.status, c.out_of_hours_notified, c.previous_id, c.closed_at, c.group_id,
                (SELECT COUNT(*) FROM timers m WHERE m.conversation_id = c.id AND m.kind = 'auto_close') AS clocks,
                (SELECT COUNT(*) FROM timers m WHERE m.conversation_id = c.id AND m.kind = 'bot') AS bot_timers,
                (SELECT COUNT(*) FROM audit_log a WHERE a.object_id = c.id AND a.action = 'conversation.open') AS opens,
                b.state, b.version, b.pending, r.content AS read
         FROM conversations c
         JOIN contact_identities i ON i.contact_id = c.contact_id AND i.connection_id = c.connection_id
         LEFT JOIN bot_states b ON b.conversation_id = c.id
         LEFT JOIN messages r ON r.id = b.read_id
         WHERE c.connection_id = $1 ORDER BY i.external_id, c.opened_at, c.id",
    )
    .bind(&conn)
    .fetch_all(pool)
    .await
    .unwrap();
    for row in rows {
        let chat: String = row.get("external_id");
        let line = format!(
            "conversation {} notified={} linked={} closed={} group={} clocks={} bot_timers={} opens={} state={:?} version={:?} pending={:?} read={:?}",
            row.get::<String, _>("status"),
            row.get::<i64, _>("out_of_hours_notified"),
            row.get::<Option<String>, _>("previous_id").is_some(),
            row.get::<Option<i64>, _>("closed_at").is_some(),
            row.get::<Option<String>, _>("group_id").is_some(),
            row.get::<i64, _>("clocks"),
            row.get::<i64, _>("bot_timers"),
            row.get::<i64, _>("opens"),
            row.get::<Option<String>, _>("state"),
            row.get::<Option<i64>, _>("version"),
            row.get::<Option<String>, _>("pending"),
            row.get::<Option<String>, _>("read"),
        );
        out.entry(chat).or_default().push(line);
    }
    let rows = sqlx::query(
        "SELECT i.external_id, m.direction, m.author_kind, m.content, m.external_id AS channel_id, m.delivery_status
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
         JOIN contact_identities i ON i.contact_id = c.contact_id AND i.connection_id = c.connection_id
         WHERE c.connection_id = $1 ORDER BY i.external_id, m.created_at, m.id",
    )
    .bind(&conn)
    .fetch_all(pool)
    .await
    .unwrap();
    for row in rows {
        let chat: String = row.get("external_id");
        let line = format!(
            "message {} {} {} {:?} {}",
            row.get::<String, _>("direction"),
            row.get::<String, _>("author_kind"),
            row.get::<String, _>("content"),
            row.get::<Option<String>, _>("channel_id"),
            row.get::<String, _>("delivery_status"),
        );
        out.entry(chat).or_default().push(line);
    }
    // Outbox rows per chat in id order: the order a conversation's rows are claimed in.
    let rows = sqlx::query(
        "SELECT o.chat_id, o.action, o.conversation_id, o.message_id, o.status
         FROM outbox o WHERE o.connection_id = $1 ORDER BY o.chat_id, o.id",
    )
    .bind(&conn)
    .fetch_all(pool)
    .await
    .unwrap();
    for row in rows {
        let chat: Option<String> = row.get("chat_id");
        let line = format!(
            "outbox {} loose={} bare={} {}",
            row.get::<String, _>("action"),
            row.get::<Option<String>, _>("conversation_id").is_none(),
            row.get::<Option<String>, _>("message_id").is_none(),
            row.get::<String, _>("status"),
        );
        out.entry(chat.unwrap_or_default()).or_default().push(line);
    }
    let events: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM inbound_events WHERE connection_id = $1")
            .bind(&conn)
            .fetch_one(pool)
            .await
            .unwrap()
            .get("n");
    out.entry(String::new())
        .or_default()
        .push(format!("events seen {events}"));
    out
}

/// Conversation id -> its chat, to read outcomes without ids.
async fn chats_of(store: &Store, connection: ConnectionId) -> BTreeMap<String, String> {
    sqlx::query(
        "SELECT c.id, i.external_id FROM conversations c
         JOIN contact_identities i ON i.contact_id = c.contact_id AND i.connection_id = c.connection_id
         WHERE c.connection_id = $1",
    )
    .bind(connection.to_string())
    .fetch_all(store.raw_pool())
    .await
    .unwrap()
    .iter()
    .map(|row| (row.get("id"), row.get("external_id")))
    .collect()
}

async fn run_case(one: &Store, batched: &Store, case: &Case) -> Result<(), String> {
    let connection = ConnectionId::new();
    let at_one = place(one, connection).await;
    let at_batched = place(batched, connection).await;

    let answer: &(dyn Fn(&BotLoad) -> Option<BotApply> + Send + Sync) = &answer;
    let mut singly = Vec::new();
    for input in inputs(case, &at_one) {
        singly.push(one.ingest_answering(&input, Some(answer)).await.unwrap());
    }
    let inputs = inputs(case, &at_batched);
    let mut together = Vec::new();
    let mut rest = &inputs[..];
    for size in case.batches.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, after) = rest.split_at((*size).min(rest.len()));
        rest = after;
        let batch: Vec<_> = batch.iter().map(|input| (input, Some(answer))).collect();
        for result in batched.ingest_batch(&batch).await {
            together.push(result.map_err(|e| format!("a batched event failed: {e}"))?);
        }
    }

    let (chats_one, chats_batched) = (
        chats_of(one, connection).await,
        chats_of(batched, connection).await,
    );
    let outcomes_one: Vec<String> = singly.iter().map(|r| outcome(r, &chats_one)).collect();
    let outcomes_batched: Vec<String> = together
        .iter()
        .map(|r| outcome(r, &chats_batched))
        .collect();
    if outcomes_one != outcomes_batched {
        return Err(format!(
            "outcomes differ:\none by one: {outcomes_one:#?}\nbatched: {outcomes_batched:#?}"
        ));
    }
    let (a, b) = (
        snapshot(one, connection).await,
        snapshot(batched, connection).await,
    );
    if a != b {
        return Err(format!(
            "stored data differs:\none by one: {a:#?}\nbatched: {b:#?}"
        ));
    }
    Ok(())
}

async fn batches_store_what_one_event_at_a_time_stores(backend: Backend) {
    let (Some(db_one), Some(db_batched)) = (TestDb::new(backend).await, TestDb::new(backend).await)
    else {
        return;
    };
    let (one, batched) = (db_one.store().await, db_batched.store().await);
    let cases = match backend {
        Backend::Sqlite => 64,
        Backend::Postgres => 24,
    };
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(Config {
            cases,
            max_shrink_iters: 100,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&case(), |case| {
            handle
                .block_on(run_case(&one, &batched, &case))
                .map_err(TestCaseError::fail)
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    });
}
