//! VK Callback API requests. VK signs nothing: the secret key we registered comes back in
//! each event's `secret` field and is compared in constant time; the group must be ours.
//! The `confirmation` request is answered with the group's confirmation string. Events are
//! deduplicated on `event_id`.

use switchboard_core::{
    capabilities::ClientAbilities,
    message::{Attachment as Stored, AttachmentKind, Content},
};

use super::api::{ClientInfo, Event, Message, MessageEvent, MessageNew, UserEvent};
use crate::{
    connector::{InboundError, Parsed, WebhookRequest},
    event::{ContactRef, InboundEvent, InboundKind, Outbound},
    http::secrets_match,
};

fn malformed(e: impl std::fmt::Display) -> InboundError {
    InboundError::Malformed(e.to_string())
}

/// VK does not send names with events: the contact is named by their VK id here, and the
/// server asks `users.get` for the real name (`Connector::contact_names`).
fn contact(peer_id: i64) -> ContactRef {
    ContactRef {
        external_id: peer_id.to_string(),
        name: format!("VK id{peer_id}"),
        client: None,
    }
}

/// What the writer's app shows of our menus, which are text buttons.
fn abilities(info: &ClientInfo) -> ClientAbilities {
    let text = info
        .button_actions
        .as_ref()
        .is_none_or(|a| a.iter().any(|k| k == "text"));
    ClientAbilities {
        inline: info.inline_keyboard && text,
        keyboard: info.keyboard && text,
    }
}

/// What a button press carries: our payload `{"p": "..."}`.
fn pressed(payload: &serde_json::Value) -> Option<String> {
    payload["p"].as_str().map(str::to_string)
}

fn content(message: &Message) -> (Content, Vec<Outbound>) {
    let mut content = Content::text(message.text.clone());
    content.pressed = message
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .and_then(|p: serde_json::Value| pressed(&p));
    let mut fetch = Vec::new();
    for a in &message.attachments {
        let found = match a.kind.as_str() {
            "photo" => a.photo.as_ref().and_then(|p| {
                p.sizes
                    .iter()
                    .max_by_key(|s| s.width * s.height)
                    .map(|s| (AttachmentKind::Image, s.url.clone(), None, None))
            }),
            "doc" => a.doc.as_ref().and_then(|d| {
                d.url
                    .clone()
                    .map(|url| (AttachmentKind::File, url, d.title.clone(), d.size))
            }),
            "audio_message" => a
                .audio_message
                .as_ref()
                .and_then(|m| m.link_ogg.clone())
                .map(|url| (AttachmentKind::Voice, url, None, None)),
            _ => None,
        };
        if let Some((kind, url, file_name, size)) = found {
            fetch.push(Outbound::FetchMedia {
                file_id: url.clone(),
                index: content.attachments.len(),
            });
            content.attachments.push(Stored {
                kind,
                file_name,
                mime_type: None,
                size,
                sha256: None,
                external_id: Some(url),
            });
        }
    }
    (content, fetch)
}

/// Verifies and decodes one Callback API request for `group_id`.
pub fn parse(
    secret: &str,
    group_id: i64,
    confirmation: Option<&str>,
    request: &WebhookRequest<'_>,
) -> Result<Parsed, InboundError> {
    let event: Event = serde_json::from_slice(request.body).map_err(malformed)?;
    if event.group_id != Some(group_id) {
        return Err(InboundError::BadSignature(
            "the event is for another community".into(),
        ));
    }
    if event.kind == "confirmation" {
        let code = confirmation
            .ok_or_else(|| malformed("no confirmation string is known for this community"))?;
        return Ok(Parsed {
            events: Vec::new(),
            reply: Some(code.to_string()),
        });
    }
    let presented = event.secret.as_deref().unwrap_or_default();
    if !secrets_match(presented, secret) {
        return Err(InboundError::BadSignature(
            "the secret key does not match".into(),
        ));
    }
    Ok(Parsed {
        events: vec![map(event)?],
        reply: None,
    })
}

/// Maps one event (from the Callback API or Bots Long Poll) to a neutral one.
pub fn map(event: Event) -> Result<InboundEvent, InboundError> {
    let id = event
        .event_id
        .clone()
        .ok_or_else(|| malformed("no event_id"))?;
    let mut follow_ups = Vec::new();
    let kind = match event.kind.as_str() {
        "message_new" => {
            let new: MessageNew = serde_json::from_value(event.object).map_err(malformed)?;
            let (content, fetch) = content(&new.message);
            follow_ups = fetch;
            // Group chats (peer ids from 2,000,000,000) are answered in the chat, whoever
            // wrote: the peer is the contact.
            InboundKind::Message {
                contact: ContactRef {
                    client: new.client_info.as_ref().map(abilities),
                    ..contact(new.message.peer_id)
                },
                external_message_id: new.message.id.map_or_else(|| id.clone(), |m| m.to_string()),
                content,
            }
        }
        "message_event" => {
            let press: MessageEvent = serde_json::from_value(event.object).map_err(malformed)?;
            let callback = serde_json::json!({"event_id": press.event_id, "user_id": press.user_id,
                "peer_id": press.peer_id});
            follow_ups.push(Outbound::AcknowledgeChoice {
                callback_id: callback.to_string(),
            });
            InboundKind::ChoicePressed {
                contact: contact(press.peer_id),
                external_message_id: None,
                content: Content {
                    pressed: pressed(&press.payload),
                    ..Content::default()
                },
            }
        }
        "message_allow" | "message_deny" => {
            let user: UserEvent = serde_json::from_value(event.object).map_err(malformed)?;
            InboundKind::Reachability {
                contact: contact(user.user_id),
                reachable: event.kind == "message_allow",
            }
        }
        other => InboundKind::Ignored {
            reason: format!("VK event {other}"),
        },
    };
    Ok(InboundEvent {
        external_event_id: id,
        kind,
        follow_ups,
    })
}
