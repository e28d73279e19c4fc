//! Webhooks acknowledged on the inbound journal (a file of its own on SQLite, a table on
//! PostgreSQL): a burst is acknowledged and stored exactly once, and what the journal kept
//! when the server stopped is stored at the next start.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use switchboard_channels::{ContactRef, InboundEvent, InboundKind};
use switchboard_core::{ids::ConnectionId, message::Content};
use switchboard_store::{backends, testing::Backend, Journal, JournalEntry, StoreConfig};

use crate::{
    helpers::{spawn_app, spawn_on},
    telegram::{connect, deliver, text_update},
};

backends!(
    a_burst_is_acknowledged_and_stored_exactly_once,
    what_the_journal_kept_is_stored_at_the_next_start,
);

const WAIT: Duration = Duration::from_secs(30);

async fn a_burst_is_acknowledged_and_stored_exactly_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    const CHATS: i64 = 150;
    // Every update twice, all at once: far more than wait to be answered after storing.
    let updates: Vec<Vec<u8>> = (0..CHATS)
        .flat_map(|i| {
            let update = text_update(10_000 + i, 5_000 + i, &format!("вопрос {i}"));
            [update.clone(), update]
        })
        .collect();
    let replies = join_all(
        updates
            .iter()
            .map(|body| deliver(&app, tg.id(), &tg.secret, body)),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let started = Instant::now();
    let all = loop {
        let all = app.conversations().await;
        if all.len() as i64 >= CHATS || started.elapsed() > WAIT {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(all.len() as i64, CHATS, "one conversation per chat");
    for c in all.iter().step_by(15) {
        let messages = app.messages(c["id"].as_str().unwrap()).await;
        assert_eq!(messages.len(), 1, "stored once: {messages:?}");
    }
    // Nothing left waiting once everything is stored.
    let started = Instant::now();
    loop {
        let waiting = app.metric("switchboard_journal_waiting_events").await;
        if waiting == 0 {
            break;
        }
        assert!(started.elapsed() < WAIT, "{waiting} events still waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn what_the_journal_kept_is_stored_at_the_next_start(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let connection: ConnectionId = tg.id().parse().unwrap();
    let db = app.stop().await;
    let journal = Journal::open(&StoreConfig::new(&db.url))
        .await
        .unwrap()
        .expect("both backends keep a journal");
    // As a webhook left it when the server died after acknowledging it: journaled, not
    // stored. The second entry repeats the first event (a redelivery) and adds another.
    let event = |id: &str, chat: &str, text: &str| InboundEvent {
        external_event_id: id.into(),
        kind: InboundKind::Message {
            contact: ContactRef {
                external_id: chat.into(),
                name: "Пётр".into(),
                client: None,
            },
            external_message_id: id.into(),
            content: Content {
                text: text.into(),
                ..Content::default()
            },
        },
        follow_ups: Vec::new(),
    };
    let entry = |events: Vec<InboundEvent>| JournalEntry {
        connection_id: connection,
        received_at: jiff::Timestamp::now(),
        events: serde_json::to_string(&events).unwrap(),
    };
    journal
        .append(
            &[
                entry(vec![event("901", "77", "Заказ не пришёл")]),
                entry(vec![
                    event("901", "77", "Заказ не пришёл"),
                    event("902", "78", "Хочу вернуть товар"),
                ]),
            ],
            &[],
        )
        .await
        .unwrap();
    journal.close().await;

    let app = spawn_on(db, Default::default()).await;
    let all = app.conversations().await;
    let mut texts: Vec<String> = Vec::new();
    for c in &all {
        texts.extend(
            app.messages(c["id"].as_str().unwrap())
                .await
                .iter()
                .map(|m| m["content"]["text"].as_str().unwrap_or_default().into()),
        );
    }
    texts.sort();
    assert_eq!(
        texts,
        ["Заказ не пришёл", "Хочу вернуть товар"],
        "stored before the server took requests, each once"
    );
    let db = app.stop().await;
    let journal = Journal::open(&StoreConfig::new(&db.url))
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    while !journal.pending(0, 10).await.unwrap().is_empty() {
        assert!(started.elapsed() < WAIT, "stored entries are forgotten");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
