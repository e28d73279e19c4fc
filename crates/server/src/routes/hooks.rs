//! `POST /hooks/{connection_id}`: every channel's webhook. The connector checks the signature
//! on the raw bytes and decodes; each event is stored in one transaction; the answer is 2xx
//! only after the commit, so a 2xx always means "stored" and anything else is retried by the
//! channel. A duplicate delivery is answered 2xx and changes nothing.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use switchboard_channels::{InboundError, InboundKind, WebhookRequest};
use switchboard_core::{channel::opening, ids::ConnectionId};
use switchboard_store::{FollowUp, Ingest, IngestEvent, Ingested, Opening};

use crate::{channels, error::ApiError, state::AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/hooks/{id}", post(receive))
}

fn to_ingest_event(kind: InboundKind) -> IngestEvent {
    match kind {
        InboundKind::Message {
            contact,
            external_message_id,
            content,
        } => IngestEvent::Message {
            contact_external_id: contact.external_id,
            contact_name: contact.name,
            external_message_id: Some(external_message_id),
            content,
        },
        // A press is the customer's answer, stored as their message; the menu's id is not
        // the press's own id.
        InboundKind::ChoicePressed {
            contact, content, ..
        } => IngestEvent::Message {
            contact_external_id: contact.external_id,
            contact_name: contact.name,
            external_message_id: None,
            content,
        },
        InboundKind::Reachability { contact, reachable } => IngestEvent::Reachability {
            contact_external_id: contact.external_id,
            contact_name: contact.name,
            reachable,
        },
        _ => IngestEvent::Ignored,
    }
}

async fn receive(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id: ConnectionId = raw.parse().map_err(|_| ApiError::not_found())?;
    let record = state
        .store
        .connection_record(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !record.connection.enabled {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this connection is disabled",
        ));
    }
    let opened = channels::open(record, &state.sealer, &state.http).map_err(|e| {
        tracing::error!(error = %e, connection = %id, "cannot open the connection");
        ApiError::internal()
    })?;
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
        .parse(&opened.secrets.webhook_secret, &request)
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
    let (status, group_id, assignee_id) = opening(&opened.connection.routing);
    let mut queued = false;
    for event in parsed.events {
        let follow_ups: Vec<FollowUp> = event
            .follow_ups
            .iter()
            .filter_map(|f| {
                let action = serde_json::to_string(f).ok()?;
                Some(FollowUp {
                    chat_id: f.chat_id().map(str::to_string),
                    action,
                    ordered: f.ordered(),
                })
            })
            .collect();
        queued |= !follow_ups.is_empty();
        let ingest = Ingest {
            account_id: opened.connection.account_id,
            connection_id: id,
            external_event_id: event.external_event_id,
            event: to_ingest_event(event.kind),
            opening: Opening {
                status,
                group_id,
                assignee_id,
            },
            follow_ups,
        };
        match state.store.ingest(&ingest).await? {
            Ingested::Duplicate => {
                tracing::debug!(connection = %id, event = %ingest.external_event_id, "duplicate delivery")
            }
            Ingested::Stored {
                conversation_id, ..
            } => {
                if let Some(conversation) = conversation_id {
                    let _ = state.events.send(conversation);
                }
            }
        }
    }
    if queued {
        state.outbox_ready.notify_one();
    }
    Ok((StatusCode::OK, "ok").into_response())
}
