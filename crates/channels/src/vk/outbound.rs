//! Sending through `messages.send`: text split at 9,000 characters, the menu as a VK
//! keyboard on the last piece (inline, laid out like the renderer's rows), each piece with
//! its own `random_id` derived from the outbox row, so a resend of the row is dropped by VK.
//! Photos and documents go through VK's upload servers and ride on the last piece.
//! A callback button's press is answered with `messages.sendMessageEventAnswer`.

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use switchboard_core::{
    capabilities::Capabilities,
    message::{AttachmentKind, Choice},
    text::split,
};

use super::call;
use crate::{
    connector::{ApiContext, SendError, Sent},
    event::{Keyboard, Outbound, OutboundFile, OutboundMessage},
};

/// A VK keyboard of text buttons; a press arrives as a message with the label as text and
/// our payload `{"p": ...}`.
pub fn keyboard(choices: &[Choice], per_row: usize, kind: Keyboard) -> Value {
    let rows: Vec<Value> = choices
        .chunks(per_row.max(1))
        .map(|row| {
            row.iter()
                .map(|c| {
                    json!({"action": {"type": "text", "label": c.label,
                        "payload": json!({"p": c.payload}).to_string()}, "color": "secondary"})
                })
                .collect()
        })
        .collect();
    match kind {
        Keyboard::Inline | Keyboard::List => json!({"inline": true, "buttons": rows}),
        Keyboard::ReplyOnce => json!({"one_time": true, "buttons": rows}),
        Keyboard::Reply => json!({"one_time": false, "buttons": rows}),
    }
}

/// The `random_id` of piece `piece` of the row `key`: positive int32, distinct per row and
/// piece, the same on every retry.
pub fn random_id(key: Option<u64>, piece: usize) -> i64 {
    match key {
        Some(key) => ((key.wrapping_mul(16).wrapping_add(piece as u64)) % 2_147_483_646 + 1) as i64,
        // Without a row (never in delivery), a fresh one: VK needs some value.
        None => i64::from(rand_u31()),
    }
}

fn rand_u31() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1);
    nanos % 2_147_483_647 + 1
}

/// Uploads a file through VK's upload server for this peer and returns the attachment
/// reference for `messages.send` (`photo{owner}_{id}_{key}` or `doc{owner}_{id}`). A retry
/// uploads again; the send's `random_id` still keeps the message single.
async fn upload(
    api: &ApiContext,
    token: &str,
    peer: &str,
    file: &OutboundFile,
) -> Result<String, SendError> {
    let data = file
        .data
        .clone()
        .ok_or_else(|| SendError::Permanent("the file's bytes were not loaded".into()))?;
    let name = file.file_name.clone().unwrap_or_else(|| "file".into());
    let photo = file.kind == AttachmentKind::Image;
    let server: Value = if photo {
        call(
            api,
            token,
            "photos.getMessagesUploadServer",
            &[("peer_id", peer.to_string())],
        )
        .await?
    } else {
        call(
            api,
            token,
            "docs.getMessagesUploadServer",
            &[("type", "doc".to_string()), ("peer_id", peer.to_string())],
        )
        .await?
    };
    let url = server["upload_url"]
        .as_str()
        .ok_or_else(|| SendError::Transient("no upload_url in VK's answer".into()))?;
    let mut part = Part::bytes(data).file_name(name.clone());
    if let Some(mime) = &file.mime_type {
        part = part
            .mime_str(mime)
            .map_err(|e| SendError::Permanent(format!("bad MIME type: {e}")))?;
    }
    let form = Form::new().part(if photo { "photo" } else { "file" }, part);
    let uploaded: Value = api
        .http
        .post(url)
        .multipart(form)
        .send()
        .await
        .map_err(|e| SendError::Transient(e.to_string()))?
        .json()
        .await
        .map_err(|e| SendError::Transient(format!("unreadable upload answer: {e}")))?;
    if photo {
        let saved: Value = call(
            api,
            token,
            "photos.saveMessagesPhoto",
            &[
                ("server", uploaded["server"].to_string()),
                (
                    "photo",
                    uploaded["photo"].as_str().unwrap_or_default().to_string(),
                ),
                (
                    "hash",
                    uploaded["hash"].as_str().unwrap_or_default().to_string(),
                ),
            ],
        )
        .await?;
        let p = &saved[0];
        let mut reference = format!("photo{}_{}", p["owner_id"], p["id"]);
        if let Some(key) = p["access_key"].as_str() {
            reference.push('_');
            reference.push_str(key);
        }
        Ok(reference)
    } else {
        let saved: Value = call(
            api,
            token,
            "docs.save",
            &[
                (
                    "file",
                    uploaded["file"].as_str().unwrap_or_default().to_string(),
                ),
                ("title", name),
            ],
        )
        .await?;
        let d = &saved["doc"];
        Ok(format!("doc{}_{}", d["owner_id"], d["id"]))
    }
}

async fn send_message(
    api: &ApiContext,
    token: &str,
    message: &OutboundMessage,
    caps: &Capabilities,
) -> Result<Sent, SendError> {
    let mut attachments = Vec::new();
    for file in &message.files {
        attachments.push(upload(api, token, &message.chat_id, file).await?);
    }
    let mut pieces = if message.text.trim().is_empty() {
        Vec::new()
    } else {
        split(&message.text, caps.max_text, caps.text_unit)
    };
    // Media by URL: VK has no send-by-URL, so the link goes with the text.
    for link in &message.links {
        pieces.push(link.url.clone());
    }
    if pieces.is_empty() {
        pieces.push("…".into());
    }
    let markup = (!message.choices.is_empty()).then(|| {
        let per_row = caps
            .buttons
            .as_ref()
            .map_or(1, |b| b.per_row(message.choices.len()));
        keyboard(&message.choices, per_row, message.keyboard).to_string()
    });
    let total = pieces.len();
    let mut sent = Sent::default();
    for (i, piece) in pieces.iter().enumerate() {
        let mut params = vec![
            ("peer_id", message.chat_id.clone()),
            ("random_id", random_id(api.send_key, i).to_string()),
            ("message", piece.clone()),
        ];
        if i + 1 == total {
            if let Some(markup) = &markup {
                params.push(("keyboard", markup.clone()));
            }
            if !attachments.is_empty() {
                params.push(("attachment", attachments.join(",")));
            }
        }
        let result = call::<Value>(api, token, "messages.send", &params).await;
        sent.record_part(result.map(|id| id.to_string()), total)?;
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
            let press: Value = serde_json::from_str(callback_id)
                .map_err(|e| SendError::Permanent(format!("a bad press reference: {e}")))?;
            let params = [
                (
                    "event_id",
                    press["event_id"].as_str().unwrap_or_default().to_string(),
                ),
                ("user_id", press["user_id"].to_string()),
                ("peer_id", press["peer_id"].to_string()),
            ];
            call::<Value>(api, token, "messages.sendMessageEventAnswer", &params).await?;
            Ok(Sent::default())
        }
        Outbound::FetchMedia { file_id, .. } => crate::http::fetch_url(api, file_id).await,
        // Text-button keyboards are not kept on old messages by VK's clients once a new
        // keyboard arrives; nothing to remove.
        Outbound::ClearChoices { .. } => Ok(Sent::default()),
    }
}
