//! The timer worker: fires due timers (auto-close now; answer timeouts and bot waits later).
//! Timers are rows, so they survive restarts; a claim's lease makes each fire once.

use std::time::Duration;

use jiff::Timestamp;
use switchboard_store::AUTO_CLOSE;
use tokio::sync::watch;

use crate::state::AppState;

const LEASE: Duration = Duration::from_secs(60);
const BATCH: u32 = 256;
/// How often due timers are looked for: the resolution of every timer.
const TICK: Duration = Duration::from_millis(500);

/// Runs until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let due = match state
            .store
            .claim_timers(Timestamp::now(), LEASE, BATCH)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim timers");
                Vec::new()
            }
        };
        for timer in &due {
            let result = match timer.kind.as_str() {
                AUTO_CLOSE => state.store.fire_auto_close(timer, Timestamp::now()).await,
                other => {
                    tracing::error!(
                        kind = other,
                        "a timer of an unknown kind; left for a newer version"
                    );
                    continue;
                }
            };
            match result {
                Ok(Some(closed)) => {
                    tracing::info!(conversation = %closed.conversation_id, reason = %closed.reason, "auto-closed");
                    let _ = state.events.send(closed.conversation_id);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, timer = timer.id, "a timer failed; it runs again");
                    let _ = state.store.release_timer(timer.id).await;
                }
            }
        }
        if due.len() < BATCH as usize {
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
