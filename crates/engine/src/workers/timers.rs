//! The timer worker: fires due timers (auto-close, answer timeouts, out-of-hours holds, the
//! bot's pending work: waits, HTTP calls, and turns a crash interrupted). Timers are rows, so they survive restarts; a claim's lease makes each fire
//! once. Now and then it also sweeps the queues, a safety net behind the event-driven
//! distribution (a node that died between a change and its distribution pass).

use std::time::Duration;

use jiff::Timestamp;
use switchboard_core::timer::TimerKind;
use tokio::sync::watch;

use crate::Engine;

const LEASE: Duration = Duration::from_secs(60);
const BATCH: u32 = 256;
/// How often due timers are looked for: the resolution of every timer.
const TICK: Duration = Duration::from_millis(500);
/// How often every queue is distributed regardless of events.
const SWEEP: Duration = Duration::from_secs(15);

/// Runs until `stop` turns true.
pub async fn run(state: Engine, mut stop: watch::Receiver<bool>) {
    let mut last_sweep = tokio::time::Instant::now();
    while !*stop.borrow() {
        if last_sweep.elapsed() >= SWEEP {
            last_sweep = tokio::time::Instant::now();
            match state.store.sweep_queues(Timestamp::now()).await {
                Ok(changed) => state.conversations_changed(&changed),
                Err(e) => tracing::error!(error = %e, "sweeping the queues failed"),
            }
        }
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
            let now = Timestamp::now();
            let result = match timer.kind {
                TimerKind::AutoClose => state
                    .store
                    .fire_auto_close(timer, now, &crate::ingest::text_action)
                    .await
                    .map(|closed| match closed {
                        Some(closed) => {
                            tracing::info!(conversation = %closed.conversation_id, reason = %closed.reason, "auto-closed");
                            if closed.notified {
                                state.outbox_ready.notify_one();
                            }
                            let mut changed = closed.changed;
                            changed.push(closed.conversation_id);
                            changed
                        }
                        None => Vec::new(),
                    }),
                TimerKind::AnswerTimeout => state.store.fire_answer_timeout(timer, now).await,
                TimerKind::Hold => state.store.fire_hold(timer, now).await,
                // A bot turn may wait on an HTTP call: it must not hold up other timers.
                TimerKind::Bot => {
                    let (state, conversation) = (state.clone(), timer.conversation_id);
                    tokio::spawn(async move { crate::bot::run(&state, conversation, true).await });
                    continue;
                }
            };
            match result {
                Ok(changed) => state.conversations_changed(&changed),
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
