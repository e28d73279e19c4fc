//! Connections, ingest and the outbox, on both backends.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use switchboard_core::{
    channel::Routing,
    conversation::{ClosedReason, ConversationStatus},
    delivery::Step,
    ids::{AccountId, ConnectionId, ConversationId, GroupId, OperatorId},
    message::{Content, DeliveryStatus},
    routing::Start,
};
use switchboard_store::{
    backends,
    testing::{self, Backend, TestDb},
    ConversationFilter, Dialect, Finish, FollowUp, HeldWriter, Ingest, IngestEvent, Ingested,
    NewConnection, NewReply, Settle, Store, StoreError,
};

backends!(
    a_newer_connection_of_the_same_bot_displaces_the_older,
    connections_check_their_references,
    ingest_stores_each_event_once,
    a_batch_commits_together_and_a_bad_event_costs_the_others_nothing,
    a_delivery_round_in_a_batch_records_sends_and_claims_the_batchs_rows,
    a_checkpoint_moves_the_log_into_the_database_file,
    a_held_writer_keeps_other_writers_waiting_until_released,
    a_message_after_close_opens_a_linked_conversation,
    replies_are_idempotent_and_queued,
    the_outbox_keeps_conversation_order,
    dead_senders_leave_unknown_not_resends,
    auto_close_fires_once_and_follows_the_last_message,
);

async fn setup(backend: Backend) -> Option<(TestDb, Store, AccountId, OperatorId, GroupId)> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await;
    let (account, admin, group) = testing::account_with_group(&store).await;
    Some((db, store, account, admin, group))
}

fn connection(account: AccountId, group: GroupId, bot: &str) -> NewConnection {
    NewConnection {
        external_account_id: bot.into(),
        sealed_credentials: vec![1, 2, 3],
        ..testing::telegram_connection(account, group)
    }
}

async fn a_newer_connection_of_the_same_bot_displaces_the_older(backend: Backend) {
    let Some((_db, store, account, admin, group)) = setup(backend).await else {
        return;
    };
    let (first, displaced) = store
        .create_connection(&connection(account, group, "42"), Some(admin))
        .await
        .unwrap();
    assert!(displaced.is_empty());
    let (second, displaced) = store
        .create_connection(&connection(account, group, "42"), Some(admin))
        .await
        .unwrap();
    assert_eq!(
        displaced.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![first.id]
    );
    assert!(
        !store
            .get_connection(account, first.id)
            .await
            .unwrap()
            .enabled
    );
    assert!(second.enabled);
    let (again, displaced) = store
        .set_connection_enabled(account, first.id, true, Some(admin))
        .await
        .unwrap();
    assert!(again.enabled);
    assert_eq!(
        displaced.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![second.id]
    );
    let record = store.connection_record(first.id).await.unwrap().unwrap();
    assert_eq!(record.sealed_credentials, vec![1, 2, 3]);
    assert_eq!(
        record.connection.rate_limits,
        Some(None),
        "an explicit 'no limits' survives"
    );
    let audit = store.list_audit(account, None, 20).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.action == "channel.displace" && e.object_id == second.id.to_string()));
}

async fn connections_check_their_references(backend: Backend) {
    let Some((_db, store, account, _, group)) = setup(backend).await else {
        return;
    };
    let foreign = GroupId::new();
    let err = store
        .create_connection(&connection(account, foreign, "1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidReference { what } if what == "routing.group_id"),
        "{err:?}"
    );
    let mut to_nobody = connection(account, group, "1");
    to_nobody.routing = Routing::Operator {
        operator_id: OperatorId::new(),
    };
    let err = store.create_connection(&to_nobody, None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidReference { what } if what == "routing.operator_id"),
        "{err:?}"
    );
    assert!(
        store.list_connections(account).await.unwrap().is_empty(),
        "nothing half-made"
    );
    assert!(matches!(
        store
            .get_connection(AccountId::new(), ConnectionId::new())
            .await,
        Err(StoreError::NotFound)
    ));
}

fn message(
    connection: ConnectionId,
    account: AccountId,
    group: GroupId,
    event: &str,
    chat: &str,
    text: &str,
) -> Ingest {
    Ingest {
        account_id: account,
        connection_id: connection,
        external_event_id: event.into(),
        event: IngestEvent::Message {
            contact_external_id: chat.into(),
            contact_name: "Иван".into(),
            external_message_id: Some(format!("m{event}")),
            content: Content::text(text),
            client: None,
        },
        start: Start {
            status: ConversationStatus::Queued,
            group_id: Some(group),
            wanted_operator_id: None,
            held_until: None,
            scenario_id: None,
        },
        out_of_hours: None,
        follow_ups: vec![FollowUp {
            chat_id: Some(chat.into()),
            action: r#"{"action":"acknowledge_choice","callback_id":"x"}"#.into(),
            ordered: false,
        }],
    }
}

async fn ingest_stores_each_event_once(backend: Backend) {
    let Some((_db, store, account, _, group)) = setup(backend).await else {
        return;
    };
    let (conn, _) = store
        .create_connection(&connection(account, group, "7"), None)
        .await
        .unwrap();
    let first = store
        .ingest(&message(conn.id, account, group, "100", "555", "Привет"))
        .await
        .unwrap();
    let Ingested::Stored {
        conversation_id: Some(conversation),
        opened: true,
        ..
    } = first
    else {
        panic!("{first:?}")
    };
    assert_eq!(
        store
            .ingest(&message(conn.id, account, group, "100", "555", "Привет"))
            .await
            .unwrap(),
        Ingested::Duplicate
    );
    let second = store
        .ingest(&message(conn.id, account, group, "101", "555", "Ещё"))
        .await
        .unwrap();
    assert!(
        matches!(second, Ingested::Stored { conversation_id: Some(c), opened: false, .. } if c == conversation)
    );
    let messages = store.list_messages(account, conversation).await.unwrap();
    assert_eq!(
        messages
            .iter()
            .map(|m| m.content.text.as_str())
            .collect::<Vec<_>>(),
        ["Привет", "Ещё"]
    );
    assert_eq!(messages[0].delivery_status, DeliveryStatus::Received);
    let conversations = store
        .list_conversations(
            account,
            &ConversationFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(
        (conversations[0].status, conversations[0].group_id),
        (ConversationStatus::Queued, Some(group))
    );
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(
        counts,
        vec![("pending".to_string(), 2)],
        "the duplicate queued no follow-up"
    );

    let ignored = Ingest {
        event: IngestEvent::Ignored,
        follow_ups: vec![],
        ..message(conn.id, account, group, "102", "555", "")
    };
    assert!(matches!(
        store.ingest(&ignored).await.unwrap(),
        Ingested::Stored {
            message_id: None,
            ..
        }
    ));
    assert_eq!(
        store.ingest(&ignored).await.unwrap(),
        Ingested::Duplicate,
        "ignored events are deduplicated too"
    );
}

async fn a_message_after_close_opens_a_linked_conversation(backend: Backend) {
    let Some((_db, store, account, _, group)) = setup(backend).await else {
        return;
    };
    let (conn, _) = store
        .create_connection(&connection(account, group, "7"), None)
        .await
        .unwrap();
    let Ingested::Stored {
        conversation_id: Some(first),
        ..
    } = store
        .ingest(&message(conn.id, account, group, "1", "555", "a"))
        .await
        .unwrap()
    else {
        panic!()
    };
    sqlx::query("UPDATE conversations SET status = 'closed', closed_at = 1, closed_reason = 'operator' WHERE id = $1")
        .bind(first.to_string())
        .execute(store.raw_pool())
        .await
        .unwrap();
    let Ingested::Stored {
        conversation_id: Some(second),
        opened: true,
        ..
    } = store
        .ingest(&message(conn.id, account, group, "2", "555", "b"))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_ne!(first, second);
    assert_eq!(
        store
            .get_conversation(account, second)
            .await
            .unwrap()
            .previous_id,
        Some(first)
    );
}

async fn reply(
    store: &Store,
    account: AccountId,
    admin: OperatorId,
    conversation: ConversationId,
    text: &str,
    key: Option<&str>,
) -> (switchboard_core::message::Message, bool) {
    let target = store.delivery_target(account, conversation).await.unwrap();
    store
        .create_reply(&NewReply {
            account_id: account,
            conversation_id: conversation,
            author_id: admin,
            content: Content::text(text),
            client_key: key.map(str::to_string),
            action: format!(
                r#"{{"action":"message","chat_id":"{}","text":"{text}"}}"#,
                target.chat_id
            ),
            target,
        })
        .await
        .unwrap()
}

async fn conversation_with_contact(
    store: &Store,
    account: AccountId,
    group: GroupId,
) -> ConversationId {
    let (conn, _) = store
        .create_connection(
            &connection(account, group, &uuid::Uuid::new_v4().to_string()),
            None,
        )
        .await
        .unwrap();
    let mut event = message(conn.id, account, group, "1", "555", "hi");
    event.follow_ups.clear();
    let Ingested::Stored {
        conversation_id: Some(c),
        ..
    } = store.ingest(&event).await.unwrap()
    else {
        panic!()
    };
    c
}

async fn replies_are_idempotent_and_queued(backend: Backend) {
    let Some((_db, store, account, admin, group)) = setup(backend).await else {
        return;
    };
    let conversation = conversation_with_contact(&store, account, group).await;
    let (first, created) = reply(
        &store,
        account,
        admin,
        conversation,
        "Здравствуйте",
        Some("key-1"),
    )
    .await;
    assert!(created);
    let (again, created) = reply(
        &store,
        account,
        admin,
        conversation,
        "Здравствуйте",
        Some("key-1"),
    )
    .await;
    assert!(!created);
    assert_eq!(first.id, again.id);
    assert_eq!(
        store.outbox_counts().await.unwrap(),
        vec![("pending".to_string(), 1)]
    );
    assert_eq!(first.delivery_status, DeliveryStatus::Pending);
    assert_eq!(
        store
            .list_messages(account, conversation)
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn the_outbox_keeps_conversation_order(backend: Backend) {
    let Some((_db, store, account, admin, group)) = setup(backend).await else {
        return;
    };
    let one = conversation_with_contact(&store, account, group).await;
    let two = conversation_with_contact(&store, account, group).await;
    for text in ["1", "2", "3"] {
        reply(&store, account, admin, one, text, None).await;
    }
    reply(&store, account, admin, two, "other", None).await;
    let now = Timestamp::now();
    let lease = Duration::from_secs(60);
    let claimed = store.claim_outbox(now, lease, 10).await.unwrap();
    assert_eq!(
        claimed.len(),
        2,
        "the head of each conversation: {claimed:?}"
    );
    assert_eq!(claimed[0].conversation_id, Some(one));
    assert!(claimed[0].action.contains("\"1\""));
    assert!(
        store.claim_outbox(now, lease, 10).await.unwrap().is_empty(),
        "nothing else is due while heads are sending"
    );

    let retry = Finish {
        step: Step::RetryIn(Duration::from_secs(30)),
        external_id: None,
        error: Some("HTTP 500".into()),
    };
    store
        .finish_outbox(claimed[0].id, &retry, now)
        .await
        .unwrap();
    assert!(
        store.claim_outbox(now, lease, 10).await.unwrap().is_empty(),
        "message 2 waits for message 1's retry"
    );
    let later = now + SignedDuration::from_secs(31);
    let again = store.claim_outbox(later, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (claimed[0].id, 2));
    let sent = Finish {
        step: Step::Sent,
        external_id: Some("tg-1".into()),
        error: None,
    };
    store
        .finish_outbox(again[0].id, &sent, later)
        .await
        .unwrap();
    let next = store.claim_outbox(later, lease, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].action.contains("\"2\""));
    let messages = store.list_messages(account, one).await.unwrap();
    let first_reply = messages.iter().find(|m| m.content.text == "1").unwrap();
    assert_eq!(
        (
            first_reply.delivery_status,
            first_reply.external_id.as_deref()
        ),
        (DeliveryStatus::Sent, Some("tg-1"))
    );
}

async fn dead_senders_leave_unknown_not_resends(backend: Backend) {
    let Some((_db, store, account, admin, group)) = setup(backend).await else {
        return;
    };
    let conversation = conversation_with_contact(&store, account, group).await;
    let (message, _) = reply(&store, account, admin, conversation, "hello", None).await;
    let now = Timestamp::now();
    let claimed = store
        .claim_outbox(now, Duration::from_secs(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        store.expire_outbox_leases(now).await.unwrap(),
        0,
        "the lease still runs"
    );
    assert_eq!(
        store
            .expire_outbox_leases(now + SignedDuration::from_secs(6))
            .await
            .unwrap(),
        1
    );
    assert!(store
        .claim_outbox(
            now + SignedDuration::from_secs(60),
            Duration::from_secs(5),
            10
        )
        .await
        .unwrap()
        .is_empty());
    let late = Finish {
        step: Step::Sent,
        external_id: Some("x".into()),
        error: None,
    };
    store
        .finish_outbox(claimed[0].id, &late, now)
        .await
        .unwrap();
    let stored = store
        .list_messages(account, conversation)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == message.id)
        .unwrap();
    assert_eq!(stored.delivery_status, DeliveryStatus::Unknown);
    assert!(stored.failure_reason.unwrap().contains("may or may not"));
}

async fn auto_close_fires_once_and_follows_the_last_message(backend: Backend) {
    let Some((_db, store, account, admin, group)) = setup(backend).await else {
        return;
    };
    let quiet = conversation_with_contact(&store, account, group).await;
    let answered = conversation_with_contact(&store, account, group).await;
    reply(&store, account, admin, answered, "Ответ", None).await;
    let now = Timestamp::now();
    let lease = Duration::from_secs(60);
    assert!(
        store.claim_timers(now, lease, 10).await.unwrap().is_empty(),
        "12 hours have not passed"
    );

    // A timer due early (as after a message restarted the clock) only moves on.
    sqlx::query("UPDATE timers SET due_at = 0")
        .execute(store.raw_pool())
        .await
        .unwrap();
    let early = store.claim_timers(now, lease, 10).await.unwrap();
    assert_eq!(early.len(), 2);
    for timer in &early {
        assert_eq!(
            store.fire_auto_close(timer, now, &no_action).await.unwrap(),
            None
        );
    }
    assert!(
        store.claim_timers(now, lease, 10).await.unwrap().is_empty(),
        "moved to last message + 12h"
    );

    let later = now + SignedDuration::from_hours(13);
    let due = store.claim_timers(later, lease, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert!(
        store
            .claim_timers(later, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "a claimed timer is not claimed twice"
    );
    let mut reasons = Vec::new();
    for timer in &due {
        let closed = store
            .fire_auto_close(timer, later, &no_action)
            .await
            .unwrap()
            .unwrap();
        reasons.push((closed.conversation_id, closed.reason));
    }
    reasons.sort();
    let mut expected = vec![
        (quiet, ClosedReason::OperatorSilent),
        (answered, ClosedReason::CustomerSilent),
    ];
    expected.sort();
    assert_eq!(reasons, expected, "who wrote last decides the reason");
    let closed = store.get_conversation(account, quiet).await.unwrap();
    assert_eq!(
        (closed.status, closed.closed_reason),
        (
            ConversationStatus::Closed,
            Some(ClosedReason::OperatorSilent)
        )
    );
    assert!(
        store
            .claim_timers(later + SignedDuration::from_hours(100), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "fired once"
    );
    let audit = store.list_audit(account, None, 50).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "conversation.close")
            .count(),
        2
    );
}

fn no_action(_chat: &str, _text: &str) -> String {
    unreachable!("no closing message is configured")
}

async fn a_batch_commits_together_and_a_bad_event_costs_the_others_nothing(backend: Backend) {
    let Some((_db, store, account, _, group)) = setup(backend).await else {
        return;
    };
    let (conn, _) = store
        .create_connection(&connection(account, group, "8"), None)
        .await
        .unwrap();
    // One chat twice, another chat, and a redelivery inside the same batch.
    let a = message(conn.id, account, group, "200", "700", "Первое");
    let b = message(conn.id, account, group, "201", "700", "Второе");
    let c = message(conn.id, account, group, "202", "701", "Другой");
    let again = message(conn.id, account, group, "200", "700", "Первое");
    let results = store
        .ingest_batch(&[(&a, None), (&b, None), (&c, None), (&again, None)])
        .await;
    let results: Vec<Ingested> = results.into_iter().map(Result::unwrap).collect();
    let conversation_of = |r: &Ingested| match r {
        Ingested::Stored {
            conversation_id: Some(c),
            ..
        } => *c,
        other => panic!("{other:?}"),
    };
    assert!(matches!(results[0], Ingested::Stored { opened: true, .. }));
    assert!(matches!(results[1], Ingested::Stored { opened: false, .. }));
    assert_eq!(
        conversation_of(&results[0]),
        conversation_of(&results[1]),
        "one chat, one conversation"
    );
    assert_ne!(conversation_of(&results[0]), conversation_of(&results[2]));
    assert_eq!(results[3], Ingested::Duplicate);
    let messages = store
        .list_messages(account, conversation_of(&results[0]))
        .await
        .unwrap();
    let texts: Vec<&str> = messages.iter().map(|m| m.content.text.as_str()).collect();
    assert_eq!(texts, vec!["Первое", "Второе"], "in the order handed over");

    // An event of a connection that does not exist fails; the rest of its batch is stored.
    let ghost = message(ConnectionId::new(), account, group, "300", "702", "Призрак");
    let fine = message(conn.id, account, group, "301", "703", "Настоящий");
    let results = store.ingest_batch(&[(&ghost, None), (&fine, None)]).await;
    assert!(results[0].is_err(), "{:?}", results[0]);
    let stored = results[1].as_ref().expect("the good event is stored");
    let messages = store
        .list_messages(account, conversation_of(stored))
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].content.text, "Настоящий");
}

async fn a_delivery_round_in_a_batch_records_sends_and_claims_the_batchs_rows(backend: Backend) {
    let Some((_db, store, account, _, group)) = setup(backend).await else {
        return;
    };
    let (conn, _) = store
        .create_connection(&connection(account, group, "9"), None)
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    // A row in flight: the follow-up of an earlier message.
    store
        .ingest(&message(conn.id, account, group, "400", "710", "Раньше"))
        .await
        .unwrap();
    let in_flight = store
        .claim_outbox(Timestamp::now(), lease, 10)
        .await
        .unwrap();
    assert_eq!(in_flight.len(), 1);
    let sent = Finish {
        step: Step::Sent,
        external_id: None,
        error: None,
    };
    // The next batch records that send and claims, in its own commit, the rows it wrote.
    let later = message(conn.id, account, group, "401", "711", "Позже");
    let (results, claimed) = store
        .commit_batch(
            &[(&later, None)],
            Some(&Settle {
                finished: vec![(in_flight[0].id, sent)],
                lease,
                limit: 10,
            }),
            &mut HeldWriter::default(),
        )
        .await;
    assert!(
        matches!(results[..], [Ok(Ingested::Stored { .. })]),
        "{results:?}"
    );
    let claimed = claimed.expect("the round rode along").unwrap();
    let chats: Vec<_> = claimed.iter().map(|i| i.chat_id.as_deref()).collect();
    assert_eq!(
        chats,
        vec![Some("711")],
        "the batch's own follow-up, claimed at once"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
        .bind(in_flight[0].id)
        .fetch_one(store.raw_pool())
        .await
        .unwrap();
    assert_eq!(status, "sent");
    assert!(
        store
            .claim_outbox(Timestamp::now(), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing left to claim"
    );
}

async fn a_held_writer_keeps_other_writers_waiting_until_released(backend: Backend) {
    let Some((_db, store, account, _, group)) = setup(backend).await else {
        return;
    };
    let (conn, _) = store
        .create_connection(&connection(account, group, "11"), None)
        .await
        .unwrap();
    let stored = |r: &[Result<Ingested, StoreError>]| matches!(r, [Ok(Ingested::Stored { .. })]);
    let mut held = HeldWriter::default();
    let first = message(conn.id, account, group, "500", "720", "Первое");
    let (results, _) = store.commit_batch(&[(&first, None)], None, &mut held).await;
    assert!(stored(&results), "{results:?}");
    let other = message(conn.id, account, group, "501", "721", "Другое");
    let third = message(conn.id, account, group, "502", "722", "Третье");
    if store.dialect() == Dialect::Postgres {
        // PostgreSQL writes in parallel: nothing to keep.
        assert!(held.held_for().is_none());
        assert!(store.ingest(&other).await.is_ok());
        return;
    }
    assert!(held.held_for().is_some(), "SQLite's writer is kept");
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.ingest(&other).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiting.is_finished(),
        "another writer waits for the kept connection"
    );
    // The holder's next batch goes on meanwhile, on the same connection.
    let (results, _) = store.commit_batch(&[(&third, None)], None, &mut held).await;
    assert!(stored(&results), "{results:?}");
    held.release();
    let other = tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("the other writer goes once the connection is released")
        .unwrap();
    assert!(matches!(other, Ok(Ingested::Stored { .. })), "{other:?}");
}

async fn a_checkpoint_moves_the_log_into_the_database_file(backend: Backend) {
    let Some((db, store, account, _, group)) = setup(backend).await else {
        return;
    };
    let (conn, _) = store
        .create_connection(&connection(account, group, "10"), None)
        .await
        .unwrap();
    store
        .ingest(&message(conn.id, account, group, "500", "720", "В журнале"))
        .await
        .unwrap();
    store.checkpoint().await.unwrap();
    if backend == Backend::Postgres {
        return;
    }
    // An immutable reader ignores the write-ahead log: it sees only the database file.
    let file = db.url.trim_start_matches("sqlite://");
    let mut reader: sqlx::AnyConnection =
        sqlx::Connection::connect(&format!("sqlite://{file}?immutable=true"))
            .await
            .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(n, 1, "the writer leaves checkpoints to the background");
}
