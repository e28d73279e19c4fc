//! VK community messages, through the VK API (https://dev.vk.com/ru/api/bots/getting-started)
//! and the Callback API.
//!
//! Credentials: `{"token": "...", "group_id": 123}`, a community access token with the
//! `messages` and `manage` rights. Connecting checks the token with `groups.getById`, refuses
//! a community whose messages are switched off, and keeps the community's callback
//! confirmation string; registering adds (or updates) our callback server with the
//! generated secret key and subscribes it to the message events. Sends carry a `random_id`
//! derived from the outbox row, so VK itself drops a resend of the same row.

mod api;
#[cfg(feature = "testkit")]
pub mod fake;
mod inbound;
#[cfg(feature = "testkit")]
pub mod kit;
mod oauth;
mod outbound;
mod profile;

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::channel::ChannelKind;

pub use oauth::{VkOAuth, DEFAULT_OAUTH};
pub use outbound::keyboard;

use crate::{
    connector::{
        AccountInfo, ApiContext, ConnectError, Connector, HookKeys, InboundError, Parsed, Polled,
        SendError, Sent, WebhookRequest,
    },
    event::Outbound,
    form::{Field, Form, Input, Words},
};

pub const DEFAULT_API: &str = "https://api.vk.com";
const SERVER_TITLE: &str = "Switchboard";

/// The VK connector.
pub struct Vk;

#[derive(Deserialize)]
struct Credentials {
    token: String,
    #[serde(deserialize_with = "id")]
    group_id: i64,
    /// Kept on connect: what VK's `confirmation` request must be answered with.
    #[serde(default)]
    confirmation: Option<String>,
}

/// A group id given as a number or as text.
fn id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("not an integer")),
        Value::String(s) => {
            s.trim().trim_start_matches("club").parse().map_err(|_| {
                serde::de::Error::custom("a community id is a number such as 229876543")
            })
        }
        _ => Err(serde::de::Error::custom(
            "a community id is a number such as 229876543",
        )),
    }
}

fn credentials(value: &Value) -> Result<Credentials, ConnectError> {
    let credentials: Credentials = serde_json::from_value(value.clone()).map_err(|e| {
        let field = if e.to_string().contains("group_id") || e.to_string().contains("community") {
            "group_id"
        } else {
            "token"
        };
        ConnectError::InvalidCredentials {
            field: field.into(),
            message: e.to_string(),
        }
    })?;
    let t = &credentials.token;
    if t.is_empty()
        || t.len() > 512
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(ConnectError::InvalidCredentials {
            field: "token".into(),
            message: "a community access token from the community's settings (API usage)".into(),
        });
    }
    if credentials.group_id <= 0 {
        return Err(ConnectError::InvalidCredentials {
            field: "group_id".into(),
            message: "a community id is a positive number".into(),
        });
    }
    Ok(credentials)
}

/// Sorts a VK error code.
fn error(code: i64, message: String) -> SendError {
    match code {
        // No permission from the user, blacklisted, privacy settings.
        900..=902 => SendError::ContactUnreachable(message),
        // Too many requests per second, flood control, rate limit.
        6 => SendError::RetryAfter(Duration::from_secs(1)),
        9 | 29 => SendError::RetryAfter(Duration::from_secs(10)),
        1 | 10 => SendError::Transient(message),
        // Authorization failed, group authorization failed, access denied.
        5 | 27 | 15 => SendError::ConnectionBroken(message),
        _ => SendError::Permanent(message),
    }
}

/// Calls a VK method with form parameters; the token goes in the Authorization header.
pub(crate) async fn call<T: serde::de::DeserializeOwned>(
    api: &ApiContext,
    token: &str,
    method: &str,
    params: &[(&str, String)],
) -> Result<T, SendError> {
    let mut form: Vec<(&str, String)> = params.to_vec();
    form.push(("v", api::VERSION.to_string()));
    let response = api
        .http
        .post(crate::http::endpoint(
            api.base(DEFAULT_API),
            &["method", method],
        )?)
        .bearer_auth(token)
        .form(&form)
        .send()
        .await
        .map_err(|e| crate::http::transport_error(&e))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| SendError::Unknown(e.to_string()))?;
    if status.is_server_error() {
        return Err(SendError::Transient(format!("HTTP {status}")));
    }
    let answer: api::Answer = serde_json::from_slice(&bytes)
        .map_err(|e| SendError::Unknown(format!("unreadable answer: {e}")))?;
    if let Some(e) = answer.error {
        return Err(error(
            e.error_code,
            format!("{} (error {})", e.error_msg, e.error_code),
        ));
    }
    let response = answer
        .response
        .ok_or_else(|| SendError::Unknown("an answer without a response".into()))?;
    serde_json::from_value(response)
        .map_err(|e| SendError::Unknown(format!("unreadable answer: {e}")))
}

/// How long one long poll waits for events (the HTTP client waits 30 s).
const LONG_POLL_WAIT: u64 = 25;

/// A long poll server; on the first call also switches Bots Long Poll on with the events
/// Switchboard reads.
async fn long_poll_server(
    api: &ApiContext,
    c: &Credentials,
    enable: bool,
) -> Result<api::LongPollServer, SendError> {
    let group = ("group_id", c.group_id.to_string());
    if enable {
        let mut settings = vec![
            group.clone(),
            ("enabled", "1".to_string()),
            ("api_version", api::VERSION.to_string()),
        ];
        for event in EVENTS {
            settings.push((event, "1".to_string()));
        }
        call::<Value>(api, &c.token, "groups.setLongPollSettings", &settings).await?;
    }
    call(api, &c.token, "groups.getLongPollServer", &[group]).await
}

/// The events Switchboard subscribes to, by callback server or long poll.
const EVENTS: [&str; 4] = [
    "message_new",
    "message_event",
    "message_allow",
    "message_deny",
];

/// The most names kept; past it the cache starts over (a name is asked again at most once
/// per customer per process, and only when they write).
const NAMES_KEPT: usize = 100_000;

/// Customers' names by VK API address and user id: VK ids are global, so any community's
/// lookup serves the others; the address keeps two fakes (two tests) apart.
fn names() -> &'static Mutex<HashMap<(String, i64), String>> {
    static NAMES: OnceLock<Mutex<HashMap<(String, i64), String>>> = OnceLock::new();
    NAMES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The names of VK users (`users.get`, 1,000 ids a call), from the cache where known.
/// Peers that are not users (group chats, communities) are not asked.
async fn user_names(
    api: &ApiContext,
    token: &str,
    ids: &[String],
) -> Result<Vec<(String, String)>, SendError> {
    let base = api.base(DEFAULT_API).to_string();
    let users: Vec<i64> = ids
        .iter()
        .filter_map(|id| id.parse::<i64>().ok())
        .filter(|id| (1..2_000_000_000).contains(id))
        .collect();
    let mut found = Vec::new();
    let mut ask = Vec::new();
    {
        let cache = names().lock().map_err(|_| SendError::Transient("cache".into()))?;
        for id in users {
            match cache.get(&(base.clone(), id)) {
                Some(name) => found.push((id.to_string(), name.clone())),
                None => ask.push(id),
            }
        }
    }
    for chunk in ask.chunks(1000) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let answered: Vec<api::User> = call(api, token, "users.get", &[("user_ids", list)]).await?;
        let mut cache = names().lock().map_err(|_| SendError::Transient("cache".into()))?;
        if cache.len() + answered.len() > NAMES_KEPT {
            cache.clear();
        }
        for user in answered {
            // A deleted or banned page has placeholder names ("DELETED"): keep the id.
            if user.deactivated.is_some() {
                continue;
            }
            let name = format!("{} {}", user.first_name.trim(), user.last_name.trim())
                .trim()
                .to_string();
            if name.is_empty() {
                continue;
            }
            cache.insert((base.clone(), user.id), name.clone());
            found.push((user.id.to_string(), name));
        }
    }
    Ok(found)
}

#[async_trait]
impl Connector for Vk {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Vk
    }

    fn capabilities(&self) -> crate::Capabilities {
        profile::profile()
    }

    fn form(&self) -> Form {
        Form {
            title: Words {
                ru: "ВКонтакте",
                en: "VK",
            },
            fields: &[
                Field {
                    name: "token",
                    label: Words {
                        ru: "Ключ доступа",
                        en: "Access token",
                    },
                    secret: true,
                    required: true,
                    input: Input::Text,
                    help: Some(Words {
                        ru: "Ключ доступа сообщества с правом на сообщения",
                        en: "A community access token with the messages permission",
                    }),
                    placeholder: None,
                },
                Field {
                    name: "group_id",
                    label: Words {
                        ru: "ID сообщества",
                        en: "Community ID",
                    },
                    secret: false,
                    required: true,
                    input: Input::Number,
                    help: None,
                    placeholder: None,
                },
            ],
            verifies: true,
        }
    }

    fn validate(&self, credentials_json: &Value) -> Result<(), ConnectError> {
        credentials(credentials_json).map(|_| ())
    }

    async fn verify(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
    ) -> Result<AccountInfo, ConnectError> {
        let c = credentials(credentials_json)?;
        let params = [
            ("group_id", c.group_id.to_string()),
            ("fields", "can_message".to_string()),
        ];
        let groups: api::Groups = call(api, &c.token, "groups.getById", &params)
            .await
            .map_err(ConnectError::from)?;
        let group = groups
            .groups
            .into_iter()
            .find(|g| g.id == c.group_id)
            .ok_or_else(|| ConnectError::BotNotFound("the token is not this community's".into()))?;
        if group.can_message == Some(0) {
            return Err(ConnectError::Refused(format!(
                "community messages are switched off in «{}»: turn on Manage → Messages → Community messages, then connect again",
                group.name
            )));
        }
        let code: Value = call(
            api,
            &c.token,
            "groups.getCallbackConfirmationCode",
            &[("group_id", c.group_id.to_string())],
        )
        .await
        .map_err(ConnectError::from)?;
        Ok(AccountInfo {
            name: group.name,
            external_id: c.group_id.to_string(),
            keep: code["code"]
                .as_str()
                .map(|code| json!({"confirmation": code})),
        })
    }

    /// Adds our callback server (or updates the one at our URL) with the secret key, and
    /// subscribes it to the message events.
    async fn register_webhook(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        url: &str,
        secret: &str,
    ) -> Result<(), ConnectError> {
        let c = credentials(credentials_json)?;
        let group = ("group_id", c.group_id.to_string());
        let servers: api::CallbackServers = call(
            api,
            &c.token,
            "groups.getCallbackServers",
            std::slice::from_ref(&group),
        )
        .await
        .map_err(ConnectError::from)?;
        let server_id = match servers.items.iter().find(|s| s.url == url) {
            Some(existing) => {
                call::<Value>(
                    api,
                    &c.token,
                    "groups.editCallbackServer",
                    &[
                        group.clone(),
                        ("server_id", existing.id.to_string()),
                        ("url", url.to_string()),
                        ("title", SERVER_TITLE.to_string()),
                        ("secret_key", secret.to_string()),
                    ],
                )
                .await
                .map_err(ConnectError::from)?;
                existing.id
            }
            None => {
                let added: Value = call(
                    api,
                    &c.token,
                    "groups.addCallbackServer",
                    &[
                        group.clone(),
                        ("url", url.to_string()),
                        ("title", SERVER_TITLE.to_string()),
                        ("secret_key", secret.to_string()),
                    ],
                )
                .await
                .map_err(ConnectError::from)?;
                added["server_id"]
                    .as_i64()
                    .ok_or_else(|| ConnectError::Unavailable("no server_id in the answer".into()))?
            }
        };
        let mut settings = vec![
            group,
            ("server_id", server_id.to_string()),
            ("api_version", api::VERSION.to_string()),
        ];
        for event in [
            "message_new",
            "message_event",
            "message_allow",
            "message_deny",
        ] {
            settings.push((event, "1".to_string()));
        }
        call::<Value>(api, &c.token, "groups.setCallbackSettings", &settings)
            .await
            .map_err(ConnectError::from)?;
        Ok(())
    }

    async fn unregister_webhook(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
    ) -> Result<(), ConnectError> {
        let c = credentials(credentials_json)?;
        let group = ("group_id", c.group_id.to_string());
        let servers: api::CallbackServers = call(
            api,
            &c.token,
            "groups.getCallbackServers",
            std::slice::from_ref(&group),
        )
        .await
        .map_err(ConnectError::from)?;
        for server in servers.items.iter().filter(|s| s.url.contains("/hooks/")) {
            call::<Value>(
                api,
                &c.token,
                "groups.deleteCallbackServer",
                &[group.clone(), ("server_id", server.id.to_string())],
            )
            .await
            .map_err(ConnectError::from)?;
        }
        Ok(())
    }

    fn polls(&self) -> bool {
        true
    }

    /// Bots Long Poll, for servers without a public URL. The cursor is the long poll
    /// server, key and `ts`; `failed` 1 moves to the given `ts`, 2 takes a new key, 3 a new
    /// key and `ts`. Events are confirmed only by asking from the next `ts`, after they are
    /// stored.
    async fn poll(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        cursor: Option<&str>,
    ) -> Result<Polled, SendError> {
        let c = credentials(credentials_json)
            .map_err(|e| SendError::ConnectionBroken(e.to_string()))?;
        let session: Option<api::LongPollServer> =
            cursor.and_then(|c| serde_json::from_str(c).ok());
        let mut session = match session {
            Some(s) => s,
            None => long_poll_server(api, &c, true).await?,
        };
        let url = format!(
            "{}?act=a_check&key={}&ts={}&wait={LONG_POLL_WAIT}",
            session.server, session.key, session.ts
        );
        let response = api
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let answer: api::LongPollAnswer = response
            .json()
            .await
            .map_err(|e| SendError::Transient(format!("unreadable long poll answer: {e}")))?;
        let ts = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match answer.failed {
            Some(1) => {
                if let Some(next) = &answer.ts {
                    session.ts = ts(next);
                }
            }
            Some(2) => {
                let fresh = long_poll_server(api, &c, false).await?;
                session.key = fresh.key;
                session.server = fresh.server;
            }
            Some(_) => session = long_poll_server(api, &c, false).await?,
            None => {
                let events = answer
                    .updates
                    .into_iter()
                    .filter_map(|u| {
                        let event: api::Event = serde_json::from_value(u).ok()?;
                        if event.group_id != Some(c.group_id) {
                            return None;
                        }
                        match inbound::map(event) {
                            Ok(e) => Some(e),
                            Err(e) => {
                                tracing::warn!(error = %e, "skipping a VK update Switchboard cannot read");
                                None
                            }
                        }
                    })
                    .collect();
                if let Some(next) = &answer.ts {
                    session.ts = ts(next);
                }
                return Ok(Polled {
                    events,
                    cursor: serde_json::to_string(&session).ok(),
                });
            }
        }
        Ok(Polled {
            events: Vec::new(),
            cursor: serde_json::to_string(&session).ok(),
        })
    }

    fn oauth(&self) -> Option<&'static dyn crate::oauth::OAuthConnect> {
        Some(&oauth::VkOAuth)
    }

    fn names_contacts(&self) -> bool {
        true
    }

    async fn contact_names(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        external_ids: &[String],
    ) -> Result<Vec<(String, String)>, SendError> {
        let credentials = credentials(credentials_json)
            .map_err(|e| SendError::ConnectionBroken(e.to_string()))?;
        user_names(api, &credentials.token, external_ids).await
    }

    fn parse(
        &self,
        keys: &HookKeys<'_>,
        request: &WebhookRequest<'_>,
    ) -> Result<Parsed, InboundError> {
        let c = credentials(keys.credentials).map_err(|e| {
            InboundError::BadSignature(format!("the connection's credentials: {e}"))
        })?;
        inbound::parse(keys.secret, c.group_id, c.confirmation.as_deref(), request)
    }

    async fn send(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        outbound: &Outbound,
    ) -> Result<Sent, SendError> {
        let c = credentials(credentials_json)
            .map_err(|e| SendError::ConnectionBroken(e.to_string()))?;
        outbound::send(api, &c.token, outbound, &self.capabilities()).await
    }
}

#[cfg(test)]
mod tests;
