//! `POST /hooks/{connection_id}`: every channel's webhook. The connector checks the signature
//! on the raw bytes and decodes; the answer is 2xx only once the events are durable, so a
//! 2xx always means "kept" and anything else is retried by the channel: once ingest
//! committed them, or on SQLite under load once they are in the inbound journal
//! (`journal.rs`; stored from there). A duplicate delivery is answered 2xx and changes
//! nothing.
//!
//! A customer opening the chat (`Started`) is stored directly, and the bot runs before the
//! answer: channels that take a greeting only in that answer (Viber's welcome message) get
//! it there (`bot::greet`).

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use switchboard_channels::{HookKeys, InboundError, InboundKind, OutboundMessage, WebhookRequest};
use switchboard_core::ids::ConnectionId;

use switchboard_engine::{channels::CachedError, ingest, journal::JournalLane};

use crate::{error::ApiError, state::AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/hooks/{id}", post(receive))
}

async fn receive(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id: ConnectionId = raw.parse().map_err(|_| ApiError::not_found())?;
    let opened = match state.opened(id).await {
        Ok(Some(opened)) => opened,
        Ok(None) => return Err(ApiError::not_found()),
        Err(CachedError::Store(e)) => return Err(e.into()),
        Err(CachedError::Open(e)) => {
            tracing::error!(error = %e, connection = %id, "cannot open the connection");
            return Err(ApiError::internal());
        }
    };
    if !opened.connection.enabled {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this connection is disabled",
        ));
    }
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect();
    let request = WebhookRequest {
        headers: &headers,
        body: &body,
    };
    let parsed = opened
        .connector
        .parse(
            &HookKeys {
                secret: &opened.secrets.webhook_secret,
                credentials: &opened.secrets.credentials,
            },
            &request,
        )
        .map_err(|e| match e {
            InboundError::BadSignature(reason) => {
                tracing::warn!(connection = %id, %reason, "webhook refused: bad signature");
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "bad_signature",
                    "the request is not signed by the channel",
                )
            }
            InboundError::Malformed(reason) => {
                tracing::warn!(connection = %id, %reason, "webhook refused: malformed body");
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed",
                    format!("not a {} update: {reason}", opened.connection.kind),
                )
            }
        })?;
    if parsed
        .events
        .iter()
        .any(|e| matches!(e.kind, InboundKind::Started { .. }))
    {
        let bots =
            ingest::store_events_holding_bots(&state.engine, &opened.connection, parsed.events)
                .await?;
        let for_welcome = opened.clone();
        let welcome = move |m: OutboundMessage| {
            let opened = for_welcome.clone();
            Box::pin(async move {
                let credentials = &opened.secrets.credentials;
                opened.connector.welcome(&opened.api, credentials, &m).await
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send>>
        };
        let mut greeting = None;
        for conversation in bots {
            let body = switchboard_engine::bot::greet(&state.engine, conversation, &welcome).await;
            greeting = greeting.or(body);
        }
        return Ok(match (greeting, parsed.reply) {
            (Some(body), _) => (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            (None, Some(reply)) => (StatusCode::OK, reply).into_response(),
            (None, None) => StatusCode::OK.into_response(),
        });
    }
    match &state.journal {
        Some(journal) => {
            // Kept as the channel sent them; made before `prepare` takes the events, and
            // left unused when few events wait (stored directly).
            let entry = JournalLane::entry(id, &parsed.events)?;
            let prepared = ingest::prepare(
                &state.engine,
                &opened.connection,
                parsed.events,
                entry.received_at,
            )
            .await?;
            journal.accept(&state.engine, entry, prepared).await?;
        }
        None => ingest::store_events(&state.engine, &opened.connection, parsed.events).await?,
    }
    let reply = parsed.reply.unwrap_or_else(|| "ok".into());
    Ok((StatusCode::OK, reply).into_response())
}
