//! Sending through the Bot API: long texts split at 4096 UTF-16 units, choices as an inline
//! keyboard on the last piece, button presses acknowledged and their menus removed.

use serde_json::{json, Value};
use switchboard_core::message::Choice;

use super::{
    api::{FileInfo, SentMessage},
    call, DEFAULT_API,
};
use crate::{
    capabilities::Capabilities,
    connector::{ApiContext, SendError, Sent, MAX_MEDIA_BYTES},
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

/// getFile, then the download from `/file/bot<token>/<file_path>`, refusing files over the
/// Bot API's 20 MB download limit.
async fn fetch(api: &ApiContext, token: &str, file_id: &str) -> Result<Sent, SendError> {
    let info: FileInfo = call(api, token, "getFile", &json!({"file_id": file_id})).await?;
    if info
        .file_size
        .is_some_and(|size| size > MAX_MEDIA_BYTES as u64)
    {
        return Err(SendError::Permanent(
            "the file is larger than the 20 MB the Bot API lets bots download".into(),
        ));
    }
    let path = info
        .file_path
        .ok_or_else(|| SendError::Permanent("Telegram gave no file path".into()))?;
    let url = format!("{}/file/bot{token}/{path}", api.base(DEFAULT_API));
    let mut response = api
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| crate::http::transport_error(&e))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(SendError::Transient(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(SendError::Permanent(format!("HTTP {status}")));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| SendError::Transient(e.to_string()))?
    {
        if bytes.len() + chunk.len() > MAX_MEDIA_BYTES {
            return Err(SendError::Permanent("the file is larger than 20 MB".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Sent {
        media: Some(bytes),
        ..Sent::default()
    })
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
        // A download changes nothing at Telegram: an unanswered one is simply tried again.
        Outbound::FetchMedia { file_id, .. } => {
            fetch(api, token, file_id).await.map_err(|e| match e {
                SendError::Unknown(reason) => SendError::Transient(reason),
                other => other,
            })
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
