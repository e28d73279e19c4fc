//! What every handler can reach: the store, password hashing, throttling and metrics.

use std::sync::Arc;

use switchboard_store::Store;

use switchboard_core::ids::{ConnectionId, ConversationId};
use tokio::sync::{broadcast, Notify};

use crate::{
    auth::{password::Passwords, throttle::LoginThrottle},
    metrics::Metrics,
    secrets::Sealer,
};

/// Shared state: one `Arc`, so the clones axum makes per request and per extractor are one
/// reference count, not a dozen (with strings copied) on every webhook.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub store: Store,
    pub passwords: Arc<Passwords>,
    pub throttle: Arc<LoginThrottle>,
    pub metrics: Arc<Metrics>,
    pub sealer: Sealer,
    /// The client for channel APIs (pooled, keep-alive).
    pub http: reqwest::Client,
    /// The base URL channels reach this server at.
    pub public_url: String,
    /// Woken when outbox rows are written, so delivery does not wait for its next poll.
    pub outbox_ready: Arc<Notify>,
    pub delivery_lease: std::time::Duration,
    /// "This conversation changed": new message, status, delivery. Sessions (the web chat,
    /// later the operator inbox) re-read what they show.
    pub events: broadcast::Sender<ConversationId>,
    /// Attachments, content-addressed in the data directory.
    pub files: crate::files::Files,
    /// The VK app for connecting communities by OAuth, when one is configured.
    /// Apps registered with channels, for connecting through their own authorization.
    pub oauth_apps:
        std::collections::BTreeMap<switchboard_core::channel::ChannelKind, crate::config::OAuthApp>,
    /// Ingest's group commit: events handed over, stored many to a transaction.
    pub ingest: Arc<crate::group_commit::GroupCommit>,
    /// On SQLite, webhooks are acknowledged on the inbound journal (see `journal.rs`).
    pub journal: Option<Arc<crate::journal::JournalLane>>,
    /// Connections opened for webhooks, bot turns and sends, kept for a moment.
    pub connections: Arc<crate::channels::ConnectionCache>,
    /// The bot's HTTP client and parsed scenarios.
    pub bots: Arc<crate::bot::Bots>,
    /// The API addresses connections may use besides their channel's own.
    pub api_base_allow: switchboard_channels::ApiBaseAllow,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::bot::AllowList,
    /// What `GET /metrics` requires, when anything.
    pub metrics_token: Option<switchboard_core::secret::Secret>,
    /// New web-chat sessions per client address.
    pub webchat_sessions: crate::routes::webchat::SessionLimits,
    /// The web chat connection of `--demo`, shown at `/demo`.
    pub demo_chat: Option<ConnectionId>,
    /// This process among the nodes sharing the database.
    pub node: String,
    /// Changes to publish to the other nodes (PostgreSQL only).
    pub publish: Option<tokio::sync::mpsc::UnboundedSender<Vec<ConversationId>>>,
}

impl Shared {
    /// A connection with its credentials unsealed (from the cache while fresh).
    pub async fn opened(
        &self,
        id: ConnectionId,
    ) -> Result<Option<Arc<crate::channels::Opened>>, crate::channels::CachedError> {
        self.connections
            .get(&self.store, &self.sealer, &self.http, id)
            .await
    }

    /// Whether connecting `kind` through its OAuth is set up on this server.
    pub fn oauth_configured(&self, kind: switchboard_core::channel::ChannelKind) -> bool {
        self.oauth_apps.contains_key(&kind)
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
