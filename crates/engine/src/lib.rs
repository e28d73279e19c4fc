//! The application layer: what happens to a channel's events, a bot's turn, an outbox row, a
//! due timer, written over the store's repository functions, the core's rules and the
//! channels' connectors. The server calls it for HTTP (a webhook's events, a reply), and its
//! workers run here: delivery, timers, polling, the journal's sweep, checkpoints, fan-out.
//!
//! Architecture invariant: no HTTP here (the server owns routes, auth and sessions) and no
//! SQL (the store owns it). The engine is one value, [`Engine`], cloned by reference count;
//! everything a workflow needs is on it.

pub mod bot;
pub mod channels;
pub mod fanout;
pub mod files;
mod group_commit;
pub mod ingest;
pub mod journal;
mod metrics;
pub mod secrets;
pub mod threads;
pub mod workers;

use std::{path::Path, sync::Arc, time::Duration};

use switchboard_core::ids::{ConnectionId, ConversationId};
use switchboard_store::{Dialect, Store, StoreConfig, StoreError};
use tokio::sync::{broadcast, mpsc, Notify};

pub use metrics::{EngineMetrics, IngestMetrics};

/// The engine: one `Arc`, so clones (per request, per worker) are a reference count.
#[derive(Clone)]
pub struct Engine(Arc<Shared>);

impl std::ops::Deref for Engine {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`Engine`] holds.
pub struct Shared {
    pub store: Store,
    /// Seals credentials at rest and signs file links.
    pub sealer: secrets::Sealer,
    /// The client for channel APIs (pooled, keep-alive).
    pub http: reqwest::Client,
    /// The base URL channels reach this server at.
    pub public_url: String,
    /// Woken when outbox rows are written, so delivery does not wait for its next poll.
    pub outbox_ready: Arc<Notify>,
    pub delivery_lease: Duration,
    /// "This conversation changed": new message, status, delivery. Sessions (the web chat,
    /// the operator inbox) re-read what they show.
    pub events: broadcast::Sender<ConversationId>,
    /// Attachments, content-addressed in the data directory.
    pub files: files::Files,
    /// Ingest's group commit: events handed over, stored many to a transaction.
    pub ingest: Arc<group_commit::GroupCommit>,
    /// On SQLite, webhooks are acknowledged on the inbound journal (see `journal.rs`).
    pub journal: Option<Arc<journal::JournalLane>>,
    /// Connections opened for webhooks, bot turns and sends, kept for a moment.
    pub connections: Arc<channels::ConnectionCache>,
    /// The bot's HTTP client and parsed scenarios.
    pub bots: Arc<bot::Bots>,
    pub metrics: EngineMetrics,
    /// This process among the nodes sharing the database.
    pub node: String,
    /// Changes to publish to the other nodes (PostgreSQL only).
    pub publish: Option<mpsc::UnboundedSender<Vec<ConversationId>>>,
}

/// What the engine is built from.
pub struct EngineConfig<'a> {
    pub store: Store,
    pub database: &'a StoreConfig,
    pub sealer: secrets::Sealer,
    pub public_url: String,
    pub delivery_lease: Duration,
    pub data_dir: &'a Path,
    pub bots: bot::Bots,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("starting the ingest lanes: {0}")]
    Lanes(std::io::Error),
}

impl Engine {
    /// Starts the ingest lanes (and on SQLite the inbound journal). On PostgreSQL, also
    /// returns where the changes to publish to other nodes arrive (see [`fanout::publish`]).
    #[allow(clippy::type_complexity)]
    pub async fn start(
        config: EngineConfig<'_>,
    ) -> Result<(Engine, Option<mpsc::UnboundedReceiver<Vec<ConversationId>>>), EngineError> {
        let (publish, published) = if config.store.dialect() == Dialect::Postgres {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let outbox_ready = Arc::new(Notify::new());
        let metrics = EngineMetrics::default();
        let lanes = Arc::new(
            group_commit::GroupCommit::start(
                config.store.clone(),
                outbox_ready.clone(),
                metrics.ingest.clone(),
            )
            .map_err(EngineError::Lanes)?,
        );
        let journal = match switchboard_store::Journal::open(config.database).await? {
            Some(journal) => Some(Arc::new(
                journal::JournalLane::start(
                    journal,
                    lanes.clone(),
                    metrics.journal_waiting.clone(),
                    metrics.journal_acknowledged.clone(),
                )
                .map_err(EngineError::Lanes)?,
            )),
            None => None,
        };
        let engine = Engine(Arc::new(Shared {
            store: config.store,
            sealer: config.sealer,
            http: channels::http_client(),
            public_url: config.public_url,
            outbox_ready,
            delivery_lease: config.delivery_lease,
            events: broadcast::channel(1024).0,
            files: files::Files::new(config.data_dir),
            ingest: lanes,
            journal,
            connections: Arc::new(channels::ConnectionCache::default()),
            bots: Arc::new(config.bots),
            metrics,
            node: uuid::Uuid::new_v4().to_string(),
            publish,
        }));
        Ok((engine, published))
    }
}

impl Shared {
    /// A connection with its credentials unsealed (from the cache while fresh).
    pub async fn opened(
        &self,
        id: ConnectionId,
    ) -> Result<Option<Arc<channels::Opened>>, channels::CachedError> {
        self.connections
            .get(&self.store, &self.sealer, &self.http, id)
            .await
    }

    /// Tells every session that these conversations changed (each once).
    pub fn conversations_changed(&self, ids: &[ConversationId]) {
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if seen.insert(*id) {
                let _ = self.events.send(*id);
            }
        }
        if let (Some(publish), false) = (&self.publish, seen.is_empty()) {
            let _ = publish.send(seen.into_iter().collect());
        }
    }
}
