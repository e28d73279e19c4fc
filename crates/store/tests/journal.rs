//! The inbound journal: kept on SQLite in a file beside the database, on PostgreSQL in a
//! table of the database.

use jiff::Timestamp;
use switchboard_core::ids::ConnectionId;
use switchboard_store::{
    backends,
    testing::{Backend, TestDb},
    Journal, JournalEntry, StoreConfig,
};

backends!(entries_are_kept_in_arrival_order_until_forgotten);

fn entry(connection: ConnectionId, events: &str) -> JournalEntry {
    JournalEntry {
        connection_id: connection,
        // Millisecond precision, as kept.
        received_at: Timestamp::from_millisecond(1_790_000_000_123).unwrap(),
        events: events.into(),
    }
}

async fn entries_are_kept_in_arrival_order_until_forgotten(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let config = StoreConfig::new(&db.url);
    let journal = Journal::open(&config)
        .await
        .unwrap()
        .expect("both backends keep a journal");
    let connection = ConnectionId::new();
    let first: Vec<JournalEntry> = (0..300)
        .map(|i| entry(connection, &format!("[{i}]")))
        .collect();
    let ids = journal.append(&first, &[]).await.unwrap();
    assert_eq!(ids.len(), 300, "more than one statement's worth");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids follow arrival");

    // Forgetting rides with the next append.
    let later = journal
        .append(&[entry(connection, "[\"later\"]")], &ids[..250])
        .await
        .unwrap();
    assert!(later[0] > ids[299]);
    let kept = journal.pending(0, 1000).await.unwrap();
    assert_eq!(kept.len(), 51);
    assert_eq!(kept[0], (ids[250], first[250].clone()));
    assert_eq!(kept[50].1.events, "[\"later\"]");
    // Paging by id.
    let page = journal.pending(ids[260], 5).await.unwrap();
    assert_eq!(
        page.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ids[261..266]
    );

    // What is kept survives a restart.
    journal.close().await;
    let journal = Journal::open(&config).await.unwrap().unwrap();
    assert_eq!(journal.pending(0, 1000).await.unwrap(), kept);
    journal
        .forget(&kept.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(journal.pending(0, 1000).await.unwrap().is_empty());
    journal.checkpoint().await.unwrap();
    store.close().await;
}
