//! Viber callbacks: the signature is checked on the raw bytes before anything is parsed
//! (`X-Viber-Content-Signature`: hex HMAC-SHA256 of the body, keyed with the bot's token),
//! then each event is mapped to a channel-neutral one. Deduplication is on the event kind
//! and its `message_token` (a `delivered` and a `seen` of one message share the token).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchboard_core::message::{Attachment, AttachmentKind, Content};

use super::api::{Callback, Message};
use crate::{
    connector::{InboundError, Parsed, WebhookRequest},
    event::{ContactRef, DeliveryReport, InboundEvent, InboundKind, Outbound},
};

pub const SIGNATURE_HEADER: &str = "X-Viber-Content-Signature";

/// Checks the body's signature with the bot's token, in constant time.
fn verify(token: &str, request: &WebhookRequest<'_>) -> Result<(), InboundError> {
    let presented = request
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| InboundError::BadSignature(format!("no {SIGNATURE_HEADER} header")))?;
    let bytes = decode_hex(presented.trim())
        .ok_or_else(|| InboundError::BadSignature("the signature is not hex".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes())
        .map_err(|_| InboundError::BadSignature("no token to check against".into()))?;
    mac.update(request.body);
    mac.verify_slice(&bytes)
        .map_err(|_| InboundError::BadSignature("the signature does not match".into()))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn attachment(kind: AttachmentKind, m: &Message) -> Attachment {
    Attachment {
        kind,
        file_name: m.file_name.clone(),
        mime_type: None,
        size: m.size,
        sha256: None,
        external_id: m.media.clone(),
    }
}

/// A customer's message as neutral content, and the downloads it needs.
fn content(m: &Message) -> (Content, Vec<Outbound>) {
    let mut content = Content::text(m.text.clone().unwrap_or_default());
    let kind = match m.kind.as_str() {
        "picture" => Some(AttachmentKind::Image),
        "video" => Some(AttachmentKind::Video),
        "file" => Some(AttachmentKind::File),
        "sticker" => Some(AttachmentKind::Sticker),
        _ => None,
    };
    match m.kind.as_str() {
        "contact" => {
            if let Some(c) = &m.contact {
                let parts: Vec<&str> = [c.name.as_deref(), c.phone_number.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                content.text = parts.join(" ");
            }
        }
        "location" => {
            if let Some(l) = &m.location {
                content.text = format!("{}, {}", l.lat, l.lon);
            }
        }
        "url" if content.text.is_empty() => {
            content.text = m.media.clone().unwrap_or_default();
        }
        _ => {}
    }
    let mut follow_ups = Vec::new();
    if let (Some(kind), Some(url)) = (kind, &m.media) {
        content.attachments.push(attachment(kind, m));
        // Viber's media links expire: keep our own copy.
        if kind != AttachmentKind::Sticker {
            follow_ups.push(Outbound::FetchMedia {
                file_id: url.clone(),
                index: 0,
            });
        }
    }
    (content, follow_ups)
}

/// Maps one callback to a neutral event.
pub fn event(callback: Callback) -> Result<InboundEvent, InboundError> {
    let token = callback
        .message_token
        .map(|t| t.to_string())
        .or_else(|| callback.timestamp.map(|t| format!("t{t}")))
        .ok_or_else(|| InboundError::Malformed("no message_token".into()))?;
    let id = format!("{}:{token}", callback.event);
    let user_id = |c: &Callback| {
        c.user_id
            .clone()
            .or_else(|| c.user.as_ref().map(|u| u.id.clone()))
            .ok_or_else(|| InboundError::Malformed(format!("a {} event without a user", c.event)))
    };
    let mut follow_ups = Vec::new();
    let kind = match callback.event.as_str() {
        "message" => {
            let (sender, message) = match (&callback.sender, &callback.message) {
                (Some(s), Some(m)) => (s, m),
                _ => {
                    return Err(InboundError::Malformed(
                        "a message without sender or message".into(),
                    ))
                }
            };
            let (content, fetch) = content(message);
            follow_ups = fetch;
            InboundKind::Message {
                contact: ContactRef {
                    external_id: sender.id.clone(),
                    name: sender.name.clone(),
                    client: None,
                },
                external_message_id: token.clone(),
                content,
            }
        }
        "subscribed" | "unsubscribed" => InboundKind::Reachability {
            contact: ContactRef {
                external_id: user_id(&callback)?,
                name: callback
                    .user
                    .as_ref()
                    .map(|u| u.name.clone())
                    .unwrap_or_default(),
                client: None,
            },
            reachable: callback.event == "subscribed",
        },
        "conversation_started" => {
            let user = callback.user.as_ref().ok_or_else(|| {
                InboundError::Malformed("conversation_started without a user".into())
            })?;
            InboundKind::Started {
                contact: ContactRef {
                    external_id: user.id.clone(),
                    name: user.name.clone(),
                    client: None,
                },
            }
        }
        "delivered" | "seen" | "failed" => InboundKind::Delivery {
            external_message_id: token.clone(),
            status: match callback.event.as_str() {
                "delivered" => DeliveryReport::Delivered,
                "seen" => DeliveryReport::Read,
                _ => DeliveryReport::Failed(
                    callback
                        .desc
                        .clone()
                        .unwrap_or_else(|| "Viber could not deliver it".into()),
                ),
            },
        },
        // The check Viber makes when the webhook is set, and events we do not use.
        other => InboundKind::Ignored {
            reason: format!("Viber event {other}"),
        },
    };
    Ok(InboundEvent {
        external_event_id: id,
        kind,
        follow_ups,
    })
}

/// Verifies and decodes one callback.
pub fn parse(token: &str, request: &WebhookRequest<'_>) -> Result<Parsed, InboundError> {
    verify(token, request)?;
    let callback: Callback =
        serde_json::from_slice(request.body).map_err(|e| InboundError::Malformed(e.to_string()))?;
    Ok(Parsed {
        events: vec![event(callback)?],
        reply: None,
    })
}
