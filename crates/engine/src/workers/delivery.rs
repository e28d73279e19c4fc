//! The delivery worker: claims due outbox rows (in order per conversation), sends each
//! through its connector, paced per connection and per chat (`limiter.rs`), and settles it
//! with the core's retry policy (`core::delivery::next_step`): sent; retried after a capped
//! exponential backoff with jitter, or after the channel's `retry_after`; failed, with the
//! reason; or unknown, when the request was written and no answer came. A `FetchMedia` row
//! downloads a customer's file instead, stores it under its SHA-256 and links it to its
//! message.
//!
//! Outcomes are recorded in the same transaction as the next claim, and on SQLite that
//! transaction is the next ingest batch's (see `group_commit.rs`): one commit for both. With
//! nothing to do, the worker leaves its claim parked with the lanes, and the next batch of
//! events makes it: a reply is claimed in the commit that stored its question. Sends run
//! continuously (up to 256 in flight) rather than a claim's batch at a time. A send whose
//! slot in the connection's pacing is more than half a lease away goes back to the queue
//! until then instead of waiting out its lease. On SQLite the worker runs on a thread of
//! its own at a lower CPU priority (`threads.rs`): under saturation, acknowledging webhooks
//! goes first and replies wait durably in the outbox.
//!
//! Rows left `sending` by a dead process end `unknown` once their lease passes (on SQLite,
//! where only this process sends, all of them at start): the request may have been written,
//! and channels without an idempotency key must not receive it twice.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use switchboard_channels::{ApiContext, Outbound, SendError, Sent};
use switchboard_core::delivery::{next_step, Attempt, Step};
use switchboard_store::{Dialect, Finish, OutboxItem, Settle};
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};

use super::limiter::Limiter;
use crate::{channels::CachedError, Engine};

/// The most rows one claim takes: a round rides on an ingest batch (SQLite), so it must keep up
/// with batches of up to 64 events that each leave a reply or two.
const BATCH: u32 = 256;
/// How often to look for due rows when nobody wakes us.
const POLL: Duration = Duration::from_millis(250);

fn attempt_of(result: &Result<switchboard_channels::Sent, SendError>) -> Attempt {
    match result {
        Ok(_) => Attempt::Sent,
        Err(SendError::RetryAfter(d)) => Attempt::RetryAfter(*d),
        Err(SendError::Transient(_)) => Attempt::Transient,
        Err(SendError::Unknown(_)) => Attempt::Unknown,
        Err(SendError::ContactUnreachable(_)) => Attempt::ContactUnreachable,
        Err(SendError::ConnectionBroken(_)) => Attempt::ConnectionBroken,
        Err(SendError::Permanent(_)) => Attempt::Permanent,
    }
}

fn fail(reason: impl Into<String>) -> Finish {
    Finish {
        step: Step::Failed,
        external_id: None,
        error: Some(reason.into()),
    }
}

async fn deliver(state: &Engine, limiter: &Limiter, item: &OutboxItem) -> Finish {
    let opened = match state.opened(item.connection_id).await {
        Ok(Some(opened)) => opened,
        Ok(None) => return fail("the connection was removed"),
        // The database is unwell: try again later rather than failing the message.
        Err(CachedError::Store(e)) => {
            return Finish {
                step: Step::RetryIn(Duration::from_secs(5)),
                external_id: None,
                error: Some(e.to_string()),
            }
        }
        Err(CachedError::Open(e)) => return fail(format!("the connection cannot be used: {e}")),
    };
    if !opened.connection.enabled {
        return fail("the connection is disabled");
    }
    let mut outbound: Outbound = match serde_json::from_str(&item.action) {
        Ok(outbound) => outbound,
        Err(e) => return fail(format!("unreadable outbox row: {e}")),
    };
    if let Outbound::Message(message) = &mut outbound {
        for file in &mut message.files {
            match state.files.get(&file.sha256).await {
                Ok(bytes) => {
                    file.data = Some(bytes);
                    file.url = Some(crate::files::file_link(
                        state,
                        &file.sha256,
                        file.mime_type.as_deref(),
                    ));
                }
                Err(e) => return fail(format!("the file {} cannot be read: {e}", file.sha256)),
            }
        }
    }
    let limits = match opened.connection.rate_limits {
        None => {
            let caps = opened.connector.capabilities();
            (caps.per_second, caps.per_chat_per_second)
        }
        Some(None) => (None, None),
        Some(Some(l)) => (l.per_second, l.per_chat_per_second),
    };
    let mut keys = Vec::new();
    if let Some(rate) = limits.0 {
        keys.push((item.connection_id.to_string(), rate));
    }
    if let (Some(rate), Some(chat)) = (limits.1, outbound.chat_id()) {
        keys.push((format!("{}/{chat}", item.connection_id), rate));
    }
    if !keys.is_empty() {
        match limiter.reserve_within(&keys, state.delivery_lease / 2) {
            Ok(slot) => tokio::time::sleep_until(slot.into()).await,
            // Waiting that long would outlast the row's lease and leave it `unknown` unsent:
            // back to the queue until the connection has room.
            Err(wait) => {
                return Finish {
                    step: Step::RetryIn(wait),
                    external_id: None,
                    error: None,
                }
            }
        }
    }
    let result = opened
        .connector
        .send(
            &ApiContext {
                // The row's id: the same on every retry of this row, never reused.
                send_key: u64::try_from(item.id).ok(),
                ..opened.api.clone()
            },
            &opened.secrets.credentials,
            &outbound,
        )
        .await;
    let attempt = attempt_of(&result);
    match (&result, outbound.chat_id()) {
        (Err(SendError::ContactUnreachable(_)), Some(chat)) => {
            if let Err(e) = state
                .store
                .set_chat_reachable(item.connection_id, chat, false)
                .await
            {
                tracing::error!(error = %e, "cannot mark the contact unreachable");
            }
        }
        (Err(SendError::ConnectionBroken(reason)), _) => {
            tracing::error!(connection = %item.connection_id, %reason, "the channel refused the connection's credentials");
            if let Err(e) = state
                .store
                .set_connection_broken(item.connection_id, Some(reason))
                .await
            {
                tracing::error!(error = %e, "cannot mark the connection broken");
            }
            state.connections.forget(item.connection_id);
        }
        (Ok(_), _) if opened.connection.broken_reason.is_some() => {
            let _ = state
                .store
                .set_connection_broken(item.connection_id, None)
                .await;
            state.connections.forget(item.connection_id);
        }
        _ => {}
    }
    let step = next_step(item.attempts, attempt, rand::random::<f64>());
    match result {
        Ok(Sent {
            media: Some(bytes), ..
        }) => keep_media(state, item, &outbound, &bytes).await,
        Ok(sent) => Finish {
            step,
            external_id: sent.external_ids.into_iter().next(),
            error: None,
        },
        Err(e) => {
            tracing::info!(outbox = item.id, attempts = item.attempts, error = %e, ?step, "send did not succeed");
            Finish {
                step,
                external_id: None,
                error: Some(e.to_string()),
            }
        }
    }
}

/// Stores a fetched attachment and links it to its message; a disk or database hiccup is
/// retried (downloading again is harmless).
async fn keep_media(
    state: &Engine,
    item: &OutboxItem,
    outbound: &Outbound,
    bytes: &[u8],
) -> Finish {
    let retry = |error: String| Finish {
        step: Step::RetryIn(Duration::from_secs(5)),
        external_id: None,
        error: Some(error),
    };
    let (Outbound::FetchMedia { index, .. }, Some(message)) = (outbound, item.message_id) else {
        return fail("a download without a message to attach it to");
    };
    let sha256 = match state.files.put(bytes).await {
        Ok(sha256) => sha256,
        Err(e) => return retry(format!("cannot store the file: {e}")),
    };
    match state
        .store
        .attach_file(message, *index, &sha256, bytes.len() as u64)
        .await
    {
        Ok(()) => Finish {
            step: Step::Sent,
            external_id: None,
            error: None,
        },
        Err(switchboard_store::StoreError::NotFound) => {
            fail("the message or its attachment is gone")
        }
        Err(e) => retry(e.to_string()),
    }
}

/// Runs until `stop` turns true; sends in flight are finished first.
pub async fn run(state: Engine, mut stop: watch::Receiver<bool>) {
    let limiter = Arc::new(Limiter::default());
    // On SQLite only this process sends, so whatever is `sending` was left by a dead one.
    let settled = match state.store.dialect() {
        Dialect::Sqlite => state.store.expire_all_outbox_leases().await,
        Dialect::Postgres => state.store.expire_outbox_leases(Timestamp::now()).await,
    };
    match settled {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            rows = n,
            "outbox rows interrupted by a stop are marked unknown, not resent"
        ),
        Err(e) => tracing::error!(error = %e, "cannot settle interrupted outbox rows"),
    }
    let (done, mut outcomes) = mpsc::unbounded_channel::<Finished>();
    let mut sends = JoinSet::new();
    let mut finished: Vec<Finished> = Vec::new();
    let mut last_expiry = tokio::time::Instant::now();
    // A round is due: at start, and whenever something may have become due.
    let mut round = true;
    let spawn = |sends: &mut JoinSet<()>, items: Vec<OutboxItem>| {
        for item in items {
            let state = state.clone();
            let limiter = limiter.clone();
            let done = done.clone();
            sends.spawn(async move {
                let finish = deliver(&state, &limiter, &item).await;
                // The receiver lives as long as the loop that waits for this task.
                let _ = done.send(Finished {
                    id: item.id,
                    finish,
                    conversation: item.conversation_id,
                });
            });
        }
    };
    while !*stop.borrow() {
        if last_expiry.elapsed() > (state.delivery_lease / 4).min(Duration::from_secs(10)) {
            last_expiry = tokio::time::Instant::now();
            if let Err(e) = state.store.expire_outbox_leases(Timestamp::now()).await {
                tracing::error!(error = %e, "cannot settle expired outbox leases");
            }
        }
        while finished.len() < SETTLE_BATCH {
            match outcomes.try_recv() {
                Ok(f) => finished.push(f),
                Err(_) => break,
            }
        }
        while sends.try_join_next().is_some() {}
        if round || !finished.is_empty() {
            let limit = room(&sends);
            let items = settle_and_claim(&state, std::mem::take(&mut finished), limit).await;
            // A full claim may have left more due rows behind: claim again at once.
            round = limit > 0 && items.len() == limit as usize;
            spawn(&mut sends, items);
            if round {
                continue;
            }
        }
        // Nothing known to be due: the next batch of events claims for us, so the replies
        // it writes leave with its commit (see `group_commit.rs`).
        let limit = room(&sends);
        let mut parked = (limit > 0).then(|| {
            state.ingest.park_claim(Settle {
                finished: Vec::new(),
                lease: state.delivery_lease,
                limit,
            })
        });
        let mut claimed = None;
        {
            let parked_claim = async {
                match parked.as_mut() {
                    Some(claim) => claim.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(f) = outcomes.recv() => finished.push(f),
                result = parked_claim => claimed = Some(result),
                () = state.outbox_ready.notified() => round = true,
                () = tokio::time::sleep(POLL) => round = true,
                _ = stop.changed() => {}
            }
        }
        if let Some(claim) = parked.filter(|_| claimed.is_none()) {
            if !state.ingest.unpark() {
                // A batch took the claim: its rows are on the way.
                claimed = Some(claim.await);
            }
        }
        match claimed {
            Some(Ok(Ok(items))) => {
                round |= items.len() == limit as usize;
                spawn(&mut sends, items);
            }
            Some(Ok(Err(e))) => {
                tracing::error!(error = %e, "cannot claim outbox rows");
                round = true;
            }
            // The batch that took it failed before answering: claim again.
            Some(Err(_)) => round = true,
            None => {}
        }
    }
    // Sends in flight are finished and recorded before stopping.
    while sends.join_next().await.is_some() {}
    drop(done);
    while let Some(f) = outcomes.recv().await {
        finished.push(f);
    }
    if !finished.is_empty() {
        record(&state, finished).await;
    }
}

/// How many rows a claim may take now.
fn room(sends: &JoinSet<()>) -> u32 {
    let room = MAX_IN_FLIGHT.saturating_sub(sends.len());
    u32::try_from(room).unwrap_or(BATCH).min(BATCH)
}

/// A send's outcome, waiting to be recorded.
struct Finished {
    id: i64,
    finish: Finish,
    conversation: Option<switchboard_core::ids::ConversationId>,
}

/// The most outcomes one transaction records.
const SETTLE_BATCH: usize = 256;
/// Sends in flight at most; a claim takes no more than the room left. (A send never waits
/// in the rate limiter for more than half its lease: see `deliver`.)
const MAX_IN_FLIGHT: usize = 256;

/// Records the outcomes that came in and claims the next due rows in ONE transaction: the
/// next message of a conversation whose previous one just finished leaves with this claim,
/// and the writer commits once per round instead of twice. If that fails, the outcomes are
/// recorded on their own (one by one if need be) and the claim waits for the next round.
async fn settle_and_claim(state: &Engine, finished: Vec<Finished>, limit: u32) -> Vec<OutboxItem> {
    if limit == 0 {
        if !finished.is_empty() {
            record(state, finished).await;
        }
        return Vec::new();
    }
    let finished_rows: Vec<(i64, Finish)> =
        finished.iter().map(|f| (f.id, f.finish.clone())).collect();
    // On SQLite in the next ingest batch's transaction: one commit for both.
    match state
        .ingest
        .settle_and_claim(Settle {
            finished: finished_rows,
            lease: state.delivery_lease,
            limit,
        })
        .await
    {
        Ok(items) => {
            let changed: Vec<_> = finished.iter().filter_map(|f| f.conversation).collect();
            state.conversations_changed(&changed);
            items
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot claim outbox rows");
            if !finished.is_empty() {
                record(state, finished).await;
            }
            Vec::new()
        }
    }
}

async fn record(state: &Engine, batch: Vec<Finished>) {
    let rows: Vec<(i64, Finish)> = batch.iter().map(|f| (f.id, f.finish.clone())).collect();
    let recorded = match state
        .store
        .finish_outbox_batch(&rows, Timestamp::now())
        .await
    {
        Ok(()) => true,
        Err(e) if rows.len() > 1 => {
            tracing::warn!(error = %e, "recording a batch of send outcomes failed; one by one");
            let mut all = true;
            for (id, finish) in &rows {
                if let Err(e) = state
                    .store
                    .finish_outbox(*id, finish, Timestamp::now())
                    .await
                {
                    // The lease will expire and the row end `unknown`: never sent twice.
                    tracing::error!(error = %e, outbox = id, "cannot record a send's outcome");
                    all = false;
                }
            }
            all
        }
        Err(e) => {
            tracing::error!(error = %e, outbox = rows[0].0, "cannot record a send's outcome");
            false
        }
    };
    if recorded {
        let changed: Vec<_> = batch.iter().filter_map(|f| f.conversation).collect();
        state.conversations_changed(&changed);
    }
    // The next message of these conversations may leave now.
    state.outbox_ready.notify_one();
}
