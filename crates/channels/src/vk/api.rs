//! VK API wire types (version 5.199; https://dev.vk.com/ru/reference), only the fields
//! Switchboard reads. Every answer is HTTP 200 with `response` or `error`.

use serde::Deserialize;
use serde_json::Value;

pub const VERSION: &str = "5.199";

#[derive(Debug, Deserialize)]
pub struct Answer {
    pub response: Option<Value>,
    pub error: Option<ApiError>,
}

#[derive(Debug, Deserialize)]
pub struct ApiError {
    pub error_code: i64,
    #[serde(default)]
    pub error_msg: String,
}

#[derive(Debug, Deserialize)]
pub struct Groups {
    pub groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub can_message: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct CallbackServers {
    pub items: Vec<CallbackServer>,
}

#[derive(Debug, Deserialize)]
pub struct CallbackServer {
    pub id: i64,
    pub url: String,
}

/// A Callback API request: one event.
#[derive(Debug, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub group_id: Option<i64>,
    pub event_id: Option<String>,
    pub secret: Option<String>,
    #[serde(default)]
    pub object: Value,
}

#[derive(Debug, Deserialize)]
pub struct MessageNew {
    pub message: Message,
    pub client_info: Option<ClientInfo>,
}

/// What the writer's app can show.
#[derive(Debug, Deserialize)]
pub struct ClientInfo {
    /// The button kinds the app supports (`text`, `callback`, `open_link`, ...); absent in
    /// old payloads, taken as "text buttons work".
    pub button_actions: Option<Vec<String>>,
    #[serde(default)]
    pub keyboard: bool,
    #[serde(default)]
    pub inline_keyboard: bool,
}

/// One user of `users.get`.
#[derive(Debug, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    /// `deleted` or `banned`: the names are placeholders.
    pub deactivated: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub id: Option<i64>,
    pub peer_id: i64,
    #[serde(default)]
    pub text: String,
    /// A text button's payload: a JSON string.
    pub payload: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Deserialize)]
pub struct Attachment {
    #[serde(rename = "type")]
    pub kind: String,
    pub photo: Option<Photo>,
    pub doc: Option<Doc>,
    pub audio_message: Option<AudioMessage>,
}

#[derive(Debug, Deserialize)]
pub struct Photo {
    #[serde(default)]
    pub sizes: Vec<PhotoSize>,
}

#[derive(Debug, Deserialize)]
pub struct PhotoSize {
    pub url: String,
    #[serde(default)]
    pub width: i64,
    #[serde(default)]
    pub height: i64,
}

#[derive(Debug, Deserialize)]
pub struct Doc {
    pub title: Option<String>,
    pub size: Option<u64>,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AudioMessage {
    pub link_ogg: Option<String>,
}

/// A callback button's press.
#[derive(Debug, Deserialize)]
pub struct MessageEvent {
    pub user_id: i64,
    pub peer_id: i64,
    pub event_id: String,
    #[serde(default)]
    pub payload: Value,
}

#[derive(Debug, Deserialize)]
pub struct UserEvent {
    pub user_id: i64,
}

/// Where Bots Long Poll is asked, and from which point.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct LongPollServer {
    pub key: String,
    pub server: String,
    #[serde(deserialize_with = "text")]
    pub ts: String,
}

/// VK gives `ts` as a number or as text.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// One Bots Long Poll answer.
#[derive(Debug, Deserialize)]
pub struct LongPollAnswer {
    pub failed: Option<i64>,
    pub ts: Option<Value>,
    #[serde(default)]
    pub updates: Vec<Value>,
}
