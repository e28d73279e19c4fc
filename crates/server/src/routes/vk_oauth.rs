//! Connecting a VK community through a VK app (the seed's flow), when the server has one
//! configured: the admin fills the channel form, authorizes with VK as a community
//! administrator, picks the community from the list of those they administer, authorizes
//! the community's messages, and the server obtains and stores the community token itself.
//!
//! `POST /api/v1/channels/vk/authorize` checks the form and answers VK's authorization URL.
//! VK sends the browser back to `GET /oauth/vk/callback` twice: with the administrator's
//! code (the answer is a page listing their communities, each a link to authorize it), then
//! with the community's code (the connection is created exactly as `POST /channels` would).
//! The form and the step travel in `state`, sealed with the server's key and expiring in
//! 15 minutes, so nothing is kept between the steps and a forged or replayed-late state is
//! refused. The tokens never reach the browser.

use axum::{
    extract::{Query as AxumQuery, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use switchboard_core::ids::{AccountId, OperatorId};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::channels::{connect, CreateChannel};
use crate::{
    auth::Caller,
    config::VkApp,
    error::{ApiError, ErrorBody},
    extract::Json,
    state::AppState,
};

pub(super) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(authorize))
}

pub(super) fn service_router() -> Router<AppState> {
    Router::new().route("/oauth/vk/callback", get(callback))
}

const API_VERSION: &str = "5.199";
const STATE_LIFETIME_SECS: i64 = 15 * 60;

/// Where the flow is, sealed into VK's `state` parameter.
#[derive(Serialize, Deserialize)]
struct Flow {
    account: AccountId,
    actor: OperatorId,
    /// The channel form, without credentials.
    form: Value,
    /// `None`: the administrator's step; `Some`: the community being authorized.
    group_id: Option<i64>,
    expires: i64,
}

/// VK's authorization URL.
#[derive(Serialize, ToSchema)]
pub struct Authorize {
    pub authorize_url: String,
}

fn callback_url(state: &AppState) -> String {
    format!(
        "{}/oauth/vk/callback",
        state.public_url.trim_end_matches('/')
    )
}

/// The associated data of a sealed flow: it opens as nothing else.
const FLOW_CONTEXT: &[u8] = b"vk oauth flow";

fn seal(state: &AppState, flow: &Flow) -> Result<String, ApiError> {
    let json = serde_json::to_vec(flow).map_err(|_| ApiError::internal())?;
    let sealed = state
        .sealer
        .seal(&json, FLOW_CONTEXT)
        .map_err(|_| ApiError::internal())?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

fn open(state: &AppState, text: &str) -> Option<Flow> {
    let sealed = URL_SAFE_NO_PAD.decode(text).ok()?;
    let json = state.sealer.open(&sealed, FLOW_CONTEXT).ok()?;
    let flow: Flow = serde_json::from_slice(&json).ok()?;
    (flow.expires > Timestamp::now().as_second()).then_some(flow)
}

fn authorize_url(
    app: &VkApp,
    state: &AppState,
    scope: &str,
    group: Option<i64>,
    sealed: &str,
) -> String {
    let mut params = vec![
        ("client_id", app.client_id.clone()),
        ("redirect_uri", callback_url(state)),
        ("scope", scope.to_string()),
        ("response_type", "code".to_string()),
        ("v", API_VERSION.to_string()),
        ("state", sealed.to_string()),
    ];
    if let Some(group) = group {
        params.push(("group_ids", group.to_string()));
    }
    let base = format!("{}/authorize", app.oauth_url.trim_end_matches('/'));
    reqwest::Url::parse_with_params(&base, &params)
        .map(|u| u.to_string())
        .unwrap_or(base)
}

/// The channel form as `POST /channels` would take it, with these credentials.
fn form_with(form: &Value, credentials: Value) -> Result<CreateChannel, ApiError> {
    let mut body = form.clone();
    body["kind"] = "vk".into();
    body["credentials"] = credentials;
    crate::extract::parse(&serde_json::to_vec(&body).map_err(|_| ApiError::internal())?)
}

/// Starts connecting a VK community through the server's VK app (admins). The body is the
/// channel form of `POST /channels` without `kind` and `credentials`.
#[utoipa::path(post, path = "/channels/vk/authorize", tag = "channels", request_body = Object,
    responses((status = 200, body = Authorize), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn authorize(
    caller: Caller,
    State(state): State<AppState>,
    Json(form): Json<Value>,
) -> Result<axum::Json<Authorize>, ApiError> {
    caller.require(caller.role().manages_operators(), "connect channels")?;
    let Some(app) = state.vk_app.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "vk_oauth_unavailable",
            "no VK app is configured on this server (SWITCHBOARD_VK_CLIENT_ID and SWITCHBOARD_VK_CLIENT_SECRET); connect with a community token instead",
        ));
    };
    if !form.is_object() || form.get("credentials").is_some() || form.get("kind").is_some() {
        return Err(ApiError::validation(
            "credentials",
            "the form of POST /channels without `kind` and `credentials`: VK provides the token",
        ));
    }
    // The form is checked now, not after the administrator went through VK.
    form_with(&form, json!({"token": "placeholder", "group_id": 1}))?;
    let flow = Flow {
        account: caller.account(),
        actor: caller.id(),
        form,
        group_id: None,
        expires: Timestamp::now().as_second() + STATE_LIFETIME_SECS,
    };
    let sealed = seal(&state, &flow)?;
    Ok(axum::Json(Authorize {
        authorize_url: authorize_url(&app, &state, "groups", None, &sealed),
    }))
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Customer-independent text, still escaped: community names come from VK.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    );
    (status, Html(html)).into_response()
}

fn failure(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "VK: не подключено / not connected",
        &format!("<p>{}</p>", escape(message)),
    )
}

/// Exchanges an authorization code for VK's answer (a user token, or community tokens).
async fn exchange(state: &AppState, app: &VkApp, code: &str) -> Result<Value, String> {
    let url = format!("{}/access_token", app.oauth_url.trim_end_matches('/'));
    let answer: Value = state
        .http
        .get(url)
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("redirect_uri", callback_url(state).as_str()),
            ("code", code),
        ])
        .send()
        .await
        .map_err(|e| format!("VK did not answer: {e}"))?
        .json()
        .await
        .map_err(|e| format!("VK answered something unreadable: {e}"))?;
    if let Some(error) = answer["error"].as_str() {
        let detail = answer["error_description"].as_str().unwrap_or(error);
        return Err(format!("VK refused the authorization: {detail}"));
    }
    Ok(answer)
}

/// The communities the user administers.
async fn communities(
    state: &AppState,
    app: &VkApp,
    token: &str,
) -> Result<Vec<(i64, String)>, String> {
    let answer: Value = state
        .http
        .post(format!(
            "{}/method/groups.get",
            app.api_url.trim_end_matches('/')
        ))
        .bearer_auth(token)
        .form(&[("filter", "admin"), ("extended", "1"), ("v", API_VERSION)])
        .send()
        .await
        .map_err(|e| format!("VK did not answer: {e}"))?
        .json()
        .await
        .map_err(|e| format!("VK answered something unreadable: {e}"))?;
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

async fn callback(
    State(state): State<AppState>,
    AxumQuery(query): AxumQuery<Callback>,
) -> Response {
    let Some(app) = state.vk_app.clone() else {
        return failure("no VK app is configured on this server");
    };
    let Some(flow) = query.state.as_deref().and_then(|s| open(&state, s)) else {
        return failure(
            "this link is not valid or has expired (15 minutes); start connecting again",
        );
    };
    if let Some(error) = &query.error {
        return failure(query.error_description.as_deref().unwrap_or(error));
    }
    let Some(code) = query.code.as_deref() else {
        return failure("VK sent no authorization code");
    };
    let answer = match exchange(&state, &app, code).await {
        Ok(a) => a,
        Err(e) => return failure(&e),
    };
    match flow.group_id {
        None => {
            let Some(token) = answer["access_token"].as_str() else {
                return failure("VK sent no access token");
            };
            let list = match communities(&state, &app, token).await {
                Ok(list) => list,
                Err(e) => return failure(&e),
            };
            if list.is_empty() {
                return page(
                    StatusCode::OK,
                    "VK",
                    "<p>Вы не администрируете ни одного сообщества. / You administer no community.</p>",
                );
            }
            let mut items = String::new();
            for (id, name) in list {
                let next = Flow {
                    group_id: Some(id),
                    expires: Timestamp::now().as_second() + STATE_LIFETIME_SECS,
                    account: flow.account,
                    actor: flow.actor,
                    form: flow.form.clone(),
                };
                let Ok(sealed) = seal(&state, &next) else {
                    return failure("internal error");
                };
                let url = authorize_url(
                    &app,
                    &state,
                    "messages,manage,photos,docs",
                    Some(id),
                    &sealed,
                );
                items.push_str(&format!(
                    "<li><a data-group=\"{id}\" href=\"{}\">{}</a></li>",
                    escape(&url),
                    escape(&name)
                ));
            }
            page(
                StatusCode::OK,
                "Выберите сообщество / Choose the community",
                &format!("<ul>{items}</ul>"),
            )
        }
        Some(group) => {
            let Some(token) = community_token(&answer, group) else {
                return failure("VK sent no token for this community");
            };
            let body = match form_with(&flow.form, json!({"token": token, "group_id": group})) {
                Ok(b) => b,
                Err(e) => return failure(&e.message),
            };
            match connect(&state, flow.account, flow.actor, body).await {
                Ok(channel) => page(
                    StatusCode::OK,
                    "VK подключён / VK connected",
                    &format!(
                        "<p data-channel=\"{}\">{}</p>",
                        channel.connection.id,
                        escape(&channel.connection.account_name)
                    ),
                ),
                Err(e) => failure(&e.message),
            }
        }
    }
}
