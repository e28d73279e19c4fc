//! Storing channel events, however they arrived (webhook or long polling): handed to the
//! group commit (`group_commit.rs`, many events to one transaction), answered after that
//! commit, then whoever waits on the outbox and on the conversation is woken.

use jiff::Timestamp;
use switchboard_channels::{
    DeliveryReport, InboundEvent, InboundKind, Keyboard, Outbound, OutboundMessage,
};
use switchboard_core::{
    channel::ChannelConnection,
    message::DeliveryStatus,
    routing::{start, Start},
};
use switchboard_store::{FollowUp, Ingest, IngestEvent, Ingested, Notice, StoreError};

use crate::state::AppState;

/// The channel action that sends a plain text.
pub fn text_action(chat_id: &str, text: &str) -> String {
    let outbound = Outbound::Message(OutboundMessage {
        chat_id: chat_id.to_string(),
        text: text.to_string(),
        choices: Vec::new(),
        files: Vec::new(),
        links: Vec::new(),
        keyboard: Keyboard::default(),
    });
    serde_json::to_string(&outbound).unwrap_or_default()
}

/// How a connection routes what arrives now: where a new conversation starts, and whether
/// working hours are over (its schedule is closed and will open again).
pub struct Routed {
    pub start: Start,
    pub out_of_hours: bool,
}

/// Asks the core where conversations of `connection` start at `now`, by its schedule.
pub async fn routed(
    state: &AppState,
    connection: &ChannelConnection,
    now: Timestamp,
) -> Result<Routed, StoreError> {
    let next_open = match connection.schedule_id {
        Some(schedule) => match state
            .store
            .get_schedule(connection.account_id, schedule)
            .await
        {
            Ok(s) => s.hours.next_open(now).filter(|at| *at > now),
            // Deleted meanwhile: no schedule, always open.
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(Routed {
        start: start(
            &connection.routing,
            connection.out_of_hours.as_ref(),
            next_open,
        ),
        out_of_hours: next_open.is_some(),
    })
}

/// The out-of-hours notice for a customer, when it is out of hours and the connection has one.
pub fn out_of_hours_notice(
    connection: &ChannelConnection,
    routed: &Routed,
    chat_id: &str,
) -> Option<Notice> {
    let text = connection.out_of_hours.as_ref()?.message.as_ref()?;
    routed.out_of_hours.then(|| Notice {
        chat_id: chat_id.to_string(),
        text: text.clone(),
        action: text_action(chat_id, text),
    })
}

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
        InboundKind::Started { contact } => IngestEvent::Started {
            contact_external_id: contact.external_id,
            contact_name: contact.name,
        },
        InboundKind::Delivery {
            external_message_id,
            status,
        } => {
            let (status, reason) = match status {
                DeliveryReport::Delivered => (DeliveryStatus::Delivered, None),
                DeliveryReport::Read => (DeliveryStatus::Read, None),
                DeliveryReport::Failed(reason) => (DeliveryStatus::Failed, Some(reason)),
            };
            IngestEvent::Delivery {
                external_message_id,
                status,
                reason,
            }
        }
        _ => IngestEvent::Ignored,
    }
}

/// Stores `events` of `connection`; a redelivered event changes nothing.
pub async fn store_events(
    state: &AppState,
    connection: &ChannelConnection,
    events: Vec<InboundEvent>,
) -> Result<(), StoreError> {
    let routed = routed(state, connection, Timestamp::now()).await?;
    if let Some(scenario) = routed.start.scenario_id {
        // The bot answers inside the ingest transaction only with a scenario confirmed in
        // the last second: confirm it now (a version read, once a second) rather than leave
        // the turns of the events that meet a stale copy to the runner.
        state
            .bots
            .confirm(state, connection.account_id, scenario)
            .await;
    }
    let answer: std::sync::Arc<crate::group_commit::AnswerFn> =
        std::sync::Arc::new(crate::bot::answerer(state, connection));
    let mut queued = false;
    // All handed over first, then awaited in order: a polled batch shares commits too.
    let mut pending = Vec::with_capacity(events.len());
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
        let event_kind = to_ingest_event(event.kind);
        let out_of_hours = match &event_kind {
            IngestEvent::Message {
                contact_external_id,
                ..
            } => out_of_hours_notice(connection, &routed, contact_external_id),
            _ => None,
        };
        queued |= out_of_hours.is_some();
        let ingest = Ingest {
            account_id: connection.account_id,
            connection_id: connection.id,
            external_event_id: event.external_event_id,
            event: event_kind,
            start: routed.start,
            out_of_hours,
            follow_ups,
        };
        let event_id = ingest.external_event_id.clone();
        pending.push((
            event_id,
            state.ingest.submit(ingest, Some(answer.clone())).await?,
        ));
    }
    for (event_id, outcome) in pending {
        match outcome.outcome().await? {
            Ingested::Duplicate => {
                tracing::debug!(connection = %connection.id, event = %event_id, "duplicate delivery")
            }
            Ingested::Stored {
                conversation_id,
                bot,
                answered,
                ..
            } => {
                queued |= answered;
                if let Some(conversation) = conversation_id {
                    state.conversations_changed(&[conversation]);
                    if bot {
                        crate::bot::kick(state, conversation);
                    }
                }
            }
        }
    }
    if queued {
        state.outbox_ready.notify_one();
    }
    Ok(())
}
