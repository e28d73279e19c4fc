//! "This conversation changed", across nodes. Each node tells its own sessions (the web
//! chat's visitors, later the operator inbox) through an in-process broadcast; with several
//! nodes on one PostgreSQL, changes are also published with `NOTIFY` and every other node
//! re-broadcasts them to its sessions (`LISTEN`). A notification lost while a node
//! reconnects costs nothing lasting: sessions re-read their conversation on every
//! reconnect and every change.

use std::time::Duration;

use switchboard_core::ids::ConversationId;
use switchboard_store::Listener;
use tokio::sync::{broadcast, mpsc, watch};

use crate::Engine;

/// The PostgreSQL channel changes travel on.
const CHANNEL: &str = "switchboard_changes";
/// Ids per notification (PostgreSQL's payload limit is 8,000 bytes).
const PER_NOTIFY: usize = 100;

/// Publishes this node's changes: batches what `conversations_changed` queued and sends it
/// with `pg_notify`, tagged with the node so it does not hear itself.
pub async fn publish(
    state: Engine,
    mut queued: mpsc::UnboundedReceiver<Vec<ConversationId>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            ids = queued.recv() => match ids { Some(ids) => ids, None => return },
            _ = stop.changed() => return,
        };
        let mut ids = first;
        while let Ok(more) = queued.try_recv() {
            ids.extend(more);
        }
        ids.sort();
        ids.dedup();
        for chunk in ids.chunks(PER_NOTIFY) {
            let list: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let payload = format!("{}|{}", state.node, list.join(","));
            if let Err(e) = state.store.notify(CHANNEL, &payload).await {
                tracing::warn!(error = %e, "cannot tell the other nodes about changes");
            }
        }
    }
}

/// Hears the other nodes' changes and tells this node's sessions.
pub async fn listen(
    url: String,
    node: String,
    events: broadcast::Sender<ConversationId>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let mut listener = match Listener::connect(&url, CHANNEL).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other nodes' changes; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        loop {
            let notification = tokio::select! {
                n = listener.recv() => n,
                _ = stop.changed() => return,
            };
            match notification {
                Ok(payload) => {
                    let Some((from, list)) = payload.split_once('|') else {
                        continue;
                    };
                    if from == node {
                        continue;
                    }
                    for id in list.split(',').filter_map(|s| s.parse().ok()) {
                        let _ = events.send(id);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection hearing other nodes; reconnecting");
                    break;
                }
            }
        }
    }
}
