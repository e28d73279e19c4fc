//! Storing channel events, however they arrived (webhook, long polling, the inbound
//! journal): routed ([`prepare`]), handed to the group commit ([`submit`];
//! `group_commit.rs`, many events to one transaction), and once committed, whoever waits on
//! the outbox and on the conversation is woken ([`finish`]).

use std::sync::Arc;

use jiff::Timestamp;
use switchboard_channels::{DeliveryReport, InboundEvent, InboundKind, Outbound, OutboundMessage};
use switchboard_core::{
    channel::ChannelConnection,
    ids::{ConnectionId, ConversationId},
    message::DeliveryStatus,
    routing::{start, Start},
};
use switchboard_store::{FollowUp, Ingest, IngestEvent, Ingested, Notice, StoreError};

use crate::{
    group_commit::{AnswerFn, GroupCommit, Pending},
    Engine,
};

/// The channel action that sends a plain text.
pub fn text_action(chat_id: &str, text: &str) -> String {
    let outbound = Outbound::Message(OutboundMessage::text(chat_id, text, Vec::new()));
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
    state: &Engine,
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
            client: contact.client,
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
            client: contact.client,
        },
        InboundKind::Edited {
            contact,
            external_message_id,
            content,
        } => IngestEvent::Edited {
            contact_external_id: contact.external_id,
            external_message_id,
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

/// Events ready for the ingest lanes: routed, with the bot's answer.
pub struct Prepared {
    ingests: Vec<Ingest>,
    answer: Arc<AnswerFn>,
}

impl Prepared {
    pub fn len(&self) -> usize {
        self.ingests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ingests.is_empty()
    }
}

/// Events handed to the lanes, to be awaited.
pub struct Submitted {
    pending: Vec<(String, Pending)>,
}

/// Stores `events` of `connection`; a redelivered event changes nothing.
pub async fn store_events(
    state: &Engine,
    connection: &ChannelConnection,
    events: Vec<InboundEvent>,
) -> Result<(), StoreError> {
    let prepared = prepare(state, connection, events, Timestamp::now()).await?;
    let submitted = submit(&state.ingest, prepared).await?;
    finish(state, connection.id, submitted).await
}

/// Stores `events` like [`store_events`], but runs none of the bots they give work: returns
/// their conversations, for the caller to run (the webhook that greets in its answer).
pub async fn store_events_holding_bots(
    state: &Engine,
    connection: &ChannelConnection,
    events: Vec<InboundEvent>,
) -> Result<Vec<ConversationId>, StoreError> {
    let prepared = prepare(state, connection, events, Timestamp::now()).await?;
    let submitted = submit(&state.ingest, prepared).await?;
    settle(state, connection.id, submitted).await
}

/// Routes `events` of `connection` as of `at` (when they arrived): where conversations they
/// open start, the out-of-hours notice, the channel's follow-ups.
pub async fn prepare(
    state: &Engine,
    connection: &ChannelConnection,
    events: Vec<InboundEvent>,
    at: Timestamp,
) -> Result<Prepared, StoreError> {
    let routed = routed(state, connection, at).await?;
    if let Some(scenario) = routed.start.scenario_id {
        // The bot answers inside the ingest transaction only with a scenario confirmed in
        // the last second: confirm it now (a version read, once a second) rather than leave
        // the turns of the events that meet a stale copy to the runner.
        state
            .bots
            .confirm(state, connection.account_id, scenario)
            .await;
    }
    let answer: Arc<AnswerFn> = Arc::new(crate::bot::answerer(state, connection));
    let events = named(state, connection, events).await;
    let mut ingests = Vec::with_capacity(events.len());
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
        let event_kind = to_ingest_event(event.kind);
        let out_of_hours = match &event_kind {
            IngestEvent::Message {
                contact_external_id,
                ..
            } => out_of_hours_notice(connection, &routed, contact_external_id),
            _ => None,
        };
        ingests.push(Ingest {
            account_id: connection.account_id,
            connection_id: connection.id,
            external_event_id: event.external_event_id,
            event: event_kind,
            start: routed.start,
            out_of_hours,
            follow_ups,
        });
    }
    Ok(Prepared { ingests, answer })
}

/// How long a channel may take to name customers before their events are stored under the
/// channel's stand-in names.
const NAMING: std::time::Duration = std::time::Duration::from_secs(3);

/// The events with their customers' names asked of the channel, where its events carry none
/// (VK): a refusal or a slow answer leaves the stand-in names, and nothing is lost.
async fn named(
    state: &Engine,
    connection: &ChannelConnection,
    mut events: Vec<InboundEvent>,
) -> Vec<InboundEvent> {
    // Most channels send names: nothing to ask, and no work on the webhook's path.
    let Ok(Some(opened)) = state.opened(connection.id).await else {
        return events;
    };
    if !opened.connector.names_contacts() {
        return events;
    }
    let mut ids: Vec<String> = events
        .iter_mut()
        .filter_map(|e| e.kind.contact_mut().map(|c| c.external_id.clone()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return events;
    }
    let asked = opened
        .connector
        .contact_names(&opened.api, &opened.secrets.credentials, &ids);
    let names: std::collections::HashMap<String, String> = match tokio::time::timeout(NAMING, asked)
        .await
    {
        Ok(Ok(names)) => names.into_iter().collect(),
        Ok(Err(e)) => {
            tracing::info!(connection = %connection.id, error = %e, "the channel named no customers");
            return events;
        }
        Err(_) => {
            tracing::info!(connection = %connection.id, "the channel was too slow to name customers");
            return events;
        }
    };
    for event in &mut events {
        if let Some(contact) = event.kind.contact_mut() {
            if let Some(name) = names.get(&contact.external_id) {
                contact.name.clone_from(name);
            }
        }
    }
    events
}

/// Hands the events over, all of them before any is awaited: a polled batch or a journal's
/// batch shares commits.
pub async fn submit(lanes: &GroupCommit, prepared: Prepared) -> Result<Submitted, StoreError> {
    let mut pending = Vec::with_capacity(prepared.ingests.len());
    for ingest in prepared.ingests {
        let event_id = ingest.external_event_id.clone();
        pending.push((
            event_id,
            lanes.submit(ingest, Some(prepared.answer.clone())).await?,
        ));
    }
    Ok(Submitted { pending })
}

/// Awaits the events' commits in order, then wakes whoever waits on the conversations (the
/// lane has woken the delivery worker, or claimed the replies for it: see `group_commit.rs`).
pub async fn finish(
    state: &Engine,
    connection: ConnectionId,
    submitted: Submitted,
) -> Result<(), StoreError> {
    for conversation in settle(state, connection, submitted).await? {
        crate::bot::kick(state, conversation);
    }
    Ok(())
}

/// [`finish`] without running the bots: the conversations whose bot has work now.
async fn settle(
    state: &Engine,
    connection: ConnectionId,
    submitted: Submitted,
) -> Result<Vec<ConversationId>, StoreError> {
    let mut bots = Vec::new();
    for (event_id, outcome) in submitted.pending {
        match outcome.outcome().await? {
            Ingested::Duplicate => {
                tracing::debug!(%connection, event = %event_id, "duplicate delivery")
            }
            Ingested::Stored {
                conversation_id,
                bot,
                ..
            } => {
                if let Some(conversation) = conversation_id {
                    state.conversations_changed(&[conversation]);
                    if bot {
                        bots.push(conversation);
                    }
                }
            }
        }
    }
    Ok(bots)
}
