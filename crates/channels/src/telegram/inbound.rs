//! Telegram updates to channel-neutral events. Pure: the secret header is checked on the
//! request before the body is read.

use switchboard_core::message::{Attachment, AttachmentKind, Content};

use super::api::{Message, Update};
use crate::{
    connector::{InboundError, Parsed, WebhookRequest},
    event::{ContactRef, InboundEvent, InboundKind, Outbound},
    http::secrets_match,
};

pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

pub fn parse(secret: &str, request: &WebhookRequest<'_>) -> Result<Parsed, InboundError> {
    let presented = request.header(SECRET_HEADER).unwrap_or_default();
    if !secrets_match(presented, secret) {
        return Err(InboundError::BadSignature(format!(
            "{SECRET_HEADER} does not match"
        )));
    }
    let update: Update =
        serde_json::from_slice(request.body).map_err(|e| InboundError::Malformed(e.to_string()))?;
    Ok(Parsed {
        events: vec![event(update)],
        reply: None,
    })
}

fn contact_of(message: &Message) -> ContactRef {
    let name = match (&message.from, &message.chat.title) {
        (_, Some(title)) => title.clone(),
        (Some(user), None) => user.display_name(),
        (None, None) => {
            let first = message.chat.first_name.clone().unwrap_or_default();
            match &message.chat.last_name {
                Some(last) => format!("{first} {last}"),
                None => first,
            }
        }
    };
    ContactRef {
        external_id: message.chat.id.to_string(),
        name,
        client: None,
    }
}

fn attachment(
    kind: AttachmentKind,
    file_id: &str,
    name: Option<&String>,
    mime: Option<&String>,
    size: Option<u64>,
) -> Attachment {
    Attachment {
        kind,
        file_name: name.cloned(),
        mime_type: mime.cloned(),
        size,
        sha256: None,
        external_id: Some(file_id.to_string()),
    }
}

fn content_of(message: &Message) -> Content {
    let mut content = Content::text(
        message
            .text
            .clone()
            .or_else(|| message.caption.clone())
            .unwrap_or_default(),
    );
    if let Some(largest) = message.photo.as_ref().and_then(|sizes| sizes.last()) {
        content.attachments.push(attachment(
            AttachmentKind::Image,
            &largest.file_id,
            None,
            None,
            largest.file_size,
        ));
    }
    for (kind, file) in [
        (AttachmentKind::File, &message.document),
        (AttachmentKind::Voice, &message.voice),
        (AttachmentKind::Audio, &message.audio),
        (AttachmentKind::Video, &message.video),
        (AttachmentKind::Sticker, &message.sticker),
    ] {
        if let Some(f) = file {
            content.attachments.push(attachment(
                kind,
                &f.file_id,
                f.file_name.as_ref(),
                f.mime_type.as_ref(),
                f.file_size,
            ));
        }
    }
    if let Some(shared) = &message.contact {
        let name = match &shared.last_name {
            Some(last) => format!("{} {last}", shared.first_name),
            None => shared.first_name.clone(),
        };
        let line = format!("{name}: {}", shared.phone_number);
        content.text = if content.text.is_empty() {
            line
        } else {
            format!("{}\n{line}", content.text)
        };
    }
    content
}

pub fn event(update: Update) -> InboundEvent {
    let external_event_id = update.update_id.to_string();
    let mut follow_ups = Vec::new();
    let kind = if let Some(message) = update.edited_message {
        InboundKind::Edited {
            contact: contact_of(&message),
            external_message_id: message.message_id.to_string(),
            content: Content {
                edited: true,
                ..content_of(&message)
            },
        }
    } else if let Some(message) = update.message {
        let content = content_of(&message);
        for (index, attachment) in content.attachments.iter().enumerate() {
            if let Some(file_id) = &attachment.external_id {
                follow_ups.push(Outbound::FetchMedia {
                    file_id: file_id.clone(),
                    index,
                });
            }
        }
        InboundKind::Message {
            contact: contact_of(&message),
            external_message_id: message.message_id.to_string(),
            content,
        }
    } else if let Some(query) = update.callback_query {
        follow_ups.push(Outbound::AcknowledgeChoice {
            callback_id: query.id.clone(),
        });
        let data = query.data.clone().unwrap_or_default();
        match &query.message {
            Some(message) => {
                // The pressed menu comes with the update: its label is what the customer saw.
                // A message too old to be read comes without it: the payload is our own
                // code, never the customer's words, so the text stays empty and whoever
                // shows the press finds the label by the payload among the bot's menus.
                let label = message
                    .reply_markup
                    .iter()
                    .flat_map(|m| m.inline_keyboard.iter().flatten())
                    .find(|b| b.callback_data.as_deref() == Some(data.as_str()))
                    .map(|b| b.text.clone())
                    .unwrap_or_default();
                // A message too old to be read (date 0) cannot be edited either.
                if message.date != 0 {
                    follow_ups.push(Outbound::ClearChoices {
                        chat_id: message.chat.id.to_string(),
                        message_id: message.message_id.to_string(),
                    });
                }
                InboundKind::ChoicePressed {
                    contact: contact_of(message),
                    external_message_id: Some(message.message_id.to_string()),
                    content: Content {
                        pressed: Some(data),
                        ..Content::text(label)
                    },
                }
            }
            None => InboundKind::ChoicePressed {
                contact: ContactRef {
                    external_id: query.from.id.to_string(),
                    name: query.from.display_name(),
                    client: None,
                },
                external_message_id: None,
                content: Content {
                    pressed: Some(data),
                    ..Content::default()
                },
            },
        }
    } else if let Some(member) = update.my_chat_member {
        let reachable = !matches!(member.new_chat_member.status.as_str(), "kicked" | "left");
        InboundKind::Reachability {
            contact: ContactRef {
                external_id: member.chat.id.to_string(),
                name: member.from.display_name(),
                client: None,
            },
            reachable,
        }
    } else {
        InboundKind::Ignored {
            reason: "an update kind Switchboard does not handle".into(),
        }
    };
    InboundEvent {
        external_event_id,
        kind,
        follow_ups,
    }
}
