//! What every handler can reach: the store, password hashing, throttling and metrics.

use std::sync::Arc;

use switchboard_store::Store;

use crate::{
    auth::{password::Passwords, throttle::LoginThrottle},
    metrics::Metrics,
};

/// Shared state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub passwords: Arc<Passwords>,
    pub throttle: Arc<LoginThrottle>,
    pub metrics: Arc<Metrics>,
}
