//! Building and running the server: open and migrate the store, bootstrap the first admin,
//! bind the port, assemble the routes, serve until told to stop.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    extract::{DefaultBodyLimit, Request},
    middleware, Router,
};
use switchboard_core::secret::Secret;
use switchboard_store::{Dialect, Store, StoreError};
use tokio::{net::TcpListener, sync::watch};
use tower_http::trace::TraceLayer;

use switchboard_engine::{
    fanout, journal,
    secrets::{Sealer, SecretsError},
    threads, workers, Engine, EngineConfig, EngineError,
};

use crate::{
    auth::{
        password::{PasswordError, Passwords},
        throttle::LoginThrottle,
    },
    bootstrap::{self, BootstrapError, FirstAdmin},
    config::ServerConfig,
    error::ApiError,
    metrics::{self, Metrics},
    routes,
    state::{AppState, Auth, Web},
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
        let allow = switchboard_engine::bot::AllowList::parse(&config.bot_http_allow)
            .map_err(StartError::AllowList)?;
        let api_base_allow = switchboard_channels::ApiBaseAllow::parse(&config.api_base_allow)
            .map_err(|e| StartError::Setting("api_base_allow", e))?;
        let trusted_proxies = switchboard_engine::bot::AllowList::parse(&config.trusted_proxies)
            .ok()
            .filter(|list| list.has_no_names())
            .ok_or_else(|| {
                StartError::Setting(
                    "trusted_proxies",
                    "give addresses or CIDR ranges, not host names".into(),
                )
            })?;
        let bots = switchboard_engine::bot::Bots::new(allow).map_err(StartError::AllowList)?;
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
        let (engine, published) = Engine::start(EngineConfig {
            store: store.clone(),
            database: &config.database,
            sealer,
            public_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{address}")),
            delivery_lease: config.delivery_lease,
            data_dir: &config.data_dir,
            bots,
        })
        .await
        .map_err(|e| match e {
            EngineError::Store(e) => StartError::Store(e),
            EngineError::Lanes(e) => StartError::Lanes(e),
        })?;
        let fanout = published.map(|queued| (queued, config.database.url.clone()));
        let metrics = Arc::new(Metrics::new(&engine.metrics));
        let state = AppState::new(crate::state::Shared {
            engine,
            auth: Auth {
                passwords: Arc::new(passwords),
                throttle: Arc::new(LoginThrottle::default()),
                trusted_proxies,
            },
            metrics,
            web: Web {
                oauth_apps: config.oauth_apps.clone(),
                api_base_allow,
                metrics_token: config.metrics_token.clone(),
                webchat_sessions: Default::default(),
                demo_chat,
            },
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
            .web
            .demo_chat
            .map(|_| format!("{}/demo", self.state.public_url))
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        // The workers take the engine, never the HTTP state.
        let engine = self.state.engine.clone();
        let delivery = match (self.delivery, self.store.dialect()) {
            (false, _) => None,
            // On a thread of its own, behind the webhooks when the cores are busy (see
            // `threads.rs`).
            (true, Dialect::Sqlite) => Some(threads::spawn(
                "delivery".into(),
                threads::Priority::Background,
                workers::delivery::run(engine.clone(), stopped.clone()),
            )?),
            // PostgreSQL's connections are sockets, driven by the runtime that opened them:
            // one the delivery worker opened on its thread would be served at that thread's
            // lower priority when a webhook's statement borrows it from the pool.
            (true, Dialect::Postgres) => {
                let (ended, ends) = tokio::sync::oneshot::channel();
                let worker = workers::delivery::run(engine.clone(), stopped.clone());
                tokio::spawn(async move {
                    worker.await;
                    let _ = ended.send(());
                });
                Some(ends)
            }
        };
        let polling = self
            .delivery
            .then(|| tokio::spawn(workers::polling::run(engine.clone(), stopped.clone())));
        let timers = self
            .delivery
            .then(|| tokio::spawn(workers::timers::run(engine.clone(), stopped.clone())));
        let checkpoint = self
            .delivery
            .then(|| tokio::spawn(workers::checkpoint::run(engine.clone(), stopped.clone())));
        let sweep = self
            .delivery
            .then(|| tokio::spawn(journal::run(engine.clone(), stopped.clone())));
        // What the journal kept from before a crash is stored before new webhooks come.
        if let Some(lane) = &engine.journal {
            journal::replay(&engine, lane.journal(), None).await;
        }
        let mut fan = Vec::new();
        if let Some((queued, url)) = self.fanout {
            fan.push(tokio::spawn(fanout::publish(
                engine.clone(),
                queued,
                stopped.clone(),
            )));
            fan.push(tokio::spawn(fanout::listen(
                url,
                engine.node.clone(),
                engine.events.clone(),
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
            .chain(fan)
        {
            if let Err(e) = worker.await {
                tracing::error!(error = %e, "a background worker panicked");
            }
        }
        if let Some(lane) = &engine.journal {
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
