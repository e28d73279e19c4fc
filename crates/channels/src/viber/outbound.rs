//! Sending through `send_message`: text split at Viber's 7,000 characters, the menu as
//! Viber's keyboard on the last piece (a press comes back as the button's text), media by
//! URL (stored files as links that expire). Viber has no idempotency key: a send whose answer was lost is reported unknown.

use serde_json::{json, Value};
use switchboard_core::{
    capabilities::{Capabilities, TextUnit},
    message::{AttachmentKind, Choice},
    text::{fitting_prefix, split},
};

use super::{api::SentMessage, call};
use crate::{
    connector::{ApiContext, SendError, Sent},
    event::{Outbound, OutboundMessage},
};

/// Viber's keyboard: a grid six columns wide; one button per row, `per_row` when wider.
/// The button's text is what comes back when it is pressed.
pub fn keyboard(choices: &[Choice], per_row: usize) -> Value {
    let columns = (6 / per_row.clamp(1, 6)).max(1);
    let buttons: Vec<Value> = choices
        .iter()
        .map(|c| {
            json!({"Columns": columns, "Rows": 1, "ActionType": "reply", "ActionBody": c.label,
                "Text": c.label, "TextSize": "regular"})
        })
        .collect();
    json!({"Type": "keyboard", "DefaultHeight": false, "Buttons": buttons})
}

/// The most a `send_message` request may weigh (Viber's documented 30 KB of JSON).
const MAX_REQUEST_BYTES: usize = 30 * 1024;
/// The bytes of text one request carries at most, leaving room for the keyboard, the
/// sender and JSON's escapes.
const TEXT_BYTES: usize = 20 * 1024;

/// The sender shown with each message: Viber requires a name of at most 28 characters.
fn sender(name: &str) -> Value {
    let end = fitting_prefix(name, 28, TextUnit::Chars);
    let name = &name[..end];
    json!({"name": name})
}

async fn send_message(
    api: &ApiContext,
    token: &str,
    name: &str,
    message: &OutboundMessage,
    caps: &Capabilities,
) -> Result<Sent, SendError> {
    let mut bodies: Vec<Value> = if message.text.trim().is_empty() {
        Vec::new()
    } else {
        // 7,000 characters, and a request of at most 30 KB: a piece of wide characters
        // (emoji are 4 bytes) is cut again by its bytes.
        split(&message.text, caps.max_text, caps.text_unit)
            .into_iter()
            .flat_map(|piece| split(&piece, TEXT_BYTES, TextUnit::Bytes))
            .map(|piece| json!({"type": "text", "text": piece}))
            .collect()
    };
    // Viber fetches media by URL: stored files go as links that expire (made by the
    // delivery worker), with the size Viber asks for.
    for file in &message.files {
        let url = file.url.clone().ok_or_else(|| {
            SendError::Permanent("Viber fetches files by URL and this file has none".into())
        })?;
        let size = file.data.as_ref().map_or(0, Vec::len);
        let name = file.file_name.clone().unwrap_or_else(|| "file".into());
        bodies.push(match file.kind {
            AttachmentKind::Image => json!({"type": "picture", "text": "", "media": url}),
            AttachmentKind::Video => json!({"type": "video", "media": url, "size": size}),
            _ => json!({"type": "file", "media": url, "size": size, "file_name": name}),
        });
    }
    for link in &message.links {
        bodies.push(match link.kind {
            AttachmentKind::Image => json!({"type": "picture", "text": "", "media": link.url}),
            _ => json!({"type": "url", "media": link.url}),
        });
    }
    if bodies.is_empty() {
        bodies.push(json!({"type": "text", "text": "…"}));
    }
    if !message.choices.is_empty() {
        let per_row = caps.buttons.as_ref().map_or(1, |b| b.max_per_row);
        if let Some(last) = bodies.last_mut() {
            last["keyboard"] = keyboard(&message.choices, per_row);
        }
    }
    let total = bodies.len();
    let mut sent = Sent::default();
    for mut body in bodies {
        body["receiver"] = message.chat_id.clone().into();
        body["sender"] = sender(name);
        // Keyboards need clients of API version 3 and later.
        body["min_api_version"] = 3.into();
        let size = serde_json::to_vec(&body).map_or(0, |b| b.len());
        if size > MAX_REQUEST_BYTES {
            // Only a keyboard of very long labels gets here; Viber would refuse it.
            return Err(SendError::Permanent(format!(
                "the message would be {size} bytes, over Viber's 30 KB"
            )));
        }
        let result = call::<SentMessage>(api, token, "send_message", &body).await;
        sent.record_part(
            result.map(|m| m.message_token.map(|t| t.to_string()).unwrap_or_default()),
            total,
        )?;
    }
    Ok(sent)
}

/// The welcome message answering a `conversation_started` callback: the same body as a
/// `send_message` without the receiver. Viber shows it to a customer who has not subscribed,
/// to whom `send_message` is refused. `None` when it would not fit one request.
pub fn welcome(sender_name: &str, message: &OutboundMessage, caps: &Capabilities) -> Option<Value> {
    if !message.files.is_empty()
        || !message.links.is_empty()
        || caps.text_unit.len(&message.text) > caps.max_text
    {
        return None;
    }
    let text = if message.text.trim().is_empty() {
        "…"
    } else {
        &message.text
    };
    let mut body = json!({"sender": sender(sender_name), "type": "text", "text": text,
        "min_api_version": 3});
    if !message.choices.is_empty() {
        let per_row = caps.buttons.as_ref().map_or(1, |b| b.max_per_row);
        body["keyboard"] = keyboard(&message.choices, per_row);
    }
    let size = serde_json::to_vec(&body).map_or(usize::MAX, |b| b.len());
    (size <= MAX_REQUEST_BYTES).then_some(body)
}

pub async fn send(
    api: &ApiContext,
    token: &str,
    name: &str,
    outbound: &Outbound,
    caps: &Capabilities,
) -> Result<Sent, SendError> {
    match outbound {
        Outbound::Message(message) => send_message(api, token, name, message, caps).await,
        Outbound::FetchMedia { file_id, .. } => crate::http::fetch_url(api, file_id).await,
        // Viber has no button acknowledgement, and its keyboard is replaced by the next
        // message rather than removed.
        Outbound::AcknowledgeChoice { .. } | Outbound::ClearChoices { .. } => Ok(Sent::default()),
    }
}
