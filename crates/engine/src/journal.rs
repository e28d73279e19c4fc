//! Webhooks acknowledged on the inbound journal: a webhook's parsed events are appended to
//! the journal (`store::Journal`: on SQLite a file of its own, on PostgreSQL a table), many
//! webhooks to one commit, and the webhook is answered once that commit is durable. The
//! events go on to the ingest lanes in journal order; an entry is forgotten once its events
//! are stored. On PostgreSQL two appends are under way at once, and their events are handed
//! on in the order the appends began, whichever commits first.
//!
//! Why: a commit that stores events grows cheaper per event the more events it holds (on
//! SQLite the pages of some thirty b-trees, on PostgreSQL foreign-key checks, planning and
//! round trips per statement); a webhook waiting for it holds its events back from the next
//! batch. Acknowledged on the journal, the webhooks keep coming while a batch is written,
//! and batches grow to what the writer can take.
//!
//! The journal is for load. While few events wait (fewer than [`INLINE_BELOW`]) and none is
//! on its way through the journal, a webhook's events go straight to ingest and it is
//! answered after that commit: one commit, not two, and what a 2xx acknowledged is already
//! visible through the API. At most [`BACKLOG`] events wait; past
//! that a webhook waits for room (backpressure: the channel's retry is the buffer beyond).
//!
//! After a crash, what the journal kept is stored again before the server takes webhooks
//! ([`replay`]); ingest's dedupe on the channel's event id makes an entry stored twice a
//! no-op. An entry whose storing failed stays in the journal and is retried by [`run`]. On
//! PostgreSQL the nodes share the journal: a node starting stores what any node left, and
//! the sweep of any node stores what a dead node left (a live node's entries are stored
//! long before the sweep's 30 s; were one stored twice, dedupe would make it a no-op).

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use futures_util::{stream::FuturesOrdered, StreamExt};
use jiff::Timestamp;
use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
use switchboard_channels::InboundEvent;
use switchboard_core::ids::ConnectionId;
use switchboard_store::{Journal, JournalEntry, StoreError};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use crate::{
    group_commit::GroupCommit,
    ingest::{self, Prepared, Submitted},
    threads::{self, Priority},
    Engine,
};

/// Below this many events waiting, a webhook's events are stored at once (no journal) and
/// it is answered after that commit.
pub const INLINE_BELOW: i64 = 16;
/// The most events journaled and not yet stored.
pub const BACKLOG: usize = 1024;
/// The most webhooks one journal commit takes.
const MAX_BATCH: usize = 256;
/// Stored entries are forgotten with the next append, or after this long without one.
const FORGET_AFTER: Duration = Duration::from_millis(100);
/// How often [`run`] looks for entries whose storing failed, and how old they must be.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
const SWEEP_OLDER_THAN: jiff::SignedDuration = jiff::SignedDuration::from_secs(30);

struct Append {
    entry: JournalEntry,
    prepared: Prepared,
    reply: oneshot::Sender<Result<(i64, Submitted), StoreError>>,
}

/// The journal's lane; cheap to share.
pub struct JournalLane {
    appends: mpsc::Sender<Append>,
    stored: mpsc::UnboundedSender<i64>,
    room: Arc<Semaphore>,
    /// Events accepted and not yet stored (also served at `/metrics`).
    waiting: Gauge,
    /// Events acknowledged on the journal (served at `/metrics`).
    acknowledged: Counter,
    /// Webhooks in the journal's lane, not yet handed to the ingest lanes.
    journaling: Arc<AtomicUsize>,
    journal: Journal,
}

impl JournalLane {
    /// Starts the lane on a thread of its own (as the ingest lanes, for the same reason: a
    /// commit is a few statements in a row, each answered at once).
    pub fn start(
        journal: Journal,
        lanes: Arc<GroupCommit>,
        waiting: Gauge,
        acknowledged: Counter,
    ) -> std::io::Result<Self> {
        let (appends, queue) = mpsc::channel(MAX_BATCH * 4);
        let (stored, forget) = mpsc::unbounded_channel();
        let journaling = Arc::new(AtomicUsize::new(0));
        threads::spawn(
            "journal-lane".into(),
            Priority::Normal,
            lane(journal.clone(), lanes, journaling.clone(), queue, forget),
        )?;
        Ok(Self {
            appends,
            stored,
            room: Arc::new(Semaphore::new(BACKLOG)),
            waiting,
            acknowledged,
            journaling,
            journal,
        })
    }

    /// The journal itself (recovery, checkpoints).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The entry that keeps `events` of `connection`, received now.
    pub fn entry(
        connection: ConnectionId,
        events: &[InboundEvent],
    ) -> Result<JournalEntry, StoreError> {
        Ok(JournalEntry {
            connection_id: connection,
            received_at: Timestamp::now(),
            events: serde_json::to_string(events)
                .map_err(|e| StoreError::Corrupt(format!("events not serializable: {e}")))?,
        })
    }

    /// Journals `entry` (whose events are `prepared`) and returns once that is durable; while
    /// few events wait, stores them at once instead and returns once they are committed.
    pub async fn accept(
        self: &Arc<Self>,
        state: &Engine,
        entry: JournalEntry,
        prepared: Prepared,
    ) -> Result<(), StoreError> {
        if prepared.is_empty() {
            return Ok(());
        }
        let connection = entry.connection_id;
        let count = prepared.len().min(BACKLOG);
        let permit = self
            .room
            .clone()
            .acquire_many_owned(count as u32)
            .await
            .map_err(|_| stopped())?;
        let before = self.waiting.inc_by(count as i64);
        // Counted until stored, or until this future is dropped (the client hung up).
        let waiting = Waiting {
            gauge: self.waiting.clone(),
            count: count as i64,
            _room: permit,
        };
        if before < INLINE_BELOW && self.journaling.load(Ordering::SeqCst) == 0 {
            // Few events wait and none is on its way through the journal (which this one
            // could overtake): stored at once and answered after the commit.
            let stored = async {
                let submitted = ingest::submit(&state.ingest, prepared).await?;
                ingest::finish(state, connection, submitted).await
            }
            .await;
            drop(waiting);
            return stored;
        }
        self.journaling.fetch_add(1, Ordering::SeqCst);
        let (reply, journaled) = oneshot::channel();
        let appended = match self
            .appends
            .send(Append {
                entry,
                prepared,
                reply,
            })
            .await
        {
            Ok(()) => journaled.await.unwrap_or_else(|_| Err(stopped())),
            Err(_) => {
                self.journaling.fetch_sub(1, Ordering::SeqCst);
                Err(stopped())
            }
        };
        let (id, submitted) = appended?;
        self.acknowledged.inc_by(count as u64);
        let (state, lane) = (state.clone(), self.clone());
        let stored = async move {
            let result = ingest::finish(&state, connection, submitted).await;
            match &result {
                Ok(()) => {
                    let _ = lane.stored.send(id);
                }
                Err(e) => {
                    tracing::warn!(error = %e, %connection, entry = id, "storing journaled events failed; kept in the journal for a retry")
                }
            }
            drop(waiting);
            result
        };
        tokio::spawn(stored);
        Ok(())
    }
}

/// Events counted as waiting, holding their room in the backlog.
struct Waiting {
    gauge: Gauge,
    count: i64,
    _room: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.gauge.dec_by(self.count);
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the journal lane stopped".into())
}

/// Appends what queued up in one commit (forgetting what was stored meanwhile), then hands
/// the events to the ingest lanes in journal order before answering the webhooks. Up to
/// [`Journal::appends_at_once`] appends are under way together; their events are handed
/// over in the order the appends began, whichever commits first.
async fn lane(
    journal: Journal,
    lanes: Arc<GroupCommit>,
    journaling: Arc<AtomicUsize>,
    mut queue: mpsc::Receiver<Append>,
    mut stored: mpsc::UnboundedReceiver<i64>,
) {
    let at_once = journal.appends_at_once().max(1);
    let mut appending = FuturesOrdered::new();
    let mut forget: Vec<i64> = Vec::new();
    let mut forget_by = tokio::time::Instant::now();
    let mut open = true;
    while open || !appending.is_empty() {
        let room = appending.len() < at_once;
        let first = tokio::select! {
            biased;
            Some((appended, waiters, forgotten)) = appending.next() => {
                if !handed(&lanes, &journaling, appended, waiters, forgotten, &mut forget).await {
                    // Not at once again: the database may be down.
                    forget_by = tokio::time::Instant::now() + FORGET_AFTER;
                }
                continue;
            }
            append = queue.recv(), if open && room => match append {
                Some(append) => Some(append),
                None => {
                    open = false;
                    continue;
                }
            },
            Some(id) = stored.recv() => {
                if forget.is_empty() {
                    forget_by = tokio::time::Instant::now() + FORGET_AFTER;
                }
                forget.push(id);
                continue;
            }
            // Once the queue is closed what is left to forget stays (stored again after a
            // restart, a no-op then).
            () = tokio::time::sleep_until(forget_by), if open && room && !forget.is_empty() => None,
        };
        while let Ok(id) = stored.try_recv() {
            forget.push(id);
        }
        let mut batch: Vec<Append> = first.into_iter().collect();
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(append) => batch.push(append),
                Err(_) => break,
            }
        }
        let (entries, waiters): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|a| (a.entry, (a.prepared, a.reply)))
            .unzip();
        let forgotten = std::mem::take(&mut forget);
        let journal = journal.clone();
        appending.push_back(async move {
            let appended = journal.append(&entries, &forgotten).await;
            (appended, waiters, forgotten)
        });
    }
}

/// What a webhook waits for on the journal's lane: its events, and where to answer.
type Waiter = (
    Prepared,
    oneshot::Sender<Result<(i64, Submitted), StoreError>>,
);

/// An append ended: its events go to the ingest lanes and its webhooks are answered; when
/// it failed (`false`), its webhooks get the error and what it was to forget is forgotten
/// later.
async fn handed(
    lanes: &GroupCommit,
    journaling: &AtomicUsize,
    appended: Result<Vec<i64>, StoreError>,
    waiters: Vec<Waiter>,
    forgotten: Vec<i64>,
    forget: &mut Vec<i64>,
) -> bool {
    match appended {
        Ok(ids) => {
            for ((prepared, reply), id) in waiters.into_iter().zip(ids) {
                let submitted = ingest::submit(lanes, prepared).await;
                journaling.fetch_sub(1, Ordering::SeqCst);
                let _ = reply.send(submitted.map(|s| (id, s)));
            }
            true
        }
        Err(e) if waiters.is_empty() => {
            tracing::warn!(error = %e, entries = forgotten.len(), "forgetting stored journal entries failed; tried again later");
            forget.extend(forgotten);
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "appending to the inbound journal failed; its webhooks get an error");
            forget.extend(forgotten);
            for (_, reply) in waiters {
                journaling.fetch_sub(1, Ordering::SeqCst);
                let _ = reply.send(Err(StoreError::Unavailable(format!("journal: {e}"))));
            }
            false
        }
    }
}

/// Stores again what the journal kept (entries received before `older_than`, or all), in
/// journal order, a page at a time: a page's events are all handed over before any is
/// awaited (they share commits), and its stored entries are forgotten in one commit. Run
/// before webhooks are taken after a start, and by [`run`] for entries whose storing
/// failed. An entry that fails again stays for the next sweep (the database is down, or the
/// entry cannot be read: it is logged every time, never dropped).
pub async fn replay(state: &Engine, journal: &Journal, older_than: Option<Timestamp>) {
    let mut after = 0;
    loop {
        let page = match journal.pending(after, 256).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "reading the inbound journal failed");
                return;
            }
        };
        let Some((last, _)) = page.last() else {
            return;
        };
        after = *last;
        let mut handed = Vec::with_capacity(page.len());
        let mut ended = false;
        for (id, entry) in page {
            if older_than.is_some_and(|t| entry.received_at >= t) {
                ended = true;
                break;
            }
            let submitted = submit_entry(state, &entry).await;
            handed.push((id, entry.connection_id, submitted));
        }
        let mut stored = Vec::with_capacity(handed.len());
        for (id, connection, submitted) in handed {
            let result = match submitted {
                Ok(Some(submitted)) => ingest::finish(state, connection, submitted).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => stored.push(id),
                Err(e) => {
                    tracing::warn!(error = %e, entry = id, %connection, "storing a journaled entry failed; kept for the next try");
                }
            }
        }
        state.metrics.journal_replayed.inc_by(stored.len() as u64);
        if let Err(e) = journal.forget(&stored).await {
            tracing::warn!(error = %e, "forgetting stored journal entries failed");
        }
        if ended {
            return;
        }
    }
}

/// Hands an entry's events to the ingest lanes; `None` when there is nothing to store them
/// into.
async fn submit_entry(
    state: &Engine,
    entry: &JournalEntry,
) -> Result<Option<Submitted>, StoreError> {
    let events: Vec<InboundEvent> = serde_json::from_str(&entry.events)
        .map_err(|e| StoreError::Corrupt(format!("journal entry: {e}")))?;
    let opened = match state.opened(entry.connection_id).await {
        Ok(Some(opened)) => opened,
        // Deleted since: its webhook would be refused now, and nothing is left to store into.
        Ok(None) => {
            tracing::warn!(connection = %entry.connection_id, events = events.len(), "journaled events of a deleted connection dropped");
            return Ok(None);
        }
        Err(crate::channels::CachedError::Store(e)) => return Err(e),
        Err(crate::channels::CachedError::Open(e)) => {
            return Err(StoreError::Unavailable(format!(
                "opening the connection: {e}"
            )))
        }
    };
    let prepared = ingest::prepare(state, &opened.connection, events, entry.received_at).await?;
    ingest::submit(&state.ingest, prepared).await.map(Some)
}

/// Retries entries whose storing failed, until `stop`.
pub async fn run(state: Engine, mut stop: watch::Receiver<bool>) {
    let Some(lane) = state.journal.clone() else {
        return;
    };
    while !*stop.borrow() {
        tokio::select! {
            () = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = stop.changed() => return,
        }
        replay(
            &state,
            lane.journal(),
            Some(Timestamp::now() - SWEEP_OLDER_THAN),
        )
        .await;
    }
}
