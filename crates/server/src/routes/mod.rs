//! The HTTP routes: one module per resource, each a set of annotated handlers.

mod accounts;
mod attachments;
mod audit;
mod auth;
mod channel_kinds;
mod channels;
mod conversations;
mod events;
mod groups;
mod health;
mod hooks;
mod oauth;
mod operators;
mod scenarios;
mod schedules;
mod stats;
mod ui;
pub(crate) mod webchat;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{openapi::ApiDoc, state::AppState};

/// The REST API under `/api/v1`, with its OpenAPI paths.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(auth::router())
        .merge(accounts::router())
        .merge(operators::router())
        .merge(groups::router())
        .merge(schedules::router())
        .merge(scenarios::router())
        .merge(channels::router())
        .merge(channel_kinds::router())
        .merge(oauth::api_router())
        .merge(conversations::router())
        .merge(attachments::router())
        .merge(audit::router())
        .merge(stats::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1)
}

/// Everything outside the REST API: probes, metrics, the OpenAPI document.
pub(crate) fn service_router() -> Router<AppState> {
    health::router()
        .merge(hooks::router())
        .merge(oauth::service_router())
        .merge(attachments::link_router())
        .merge(webchat::router())
        .merge(ui::router())
        .merge(events::router())
}
