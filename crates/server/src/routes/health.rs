//! Probes and metrics: `/healthz` (the process answers), `/readyz` (the database answers),
//! `/metrics` (Prometheus; behind a bearer token when `--metrics-token` is set: its figures
//! name routes, volumes and queue depths), `/api/openapi.json`.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};

use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "database unavailable"})),
            )
        }
    }
}

async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if let Some(expected) = &state.web.metrics_token {
        let presented = crate::auth::caller::bearer_in(&headers).unwrap_or_default();
        if !switchboard_channels::secrets_match(presented, expected.expose()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(serde_json::json!({"error": {"code": "unauthorized",
                    "message": "/metrics needs the metrics token (Authorization: Bearer)"}})),
            )
                .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> impl IntoResponse {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let document = DOCUMENT.get_or_init(|| crate::openapi::openapi().to_json().unwrap_or_default());
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.as_str(),
    )
}
