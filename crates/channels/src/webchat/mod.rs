//! The web chat: Switchboard's own widget on the business's site. There is no vendor API:
//! visitors talk to the server over a WebSocket, and the store is the mailbox, so "sending"
//! means the message is durably stored for the visitor's session to pick up (live, or after a
//! reconnect). Credentials: `{"allowed_origins": ["https://shop.example"]}` (optional): the
//! sites allowed to embed the widget besides the server's own address; `"*"` allows any.

#[cfg(feature = "testkit")]
pub mod kit;
mod profile;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use switchboard_core::channel::ChannelKind;

use crate::{
    connector::{
        AccountInfo, ApiContext, ConnectError, Connector, HookKeys, InboundError, Parsed,
        SendError, Sent, WebhookRequest,
    },
    event::Outbound,
    form::{Field, Form, Input, Words},
};

/// The web chat connector.
pub struct Webchat;

/// A web chat connection's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl Settings {
    pub fn parse(credentials: &Value) -> Result<Self, ConnectError> {
        let settings: Settings = serde_json::from_value(credentials.clone()).map_err(|e| {
            ConnectError::InvalidCredentials {
                field: "allowed_origins".into(),
                message: e.to_string(),
            }
        })?;
        for (i, origin) in settings.allowed_origins.iter().enumerate() {
            if origin != "*" && !is_origin(origin) {
                return Err(ConnectError::InvalidCredentials {
                    field: format!("allowed_origins[{i}]"),
                    message: format!("{origin:?} is not an origin such as https://shop.example"),
                });
            }
        }
        Ok(settings)
    }

    /// Whether a page at `origin` may open the widget; `own` is the server's own origin.
    pub fn allows(&self, origin: &str, own: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        origin.eq_ignore_ascii_case(own.trim_end_matches('/'))
            || self
                .allowed_origins
                .iter()
                .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// `scheme://host[:port]` with nothing after it.
fn is_origin(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', ' ', '@']))
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin_of(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    match url[scheme_end..].find('/') {
        Some(slash) => url[..scheme_end + slash].to_string(),
        None => url.to_string(),
    }
}

#[async_trait]
impl Connector for Webchat {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webchat
    }

    fn capabilities(&self) -> crate::Capabilities {
        profile::profile()
    }

    fn form(&self) -> Form {
        Form {
            title: Words {
                ru: "Чат на сайте",
                en: "Web chat",
            },
            fields: &[Field {
                name: "allowed_origins",
                label: Words {
                    ru: "Разрешённые сайты",
                    en: "Allowed sites",
                },
                secret: false,
                required: false,
                input: Input::Lines,
                help: Some(Words {
                    ru: "Сайты, где можно встроить чат, по одному адресу в строке (https://shop.example); * — любой сайт; пусто — только страницы этого сервера",
                    en: "The sites that may embed the chat, one origin per line (https://shop.example); * allows any site; empty allows only this server's own pages",
                }),
                placeholder: Some("https://shop.example"),
            }],
            verifies: false,
        }
    }

    fn validate(&self, credentials_json: &Value) -> Result<(), ConnectError> {
        Settings::parse(credentials_json).map(|_| ())
    }

    fn embed(&self, public_url: &str, connection: &str) -> Option<String> {
        Some(format!(
            "<script src=\"{}/widget.js\" data-connection=\"{connection}\" async></script>",
            public_url.trim_end_matches('/')
        ))
    }

    async fn verify(
        &self,
        _api: &ApiContext,
        credentials: &Value,
    ) -> Result<AccountInfo, ConnectError> {
        Settings::parse(credentials)?;
        // Every web chat is an account of its own: nothing to displace.
        let id = format!("webchat-{}", switchboard_core::ids::ConnectionId::new());
        Ok(AccountInfo {
            name: "Web chat".into(),
            external_id: id,
            keep: None,
        })
    }

    async fn register_webhook(
        &self,
        _: &ApiContext,
        _: &Value,
        _: &str,
        _: &str,
    ) -> Result<(), ConnectError> {
        Ok(())
    }

    async fn unregister_webhook(&self, _: &ApiContext, _: &Value) -> Result<(), ConnectError> {
        Ok(())
    }

    fn parse(
        &self,
        _keys: &HookKeys<'_>,
        _request: &WebhookRequest<'_>,
    ) -> Result<Parsed, InboundError> {
        Err(InboundError::Malformed(
            "web chat messages arrive over the widget's WebSocket, not a webhook".into(),
        ))
    }

    async fn send(
        &self,
        _: &ApiContext,
        _: &Value,
        _outbound: &Outbound,
    ) -> Result<Sent, SendError> {
        // The message is already stored; the visitor's session delivers it.
        Ok(Sent::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        let settings =
            Settings::parse(&serde_json::json!({"allowed_origins": ["https://shop.example"]}))
                .unwrap();
        assert!(settings.allows("https://shop.example", "http://127.0.0.1:8080"));
        assert!(
            settings.allows("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            "the server's own pages"
        );
        assert!(!settings.allows("https://evil.example", "http://127.0.0.1:8080"));
        assert!(
            Settings::parse(&serde_json::json!({"allowed_origins": ["*"]}))
                .unwrap()
                .allows("https://any.example", "x")
        );
        let bad =
            Settings::parse(&serde_json::json!({"allowed_origins": ["https://shop.example/page"]}))
                .unwrap_err();
        assert!(
            matches!(bad, ConnectError::InvalidCredentials { field, .. } if field == "allowed_origins[0]")
        );
        assert!(Settings::parse(&serde_json::json!({}))
            .unwrap()
            .allowed_origins
            .is_empty());
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            origin_of("https://hub.example/path?q"),
            "https://hub.example"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
