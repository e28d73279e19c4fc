//! Telegram, through the Bot API (https://core.telegram.org/bots/api, version 10.x).
//!
//! Credentials: `{"token": "123456:ABC..."}` from @BotFather. Webhooks carry the secret in
//! `X-Telegram-Bot-Api-Secret-Token`; updates are deduplicated on `update_id`. Sends have no
//! idempotency key, so a send whose answer was lost is reported as unknown, never resent.

mod api;
#[cfg(feature = "testkit")]
pub mod fake;
mod inbound;
#[cfg(feature = "testkit")]
pub mod kit;
mod outbound;
mod profile;

use std::time::Duration;

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::channel::ChannelKind;

pub use inbound::SECRET_HEADER;

use crate::{
    connector::{
        AccountInfo, ApiContext, ConnectError, Connector, HookKeys, InboundError, Parsed, Polled,
        SendError, Sent, WebhookRequest,
    },
    event::Outbound,
    form::{Field, Form, Input, Words},
    http::endpoint,
};

pub const DEFAULT_API: &str = "https://api.telegram.org";
/// How long one getUpdates call waits for updates (the HTTP client waits 30 s).
const POLL_SECONDS: u64 = 25;
/// Update kinds the webhook asks for.
const ALLOWED_UPDATES: [&str; 4] = [
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
];

/// The Telegram connector.
pub struct Telegram;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    token: String,
}

fn credentials(value: &Value) -> Result<Credentials, ConnectError> {
    let credentials =
        Credentials::deserialize(value).map_err(|e| ConnectError::InvalidCredentials {
            field: "token".into(),
            message: e.to_string(),
        })?;
    // The token goes into the URL path: refuse anything that could change the path.
    let well_formed = credentials
        .token
        .split_once(':')
        .is_some_and(|(id, secret)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if !well_formed {
        return Err(ConnectError::InvalidCredentials {
            field: "token".into(),
            message: "a bot token looks like 123456789:AAH... (from @BotFather)".into(),
        });
    }
    Ok(credentials)
}

/// Calls a Bot API method and decodes its answer, sorting failures for the caller.
pub(crate) async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
    api: &ApiContext,
    token: &str,
    method: &str,
    body: &B,
) -> Result<T, SendError> {
    let url = endpoint(api.base(DEFAULT_API), &[&format!("bot{token}"), method])?;
    answer(api.http.post(url).json(body)).await
}

/// Calls a Bot API method with a multipart body (file uploads).
pub(crate) async fn call_form<T: DeserializeOwned>(
    api: &ApiContext,
    token: &str,
    method: &str,
    form: reqwest::multipart::Form,
) -> Result<T, SendError> {
    let url = endpoint(api.base(DEFAULT_API), &[&format!("bot{token}"), method])?;
    answer(api.http.post(url).multipart(form)).await
}

async fn answer<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, SendError> {
    let response = request
        .send()
        .await
        .map_err(|e| crate::http::transport_error(&e))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| SendError::Unknown(e.to_string()))?;
    let answer: api::Response<T> = match serde_json::from_slice(&bytes) {
        Ok(answer) => answer,
        Err(_) if status.is_server_error() => {
            return Err(SendError::Transient(format!("HTTP {status}")))
        }
        Err(e) if status.is_success() => {
            return Err(SendError::Unknown(format!("unreadable answer: {e}")))
        }
        Err(_) => return Err(SendError::Permanent(format!("HTTP {status}"))),
    };
    if answer.ok {
        return answer
            .result
            .ok_or_else(|| SendError::Unknown("an ok answer without a result".into()));
    }
    let description = answer
        .description
        .unwrap_or_else(|| format!("HTTP {status}"));
    Err(
        match answer.error_code.unwrap_or(i64::from(status.as_u16())) {
            429 => {
                let seconds = answer.parameters.and_then(|p| p.retry_after).unwrap_or(1);
                SendError::RetryAfter(Duration::from_secs(seconds))
            }
            401 | 404 => SendError::ConnectionBroken(description),
            403 => SendError::ContactUnreachable(description),
            code if code >= 500 => SendError::Transient(description),
            _ => SendError::Permanent(description),
        },
    )
}

#[async_trait]
impl Connector for Telegram {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    fn capabilities(&self) -> crate::Capabilities {
        profile::profile()
    }

    fn form(&self) -> Form {
        Form {
            title: Words {
                ru: "Telegram",
                en: "Telegram",
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
                    ru: "Токен бота от @BotFather, вида 123456789:AAH…",
                    en: "The bot token from @BotFather, like 123456789:AAH…",
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
        let me: api::Me = call(api, &credentials.token, "getMe", &serde_json::json!({}))
            .await
            .map_err(ConnectError::from)?;
        let name = match me.username {
            Some(username) if me.first_name.is_empty() => format!("@{username}"),
            _ => me.first_name,
        };
        Ok(AccountInfo {
            name,
            external_id: me.id.to_string(),
            keep: None,
        })
    }

    async fn register_webhook(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        url: &str,
        secret: &str,
    ) -> Result<(), ConnectError> {
        let credentials = credentials(credentials_json)?;
        let body = serde_json::json!({"url": url, "secret_token": secret, "allowed_updates": ALLOWED_UPDATES});
        call::<bool, _>(api, &credentials.token, "setWebhook", &body)
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
        call::<bool, _>(
            api,
            &credentials.token,
            "deleteWebhook",
            &serde_json::json!({}),
        )
        .await
        .map_err(ConnectError::from)?;
        Ok(())
    }

    fn parse(
        &self,
        keys: &HookKeys<'_>,
        request: &WebhookRequest<'_>,
    ) -> Result<Parsed, InboundError> {
        inbound::parse(keys.secret, request)
    }

    fn polls(&self) -> bool {
        true
    }

    /// getUpdates with a 25-second long poll. Updates are confirmed to Telegram only by the
    /// next call's `offset`, made after they are stored: a crash in between redelivers them,
    /// and `update_id` deduplication absorbs that.
    async fn poll(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        cursor: Option<&str>,
    ) -> Result<Polled, SendError> {
        let credentials = credentials(credentials_json)
            .map_err(|e| SendError::ConnectionBroken(e.to_string()))?;
        let mut body =
            serde_json::json!({"timeout": POLL_SECONDS, "allowed_updates": ALLOWED_UPDATES});
        if let Some(offset) = cursor.and_then(|c| c.parse::<i64>().ok()) {
            body["offset"] = offset.into();
        }
        let updates: Vec<Value> = call(api, &credentials.token, "getUpdates", &body).await?;
        let next = updates
            .iter()
            .filter_map(|u| u["update_id"].as_i64())
            .max()
            .map(|id| (id + 1).to_string());
        let events = updates
            .into_iter()
            .filter_map(|u| match serde_json::from_value::<api::Update>(u) {
                Ok(update) => Some(update),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an update Switchboard cannot read");
                    None
                }
            })
            .map(inbound::event)
            .collect();
        Ok(Polled {
            events,
            cursor: next.or_else(|| cursor.map(str::to_string)),
        })
    }

    async fn send(
        &self,
        api: &ApiContext,
        credentials_json: &Value,
        outbound: &Outbound,
    ) -> Result<Sent, SendError> {
        let credentials = credentials(credentials_json)
            .map_err(|e| SendError::ConnectionBroken(e.to_string()))?;
        outbound::send(api, &credentials.token, outbound, &self.capabilities()).await
    }
}

#[cfg(test)]
mod tests;
