//! Viber, through the REST Bot API (https://developers.viber.com/docs/api/rest-bot-api/).
//!
//! Credentials: `{"token": "..."}`, the bot's authentication token, sent as
//! `X-Viber-Auth-Token`. The webhook is set on connect (Viber calls it at once and needs a
//! 200) and removed on disable; callbacks are signed with the token itself. Every answer is
//! HTTP 200 with a `status`; non-zero statuses are sorted into retry, unreachable, broken.

mod api;
#[cfg(feature = "testkit")]
pub mod fake;
mod inbound;
#[cfg(feature = "testkit")]
pub mod kit;
mod outbound;
mod profile;

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};
use switchboard_core::channel::ChannelKind;

pub use inbound::SIGNATURE_HEADER;
pub use outbound::keyboard;

use crate::{
    connector::{
        AccountInfo, ApiContext, ConnectError, Connector, HookKeys, InboundError, Parsed,
        SendError, Sent, WebhookRequest,
    },
    event::{Outbound, OutboundMessage},
    form::{Field, Form, Input, Words},
};

pub const DEFAULT_API: &str = "https://chatapi.viber.com/pa";
pub const TOKEN_HEADER: &str = "X-Viber-Auth-Token";
/// The callbacks the webhook asks for (messages always come).
const EVENT_TYPES: [&str; 6] = [
    "delivered",
    "seen",
    "failed",
    "subscribed",
    "unsubscribed",
    "conversation_started",
];
/// Viber's answer to more than 100 messages an hour to one user without a reply.
const TOO_MANY_WAIT: Duration = Duration::from_secs(60);

/// The Viber connector.
pub struct Viber;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    token: String,
}

fn credentials(value: &Value) -> Result<Credentials, ConnectError> {
    let credentials: Credentials =
        serde_json::from_value(value.clone()).map_err(|e| ConnectError::InvalidCredentials {
            field: "token".into(),
            message: e.to_string(),
        })?;
    // The token travels in a header: letters, digits and dashes only.
    let t = &credentials.token;
    if t.is_empty() || t.len() > 200 || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ConnectError::InvalidCredentials {
            field: "token".into(),
            message: "a Viber token looks like 4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
                .into(),
        });
    }
    Ok(credentials)
}

/// Sorts a non-zero status.
fn status_error(status: i64, message: String) -> SendError {
    match status {
        // receiverNotRegistered, receiverNotSubscribed, receiverNoSuitableDevice
        5 | 6 | 11 => SendError::ContactUnreachable(message),
        // invalidAuthToken, publicAccountBlocked / NotFound / Suspended, webhookNotSet
        2 | 7..=10 => SendError::ConnectionBroken(message),
        12 => SendError::RetryAfter(TOO_MANY_WAIT),
        _ => SendError::Permanent(message),
    }
}

/// Calls an API method and decodes its answer.
pub(crate) async fn call<T: DeserializeOwned>(
    api: &ApiContext,
    token: &str,
    method: &str,
    body: &Value,
) -> Result<T, SendError> {
    let response = api
        .http
        .post(crate::http::endpoint(api.base(DEFAULT_API), &[method])?)
        .header(TOKEN_HEADER, token)
        .json(body)
        .send()
        .await
        .map_err(|e| crate::http::transport_error(&e))?;
    let http = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| SendError::Unknown(e.to_string()))?;
    if http.is_server_error() {
        return Err(SendError::Transient(format!("HTTP {http}")));
    }
    let status: api::Status = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) if http.is_success() => {
            return Err(SendError::Unknown(format!("unreadable answer: {e}")))
        }
        Err(_) => return Err(SendError::Permanent(format!("HTTP {http}"))),
    };
    if status.status != 0 {
        let message = format!("{} (status {})", status.status_message, status.status);
        return Err(status_error(status.status, message));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| SendError::Unknown(format!("unreadable answer: {e}")))
}

/// The bot's name, shown as the sender of every message: asked once per process for each
/// bot, a bot being its token at its API address (one token on two API servers, as in
/// tests with two fakes, is two bots).
fn names() -> &'static Mutex<HashMap<(String, String), String>> {
    static NAMES: OnceLock<Mutex<HashMap<(String, String), String>>> = OnceLock::new();
    NAMES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn bot_key(api: &ApiContext, token: &str) -> (String, String) {
    (api.base(DEFAULT_API).to_string(), token.to_string())
}

async fn account(api: &ApiContext, token: &str) -> Result<api::AccountInfo, SendError> {
    let info: api::AccountInfo = call(api, token, "get_account_info", &json!({})).await?;
    if let Ok(mut names) = names().lock() {
        names.insert(bot_key(api, token), info.name.clone());
    }
    Ok(info)
}

async fn name(api: &ApiContext, token: &str) -> Result<String, SendError> {
    let known = names()
        .lock()
        .ok()
        .and_then(|n| n.get(&bot_key(api, token)).cloned());
    match known {
        Some(name) => Ok(name),
        None => Ok(account(api, token).await?.name),
    }
}

#[async_trait]
impl Connector for Viber {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Viber
    }

    fn capabilities(&self) -> crate::Capabilities {
        profile::profile()
    }

    fn form(&self) -> Form {
        Form {
            title: Words {
                ru: "Viber",
                en: "Viber",
            },
            fields: &[Field {
                name: "token",
                label: Words {
                    ru: "Токен",
                    en: "Token",
                },
                secret: true,
                required: true,
                input: Input::Text,
                help: Some(Words {
                    ru: "Токен аутентификации бота Viber (partners.viber.com)",
                    en: "The authentication token of the Viber bot (partners.viber.com)",
                }),
                placeholder: None,
            }],
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
        let credentials = credentials(credentials_json)?;
        let info = account(api, &credentials.token)
            .await
            .map_err(ConnectError::from)?;
        Ok(AccountInfo {
            name: info.name,
            external_id: info.id,
            keep: None,
        })
    }

    /// Viber calls the URL at once with a `webhook` event and sets it only if that gets a
    /// 200, which the connection (already stored) gives.
    async fn register_webhook(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        url: &str,
        _secret: &str,
    ) -> Result<(), ConnectError> {
        let credentials = credentials(credentials_json)?;
        let body =
            json!({"url": url, "event_types": EVENT_TYPES, "send_name": true, "send_photo": false});
        call::<Value>(api, &credentials.token, "set_webhook", &body)
            .await
            .map_err(ConnectError::from)?;
        Ok(())
    }

    async fn unregister_webhook(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
    ) -> Result<(), ConnectError> {
        let credentials = credentials(credentials_json)?;
        call::<Value>(api, &credentials.token, "set_webhook", &json!({"url": ""}))
            .await
            .map_err(ConnectError::from)?;
        Ok(())
    }

    fn parse(
        &self,
        keys: &HookKeys<'_>,
        request: &WebhookRequest<'_>,
    ) -> Result<Parsed, InboundError> {
        let token = keys.credentials["token"].as_str().unwrap_or_default();
        inbound::parse(token, request)
    }

    /// Sent as the bot, by the name every other message carries.
    async fn welcome(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        message: &OutboundMessage,
    ) -> Option<String> {
        let credentials = credentials(credentials_json).ok()?;
        let sender = match name(api, &credentials.token).await {
            Ok(name) => name,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Viber bot's name for a welcome");
                return None;
            }
        };
        outbound::welcome(&sender, message, &self.capabilities()).map(|body| body.to_string())
    }

    async fn send(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        outbound: &Outbound,
    ) -> Result<Sent, SendError> {
        let credentials = credentials(credentials_json)
            .map_err(|e| SendError::ConnectionBroken(e.to_string()))?;
        let name = match outbound {
            Outbound::Message(_) => name(api, &credentials.token).await?,
            _ => String::new(),
        };
        outbound::send(
            api,
            &credentials.token,
            &name,
            outbound,
            &self.capabilities(),
        )
        .await
    }
}

#[cfg(test)]
mod tests;
