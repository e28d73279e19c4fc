//! Messages in a channel-neutral form: text, choices and attachments. A channel renderer
//! turns this into what one channel can show; the stored form never depends on a channel.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    ids::{ConversationId, MessageId, NoteId, OperatorId},
    string_enum,
};

string_enum! {
    /// Which way a message travelled.
    pub enum Direction {
        Inbound = "inbound",
        Outbound = "outbound",
    }
}

string_enum! {
    /// Who wrote a message.
    pub enum AuthorKind {
        Contact = "contact",
        Operator = "operator",
        Bot = "bot",
        System = "system",
    }
}

string_enum! {
    /// Where a message is on its way. Inbound messages are `received`; outbound ones move
    /// from `pending` to `sent` (the channel took it), `delivered` / `read` where the channel
    /// reports it, `failed` with a reason, or `unknown` when the request was written and no
    /// answer came (never blindly resent).
    pub enum DeliveryStatus {
        Received = "received",
        Pending = "pending",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Failed = "failed",
        Unknown = "unknown",
    }
}

string_enum! {
    /// What an attachment holds, so a renderer can pick the channel's matching method.
    pub enum AttachmentKind {
        Image = "image",
        Video = "video",
        Audio = "audio",
        Voice = "voice",
        File = "file",
        Sticker = "sticker",
    }
}

/// One option offered to the customer; `payload` is what comes back when it is chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub label: String,
    pub payload: String,
}

/// A file travelling with a message, stored content-addressed by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub kind: AttachmentKind,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub size: Option<u64>,
    /// Hex SHA-256 of the stored bytes, once stored.
    pub sha256: Option<String>,
    /// The channel's own reference to the file (Telegram `file_id`), to fetch it by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// The channel-neutral body of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Content {
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// For a customer's button press: the payload of the choice pressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressed: Option<String>,
    /// The customer changed the message after sending it; this is its latest wording.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
}

impl Content {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub direction: Direction,
    pub author_kind: AuthorKind,
    pub author_id: Option<OperatorId>,
    pub content: Content,
    /// The channel's id of the message, once known.
    pub external_id: Option<String>,
    pub delivery_status: DeliveryStatus,
    /// Why sending failed, shown to operators.
    pub failure_reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// An internal note: visible to operators, never sent to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Note {
    pub id: NoteId,
    pub conversation_id: ConversationId,
    pub author_id: OperatorId,
    pub text: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}
