//! The engine's metrics: the ingest lanes' commits (how many, how many events each held,
//! how long each took) and the events waiting in the inbound journal. The server registers
//! them with its own and serves them at `/metrics`.

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// The ingest lanes' commits. Events per commit is what group commit buys: a commit's cost
/// is mostly fixed (on SQLite, the pages of every index it touched and an fsync), so under
/// load throughput follows the batch size.
#[derive(Clone, Debug)]
pub struct IngestMetrics {
    /// Batches committed (a delivery round alone counts too).
    pub commits: Counter,
    /// Events stored in them.
    pub events: Counter,
    /// Time from a batch's start to its commit.
    pub seconds: Histogram,
}

/// Everything the engine counts.
#[derive(Clone, Debug)]
pub struct EngineMetrics {
    /// Handed to the ingest lanes.
    pub ingest: IngestMetrics,
    /// Events journaled and not yet stored (see `journal.rs`).
    pub journal_waiting: Gauge,
    /// Events acknowledged on the journal (rather than stored before the answer).
    pub journal_acknowledged: Counter,
    /// Events stored again from the journal after a start or a failed store.
    pub journal_replayed: Counter,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        Self {
            ingest: IngestMetrics {
                commits: Counter::default(),
                events: Counter::default(),
                seconds: Histogram::new([
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ]),
            },
            journal_waiting: Gauge::default(),
            journal_acknowledged: Counter::default(),
            journal_replayed: Counter::default(),
        }
    }
}

impl EngineMetrics {
    /// Adds these metrics to `registry`, under their published names.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ingest_commits",
            "Ingest batches stored (a delivery round alone counts too)",
            self.ingest.commits.clone(),
        );
        registry.register(
            "ingest_events",
            "Events stored by ingest batches",
            self.ingest.events.clone(),
        );
        registry.register(
            "ingest_commit_seconds",
            "Time to store and commit an ingest batch",
            self.ingest.seconds.clone(),
        );
        registry.register(
            "journal_waiting_events",
            "Events acknowledged on the inbound journal and not yet stored",
            self.journal_waiting.clone(),
        );
        registry.register(
            "journal_acknowledged_events",
            "Events acknowledged on the inbound journal, stored after the answer",
            self.journal_acknowledged.clone(),
        );
        registry.register(
            "journal_replayed_events",
            "Events stored from the inbound journal after a start or a failed store",
            self.journal_replayed.clone(),
        );
    }
}
