//! The Switchboard server: the REST API with its OpenAPI document, authentication, health
//! and metrics endpoints, served by axum.
//!
//! Architecture invariant: only this crate knows HTTP. Handlers parse and authorize, call the
//! engine for workflows (`switchboard_engine`), the core for decisions and the store for
//! data, and map every failure to the one error shape (`{"error": {"code", "message",
//! "field"?}}`). Its state is the engine, authentication, and what HTTP alone needs.

mod app;
pub mod auth;
pub mod bootstrap;
mod config;
mod error;
mod extract;
mod metrics;
mod openapi;
mod routes;
mod state;

pub use app::{Application, StartError};
pub use auth::password::PasswordParams;
pub use config::{LogFormat, OAuthApp, ServerConfig};
pub use error::ApiError;
pub use openapi::openapi;
