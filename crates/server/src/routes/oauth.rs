//! Connecting a channel through its own authorization (`channels::oauth`), for kinds whose
//! connector has a flow and whose app is configured on this server (VK's community
//! authorization): the admin fills the channel form, goes through the channel's pages, and
//! the server obtains and stores the credentials itself. The flow's steps and what they ask
//! of the channel live in the channel's folder; here is only HTTP.
//!
//! `POST /api/v1/channels/{kind}/authorize` checks the form and answers the channel's
//! authorization URL. The channel sends the browser back to `GET /oauth/{kind}/callback`
//! with a code, once per step: a step that ends in a choice answers a page listing it (each
//! choice a link to its own step), the last one creates the connection exactly as
//! `POST /channels` would. The form and the step travel in `state`, sealed with the server's
//! key and expiring in 15 minutes, so nothing is kept between the steps and a forged or
//! replayed-late state is refused. Credentials never reach the browser.

use axum::{
    extract::{Path, Query as AxumQuery, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_channels::{
    oauth::{Exchanged, OAuthApp, OAuthConnect},
    registry,
};
use switchboard_core::{
    channel::ChannelKind,
    ids::{AccountId, OperatorId},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::channels::{connect, CreateChannel};
use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::Json,
    state::AppState,
};

pub(super) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(authorize))
}

pub(super) fn service_router() -> Router<AppState> {
    Router::new().route("/oauth/{kind}/callback", get(callback))
}

const STATE_LIFETIME_SECS: i64 = 15 * 60;

/// Where the flow is, sealed into the channel's `state` parameter.
#[derive(Serialize, Deserialize)]
struct Flow {
    kind: ChannelKind,
    account: AccountId,
    actor: OperatorId,
    /// The channel form, without credentials.
    form: Value,
    /// `None`: the first step; then the one the admin picked.
    step: Option<String>,
    expires: i64,
}

/// The channel's authorization URL.
#[derive(Serialize, ToSchema)]
pub struct Authorize {
    pub authorize_url: String,
}

fn callback_url(state: &AppState, kind: ChannelKind) -> String {
    format!(
        "{}/oauth/{kind}/callback",
        state.public_url.trim_end_matches('/')
    )
}

/// The associated data of a sealed flow: it opens as nothing else.
const FLOW_CONTEXT: &[u8] = b"oauth flow";

fn seal(state: &AppState, flow: &Flow) -> Result<String, ApiError> {
    let json = serde_json::to_vec(flow).map_err(|_| ApiError::internal())?;
    let sealed = state
        .sealer
        .seal(&json, FLOW_CONTEXT)
        .map_err(|_| ApiError::internal())?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

fn open(state: &AppState, kind: ChannelKind, text: &str) -> Option<Flow> {
    let sealed = URL_SAFE_NO_PAD.decode(text).ok()?;
    let json = state.sealer.open(&sealed, FLOW_CONTEXT).ok()?;
    let flow: Flow = serde_json::from_slice(&json).ok()?;
    (flow.kind == kind && flow.expires > Timestamp::now().as_second()).then_some(flow)
}

/// The flow of `kind` and this server's app for it, when both exist.
fn flow_of(state: &AppState, kind: ChannelKind) -> Option<(&'static dyn OAuthConnect, OAuthApp)> {
    let oauth = registry::connector(kind)?.oauth()?;
    Some((oauth, state.web.oauth_apps.get(&kind)?.clone()))
}

/// The channel form as `POST /channels` would take it, with these credentials.
fn form_with(
    kind: ChannelKind,
    form: &Value,
    credentials: Value,
) -> Result<CreateChannel, ApiError> {
    let mut body = form.clone();
    body["kind"] = kind.as_str().into();
    body["credentials"] = credentials;
    crate::extract::parse(&serde_json::to_vec(&body).map_err(|_| ApiError::internal())?)
}

/// Starts connecting a channel through its own authorization (admins), where this server
/// has an app for it. The body is the channel form of `POST /channels` without `kind` and
/// `credentials`.
#[utoipa::path(post, path = "/channels/{kind}/authorize", tag = "channels", request_body = Object,
    params(("kind" = String, Path, description = "the channel kind, e.g. `vk`")),
    responses((status = 200, body = Authorize), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn authorize(
    caller: Caller,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Json(form): Json<Value>,
) -> Result<axum::Json<Authorize>, ApiError> {
    caller.require(caller.role().manages_operators(), "connect channels")?;
    let kind: ChannelKind = kind.parse().map_err(|_| ApiError::not_found())?;
    let Some(oauth) = registry::connector(kind).and_then(|c| c.oauth()) else {
        return Err(ApiError::not_found());
    };
    let Some(app) = state.web.oauth_apps.get(&kind).cloned() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "oauth_unavailable",
            format!("this server has no app registered with {kind} for connecting through it; connect with the credentials instead"),
        ));
    };
    if !form.is_object() || form.get("credentials").is_some() || form.get("kind").is_some() {
        return Err(ApiError::validation(
            "credentials",
            "the form of POST /channels without `kind` and `credentials`: the channel provides them",
        ));
    }
    // The form is checked now, not after the admin went through the channel's pages.
    form_with(kind, &form, oauth.sample_credentials())?;
    let flow = Flow {
        kind,
        account: caller.account(),
        actor: caller.id(),
        form,
        step: None,
        expires: Timestamp::now().as_second() + STATE_LIFETIME_SECS,
    };
    let sealed = seal(&state, &flow)?;
    Ok(axum::Json(Authorize {
        authorize_url: oauth.authorize_url(&app, &callback_url(&state, kind), None, &sealed),
    }))
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Text from the channel (names of communities), escaped.
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

fn failure(kind: &str, message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        &format!("{kind}: не подключено / not connected"),
        &format!("<p>{}</p>", escape(message)),
    )
}

async fn callback(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    AxumQuery(query): AxumQuery<Callback>,
) -> Response {
    let Ok(kind) = kind.parse::<ChannelKind>() else {
        return failure(&kind, "no such channel kind");
    };
    let title = switchboard_channels::form::title(kind).en;
    let Some((oauth, app)) = flow_of(&state, kind) else {
        return failure(
            title,
            "connecting through this channel is not set up on this server",
        );
    };
    let Some(flow) = query.state.as_deref().and_then(|s| open(&state, kind, s)) else {
        return failure(
            title,
            "this link is not valid or has expired (15 minutes); start connecting again",
        );
    };
    if let Some(error) = &query.error {
        return failure(title, query.error_description.as_deref().unwrap_or(error));
    }
    let Some(code) = query.code.as_deref() else {
        return failure(title, "the channel sent no authorization code");
    };
    let redirect = callback_url(&state, kind);
    let exchanged = oauth
        .exchange(&state.http, &app, &redirect, flow.step.as_deref(), code)
        .await;
    match exchanged {
        Err(e) => failure(title, &e),
        Ok(Exchanged::Choose(picks)) if picks.is_empty() => page(
            StatusCode::OK,
            title,
            "<p>Подключать нечего: вы не администрируете ни одного сообщества. / There is nothing to connect: you administer no community.</p>",
        ),
        Ok(Exchanged::Choose(picks)) => {
            let mut items = String::new();
            for pick in picks {
                let next = Flow {
                    step: Some(pick.step.clone()),
                    expires: Timestamp::now().as_second() + STATE_LIFETIME_SECS,
                    kind,
                    account: flow.account,
                    actor: flow.actor,
                    form: flow.form.clone(),
                };
                let Ok(sealed) = seal(&state, &next) else {
                    return failure(title, "internal error");
                };
                let url = oauth.authorize_url(&app, &redirect, Some(&pick.step), &sealed);
                items.push_str(&format!(
                    "<li><a data-pick=\"{}\" href=\"{}\">{}</a></li>",
                    escape(&pick.step),
                    escape(&url),
                    escape(&pick.label)
                ));
            }
            page(
                StatusCode::OK,
                "Выберите / Choose",
                &format!("<ul>{items}</ul>"),
            )
        }
        Ok(Exchanged::Credentials(credentials)) => {
            let body = match form_with(kind, &flow.form, credentials) {
                Ok(b) => b,
                Err(e) => return failure(title, &e.message),
            };
            match connect(&state, flow.account, flow.actor, body).await {
                Ok(channel) => page(
                    StatusCode::OK,
                    &format!("{title}: подключено / connected"),
                    &format!(
                        "<p data-channel=\"{}\">{}</p>",
                        channel.connection.id,
                        escape(&channel.connection.account_name)
                    ),
                ),
                Err(e) => failure(title, &e.message),
            }
        }
    }
}
