//! Prometheus metrics: request counts and latencies per route, and the ingest lanes'
//! commits (how many, how many events each held, how long each took) and the events waiting
//! in the inbound journal, served at `/metrics`.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route pattern (`/api/v1/groups/{id}`), never the raw path: ids would make a new
    /// series per object.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    /// Handed to the ingest lanes.
    pub ingest: IngestMetrics,
    /// Events journaled and not yet stored (see `journal.rs`).
    pub journal_waiting: Gauge,
    /// Events acknowledged on the journal (rather than stored before the answer).
    pub journal_acknowledged: Counter,
    /// Events stored again from the journal after a start or a failed store.
    pub journal_replayed: Counter,
}

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

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            durations.clone(),
        );
        let ingest = IngestMetrics {
            commits: Counter::default(),
            events: Counter::default(),
            seconds: Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        };
        registry.register(
            "ingest_commits",
            "Ingest batches stored (a delivery round alone counts too)",
            ingest.commits.clone(),
        );
        registry.register(
            "ingest_events",
            "Events stored by ingest batches",
            ingest.events.clone(),
        );
        registry.register(
            "ingest_commit_seconds",
            "Time to store and commit an ingest batch",
            ingest.seconds.clone(),
        );
        let journal_waiting = Gauge::default();
        registry.register(
            "journal_waiting_events",
            "Events acknowledged on the inbound journal and not yet stored",
            journal_waiting.clone(),
        );
        let journal_acknowledged = Counter::default();
        registry.register(
            "journal_acknowledged_events",
            "Events acknowledged on the inbound journal, stored after the answer",
            journal_acknowledged.clone(),
        );
        let journal_replayed = Counter::default();
        registry.register(
            "journal_replayed_events",
            "Events stored from the inbound journal after a start or a failed store",
            journal_replayed.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            ingest,
            journal_waiting,
            journal_acknowledged,
            journal_replayed,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Counts and times every request.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let labels = RouteLabels {
        method: method.clone(),
        route: route.clone(),
    };
    state
        .metrics
        .durations
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
