//! Group commit for ingest: webhook handlers (and pollers) hand their events to a lane, a
//! task that takes whatever has queued up while the previous batch was being written (up to
//! [`MAX_BATCH`] events) and stores it in ONE transaction (`Store::ingest_batch`; a batch
//! that fails is stored again event by event). Every handler is answered after the
//! commit that holds its event, so a webhook is still acknowledged only once its event is
//! durable; under load, dozens of events share one commit instead of paying one each.
//!
//! Events of one chat always go to the same lane, in the order they were handed over. SQLite
//! has one writer, so one lane; PostgreSQL writes in parallel, but every lane's statement is
//! a round trip on a machine shared with the database, so two (four measured slower: smaller
//! batches, more round trips per event).
//!
//! On SQLite the delivery worker's rounds (record the outcomes of finished sends, claim the
//! next due rows) go through the lane too and ride in the next batch's transaction
//! (`Store::commit_batch`): one commit (one fsync) for both on the one writer's path, and
//! the replies that batch wrote are claimed in the commit that wrote them. A round does not
//! queue behind the events: it has a channel of its own, which the lane reads first, so it
//! rides in the very next batch.
//! (Queued behind up to a thousand events waiting under load, each round had waited
//! ~125 ms: the replies left at ~2,000 a second while webhooks came in at 15,000.)
//! PostgreSQL writes in parallel: there a round waiting for a batch would only wait, so it
//! has a transaction of its own.
//!
//! The delivery worker, when it has nothing to do, leaves a claim parked here
//! ([`GroupCommit::park_claim`]): the next batch of events that has no round riding along
//! makes that claim in its own transaction, so the replies it writes are claimed in the
//! commit that writes them and leave at once, without a round (and a commit) of their own.
//! On PostgreSQL too: the claim is a statement more in a transaction that is open anyway.
//! At low load a question then costs two commits: the one that stores it and claims its
//! reply, and the one that records the send.
//!
//! On SQLite a busy lane keeps the writer's connection from one batch to the next (see
//! `HeldWriter`): handing it back costs a round trip to SQLite's thread before the next
//! batch could take it again. The lane hands it back when it runs out of work, and after
//! [`HOLD_WRITER`] so that the other writers (the API, the timers) get their turn.
//!
//! Each lane runs on a thread of its own with its own small runtime (see `threads.rs`): on
//! its own thread the lane is woken the moment the database answers.

use std::{
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
};

use switchboard_store::{
    BotApply, BotLoad, Dialect, HeldWriter, Ingest, Ingested, OutboxItem, Settle, Store, StoreError,
};
use tokio::sync::{
    mpsc::{self, error::TryRecvError},
    oneshot, Notify,
};

use crate::{
    metrics::IngestMetrics,
    threads::{self, Priority},
};

/// The bot's answer inside the ingest transaction (see `bot::answerer`).
pub type AnswerFn = dyn Fn(&BotLoad) -> Option<BotApply> + Send + Sync;

/// The most events one commit takes: with webhooks acknowledged on the journal, a batch
/// takes what waited (a commit's cost is mostly fixed; see `journal.rs`).
const MAX_BATCH: usize = 256;
/// Events waiting per lane before handing over waits (backpressure on the webhooks).
const QUEUE: usize = 4096;
/// How long a busy lane keeps SQLite's writer connection between batches before it lets
/// the other writers (the API, the timers) have their turn.
const HOLD_WRITER: std::time::Duration = std::time::Duration::from_millis(50);

struct IngestJob {
    ingest: Ingest,
    answer: Option<Arc<AnswerFn>>,
    reply: oneshot::Sender<Result<Ingested, StoreError>>,
}

struct SettleJob {
    settle: Settle,
    reply: oneshot::Sender<Result<Vec<OutboxItem>, StoreError>>,
}

/// The lanes; cheap to share.
pub struct GroupCommit {
    lanes: Vec<mpsc::Sender<IngestJob>>,
    /// The delivery worker's rounds, for the first lane (SQLite has one); the worker waits
    /// for each, so one at a time.
    rounds: mpsc::Sender<SettleJob>,
    store: Store,
    parked: Parked,
}

/// The claim the delivery worker left for the next batch to make.
type Parked = Arc<Mutex<Option<SettleJob>>>;

/// A parked claim's outcome: the rows claimed for the delivery worker.
pub type Claimed = oneshot::Receiver<Result<Vec<OutboxItem>, StoreError>>;

/// An event handed over, to be awaited after handing over the rest.
pub struct Pending(oneshot::Receiver<Result<Ingested, StoreError>>);

impl Pending {
    /// The outcome, once the transaction holding the event committed (or failed).
    pub async fn outcome(self) -> Result<Ingested, StoreError> {
        self.0.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the ingest lane stopped before storing the event".into(),
            ))
        })
    }
}

impl GroupCommit {
    /// Starts the lanes, each on its own thread; `outbox_ready` is woken after each commit
    /// (a handler whose client hung up is not there to do it). A lane stops when the last
    /// handle to the lanes is dropped.
    pub fn start(
        store: Store,
        outbox_ready: Arc<Notify>,
        metrics: IngestMetrics,
    ) -> std::io::Result<Self> {
        let count = match store.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => 2,
        };
        let parked = Parked::default();
        let mut lanes = Vec::with_capacity(count);
        let (rounds, first_rounds) = mpsc::channel(1);
        let mut first_rounds = Some(first_rounds);
        for lane in 0..count {
            let (tx, rx) = mpsc::channel(QUEUE);
            threads::spawn(
                format!("ingest-lane-{lane}"),
                Priority::Normal,
                run(
                    store.clone(),
                    outbox_ready.clone(),
                    metrics.clone(),
                    parked.clone(),
                    rx,
                    first_rounds.take(),
                ),
            )?;
            lanes.push(tx);
        }
        Ok(Self {
            lanes,
            rounds,
            store,
            parked,
        })
    }

    /// Hands an event over; await [`Pending::outcome`] for its result.
    pub async fn submit(
        &self,
        ingest: Ingest,
        answer: Option<Arc<AnswerFn>>,
    ) -> Result<Pending, StoreError> {
        let lane = &self.lanes[lane_of(&ingest, self.lanes.len())];
        let (reply, outcome) = oneshot::channel();
        lane.send(IngestJob {
            ingest,
            answer,
            reply,
        })
        .await
        .map_err(|_| StoreError::Unavailable("the ingest lane stopped".into()))?;
        Ok(Pending(outcome))
    }

    /// Records the outcomes of finished sends and claims due outbox rows: on SQLite in the
    /// next batch's transaction (or alone when no events are waiting).
    pub async fn settle_and_claim(&self, settle: Settle) -> Result<Vec<OutboxItem>, StoreError> {
        if self.store.dialect() == Dialect::Postgres {
            let now = jiff::Timestamp::now();
            return self
                .store
                .settle_and_claim(&settle.finished, now, settle.lease, settle.limit)
                .await;
        }
        let stopped = || StoreError::Unavailable("the ingest lane stopped".into());
        let (reply, outcome) = oneshot::channel();
        self.rounds
            .send(SettleJob { settle, reply })
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    /// Leaves `claim` (a round with no outcomes to record) for the next batch of events to
    /// make in its transaction; its outcome comes on the receiver. Take it back with
    /// [`Self::unpark`] before anything else goes to the lanes.
    pub fn park_claim(&self, claim: Settle) -> Claimed {
        debug_assert!(claim.finished.is_empty(), "a parked claim records nothing");
        let (reply, claimed) = oneshot::channel();
        *lock(&self.parked) = Some(SettleJob {
            settle: claim,
            reply,
        });
        claimed
    }

    /// Takes the parked claim back: true if no batch had taken it (its receiver then gets
    /// nothing), false if one did (its outcome is on the way).
    pub fn unpark(&self) -> bool {
        lock(&self.parked).take().is_some()
    }
}

fn lock(parked: &Parked) -> std::sync::MutexGuard<'_, Option<SettleJob>> {
    // The slot holds a plain value: a panic elsewhere cannot leave it half-written.
    parked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lane of an event: by its chat, so one chat's events keep their order.
fn lane_of(ingest: &Ingest, lanes: usize) -> usize {
    if lanes <= 1 {
        return 0;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (ingest.connection_id, ingest.chat()).hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

async fn run(
    store: Store,
    outbox_ready: Arc<Notify>,
    metrics: IngestMetrics,
    parked: Parked,
    mut queue: mpsc::Receiver<IngestJob>,
    mut rounds: Option<mpsc::Receiver<SettleJob>>,
) {
    // The writer's connection, kept while batches follow one another (see `HeldWriter`).
    let mut held = HeldWriter::default();
    loop {
        if held.held_for().is_some_and(|t| t >= HOLD_WRITER) {
            held.release();
        }
        // A delivery round first: it rides in this batch, however many events wait.
        let mut settle = rounds.as_mut().and_then(|r| r.try_recv().ok());
        let mut jobs = Vec::new();
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) if settle.is_none() => {
                // Out of work: the other writers' turn.
                held.release();
                let round = async {
                    match rounds.as_mut() {
                        Some(r) => r.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    Some(s) = round => settle = Some(s),
                    job = queue.recv() => match job {
                        Some(job) => jobs.push(job),
                        None => return,
                    },
                }
            }
            Err(TryRecvError::Empty) => {}
        }
        while jobs.len() < MAX_BATCH && !jobs.is_empty() {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if settle.is_none() && !jobs.is_empty() {
            settle = lock(&parked).take();
        }
        // In a task of its own: a panic while storing fails this batch's handlers (their
        // events are redelivered by the channels), not the lane.
        let writer = store.clone();
        let started = std::time::Instant::now();
        let mut keep = std::mem::take(&mut held);
        let written = tokio::spawn(async move {
            let batch: Vec<_> = jobs
                .iter()
                .map(|j| (&j.ingest, j.answer.as_deref()))
                .collect();
            let (results, claimed) = writer
                .commit_batch(&batch, settle.as_ref().map(|s| &s.settle), &mut keep)
                .await;
            drop(batch);
            (jobs, results, settle.map(|s| s.reply).zip(claimed), keep)
        })
        .await;
        tracing::debug!(events = written.as_ref().map_or(0, |(jobs, ..)| jobs.len()), elapsed = ?started.elapsed(), "a batch of events stored");
        let Ok((jobs, results, claimed, keep)) = written else {
            tracing::error!("storing a batch of events panicked; its webhooks get an error");
            continue;
        };
        held = keep;
        metrics.commits.inc();
        metrics.events.inc_by(jobs.len() as u64);
        metrics.seconds.observe(started.elapsed().as_secs_f64());
        // Replies, follow-ups and notices may have been queued with the events; a delivery
        // round that rode along has claimed them already (and claims again at once if it
        // took all it could), so waking the worker would only cost an empty round.
        let claimed_here = matches!(claimed, Some((_, Ok(_))));
        if !claimed_here && results.iter().any(Result::is_ok) {
            outbox_ready.notify_one();
        }
        if let Some((reply, claimed)) = claimed {
            let _ = reply.send(claimed);
        }
        for (job, result) in jobs.into_iter().zip(results) {
            // A handler that went away (its client hung up) still had its event stored.
            let _ = job.reply.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::{
        conversation::ConversationStatus,
        ids::{AccountId, ConnectionId},
        message::Content,
        routing::Start,
    };
    use switchboard_store::IngestEvent;

    use super::*;

    fn message(connection: ConnectionId, chat: &str, event: &str) -> Ingest {
        Ingest {
            account_id: AccountId::new(),
            connection_id: connection,
            external_event_id: event.into(),
            event: IngestEvent::Message {
                contact_external_id: chat.into(),
                contact_name: "Иван".into(),
                external_message_id: None,
                content: Content::default(),
                client: None,
            },
            start: Start {
                status: ConversationStatus::Queued,
                group_id: None,
                wanted_operator_id: None,
                held_until: None,
                scenario_id: None,
            },
            out_of_hours: None,
            follow_ups: Vec::new(),
        }
    }

    #[test]
    fn one_chat_keeps_one_lane() {
        let c = ConnectionId::new();
        let lane = lane_of(&message(c, "42", "1"), 4);
        for event in 2..50 {
            assert_eq!(lane_of(&message(c, "42", &event.to_string()), 4), lane);
        }
        let lanes: std::collections::HashSet<usize> = (0..200)
            .map(|chat| lane_of(&message(c, &chat.to_string(), "1"), 4))
            .collect();
        assert_eq!(lanes.len(), 4, "chats spread over the lanes");
        assert_eq!(lane_of(&message(c, "42", "1"), 1), 0);
    }

    /// A connection to store events for (a group to route to, as connections need one).
    async fn connection(store: &Store) -> (AccountId, ConnectionId) {
        use switchboard_core::operator::Role;
        use switchboard_store::{
            testing::telegram_connection, GroupInput, NewAccount, NewOperator,
        };
        let admin = NewOperator {
            account_id: AccountId::new(),
            email: "admin@example.ru".into(),
            name: "Admin".into(),
            role: Role::Admin,
            password_hash: "h".into(),
            instance_admin: false,
        };
        let name = "Lanes".into();
        let account = store
            .create_account(NewAccount { name, admin }, None)
            .await
            .unwrap()
            .0
            .id;
        let group = GroupInput {
            name: "Support".into(),
            operator_ids: vec![],
            distribution: Default::default(),
        };
        let group = store.create_group(account, &group, None).await.unwrap().id;
        let new = telegram_connection(account, group);
        store.create_connection(&new, None).await.unwrap();
        (account, new.id)
    }

    /// A delivery round handed over while thousands of events wait rides in one of the
    /// next batches instead of waiting for all of them: replies keep leaving under load.
    #[tokio::test]
    async fn a_delivery_round_goes_before_the_events_waiting() {
        use futures_util::FutureExt;
        let db = switchboard_store::testing::TestDb::sqlite();
        let store = db.store().await;
        let (account, connection) = connection(&store).await;
        let metrics = crate::metrics::EngineMetrics::default().ingest;
        let lanes = GroupCommit::start(store, Arc::new(Notify::new()), metrics).unwrap();
        // Twice what the lane's queue holds: handing over outruns storing, so the queue is
        // full when the round comes.
        let mut pending = Vec::new();
        for event in 0..2 * QUEUE {
            let mut ingest = message(connection, "42", &event.to_string());
            ingest.account_id = account;
            ingest.event = IngestEvent::Ignored;
            pending.push(lanes.submit(ingest, None).await.unwrap());
        }
        let round = Settle {
            finished: Vec::new(),
            lease: std::time::Duration::from_secs(60),
            limit: 10,
        };
        let claimed = lanes.settle_and_claim(round).await.unwrap();
        assert!(claimed.is_empty(), "nothing to send: {claimed:?}");
        // Behind the round, thousands of events are still waiting: the last of them are not
        // stored yet (in arrival order, the round would have come after them).
        let last = pending.split_off(pending.len() - MAX_BATCH);
        let stored = last
            .into_iter()
            .filter_map(|p| p.outcome().now_or_never())
            .count();
        assert_eq!(
            stored, 0,
            "the round waited for the events handed over before it"
        );
        for p in pending {
            p.outcome().await.unwrap();
        }
    }
}
