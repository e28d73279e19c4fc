//! Building and running the server: open and migrate the store, bootstrap the first admin,
//! bind the port, assemble the routes, serve until told to stop.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    extract::{DefaultBodyLimit, Request},
    middleware, Router,
};
use switchboard_store::{Store, StoreError};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

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
    state::AppState,
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
}

/// A built server, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    address: SocketAddr,
    first_admin: Option<FirstAdmin>,
}

impl Application {
    pub async fn build(config: ServerConfig) -> Result<Self, StartError> {
        let store = Store::connect(&config.database).await?;
        store.migrate().await?;
        let passwords = Passwords::new(config.password_params)?;
        let first_admin = bootstrap::ensure_first_admin(
            &store,
            &passwords,
            config.admin_email.as_deref(),
            config.admin_password.as_deref(),
        )
        .await?;
        if config.demo {
            bootstrap::seed_demo(&store).await?;
        }
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
        let state = AppState {
            store: store.clone(),
            passwords: Arc::new(passwords),
            throttle: Arc::new(LoginThrottle::default()),
            metrics: Arc::new(Metrics::default()),
        };
        let router = router(state, config.max_body_bytes);
        Ok(Self {
            listener,
            router,
            store,
            address,
            first_admin,
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

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
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
