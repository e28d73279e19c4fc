//! The Switchboard server: the REST API with its OpenAPI document, authentication, health
//! and metrics endpoints, served by axum.
//!
//! Architecture invariant: only this crate knows HTTP. Handlers parse and authorize, call the
//! core for decisions and the store for data, and map every failure to the one error shape
//! of the contract (`{"error": {"code", "message", "field"?}}`).

mod app;
pub mod auth;
pub mod bootstrap;
pub mod bot;
mod channels;
mod config;
mod error;
mod extract;
mod fanout;
mod files;
mod group_commit;
mod ingest;
mod journal;
mod metrics;
mod openapi;
mod routes;
pub mod secrets;
mod state;
mod threads;
mod workers;

pub use app::{Application, StartError};
pub use auth::password::PasswordParams;
pub use config::{LogFormat, OAuthApp, ServerConfig};
pub use error::ApiError;
pub use openapi::openapi;
