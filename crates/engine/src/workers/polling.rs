//! The polling worker: for connections that receive by long polling, one task per connection
//! asks the channel for new events, stores them, and only then moves the cursor on. Across
//! nodes, a lease in the `pollers` table lets exactly one node poll a connection at a time;
//! another takes over when the holder stops renewing.

use std::{collections::HashMap, time::Duration};

use jiff::Timestamp;
use switchboard_channels::SendError;
use switchboard_core::ids::ConnectionId;
use tokio::{sync::watch, task::JoinHandle};

use crate::{channels, ingest, Engine};

/// How long a node owns a connection's polling without renewing (a poll takes up to 30 s).
const LEASE: Duration = Duration::from_secs(60);
/// How often the set of polled connections is looked at again.
const RESCAN: Duration = Duration::from_secs(2);

fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

async fn claim(state: &Engine, node: &str, id: ConnectionId) -> Option<Option<String>> {
    let now = Timestamp::now();
    let until = millis(now) + LEASE.as_millis() as i64;
    state
        .store
        .claim_poller(id, node, millis(now), until)
        .await
        .ok()
        .flatten()
}

/// Polls one connection while this node holds its lease and it stays enabled for polling.
async fn poll_connection(
    state: Engine,
    node: String,
    id: ConnectionId,
    mut cursor: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    while !*stop.borrow() {
        let Ok(Some(record)) = state.store.connection_record(id).await else {
            return;
        };
        if !record.connection.enabled
            || record.connection.receive != switchboard_core::channel::Receive::Polling
        {
            return;
        }
        let opened = match channels::open(record, &state.sealer, &state.http) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::error!(error = %e, connection = %id, "cannot open a polled connection");
                return;
            }
        };
        let started = std::time::Instant::now();
        let polled = tokio::select! {
            polled = opened.connector.poll(&opened.api, &opened.secrets.credentials, cursor.as_deref()) => polled,
            _ = stop.changed() => return,
        };
        let wait = match polled {
            Ok(polled) => {
                let pace =
                    switchboard_core::delivery::after_poll(polled.events.len(), started.elapsed());
                match ingest::store_events(&state, &opened.connection, polled.events).await {
                    Ok(()) => {
                        failures = 0;
                        cursor = polled.cursor;
                        if let Err(e) = state
                            .store
                            .save_poll_cursor(id, &node, cursor.as_deref())
                            .await
                        {
                            tracing::warn!(error = %e, connection = %id, "cannot save the polling cursor");
                        }
                        if opened.connection.broken_reason.is_some() {
                            let _ = state.store.set_connection_broken(id, None).await;
                            state.connections.forget(id);
                        }
                        pace
                    }
                    // Not stored: the same events come again with the same cursor.
                    Err(e) => {
                        tracing::error!(error = %e, connection = %id, "cannot store polled events");
                        failures += 1;
                        switchboard_core::delivery::backoff(failures, rand::random())
                    }
                }
            }
            Err(SendError::RetryAfter(d)) => d,
            Err(SendError::ConnectionBroken(reason)) => {
                tracing::error!(connection = %id, %reason, "the channel refused the connection's credentials");
                let _ = state.store.set_connection_broken(id, Some(&reason)).await;
                state.connections.forget(id);
                Duration::from_secs(60)
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, connection = %id, failures, "polling failed");
                switchboard_core::delivery::backoff(failures, rand::random())
            }
        };
        if !wait.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
        if claim(&state, &node, id).await.is_none() {
            tracing::info!(connection = %id, "another node polls this connection now");
            return;
        }
    }
}

/// Runs until `stop` turns true.
pub async fn run(state: Engine, stop: watch::Receiver<bool>) {
    let node = format!("node-{}", uuid::Uuid::new_v4().simple());
    let mut tasks: HashMap<ConnectionId, JoinHandle<()>> = HashMap::new();
    let mut watcher = stop.clone();
    while !*watcher.borrow() {
        tasks.retain(|_, task| !task.is_finished());
        match state.store.polling_connections().await {
            Ok(connections) => {
                for connection in connections {
                    if tasks.contains_key(&connection.id) {
                        continue;
                    }
                    if let Some(cursor) = claim(&state, &node, connection.id).await {
                        let task = tokio::spawn(poll_connection(
                            state.clone(),
                            node.clone(),
                            connection.id,
                            cursor,
                            stop.clone(),
                        ));
                        tasks.insert(connection.id, task);
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot list polled connections"),
        }
        tokio::select! {
            () = tokio::time::sleep(RESCAN) => {}
            _ = watcher.changed() => {}
        }
    }
    for (_, task) in tasks {
        let _ = task.await;
    }
}
