//! The one trait every channel implements, and its errors.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use switchboard_core::channel::ChannelKind;

use crate::{
    capabilities::Capabilities,
    event::{InboundEvent, Outbound, OutboundMessage},
};

/// How a connector reaches its channel's API.
#[derive(Clone, Debug, Default)]
pub struct ApiContext {
    pub http: reqwest::Client,
    /// Overrides the channel's API address (tests, Telegram's local Bot API server, proxies).
    pub api_base_url: Option<String>,
    /// A number unique to the outbox row being sent and the same on every retry, for
    /// channels that deduplicate sends by a client key (VK's `random_id`).
    pub send_key: Option<u64>,
}

impl ApiContext {
    pub fn base<'a>(&'a self, default: &'a str) -> &'a str {
        self.api_base_url
            .as_deref()
            .unwrap_or(default)
            .trim_end_matches('/')
    }
}

/// The account the channel reported for the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// What people call it: the bot's name, the community's name.
    pub name: String,
    /// The channel's own id of the account; one enabled connection per id.
    pub external_id: String,
    /// What the channel told us that later requests need (VK's confirmation string), kept
    /// with the credentials.
    pub keep: Option<Value>,
}

/// Why connecting (verifying, registering a webhook) failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The channel does not know these credentials ("Bot not found").
    #[error("bot not found: {0}")]
    BotNotFound(String),
    /// The credentials are malformed; `field` names the key in `credentials`.
    #[error("credentials.{field}: {message}")]
    InvalidCredentials { field: String, message: String },
    /// The channel refused for another reason it explained (messages disabled, bad URL).
    #[error("{0}")]
    Refused(String),
    /// The channel could not be reached or answered nonsense; worth trying again.
    #[error("the channel's API is unavailable: {0}")]
    Unavailable(String),
    /// The API answered with an error in its own words (`message`, taken from its body):
    /// worth trying again when `retry`. Its words are someone else's text, so they are shown
    /// only when the API is the channel's own (see the server's `connect_error`).
    #[error("the channel's API answered: {message}")]
    Answered { message: String, retry: bool },
}

/// Why an inbound request was refused. Nothing is stored in either case.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The signature or secret did not match (401).
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The body is not what the channel sends (400).
    #[error("malformed request: {0}")]
    Malformed(String),
}

/// Why a send failed, sorted by what the delivery worker does next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Rate limited: wait at least this long, then retry.
    #[error("rate limited; retry after {0:?}")]
    RetryAfter(Duration),
    /// Nothing was delivered (connection refused, 5xx before processing): retry with backoff.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The request was written but no answer came: it may or may not have been delivered.
    #[error("no answer after the request was sent: {0}")]
    Unknown(String),
    /// The customer blocked the bot or cannot be written to.
    #[error("the contact cannot be reached: {0}")]
    ContactUnreachable(String),
    /// The credentials were revoked: the connection is broken until fixed.
    #[error("the connection's credentials were refused: {0}")]
    ConnectionBroken(String),
    /// The channel refused this message for good (too long, bad chat): do not retry.
    #[error("refused: {0}")]
    Permanent(String),
}

/// A send's failure met while connecting (verifying, registering a webhook): refused
/// credentials are "Bot not found", anything passing is "unavailable".
impl From<SendError> for ConnectError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::ConnectionBroken(d) => ConnectError::BotNotFound(d),
            SendError::Transient(d) | SendError::Unknown(d) => ConnectError::Answered {
                message: d,
                retry: true,
            },
            SendError::RetryAfter(d) => {
                ConnectError::Unavailable(format!("rate limited for {d:?}"))
            }
            SendError::ContactUnreachable(d) | SendError::Permanent(d) => ConnectError::Answered {
                message: d,
                retry: false,
            },
        }
    }
}

/// What the channel reported for a delivered send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sent {
    /// The channel's message ids, one per message actually sent (a long text may be several).
    pub external_ids: Vec<String>,
    /// The bytes of a fetched attachment.
    pub media: Option<Vec<u8>>,
}

impl Sent {
    /// Records one part of a message sent in several calls (long texts, files). Once a part
    /// went out, a later failure is unknown: resending all would repeat what was delivered.
    pub fn record_part(
        &mut self,
        result: Result<String, SendError>,
        total: usize,
    ) -> Result<(), SendError> {
        match result {
            Ok(id) => {
                self.external_ids.push(id);
                Ok(())
            }
            Err(e) if !self.external_ids.is_empty() => Err(SendError::Unknown(format!(
                "{} of {total} parts sent, then: {e}",
                self.external_ids.len()
            ))),
            Err(e) => Err(e),
        }
    }
}

/// The largest attachment fetched from a channel (Telegram's download limit).
pub const MAX_MEDIA_BYTES: usize = 20 * 1024 * 1024;

/// What one long poll returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Polled {
    pub events: Vec<InboundEvent>,
    /// Where the next poll continues; store the events before moving on to it.
    pub cursor: Option<String>,
}

/// A webhook request as received: raw bytes (signatures are over the exact bytes) and headers.
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a webhook request carried.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub events: Vec<InboundEvent>,
    /// The body to answer once the events are stored, when the channel expects one (VK: its
    /// confirmation string); otherwise `ok`.
    pub reply: Option<String>,
}

/// What an inbound request is checked against: the secret Switchboard generated for the
/// connection (Telegram's secret token, VK's secret key) and the admin's credentials (Viber
/// signs with the bot's token; VK's confirmation string is kept there).
#[derive(Clone, Copy)]
pub struct HookKeys<'a> {
    pub secret: &'a str,
    pub credentials: &'a Value,
}

/// Both halves are secrets: never printed.
impl std::fmt::Debug for HookKeys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookKeys { secret: ***, credentials: *** }")
    }
}

/// A channel kind's connector. Credentials are the JSON object the admin entered, plus the
/// `webhook_secret` Switchboard generated for the connection.
#[async_trait]
pub trait Connector: Send + Sync {
    fn kind(&self) -> ChannelKind;

    /// How the admin connects this kind: title, credential fields, OAuth.
    fn form(&self) -> crate::form::Form;

    /// The channel's own authorization flow, where the admin may connect through it rather
    /// than by pasting credentials (VK's community authorization).
    fn oauth(&self) -> Option<&'static dyn crate::oauth::OAuthConnect> {
        None
    }

    /// The channel's default limits: its folder's `profile.rs`.
    fn capabilities(&self) -> Capabilities;

    /// Checks the shape of credentials (the fields are there, a token looks like one), with
    /// no I/O: a form's mistakes are named before the channel is asked.
    fn validate(&self, credentials: &Value) -> Result<(), ConnectError>;

    /// Checks credentials with the channel and returns the account they belong to.
    async fn verify(
        &self,
        api: &ApiContext,
        credentials: &Value,
    ) -> Result<AccountInfo, ConnectError>;

    /// Points the channel's webhook at `url`, with `secret` for the channel to present.
    async fn register_webhook(
        &self,
        api: &ApiContext,
        credentials: &Value,
        url: &str,
        secret: &str,
    ) -> Result<(), ConnectError>;

    async fn unregister_webhook(
        &self,
        api: &ApiContext,
        credentials: &Value,
    ) -> Result<(), ConnectError>;

    /// Verifies and decodes a webhook request. Pure: no I/O.
    fn parse(
        &self,
        keys: &HookKeys<'_>,
        request: &WebhookRequest<'_>,
    ) -> Result<Parsed, InboundError>;

    async fn send(
        &self,
        api: &ApiContext,
        credentials: &Value,
        outbound: &Outbound,
    ) -> Result<Sent, SendError>;

    /// The body answering a webhook request that reported a customer opening the chat
    /// ([`crate::InboundKind::Started`]), carrying `message` as the greeting, for channels
    /// that take a greeting only that way (Viber: `send_message` is refused to a customer who
    /// has not subscribed, the welcome message in the callback's answer is not). `None`: the
    /// channel has no such answer, or `message` does not fit it, or what it needs could not
    /// be read (Viber's sender name); the greeting goes through the outbox.
    async fn welcome(
        &self,
        _api: &ApiContext,
        _credentials: &Value,
        _message: &OutboundMessage,
    ) -> Option<String> {
        None
    }

    /// The HTML a site owner pastes into their pages to show this channel there (the web
    /// chat's script tag), for channels that live on the business's own site; `None` for
    /// channels that call a webhook.
    fn embed(&self, _public_url: &str, _connection: &str) -> Option<String> {
        None
    }

    /// Whether the channel's events carry ids without names, to be asked with
    /// [`Connector::contact_names`] (VK). Channels that send names are not asked.
    fn names_contacts(&self) -> bool {
        false
    }

    /// The names of customers (by [`crate::ContactRef::external_id`]) whose events carry
    /// none (VK sends only ids; `users.get` has the names): those it found. Asked before the
    /// events are stored, so a new contact, and the bot's greeting, has the real name.
    async fn contact_names(
        &self,
        _api: &ApiContext,
        _credentials: &Value,
        _external_ids: &[String],
    ) -> Result<Vec<(String, String)>, SendError> {
        Ok(Vec::new())
    }

    /// Whether the channel can be read by long polling instead of a webhook (for servers
    /// without a public address).
    fn polls(&self) -> bool {
        false
    }

    /// Waits for new events after `cursor`. Only called when [`Connector::polls`] is true.
    async fn poll(
        &self,
        _api: &ApiContext,
        _credentials: &Value,
        _cursor: Option<&str>,
    ) -> Result<Polled, SendError> {
        Err(SendError::Permanent(format!(
            "{} cannot be polled",
            self.kind()
        )))
    }
}
