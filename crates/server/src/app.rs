//! Building and running the server: open and migrate the store, bootstrap the first admin,
//! bind the port, assemble the routes, serve until told to stop.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    extract::{DefaultBodyLimit, Request},
    middleware, Router,
};
use switchboard_core::secret::Secret;
use switchboard_store::{Dialect, Store, StoreError};
use tokio::{
    net::TcpListener,
    sync::{watch, Notify},
};
use tower_http::trace::TraceLayer;

use crate::{
    auth::{
        password::{PasswordError, Passwords},
        throttle::LoginThrottle,
    },
    bootstrap::{self, BootstrapError, FirstAdmin},
    channels,
    config::ServerConfig,
    error::ApiError,
    metrics::{self, Metrics},
    routes,
    secrets::{Sealer, SecretsError},
    state::AppState,
    workers,
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("password hashing: {0}")]
    Password(#[from] PasswordError),
    #[error("first start: {0}")]
    Bootstrap(#[from] BootstrapError),
    #[error("credentials key: {0}")]
    Secrets(#[from] SecretsError),
    #[error("bot HTTP allow-list: {0}")]
    AllowList(String),
    #[error("{0}: {1}")]
    Setting(&'static str, String),
    #[error("starting the ingest lanes: {0}")]
    Lanes(std::io::Error),
}

/// A built server, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    address: SocketAddr,
    first_admin: Option<FirstAdmin>,
    state: AppState,
    delivery: bool,
    /// On PostgreSQL: changes to publish, and the database to listen on.
    fanout: Option<(
        tokio::sync::mpsc::UnboundedReceiver<Vec<switchboard_core::ids::ConversationId>>,
        String,
    )>,
}

impl Application {
    pub async fn build(config: ServerConfig) -> Result<Self, StartError> {
        let allow =
            crate::bot::AllowList::parse(&config.bot_http_allow).map_err(StartError::AllowList)?;
        let api_base_allow = switchboard_channels::ApiBaseAllow::parse(&config.api_base_allow)
            .map_err(|e| StartError::Setting("api_base_allow", e))?;
        let trusted_proxies = crate::bot::AllowList::parse(&config.trusted_proxies)
            .ok()
            .filter(|list| list.has_no_names())
            .ok_or_else(|| {
                StartError::Setting(
                    "trusted_proxies",
                    "give addresses or CIDR ranges, not host names".into(),
                )
            })?;
        let bots = crate::bot::Bots::new(allow).map_err(StartError::AllowList)?;
        let store = Store::connect(&config.database).await?;
        store.migrate().await?;
        let passwords = Passwords::new(config.password_params)?;
        let first_admin = bootstrap::ensure_first_admin(
            &store,
            &passwords,
            config.admin_email.as_deref(),
            config.admin_password.as_ref().map(Secret::expose),
        )
        .await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let address = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let sealer = Sealer::load(
            config.secret_key.as_ref().map(Secret::expose),
            &config.data_dir,
        )?;
        let demo_chat = if config.demo {
            bootstrap::seed_demo(&store, &sealer).await?
        } else {
            None
        };
        let (publish_tx, fanout) = if store.dialect() == Dialect::Postgres {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (Some(tx), Some((rx, config.database.url.clone())))
        } else {
            (None, None)
        };
        let outbox_ready = Arc::new(Notify::new());
        let metrics = Arc::new(Metrics::default());
        let lanes = Arc::new(
            crate::group_commit::GroupCommit::start(
                store.clone(),
                outbox_ready.clone(),
                metrics.ingest.clone(),
            )
            .map_err(StartError::Lanes)?,
        );
        let journal = match switchboard_store::Journal::open(&config.database).await? {
            Some(journal) => Some(Arc::new(
                crate::journal::JournalLane::start(
                    journal,
                    lanes.clone(),
                    metrics.journal_waiting.clone(),
                    metrics.journal_acknowledged.clone(),
                )
                .map_err(StartError::Lanes)?,
            )),
            None => None,
        };
        let state = AppState::new(crate::state::Shared {
            store: store.clone(),
            passwords: Arc::new(passwords),
            throttle: Arc::new(LoginThrottle::default()),
            metrics: metrics.clone(),
            sealer,
            http: channels::http_client(),
            public_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{address}")),
            outbox_ready: outbox_ready.clone(),
            delivery_lease: config.delivery_lease,
            events: tokio::sync::broadcast::channel(1024).0,
            demo_chat,
            files: crate::files::Files::new(&config.data_dir),
            bots: Arc::new(bots),
            api_base_allow,
            trusted_proxies,
            metrics_token: config.metrics_token.clone(),
            webchat_sessions: Default::default(),
            connections: Arc::new(crate::channels::ConnectionCache::default()),
            ingest: lanes.clone(),
            journal,
            oauth_apps: config.oauth_apps.clone(),
            node: uuid::Uuid::new_v4().to_string(),
            publish: publish_tx,
        });
        let router = router(state.clone(), config.max_body_bytes);
        Ok(Self {
            listener,
            router,
            store,
            address,
            first_admin,
            state,
            delivery: config.delivery,
            fanout,
        })
    }

    /// The address actually bound (the port is chosen by the OS when configured as 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// What the first start created, if this start was the first.
    pub fn first_admin(&self) -> Option<&FirstAdmin> {
        self.first_admin.as_ref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The demo's web chat page, when started with `--demo`.
    pub fn demo_page(&self) -> Option<String> {
        self.state
            .demo_chat
            .map(|_| format!("{}/demo", self.state.public_url))
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let delivery = match (self.delivery, self.store.dialect()) {
            (false, _) => None,
            // On a thread of its own, behind the webhooks when the cores are busy (see
            // `threads.rs`).
            (true, Dialect::Sqlite) => Some(crate::threads::spawn(
                "delivery".into(),
                crate::threads::Priority::Background,
                workers::delivery::run(self.state.clone(), stopped.clone()),
            )?),
            // PostgreSQL's connections are sockets, driven by the runtime that opened them:
            // one the delivery worker opened on its thread would be served at that thread's
            // lower priority when a webhook's statement borrows it from the pool.
            (true, Dialect::Postgres) => {
                let (ended, ends) = tokio::sync::oneshot::channel();
                let worker = workers::delivery::run(self.state.clone(), stopped.clone());
                tokio::spawn(async move {
                    worker.await;
                    let _ = ended.send(());
                });
                Some(ends)
            }
        };
        let polling = self
            .delivery
            .then(|| tokio::spawn(workers::polling::run(self.state.clone(), stopped.clone())));
        let timers = self
            .delivery
            .then(|| tokio::spawn(workers::timers::run(self.state.clone(), stopped.clone())));
        let checkpoint = self.delivery.then(|| {
            tokio::spawn(workers::checkpoint::run(
                self.state.clone(),
                stopped.clone(),
            ))
        });
        let sweep = self
            .delivery
            .then(|| tokio::spawn(crate::journal::run(self.state.clone(), stopped.clone())));
        // What the journal kept from before a crash is stored before new webhooks come.
        if let Some(lane) = &self.state.journal {
            crate::journal::replay(&self.state, lane.journal(), None).await;
        }
        let mut fanout = Vec::new();
        if let Some((queued, url)) = self.fanout {
            fanout.push(tokio::spawn(crate::fanout::publish(
                self.state.clone(),
                queued,
                stopped.clone(),
            )));
            fanout.push(tokio::spawn(crate::fanout::listen(
                url,
                self.state.node.clone(),
                self.state.events.clone(),
                stopped,
            )));
        }
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop.send(true);
        if let Some(delivery) = delivery {
            if delivery.await.is_err() {
                tracing::error!("the delivery worker panicked");
            }
        }
        for worker in [polling, timers, checkpoint, sweep]
            .into_iter()
            .flatten()
            .chain(fanout)
        {
            if let Err(e) = worker.await {
                tracing::error!(error = %e, "a background worker panicked");
            }
        }
        if let Some(lane) = &self.state.journal {
            lane.journal().close().await;
        }
        self.store.close().await;
        result
    }
}

fn router(state: AppState, max_body_bytes: usize) -> Router {
    let (api, _) = routes::api_router().split_for_parts();
    api.merge(routes::service_router())
        .route_layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .fallback(|| async { ApiError::new(axum::http::StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not take that method")
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}
