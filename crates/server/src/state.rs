//! What every handler can reach: the engine (the workflows, and through it the store), the
//! authentication parts, metrics, and the settings only HTTP uses. Workers take the engine,
//! never this.

use std::{collections::BTreeMap, sync::Arc};

use switchboard_core::{channel::ChannelKind, ids::ConnectionId, secret::Secret};
use switchboard_engine::{bot::AllowList, Engine};

use crate::{
    auth::{password::Passwords, throttle::LoginThrottle},
    config::OAuthApp,
    metrics::Metrics,
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
    pub engine: Engine,
    pub auth: Auth,
    pub metrics: Arc<Metrics>,
    pub web: Web,
}

/// Who may call: password hashing and login throttling.
pub struct Auth {
    pub passwords: Arc<Passwords>,
    pub throttle: Arc<LoginThrottle>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: AllowList,
}

/// Settings only HTTP uses.
pub struct Web {
    /// Apps registered with channels, for connecting through their own authorization.
    pub oauth_apps: BTreeMap<ChannelKind, OAuthApp>,
    /// The API addresses connections may use besides their channel's own.
    pub api_base_allow: switchboard_channels::ApiBaseAllow,
    /// What `GET /metrics` requires, when anything.
    pub metrics_token: Option<Secret>,
    /// New web-chat sessions per client address.
    pub webchat_sessions: crate::routes::webchat::SessionLimits,
    /// The web chat connection of `--demo`, shown at `/demo`.
    pub demo_chat: Option<ConnectionId>,
}

/// Handlers reach the engine's parts (`state.store`, `state.opened(..)`) directly.
impl std::ops::Deref for Shared {
    type Target = switchboard_engine::Shared;

    fn deref(&self) -> &switchboard_engine::Shared {
        &self.engine
    }
}

impl Shared {
    /// Whether connecting `kind` through its OAuth is set up on this server.
    pub fn oauth_configured(&self, kind: ChannelKind) -> bool {
        self.web.oauth_apps.contains_key(&kind)
    }
}
