//! Sending through the Bot API: long texts split at 4096 UTF-16 units, choices as an inline
//! keyboard on the last piece, button presses acknowledged and their menus removed.

use std::borrow::Cow;

use reqwest::multipart::{Form, Part};
use serde::Serialize;
use serde_json::{json, Value};
use switchboard_core::message::{AttachmentKind, Choice};

use super::{
    api::{FileInfo, SentMessage},
    call, call_form, DEFAULT_API,
};
use crate::{
    capabilities::Capabilities,
    connector::{ApiContext, SendError, Sent, MAX_MEDIA_BYTES},
    event::{Keyboard, Outbound, OutboundFile, OutboundMessage},
    text::split,
};

/// A message's keyboard (`reply_markup`) as the Bot API takes it. Typed rather than built
/// as a JSON tree: building, copying and writing out trees was a sixth of the delivery
/// worker's instructions (docs/performance-history.md, ninth round).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Markup<'a> {
    Inline {
        inline_keyboard: Vec<[InlineButton<'a>; 1]>,
    },
    Reply {
        keyboard: Vec<[ReplyButton<'a>; 1]>,
        one_time_keyboard: bool,
        resize_keyboard: bool,
    },
}

#[derive(Debug, Serialize)]
struct InlineButton<'a> {
    text: &'a str,
    callback_data: Cow<'a, str>,
}

#[derive(Debug, Serialize)]
struct ReplyButton<'a> {
    text: &'a str,
}

/// A keyboard written as JSON, for the bodies that are not [`TextBody`] (a form field, a
/// body whose media field is named by its kind).
fn keyboard_json<T>(written: serde_json::Result<T>) -> Result<T, SendError> {
    written.map_err(|e| SendError::Permanent(format!("cannot write the keyboard: {e}")))
}

/// sendMessage's body.
#[derive(Serialize)]
struct TextBody<'a> {
    chat_id: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_markup: Option<&'a Markup<'a>>,
}

/// An inline keyboard, one choice per row. A payload longer than Telegram's 64-byte
/// `callback_data` travels as its position (`#2`), which the press carries back.
fn inline_keyboard(choices: &[Choice], max_payload_bytes: usize) -> Markup<'_> {
    let rows = choices
        .iter()
        .enumerate()
        .map(|(i, choice)| {
            let callback_data = if choice.payload.len() <= max_payload_bytes {
                Cow::Borrowed(choice.payload.as_str())
            } else {
                Cow::Owned(format!("#{i}"))
            };
            [InlineButton {
                text: &choice.label,
                callback_data,
            }]
        })
        .collect();
    Markup::Inline {
        inline_keyboard: rows,
    }
}

/// A reply keyboard, one choice per row; a press comes back as the label typed as text.
fn reply_keyboard(choices: &[Choice], one_time: bool) -> Markup<'_> {
    Markup::Reply {
        keyboard: choices
            .iter()
            .map(|c| [ReplyButton { text: &c.label }])
            .collect(),
        one_time_keyboard: one_time,
        resize_keyboard: true,
    }
}

/// The Bot API method and form field for sending a file of this kind.
fn file_method(kind: AttachmentKind) -> (&'static str, &'static str) {
    match kind {
        AttachmentKind::Image => ("sendPhoto", "photo"),
        AttachmentKind::Video => ("sendVideo", "video"),
        AttachmentKind::Audio => ("sendAudio", "audio"),
        AttachmentKind::Voice => ("sendVoice", "voice"),
        AttachmentKind::File | AttachmentKind::Sticker => ("sendDocument", "document"),
    }
}

async fn send_file(
    api: &ApiContext,
    token: &str,
    chat_id: &str,
    file: &OutboundFile,
    markup: Option<&Markup<'_>>,
) -> Result<SentMessage, SendError> {
    let data = file
        .data
        .clone()
        .ok_or_else(|| SendError::Permanent("the file's bytes were not loaded".into()))?;
    let (method, field) = file_method(file.kind);
    let mut part =
        Part::bytes(data).file_name(file.file_name.clone().unwrap_or_else(|| "file".into()));
    if let Some(mime) = &file.mime_type {
        part = part
            .mime_str(mime)
            .map_err(|e| SendError::Permanent(format!("bad MIME type: {e}")))?;
    }
    let mut form = Form::new()
        .text("chat_id", chat_id.to_string())
        .part(field, part);
    if let Some(markup) = markup {
        form = form.text(
            "reply_markup",
            keyboard_json(serde_json::to_string(markup))?,
        );
    }
    call_form(api, token, method, form).await
}

/// Text pieces first, then files; the choices ride on the last thing sent. Once something
/// was delivered, a later failure is reported as unknown: resending all would repeat it.
async fn send_message(
    api: &ApiContext,
    token: &str,
    message: &OutboundMessage,
    caps: &Capabilities,
) -> Result<Sent, SendError> {
    let mut pieces = if message.text.trim().is_empty() {
        Vec::new()
    } else {
        split(&message.text, caps.max_text, caps.text_unit)
    };
    if pieces.is_empty() && message.files.is_empty() {
        // Telegram sends no empty text; a menu alone still needs a line to hang on.
        pieces.push("…".into());
    }
    let max_payload = caps.buttons.as_ref().map_or(64, |b| b.max_payload_bytes);
    let markup = (!message.choices.is_empty()).then(|| match message.keyboard {
        Keyboard::Inline | Keyboard::List => inline_keyboard(&message.choices, max_payload),
        Keyboard::Reply | Keyboard::ReplyOnce => {
            reply_keyboard(&message.choices, message.keyboard == Keyboard::ReplyOnce)
        }
    });
    let total = pieces.len() + message.files.len() + message.links.len();
    let mut sent = Sent::default();
    let mut position = 0;
    for piece in &pieces {
        position += 1;
        let body = TextBody {
            chat_id: &message.chat_id,
            text: piece,
            reply_markup: markup.as_ref().filter(|_| position == total),
        };
        let result = call::<SentMessage, _>(api, token, "sendMessage", &body).await;
        sent.record_part(result.map(|m| m.message_id.to_string()), total)?;
    }
    for file in &message.files {
        position += 1;
        let markup = markup.as_ref().filter(|_| position == total);
        let result = send_file(api, token, &message.chat_id, file, markup).await;
        sent.record_part(result.map(|m| m.message_id.to_string()), total)?;
    }
    for link in &message.links {
        position += 1;
        // The Bot API fetches a file given by URL itself.
        let (method, field) = file_method(link.kind);
        let mut body = json!({"chat_id": message.chat_id, field: link.url});
        if let (true, Some(markup)) = (position == total, &markup) {
            body["reply_markup"] = keyboard_json(serde_json::to_value(markup))?;
        }
        let result = call::<SentMessage, _>(api, token, method, &body).await;
        sent.record_part(result.map(|m| m.message_id.to_string()), total)?;
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
    crate::http::fetch_url(api, &url).await
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
            call::<bool, _>(
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
            // The Bot API's message_id is an Integer: the stored id is text, sent as a number.
            let Ok(message_id) = message_id.parse::<i64>() else {
                return Err(SendError::Permanent(format!(
                    "not a Telegram message id: {message_id:?}"
                )));
            };
            let body = json!({"chat_id": chat_id, "message_id": message_id, "reply_markup": {"inline_keyboard": []}});
            call::<Value, _>(api, token, "editMessageReplyMarkup", &body).await?;
            Ok(Sent::default())
        }
    }
}
