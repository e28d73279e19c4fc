//! The checkpoint worker (SQLite only): copies the write-ahead log into the database file
//! from a reader, so the one writer, on whose commits every webhook waits, never stops to do
//! it (the writer's own automatic checkpoint is set far out; see the store's `connect.rs`).
//! The inbound journal's log too, for the webhooks that wait on its writer.

use std::time::Duration;

use switchboard_store::Dialect;
use tokio::sync::watch;

use crate::Engine;

/// How often: the log grows by a few megabytes a second at full load, and a checkpoint
/// that finds nothing to copy costs a read of the log's header.
const EVERY: Duration = Duration::from_millis(100);

/// Runs until `stop` turns true.
pub async fn run(state: Engine, mut stop: watch::Receiver<bool>) {
    if state.store.dialect() != Dialect::Sqlite {
        return;
    }
    while !*stop.borrow() {
        if let Err(e) = state.store.checkpoint().await {
            tracing::warn!(error = %e, "checkpointing the database failed");
        }
        if let Some(lane) = &state.journal {
            if let Err(e) = lane.journal().checkpoint().await {
                tracing::warn!(error = %e, "checkpointing the inbound journal failed");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}
