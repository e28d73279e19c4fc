//! Channel connections: connect (credentials checked with the channel before anything is
//! saved), list, change, disable. Credentials are sealed at rest and never returned.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_channels::{registry, ApiContext, ConnectError, Connector};
use switchboard_core::{
    capabilities::{Capabilities, CapabilityOverrides},
    channel::{ChannelConnection, ChannelKind, RateLimits, Receive, Routing},
    ids::{AccountId, ConnectionId, OperatorId, ScheduleId},
    routing::OutOfHours,
    validation, DurationSpec,
};
use switchboard_store::{ConnectionUpdate, NewConnection};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use switchboard_engine::channels::{self, new_webhook_secret, webhook_url, Secrets};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{double_option, Id, Json},
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(verify))
        .routes(routes!(get, update, delete))
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    pub kind: ChannelKind,
    pub name: String,
    /// What the channel needs, e.g. `{"token": "..."}` for Telegram. Never returned.
    #[schema(value_type = Object)]
    pub credentials: Value,
    /// Another API server for this channel (tests, Telegram's local Bot API server, proxies).
    pub api_base_url: Option<String>,
    /// Send limits; left out: the channel's defaults; `null`: as fast as the API answers.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<RateLimits>)]
    pub rate_limits: Option<Option<RateLimits>>,
    pub routing: Routing,
    pub schedule_id: Option<ScheduleId>,
    /// Close a conversation after this long without messages: `12h`, `3d` (> 0).
    pub auto_close_after: DurationSpec,
    /// Sent to the customer when auto-close ends a conversation.
    pub auto_close_message: Option<String>,
    /// Out of the schedule's hours: a message (once per conversation) and who takes new
    /// conversations (none: they wait for the opening).
    pub out_of_hours: Option<OutOfHours>,
    /// Changes to the kind's capability profile: `{"buttons": false}`, `{"max_buttons": 5}`,
    /// `{"via": "whatsapp"}` for a platform.
    pub capabilities: Option<CapabilityOverrides>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `webhook` (default; the channel calls `webhook_url`) or `polling` (Switchboard asks
    /// the channel; for servers without a public URL, where the channel supports it).
    #[serde(default = "webhook")]
    pub receive: Receive,
}

fn webhook() -> Receive {
    Receive::Webhook
}

const MAX_NOTICE: usize = 4096;

/// A message the system sends by itself: not blank, not longer than any channel takes.
fn check_notice(field: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    match text {
        Some(t) if t.trim().is_empty() || t.chars().count() > MAX_NOTICE => {
            Err(ApiError::validation(
                field.to_string(),
                format!("{field}: 1 to {MAX_NOTICE} characters, not only spaces"),
            ))
        }
        other => Ok(other),
    }
}

fn check_out_of_hours(o: Option<OutOfHours>) -> Result<Option<OutOfHours>, ApiError> {
    match o {
        Some(mut o) => {
            o.message = check_notice("out_of_hours.message", o.message)?;
            Ok(Some(o))
        }
        None => Ok(None),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    pub name: Option<String>,
    pub routing: Option<Routing>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ScheduleId>)]
    pub schedule_id: Option<Option<ScheduleId>>,
    pub auto_close_after: Option<DurationSpec>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub auto_close_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<OutOfHours>)]
    pub out_of_hours: Option<Option<OutOfHours>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub api_base_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<RateLimits>)]
    pub rate_limits: Option<Option<RateLimits>>,
    /// `null` goes back to the kind's defaults.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<CapabilityOverrides>)]
    pub capabilities: Option<Option<CapabilityOverrides>>,
    /// `false` unregisters the webhook and stops the channel; history is kept.
    pub enabled: Option<bool>,
    /// New credentials for the same channel account (a new token, the web chat's allowed
    /// sites): checked with the channel like on connect, never shown back.
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Value>,
}

/// A connection as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct Channel {
    #[serde(flatten)]
    pub connection: ChannelConnection,
    /// Where the channel delivers its webhooks.
    pub webhook_url: String,
    /// For channels shown on the business's own site (the web chat): the HTML to paste into
    /// its pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed_code: Option<String>,
    /// What this connection can show (its kind's profile with the overrides applied): the
    /// longest text, buttons or none, lists, media, the messaging window in seconds.
    #[schema(value_type = Object)]
    pub limits: Capabilities,
    /// Older connections of the same channel account that this one replaced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub displaced: Vec<ConnectionId>,
}

fn shown(
    state: &AppState,
    connection: ChannelConnection,
    displaced: Vec<ChannelConnection>,
) -> Channel {
    let webhook_url = webhook_url(&state.public_url, connection.id);
    let limits = switchboard_channels::profile::for_connection(
        connection.kind,
        connection.capabilities.as_ref(),
    );
    let embed_code = switchboard_channels::registry::connector(connection.kind)
        .and_then(|c| c.embed(&state.public_url, &connection.id.to_string()));
    Channel {
        connection,
        webhook_url,
        embed_code,
        limits,
        displaced: displaced.into_iter().map(|c| c.id).collect(),
    }
}

/// The API error for a failed connect. What a channel's API said in its own words is passed
/// on only when the API is the channel's own: an answer from an `api_base_url` is someone
/// else's body, logged but never reflected (else the server would be a proxy for reading
/// internal services).
fn connect_error(e: ConnectError, api: &ApiContext) -> ApiError {
    match e {
        ConnectError::BotNotFound(reason) => {
            tracing::info!(%reason, "credentials refused by the channel");
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bot_not_found",
                "Bot not found: the channel does not know these credentials",
            )
            .with_field("credentials")
        }
        ConnectError::InvalidCredentials { field, message } => ApiError::validation(
            format!("credentials.{field}"),
            format!("credentials.{field}: {message}"),
        ),
        ConnectError::Refused(message) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "channel_refused", message)
        }
        ConnectError::Unavailable(message) => unavailable(message),
        ConnectError::Answered { message, retry } => {
            let message = if api.api_base_url.is_some() {
                tracing::info!(%message, base = ?api.api_base_url, "the API at api_base_url refused");
                "the API at api_base_url refused; its answer is in the server's log".to_string()
            } else {
                message
            };
            if retry {
                unavailable(message)
            } else {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "channel_refused", message)
            }
        }
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "channel_unavailable",
        format!("the channel's API did not answer properly: {message}"),
    )
}

/// A connection's `api_base_url`: an http(s) URL whose host this server allows
/// (`--api-base-allow`), or 422 saying so.
fn api_base(state: &AppState, url: &str) -> Result<String, ApiError> {
    let url = check_url("api_base_url", url)?;
    if state.web.api_base_allow.allows(&url) {
        Ok(url)
    } else {
        Err(ApiError::validation(
            "api_base_url",
            "api_base_url: this server does not allow that API address; its administrator \
             can allow a host with --api-base-allow",
        ))
    }
}

/// The connector of a kind, or 422 naming the kind.
fn connector_for(kind: ChannelKind) -> Result<std::sync::Arc<dyn Connector>, ApiError> {
    registry::connector(kind).ok_or_else(|| {
        ApiError::validation(
            "kind",
            format!("kind: {kind} channels are not available yet"),
        )
    })
}

fn check_credentials(credentials: &Value) -> Result<(), ApiError> {
    if credentials.is_object() {
        Ok(())
    } else {
        Err(ApiError::validation(
            "credentials",
            "credentials: must be an object",
        ))
    }
}

fn check_url(field: &str, url: &str) -> Result<String, ApiError> {
    let trimmed = url.trim().trim_end_matches('/');
    let ok = (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
        && !trimmed.contains(char::is_whitespace);
    if ok {
        Ok(trimmed.to_string())
    } else {
        Err(ApiError::validation(
            field,
            format!("{field}: must be an http:// or https:// URL"),
        ))
    }
}

fn check_rate_limits(limits: &Option<Option<RateLimits>>) -> Result<(), ApiError> {
    if let Some(Some(l)) = limits {
        for (name, value) in [
            ("per_second", l.per_second),
            ("per_chat_per_second", l.per_chat_per_second),
        ] {
            if value.is_some_and(|v| !(v > 0.0 && v.is_finite())) {
                return Err(ApiError::validation(
                    format!("rate_limits.{name}"),
                    format!("rate_limits.{name}: must be greater than zero"),
                ));
            }
        }
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyChannel {
    pub kind: ChannelKind,
    #[schema(value_type = Object)]
    pub credentials: Value,
    pub api_base_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Verified {
    /// The bot or page name the channel reported.
    pub account_name: String,
}

/// Asks the channel whether these credentials work, saving nothing: the channel form shows
/// the bot's name (or "Bot not found") as soon as the token is typed.
#[utoipa::path(post, path = "/channels/verify", tag = "channels", request_body = VerifyChannel,
    responses((status = 200, body = Verified), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn verify(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<VerifyChannel>,
) -> Result<axum::Json<Verified>, ApiError> {
    caller.require(caller.role().manages_operators(), "connect channels")?;
    let connector = connector_for(body.kind)?;
    check_credentials(&body.credentials)?;
    connector
        .validate(&body.credentials)
        .map_err(|e| connect_error(e, &ApiContext::default()))?;
    let api = ApiContext {
        http: state.http.clone(),
        api_base_url: body
            .api_base_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(|u| api_base(&state, u))
            .transpose()?,
        send_key: None,
    };
    let account = connector
        .verify(&api, &body.credentials)
        .await
        .map_err(|e| connect_error(e, &api))?;
    Ok(axum::Json(Verified {
        account_name: account.name,
    }))
}

/// The connections of the caller's account.
#[utoipa::path(get, path = "/channels", tag = "channels", responses((status = 200, body = [Channel])))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<Channel>>, ApiError> {
    let connections = state.store.list_connections(caller.account()).await?;
    Ok(axum::Json(
        connections
            .into_iter()
            .map(|c| shown(&state, c, vec![]))
            .collect(),
    ))
}

/// Connects a channel (admins). The credentials are checked with the channel first: a bad
/// token is a 422 `bot_not_found` and nothing is saved.
#[utoipa::path(post, path = "/channels", tag = "channels", request_body = CreateChannel,
    responses((status = 201, body = Channel), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateChannel>,
) -> Result<(StatusCode, axum::Json<Channel>), ApiError> {
    caller.require(caller.role().manages_operators(), "connect channels")?;
    let channel = connect(&state, caller.account(), caller.id(), body).await?;
    Ok((StatusCode::CREATED, axum::Json(channel)))
}

/// Connects a channel for `account` on `actor`'s word: checks the credentials with the
/// channel, stores the connection, registers its webhook (or makes sure there is none for a
/// polled one). Nothing is kept when any step fails.
pub(crate) async fn connect(
    state: &AppState,
    account_id: AccountId,
    actor: OperatorId,
    body: CreateChannel,
) -> Result<Channel, ApiError> {
    let name = validation::name("name", &body.name, 200)?;
    let connector = connector_for(body.kind)?;
    if body.receive == Receive::Polling && !connector.polls() {
        return Err(ApiError::validation(
            "receive",
            format!(
                "receive: {} channels cannot be polled; use webhook",
                body.kind
            ),
        ));
    }
    let api_base_url = body
        .api_base_url
        .as_deref()
        .map(|u| api_base(state, u))
        .transpose()?;
    check_rate_limits(&body.rate_limits)?;
    if let Some(o) = &body.capabilities {
        o.check(body.kind)?;
    }
    check_credentials(&body.credentials)?;
    connector
        .validate(&body.credentials)
        .map_err(|e| connect_error(e, &ApiContext::default()))?;
    let api = ApiContext {
        http: state.http.clone(),
        api_base_url: api_base_url.clone(),
        send_key: None,
    };
    let account = connector
        .verify(&api, &body.credentials)
        .await
        .map_err(|e| connect_error(e, &api))?;

    let id = ConnectionId::new();
    // What the channel told us that later requests need is kept with the credentials.
    let mut credentials = body.credentials;
    if let (Some(Value::Object(keep)), Some(object)) =
        (account.keep.clone(), credentials.as_object_mut())
    {
        object.extend(keep);
    }
    let secrets = Secrets {
        credentials,
        webhook_secret: new_webhook_secret(),
    };
    let sealed = secrets.seal(&state.sealer, id).map_err(|e| {
        tracing::error!(error = %e, "sealing credentials failed");
        ApiError::internal()
    })?;
    let new = NewConnection {
        id,
        account_id,
        kind: body.kind,
        name,
        account_name: account.name,
        external_account_id: account.external_id,
        sealed_credentials: sealed,
        routing: body.routing,
        schedule_id: body.schedule_id,
        auto_close_after: body.auto_close_after,
        auto_close_message: check_notice("auto_close_message", body.auto_close_message)?,
        out_of_hours: check_out_of_hours(body.out_of_hours)?,
        enabled: body.enabled,
        receive: body.receive,
        api_base_url,
        rate_limits: body.rate_limits,
        capabilities: body.capabilities,
    };
    let (connection, displaced) = state.store.create_connection(&new, Some(actor)).await?;
    for old in &displaced {
        state.connections.forget(old.id);
    }
    if connection.enabled {
        let url = webhook_url(&state.public_url, id);
        // A polled channel must have no webhook: Telegram refuses getUpdates while one is set.
        let result = match body.receive {
            Receive::Webhook => {
                connector
                    .register_webhook(&api, &secrets.credentials, &url, &secrets.webhook_secret)
                    .await
            }
            Receive::Polling => {
                connector
                    .unregister_webhook(&api, &secrets.credentials)
                    .await
            }
        };
        if let Err(e) = result {
            state.store.remove_new_connection(account_id, id).await?;
            return Err(connect_error(e, &api));
        }
    }
    if !displaced.is_empty() {
        tracing::info!(connection = %id, displaced = ?displaced.iter().map(|c| c.id).collect::<Vec<_>>(),
            "the same channel account was connected again; the older connections are disabled");
    }
    Ok(shown(state, connection, displaced))
}

/// One connection.
#[utoipa::path(get, path = "/channels/{id}", tag = "channels", params(("id" = ConnectionId, Path)),
    responses((status = 200, body = Channel), (status = 404, body = ErrorBody)))]
async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConnectionId>,
) -> Result<axum::Json<Channel>, ApiError> {
    let connection = state.store.get_connection(caller.account(), id).await?;
    Ok(axum::Json(shown(&state, connection, vec![])))
}

/// Re-points the channel's webhook at us (after enabling) or removes it (after disabling).
async fn sync_webhook(state: &AppState, id: ConnectionId, enabled: bool) -> Result<(), ApiError> {
    let record = state
        .store
        .connection_record(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let opened = channels::open(record, &state.sealer, &state.http).map_err(|e| {
        tracing::error!(error = %e, connection = %id, "cannot open the connection");
        ApiError::internal()
    })?;
    let credentials = &opened.secrets.credentials;
    if enabled && opened.connection.receive == Receive::Polling {
        opened
            .connector
            .unregister_webhook(&opened.api, credentials)
            .await
            .map_err(|e| connect_error(e, &opened.api))
    } else if enabled {
        let url = webhook_url(&state.public_url, id);
        opened
            .connector
            .register_webhook(
                &opened.api,
                credentials,
                &url,
                &opened.secrets.webhook_secret,
            )
            .await
            .map_err(|e| connect_error(e, &opened.api))
    } else {
        // The connection is off either way; a channel that cannot be told keeps sending to a
        // webhook that now answers 404.
        if let Err(e) = opened
            .connector
            .unregister_webhook(&opened.api, credentials)
            .await
        {
            tracing::warn!(error = %e, connection = %id, "could not unregister the webhook");
        }
        Ok(())
    }
}

/// Changes a connection (admins); `enabled: false` disables it and keeps its history.
#[utoipa::path(patch, path = "/channels/{id}", tag = "channels", params(("id" = ConnectionId, Path)), request_body = UpdateChannel,
    responses((status = 200, body = Channel), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConnectionId>,
    Json(body): Json<UpdateChannel>,
) -> Result<axum::Json<Channel>, ApiError> {
    let current = state.store.get_connection(caller.account(), id).await?;
    caller.require(caller.role().manages_operators(), "change channels")?;
    check_rate_limits(&body.rate_limits)?;
    if let Some(Some(o)) = &body.capabilities {
        o.check(current.kind)?;
    }
    let api_base_url = body
        .api_base_url
        .clone()
        .map(|u| u.map(|u| api_base(&state, &u)).transpose())
        .transpose()?;
    let credentials = match &body.credentials {
        Some(credentials) => Some(
            new_credentials(
                &state,
                &current,
                credentials.clone(),
                api_base_url.clone().unwrap_or(current.api_base_url.clone()),
            )
            .await?,
        ),
        None => None,
    };
    let changed_credentials = credentials.is_some();
    let update = ConnectionUpdate {
        credentials,
        name: body
            .name
            .map(|n| validation::name("name", &n, 200))
            .transpose()?,
        routing: body.routing,
        schedule_id: body.schedule_id,
        auto_close_after: body.auto_close_after,
        auto_close_message: body
            .auto_close_message
            .map(|m| check_notice("auto_close_message", m))
            .transpose()?,
        out_of_hours: body.out_of_hours.map(check_out_of_hours).transpose()?,
        api_base_url,
        rate_limits: body.rate_limits.map(Some),
        capabilities: body.capabilities,
    };
    let mut connection = state
        .store
        .update_connection(caller.account(), id, &update, Some(caller.id()))
        .await?;
    state.connections.forget(id);
    if changed_credentials && connection.enabled && body.enabled != Some(false) {
        // The channel is told where to deliver with the new credentials (a new token).
        sync_webhook(&state, id, true).await?;
    }
    let mut displaced = Vec::new();
    if let Some(enabled) = body.enabled.filter(|e| *e != connection.enabled) {
        if enabled {
            sync_webhook(&state, id, true).await?;
        }
        (connection, displaced) = state
            .store
            .set_connection_enabled(caller.account(), id, enabled, Some(caller.id()))
            .await?;
        state.connections.forget(id);
        for old in &displaced {
            state.connections.forget(old.id);
        }
        if !enabled {
            sync_webhook(&state, id, false).await?;
        }
    }
    Ok(axum::Json(shown(&state, connection, displaced)))
}

/// New credentials of a connection, checked like on connect and sealed with its webhook
/// secret: they must be of the same channel account (another bot is another channel).
async fn new_credentials(
    state: &AppState,
    current: &ChannelConnection,
    credentials: Value,
    api_base_url: Option<String>,
) -> Result<(Vec<u8>, String), ApiError> {
    let connector = connector_for(current.kind)?;
    check_credentials(&credentials)?;
    connector
        .validate(&credentials)
        .map_err(|e| connect_error(e, &ApiContext::default()))?;
    let api = ApiContext {
        http: state.http.clone(),
        api_base_url,
        send_key: None,
    };
    let account = connector
        .verify(&api, &credentials)
        .await
        .map_err(|e| connect_error(e, &api))?;
    if connector.form().verifies && account.external_id != current.external_account_id {
        return Err(ApiError::validation(
            "credentials",
            format!(
                "these credentials are of another {} account ({}); connect it as a new channel",
                current.kind, account.name
            ),
        ));
    }
    let opened = match state.opened(current.id).await {
        Ok(Some(opened)) => opened,
        Ok(None) => return Err(ApiError::not_found()),
        Err(channels::CachedError::Store(e)) => return Err(e.into()),
        Err(channels::CachedError::Open(e)) => {
            tracing::error!(error = %e, connection = %current.id, "cannot open the connection");
            return Err(ApiError::internal());
        }
    };
    let mut credentials = credentials;
    if let (Some(Value::Object(keep)), Some(object)) =
        (account.keep.clone(), credentials.as_object_mut())
    {
        object.extend(keep);
    }
    let secrets = Secrets {
        credentials,
        webhook_secret: opened.secrets.webhook_secret.clone(),
    };
    let sealed = secrets.seal(&state.sealer, current.id).map_err(|e| {
        tracing::error!(error = %e, "sealing credentials failed");
        ApiError::internal()
    })?;
    Ok((sealed, account.name))
}

/// Disables a connection (admins): its webhook is removed, its history kept.
#[utoipa::path(delete, path = "/channels/{id}", tag = "channels", params(("id" = ConnectionId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConnectionId>,
) -> Result<StatusCode, ApiError> {
    state.store.get_connection(caller.account(), id).await?;
    caller.require(caller.role().manages_operators(), "disable channels")?;
    state
        .store
        .set_connection_enabled(caller.account(), id, false, Some(caller.id()))
        .await?;
    state.connections.forget(id);
    sync_webhook(&state, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}
