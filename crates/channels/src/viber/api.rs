//! Viber REST Bot API wire types (https://developers.viber.com/docs/api/rest-bot-api/), only
//! the fields Switchboard reads. Message tokens are 64-bit integers: read as such, never as
//! floating point.

use serde::Deserialize;

/// Every answer carries a status: 0 is success.
#[derive(Debug, Deserialize)]
pub struct Status {
    pub status: i64,
    #[serde(default)]
    pub status_message: String,
}

#[derive(Debug, Deserialize)]
pub struct AccountInfo {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct SentMessage {
    pub message_token: Option<u64>,
}

/// A callback: one event per request.
#[derive(Debug, Deserialize)]
pub struct Callback {
    pub event: String,
    pub timestamp: Option<u64>,
    pub message_token: Option<u64>,
    /// `message` events.
    pub sender: Option<User>,
    pub message: Option<Message>,
    /// `subscribed` and `conversation_started`.
    pub user: Option<User>,
    /// `unsubscribed`, `delivered`, `seen`, `failed`.
    pub user_id: Option<String>,
    /// `failed`.
    pub desc: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub media: Option<String>,
    pub file_name: Option<String>,
    pub size: Option<u64>,
    pub contact: Option<SharedContact>,
    pub location: Option<Location>,
}

#[derive(Debug, Deserialize)]
pub struct SharedContact {
    pub name: Option<String>,
    pub phone_number: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}
