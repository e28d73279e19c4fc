//! Connecting a community through the server's VK app
//! (https://dev.vk.com/ru/api/access-token/authcode-flow-community): the administrator
//! authorizes the app (scope `groups`), the communities they administer are listed
//! (`groups.get`), and the one picked is authorized for messages (`group_ids`), whose code
//! exchanges for the community's token.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{api::VERSION, DEFAULT_API};
use crate::oauth::{Exchanged, OAuthApp, OAuthConnect, Pick};

/// VK's authorization server.
pub const DEFAULT_OAUTH: &str = "https://oauth.vk.com";
/// What the community's token may do: messages, the callback server, uploads.
const COMMUNITY_SCOPE: &str = "messages,manage,photos,docs";

/// VK's community authorization.
pub struct VkOAuth;

fn oauth_base(app: &OAuthApp) -> &str {
    app.oauth_url
        .as_deref()
        .unwrap_or(DEFAULT_OAUTH)
        .trim_end_matches('/')
}

/// The community a step authorizes (`None`: the administrator's own step).
fn community(step: Option<&str>) -> Result<Option<i64>, String> {
    step.map(|s| s.parse().map_err(|_| format!("not a community: {s}")))
        .transpose()
}

/// VK's JSON answer to a request, or what went wrong, in the admin's words.
async fn answer(request: reqwest::RequestBuilder) -> Result<Value, String> {
    request
        .send()
        .await
        .map_err(|e| format!("VK did not answer: {e}"))?
        .json()
        .await
        .map_err(|e| format!("VK answered something unreadable: {e}"))
}

/// Exchanges a code for VK's answer (a user token, or community tokens).
async fn token_answer(
    http: &reqwest::Client,
    app: &OAuthApp,
    redirect_uri: &str,
    code: &str,
) -> Result<Value, String> {
    let answer = answer(
        http.get(format!("{}/access_token", oauth_base(app)))
            .query(&[
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.expose()),
                ("redirect_uri", redirect_uri),
                ("code", code),
            ]),
    )
    .await?;
    if let Some(error) = answer["error"].as_str() {
        let detail = answer["error_description"].as_str().unwrap_or(error);
        return Err(format!("VK refused the authorization: {detail}"));
    }
    Ok(answer)
}

/// The communities the user of `token` administers: (id, name).
async fn communities(
    http: &reqwest::Client,
    app: &OAuthApp,
    token: &str,
) -> Result<Vec<(i64, String)>, String> {
    let api = app.api_url.as_deref().unwrap_or(DEFAULT_API);
    let answer = answer(
        http.post(format!("{}/method/groups.get", api.trim_end_matches('/')))
            .bearer_auth(token)
            .form(&[("filter", "admin"), ("extended", "1"), ("v", VERSION)]),
    )
    .await?;
    if let Some(e) = answer.get("error") {
        return Err(format!(
            "VK: {}",
            e["error_msg"].as_str().unwrap_or("error")
        ));
    }
    Ok(answer["response"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|g| Some((g["id"].as_i64()?, g["name"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// The community token in VK's answer: `groups: [{group_id, access_token}]` or the older
/// `access_token_<group_id>`.
fn community_token(answer: &Value, group: i64) -> Option<String> {
    if let Some(found) = answer["groups"].as_array().and_then(|groups| {
        groups
            .iter()
            .find(|g| g["group_id"].as_i64() == Some(group))
            .and_then(|g| g["access_token"].as_str())
    }) {
        return Some(found.to_string());
    }
    answer[format!("access_token_{group}")]
        .as_str()
        .map(str::to_string)
}

#[async_trait]
impl OAuthConnect for VkOAuth {
    fn authorize_url(
        &self,
        app: &OAuthApp,
        redirect_uri: &str,
        step: Option<&str>,
        state: &str,
    ) -> String {
        let group = community(step).ok().flatten();
        let scope = if group.is_some() {
            COMMUNITY_SCOPE
        } else {
            "groups"
        };
        let mut params = vec![
            ("client_id", app.client_id.clone()),
            ("redirect_uri", redirect_uri.to_string()),
            ("scope", scope.to_string()),
            ("response_type", "code".to_string()),
            ("v", VERSION.to_string()),
            ("state", state.to_string()),
        ];
        if let Some(group) = group {
            params.push(("group_ids", group.to_string()));
        }
        let base = format!("{}/authorize", oauth_base(app));
        reqwest::Url::parse_with_params(&base, &params)
            .map(|u| u.to_string())
            .unwrap_or(base)
    }

    async fn exchange(
        &self,
        http: &reqwest::Client,
        app: &OAuthApp,
        redirect_uri: &str,
        step: Option<&str>,
        code: &str,
    ) -> Result<Exchanged, String> {
        let group = community(step)?;
        let answer = token_answer(http, app, redirect_uri, code).await?;
        match group {
            None => {
                let token = answer["access_token"]
                    .as_str()
                    .ok_or("VK sent no access token")?;
                let picks = communities(http, app, token)
                    .await?
                    .into_iter()
                    .map(|(id, name)| Pick {
                        label: name,
                        step: id.to_string(),
                    })
                    .collect();
                Ok(Exchanged::Choose(picks))
            }
            Some(group) => {
                let token = community_token(&answer, group)
                    .ok_or("VK sent no token for this community")?;
                Ok(Exchanged::Credentials(
                    json!({"token": token, "group_id": group}),
                ))
            }
        }
    }

    fn sample_credentials(&self) -> Value {
        json!({"token": "placeholder", "group_id": 1})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both shapes VK answers a community's code with.
    #[test]
    fn the_community_token_is_found_in_either_shape() {
        let new = json!({"groups": [{"group_id": 5, "access_token": "t5"}], "expires_in": 0});
        let old = json!({"access_token_5": "t5", "expires_in": 0});
        assert_eq!(community_token(&new, 5).as_deref(), Some("t5"));
        assert_eq!(community_token(&old, 5).as_deref(), Some("t5"));
        assert_eq!(community_token(&old, 6), None);
    }

    /// The first step asks for `groups`; a community's step for its messages, by id.
    #[test]
    fn each_step_asks_for_its_scope() {
        let app = OAuthApp {
            client_id: "51".into(),
            client_secret: "s".into(),
            oauth_url: None,
            api_url: None,
        };
        let first = VkOAuth.authorize_url(&app, "https://sb.example/cb", None, "st");
        assert!(first.starts_with("https://oauth.vk.com/authorize?"), "{first}");
        assert!(first.contains("scope=groups&") && !first.contains("group_ids"));
        let second = VkOAuth.authorize_url(&app, "https://sb.example/cb", Some("42"), "st");
        assert!(second.contains("group_ids=42") && second.contains("messages"), "{second}");
    }
}
