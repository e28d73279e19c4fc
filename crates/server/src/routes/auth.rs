//! Login, logout, who am I, and API tokens for scripts.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode},
};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use switchboard_core::{
    ids::TokenId,
    operator::{self, Operator},
    token::{TokenInfo, TokenKind},
    validation, DurationSpec,
};
use switchboard_store::NewToken;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{password::Verified, secret, throttle::client_address, Caller, SESSION_IDLE},
    error::{ApiError, ErrorBody},
    extract::{Id, Json},
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(session))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(csrf))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(delete_token))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginReply {
    /// The session's bearer token; shown only here.
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    pub operator: Operator,
}

/// Exchanges an e-mail and password for a session token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", security(()), request_body = Login,
    responses(
        (status = 200, body = LoginReply),
        (status = 401, description = "Wrong e-mail or password", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> Result<axum::Json<LoginReply>, ApiError> {
    let (token, expires_at, operator) = sign_in(&state, peer, &headers, body).await?;
    Ok(axum::Json(LoginReply {
        token,
        expires_at,
        operator,
    }))
}

/// A browser session: the token in an HttpOnly cookie the page's scripts cannot read.
#[derive(Serialize, ToSchema)]
pub struct SessionReply {
    /// Send it as `X-CSRF-Token` with every request that changes something.
    pub csrf_token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    pub operator: Operator,
}

/// Logs in for the web interface: the session token goes into an HttpOnly, SameSite=Strict
/// cookie (Secure when the server is reached over HTTPS), and the answer carries the CSRF
/// token that requests changing something must send back.
#[utoipa::path(post, path = "/auth/session", tag = "auth", security(()), request_body = Login,
    responses((status = 200, body = SessionReply), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn session(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (token, expires_at, operator) = sign_in(&state, peer, &headers, body).await?;
    let cookie = crate::auth::session_cookie(&state, &token, SESSION_IDLE.as_secs());
    let reply = SessionReply {
        csrf_token: crate::auth::csrf_token(&state, &token),
        expires_at,
        operator,
    };
    Ok((
        [(axum::http::header::SET_COOKIE, cookie)],
        axum::Json(reply),
    )
        .into_response())
}

/// Checks an e-mail and password (throttled) and opens a session.
async fn sign_in(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Login,
) -> Result<(String, Timestamp, Operator), ApiError> {
    let email = body.email.trim().to_lowercase();
    let now = Timestamp::now();
    let address = client_address(peer.ip(), headers, &state.auth.trusted_proxies);
    // Admitted and counted before the password is checked: concurrent guesses cannot pass
    // the policy between a check and a record.
    let attempt = state
        .auth
        .throttle
        .admit(&email, address, now)
        .map_err(|wait| {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("too many failed logins; try again in {} s", wait.as_secs()),
            );
            e.retry_after = Some(wait.as_secs().max(1));
            e
        })?;
    let credentials = state.store.credentials_by_email(&email).await?;
    let stored = credentials.as_ref().map(|c| c.password_hash.clone());
    let verified = state
        .auth
        .passwords
        .verify_in_slot(body.password, stored)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password check failed");
            ApiError::internal()
        })?;
    let operator = match (credentials, verified) {
        (Some(c), Verified::Right) => c.operator,
        (Some(c), Verified::RightRehashed(hash)) => {
            state.store.set_password_hash(c.operator.id, &hash).await?;
            tracing::info!(operator = %c.operator.id, "password hash upgraded to the current parameters");
            c.operator
        }
        _ => {
            attempt.failed(now);
            tracing::info!(%email, %address, "failed login");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong e-mail or password",
            ));
        }
    };
    attempt.succeeded(now);
    let token = secret::generate();
    let expires_at = now + SESSION_IDLE;
    state
        .store
        .create_token(&NewToken {
            account_id: operator.account_id,
            operator_id: operator.id,
            kind: TokenKind::Session,
            name: "login".into(),
            secret_hash: secret::hash(&token),
            expires_at: Some(expires_at),
        })
        .await?;
    Ok((token, expires_at, operator))
}

/// Ends the session (or revokes the API token) used for this request.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204)))]
async fn logout(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    state
        .store
        .delete_token(caller.account(), caller.id(), caller.token.id)
        .await?;
    // A browser session's cookie goes too.
    let expired = crate::auth::session_cookie(&state, "", 0);
    Ok((
        StatusCode::NO_CONTENT,
        [(axum::http::header::SET_COOKIE, expired)],
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct CsrfReply {
    pub csrf_token: String,
}

/// The CSRF token of the browser session in the cookie, for a page loaded again: the
/// token from `POST /auth/session` lives only as long as the page that received it.
#[utoipa::path(get, path = "/auth/csrf", tag = "auth",
    responses((status = 200, body = CsrfReply), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn csrf(
    _caller: Caller,
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::Json<CsrfReply>, ApiError> {
    let token = crate::auth::caller::cookie_in(&headers, crate::auth::SESSION_COOKIE)
        .filter(|_| !headers.contains_key(axum::http::header::AUTHORIZATION))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "no_session_cookie",
                "only a browser session (the cookie from POST /auth/session) has a CSRF token",
            )
        })?;
    Ok(axum::Json(CsrfReply {
        csrf_token: crate::auth::csrf_token(&state, &token),
    }))
}

/// The operator the token belongs to.
#[utoipa::path(get, path = "/auth/me", tag = "auth", responses((status = 200, body = Operator), (status = 401, body = ErrorBody)))]
async fn me(caller: Caller) -> axum::Json<Operator> {
    axum::Json(caller.operator)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for ("CRM sync").
    pub name: String,
    /// Lifetime; without it the token lives until revoked.
    pub expires_in: Option<DurationSpec>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The bearer secret; shown only here.
    pub token: String,
    pub info: TokenInfo,
}

/// The caller's own tokens (sessions and API tokens), without their secrets.
#[utoipa::path(get, path = "/tokens", tag = "auth", responses((status = 200, body = [TokenInfo])))]
async fn list_tokens(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<TokenInfo>>, ApiError> {
    Ok(axum::Json(
        state
            .store
            .list_tokens(caller.account(), caller.id())
            .await?,
    ))
}

/// Makes an API token for scripts, acting as the caller.
#[utoipa::path(post, path = "/tokens", tag = "auth", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 422, body = ErrorBody)))]
async fn create_token(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateToken>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), ApiError> {
    let name = validation::name("name", &body.name, operator::MAX_NAME)?;
    let token = secret::generate();
    let expires_at = body
        .expires_in
        .map(|d| Timestamp::now() + SignedDuration::from_secs(d.as_secs() as i64));
    let info = state
        .store
        .create_token(&NewToken {
            account_id: caller.account(),
            operator_id: caller.id(),
            kind: TokenKind::Api,
            name,
            secret_hash: secret::hash(&token),
            expires_at,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedToken { token, info }),
    ))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "auth", params(("id" = TokenId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_token(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<TokenId>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_token(caller.account(), caller.id(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
