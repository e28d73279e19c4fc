//! Sending through the Bot API: long texts split at 4096 UTF-16 units, choices as an inline
//! keyboard on the last piece, button presses acknowledged and their menus removed.

use serde_json::{json, Value};
use switchboard_core::message::Choice;

use super::{api::SentMessage, call};
use crate::{
    capabilities::Capabilities,
    connector::{ApiContext, SendError, Sent},
    event::{Outbound, OutboundMessage},
    text::split,
};

/// An inline keyboard, one choice per row. A payload longer than Telegram's 64-byte
/// `callback_data` travels as its position (`#2`), which the press carries back.
pub fn inline_keyboard(choices: &[Choice], max_payload_bytes: usize) -> Value {
    let rows: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, choice)| {
            let data = if choice.payload.len() <= max_payload_bytes {
                choice.payload.clone()
            } else {
                format!("#{i}")
            };
            json!([{"text": choice.label, "callback_data": data}])
        })
        .collect();
    json!({"inline_keyboard": rows})
}

async fn send_message(
    api: &ApiContext,
    token: &str,
    message: &OutboundMessage,
    caps: &Capabilities,
) -> Result<Sent, SendError> {
    let pieces = split(&message.text, caps.max_text, caps.text_unit);
    let last = pieces.len() - 1;
    let mut sent = Sent::default();
    for (i, piece) in pieces.iter().enumerate() {
        let mut body = json!({"chat_id": message.chat_id, "text": piece});
        if i == last && !message.choices.is_empty() {
            let max_payload = caps.buttons.as_ref().map_or(64, |b| b.max_payload_bytes);
            body["reply_markup"] = inline_keyboard(&message.choices, max_payload);
        }
        match call::<SentMessage>(api, token, "sendMessage", &body).await {
            Ok(m) => sent.external_ids.push(m.message_id.to_string()),
            // Earlier pieces arrived: resending the whole message would repeat them.
            Err(e) if !sent.external_ids.is_empty() => {
                return Err(SendError::Unknown(format!(
                    "{} of {} pieces sent, then: {e}",
                    sent.external_ids.len(),
                    pieces.len()
                )))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

pub async fn send(
    api: &ApiContext,
    token: &str,
    outbound: &Outbound,
    caps: &Capabilities,
) -> Result<Sent, SendError> {
    match outbound {
        Outbound::Message(message) => send_message(api, token, message, caps).await,
        Outbound::AcknowledgeChoice { callback_id } => {
            call::<bool>(
                api,
                token,
                "answerCallbackQuery",
                &json!({"callback_query_id": callback_id}),
            )
            .await?;
            Ok(Sent::default())
        }
        Outbound::ClearChoices {
            chat_id,
            message_id,
        } => {
            let body = json!({"chat_id": chat_id, "message_id": message_id, "reply_markup": {"inline_keyboard": []}});
            call::<Value>(api, token, "editMessageReplyMarkup", &body).await?;
            Ok(Sent::default())
        }
    }
}
