//! Connecting a channel through its own authorization (the OAuth 2.0 code flow), for kinds
//! whose console hands out credentials that way (VK: the admin authorizes the server's VK app
//! as a community administrator, picks the community, and the server obtains its token).
//!
//! A flow is steps: each sends the admin's browser to the channel's authorization page
//! ([`OAuthConnect::authorize_url`]), the channel sends it back with a code, and the code is
//! exchanged ([`OAuthConnect::exchange`]) either for a choice to make (each choice the next
//! step) or for the credentials `POST /channels` takes. The server keeps nothing between the
//! steps: it seals where the flow is into the `state` parameter (see its `routes/oauth.rs`).

use async_trait::async_trait;
use serde_json::Value;
use switchboard_core::secret::Secret;

/// An app registered with the channel, configured on the server.
#[derive(Clone, Debug)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: Secret,
    /// The channel's authorization server (its own when `None`; another address in tests).
    pub oauth_url: Option<String>,
    /// The channel's API (its own when `None`).
    pub api_url: Option<String>,
}

/// One thing the admin may pick, with the step it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub label: String,
    /// The next step, passed back to [`OAuthConnect::authorize_url`] and
    /// [`OAuthConnect::exchange`]; plain text, sealed by the server.
    pub step: String,
}

/// What a code was exchanged for.
#[derive(Debug, Clone, PartialEq)]
pub enum Exchanged {
    /// The admin picks one (the communities they administer); an empty list means there is
    /// nothing they could connect.
    Choose(Vec<Pick>),
    /// The flow is over: the credentials of the connection.
    Credentials(Value),
}

/// A channel kind's authorization flow.
#[async_trait]
pub trait OAuthConnect: Send + Sync {
    /// Where the admin's browser goes for `step` (`None`: the first), to come back to
    /// `redirect_uri` with a code and `state`.
    fn authorize_url(
        &self,
        app: &OAuthApp,
        redirect_uri: &str,
        step: Option<&str>,
        state: &str,
    ) -> String;

    /// Exchanges the code the channel sent back for `step`. The error is for the admin.
    async fn exchange(
        &self,
        http: &reqwest::Client,
        app: &OAuthApp,
        redirect_uri: &str,
        step: Option<&str>,
        code: &str,
    ) -> Result<Exchanged, String>;

    /// Credentials of the right shape, for checking the rest of the form before the admin
    /// goes through the channel's pages.
    fn sample_credentials(&self) -> Value;
}
