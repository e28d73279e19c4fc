//! Tests of the bot's read cursor against what ingest stores: a conversation's messages are
//! stamped in the order they commit, even when two nodes store one chat's messages at once,
//! and the first turn decided without reading agrees with what is stored.

use std::time::Duration;

use switchboard_core::{
    conversation::ConversationStatus,
    ids::{AccountId, ConnectionId, ConversationId, GroupId, ScenarioId},
    message::Content,
    routing::Start,
};

use crate::{
    routing,
    testing::{self, Backend, TestDb},
    BotApply, BotLoad, BotMessage, BotNext, Dialect, Ingest, IngestEvent, Ingested, Store,
};

struct World {
    account: AccountId,
    connection: ConnectionId,
    group: GroupId,
    scenario: ScenarioId,
}

async fn world(store: &Store) -> World {
    let (account, _, group) = testing::account_with_group(store).await;
    let scenario = store
        .create_scenario(account, "Echo", "start: hello", None)
        .await
        .unwrap()
        .id;
    let (connection, _) = store
        .create_connection(&testing::telegram_connection(account, group), None)
        .await
        .unwrap();
    World {
        account,
        connection: connection.id,
        group,
        scenario,
    }
}

/// A customer message of `chat`, to the bot or (`to_people`) queued for the group.
fn message(w: &World, event: &str, chat: &str, text: &str, to_people: bool) -> Ingest {
    Ingest {
        account_id: w.account,
        connection_id: w.connection,
        external_event_id: event.into(),
        event: IngestEvent::Message {
            contact_external_id: chat.into(),
            contact_name: format!("Клиент {chat}"),
            external_message_id: Some(event.into()),
            content: Content::text(text),
            client: None,
        },
        start: if to_people {
            Start {
                status: ConversationStatus::Queued,
                group_id: Some(w.group),
                wanted_operator_id: None,
                held_until: None,
                scenario_id: None,
            }
        } else {
            Start {
                status: ConversationStatus::Bot,
                group_id: None,
                wanted_operator_id: None,
                held_until: None,
                scenario_id: Some(w.scenario),
            }
        },
        out_of_hours: None,
        follow_ups: Vec::new(),
    }
}

/// A bot that reads everything unread and says how much it read.
fn answer(load: &BotLoad) -> Option<BotApply> {
    let last = load.unread.last()?;
    let text = format!("read {}", load.unread.len());
    Some(BotApply {
        state: serde_json::json!({"turn": load.version + 1}).to_string(),
        read: Some((last.created_at, last.id)),
        messages: vec![BotMessage {
            content: Content::text(text.clone()),
            action: serde_json::json!({"action": "send_text", "text": text}).to_string(),
            sent: false,
        }],
        wake_at: None,
        next: BotNext::Idle,
    })
}

fn conversation_of(outcome: &Ingested) -> ConversationId {
    match outcome {
        Ingested::Stored {
            conversation_id: Some(id),
            ..
        } => *id,
        other => panic!("not stored: {other:?}"),
    }
}

/// Node A reads the chat's conversation, then waits (here for the account's routing lock,
/// which its other chat needs) while node B stores a later message of the same chat and
/// the bot reads it. A commits last: its message must still be read, not passed over
/// because its clock said "earlier".
async fn a_message_committed_late_is_still_read(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    if backend != Backend::Postgres {
        return;
    }
    let store = db.store().await;
    let w = world(&store).await;
    let first = store
        .ingest_answering(&message(&w, "e0", "anna", "Привет", false), Some(&answer))
        .await
        .unwrap();
    let conversation = conversation_of(&first);

    // The routing lock, held as another node routing a conversation would.
    let mut holder = store.write.begin().await.unwrap();
    routing::lock(&mut holder, Dialect::Postgres, w.account)
        .await
        .unwrap();
    let node_a = {
        let store = store.clone();
        let batch = [
            message(&w, "e1", "anna", "Hours", false),
            message(&w, "e2", "boris", "Здравствуйте", true),
        ];
        tokio::spawn(async move {
            let refs: Vec<_> = batch.iter().map(|i| (i, None)).collect();
            store.ingest_batch(&refs).await
        })
    };
    // A is stuck behind the lock with its round begun.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
        )
        .fetch_one(&store.read)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "node A never waited");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Node B: a later message of the same chat, answered by the bot in its commit.
    let second = store
        .ingest_answering(&message(&w, "e3", "anna", "Operator", false), Some(&answer))
        .await
        .unwrap();
    assert_eq!(conversation_of(&second), conversation);
    let load = store.bot_load(conversation).await.unwrap().unwrap();
    assert!(load.unread.is_empty(), "the bot read Operator: {load:?}");

    holder.rollback().await.unwrap();
    let stored = node_a.await.unwrap();
    assert!(stored.iter().all(Result::is_ok), "{stored:?}");
    let load = store.bot_load(conversation).await.unwrap().unwrap();
    let unread: Vec<_> = load
        .unread
        .iter()
        .map(|u| u.content.text.as_str())
        .collect();
    assert_eq!(unread, ["Hours"], "the message committed last was skipped");
}

/// The first message of a new contact to the bot is answered from a load made up before
/// anything is written; what is stored afterwards must be what that load said.
async fn the_first_turn_is_decided_from_what_is_stored(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let w = world(&store).await;
    let seen = std::sync::Mutex::new(None);
    let remember = |load: &BotLoad| {
        *seen.lock().unwrap() = Some(load.clone());
        answer(load)
    };
    let outcome = store
        .ingest_answering(&message(&w, "e0", "anna", "Привет", false), Some(&remember))
        .await
        .unwrap();
    let decided = seen.lock().unwrap().clone().expect("the bot answered");
    let stored = store
        .bot_load(conversation_of(&outcome))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            stored.account_id,
            stored.connection_id,
            stored.contact_id,
            &stored.contact_name,
            &stored.chat_id,
            stored.scenario_id,
            stored.version,
        ),
        (
            decided.account_id,
            decided.connection_id,
            decided.contact_id,
            &decided.contact_name,
            &decided.chat_id,
            decided.scenario_id,
            decided.version + 1,
        )
    );
    assert!(stored.unread.is_empty(), "the turn read the message");
}

crate::backends!(
    a_message_committed_late_is_still_read,
    the_first_turn_is_decided_from_what_is_stored
);
