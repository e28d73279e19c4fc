//! Storing channel events, however they arrived (webhook or long polling): one transaction
//! per event (`Store::ingest`), then wake whoever waits on the outbox and on the conversation.

use switchboard_channels::{InboundEvent, InboundKind};
use switchboard_core::channel::{opening, ChannelConnection};
use switchboard_store::{FollowUp, Ingest, IngestEvent, Ingested, Opening, StoreError};

use crate::state::AppState;

pub fn to_ingest_event(kind: InboundKind) -> IngestEvent {
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

/// Stores `events` of `connection`; a redelivered event changes nothing.
pub async fn store_events(
    state: &AppState,
    connection: &ChannelConnection,
    events: Vec<InboundEvent>,
) -> Result<(), StoreError> {
    let (status, group_id, assignee_id) = opening(&connection.routing);
    let mut queued = false;
    for event in events {
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
            account_id: connection.account_id,
            connection_id: connection.id,
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
                tracing::debug!(connection = %connection.id, event = %ingest.external_event_id, "duplicate delivery")
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
    Ok(())
}
