//! The server's resolved settings. Where they come from (flags, `SWITCHBOARD_*` variables, a
//! TOML file, defaults) is the binary's business; here they are already checked values.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf};

pub use switchboard_channels::oauth::OAuthApp;
use switchboard_core::channel::ChannelKind;
pub use switchboard_core::secret::Secret;
use switchboard_store::StoreConfig;

use crate::auth::password::PasswordParams;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For people at a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// The base URL channels reach this server at; webhooks are registered under it.
    pub public_url: Option<String>,
    pub database: StoreConfig,
    /// Files the server keeps beside the database (attachments, keys).
    pub data_dir: PathBuf,
    /// Seed the demo: an admin and a sample group.
    pub demo: bool,
    /// The first admin's login and password, used only when no operator exists yet.
    pub admin_email: Option<String>,
    pub admin_password: Option<Secret>,
    pub password_params: PasswordParams,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Base64 of the 32-byte key that seals channel credentials; by default a key file in
    /// `data_dir` is created and used.
    pub secret_key: Option<Secret>,
    /// Run the delivery worker (tests of the API alone may switch it off).
    pub delivery: bool,
    /// How long a claimed outbox row belongs to its sender. On PostgreSQL, rows of a node
    /// that died are settled (as unknown) this long after it claimed them.
    pub delivery_lease: std::time::Duration,
    /// Internal hosts a scenario's `http` step may call (names, addresses, CIDR ranges);
    /// everything else internal is refused.
    pub bot_http_allow: Vec<String>,
    /// Hosts (or `host:port`) a connection's `api_base_url` may name besides each channel's
    /// own API: a local Bot API server, a proxy. Empty: no other address is allowed.
    pub api_base_allow: Vec<String>,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client:
    /// login throttling keys on the client's address, not the proxy's.
    pub trusted_proxies: Vec<String>,
    /// When set, `GET /metrics` requires `Authorization: Bearer` with this token.
    pub metrics_token: Option<Secret>,
    /// Apps registered with channels, for connecting through the channel's own
    /// authorization (a VK app: the admin picks the community, the server obtains its
    /// token). A kind without one is connected by entering its credentials.
    pub oauth_apps: BTreeMap<ChannelKind, OAuthApp>,
}

impl ServerConfig {
    /// Settings for a server on `database`, everything else at its default.
    pub fn new(database: StoreConfig) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database,
            data_dir: PathBuf::from("./data"),
            demo: false,
            admin_email: None,
            admin_password: None,
            password_params: PasswordParams::default(),
            max_body_bytes: 1024 * 1024,
            secret_key: None,
            delivery: true,
            delivery_lease: std::time::Duration::from_secs(60),
            bot_http_allow: Vec::new(),
            api_base_allow: Vec::new(),
            trusted_proxies: Vec::new(),
            metrics_token: None,
            oauth_apps: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration logged whole shows no password, key or token.
    #[test]
    fn secrets_in_the_configuration_are_never_printed() {
        let mut config = ServerConfig::new(StoreConfig::new("sqlite://x.db"));
        config.admin_password = Some("admin-password-9".into());
        config.secret_key = Some("c2VjcmV0LWtleS1ieXRlcw==".into());
        config.metrics_token = Some("scrape-token-7".into());
        config.oauth_apps.insert(
            ChannelKind::Vk,
            OAuthApp {
                client_id: "51".into(),
                client_secret: "vk-app-secret-5".into(),
                oauth_url: None,
                api_url: None,
            },
        );
        let shown = format!("{config:?}");
        for secret in [
            "admin-password-9",
            "c2VjcmV0LWtleS1ieXRlcw",
            "scrape-token-7",
            "vk-app-secret-5",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("***"));
    }
}
