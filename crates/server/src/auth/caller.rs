//! The authenticated caller of an API request: `Authorization: Bearer TOKEN` (scripts, and
//! anything that is not a browser), or the web interface's session cookie, for which every
//! request that changes something must also carry the session's CSRF token.

use axum::{extract::FromRequestParts, http::request::Parts};
use jiff::{SignedDuration, Timestamp};
use switchboard_core::{
    ids::{AccountId, OperatorId},
    operator::{Operator, Role},
    token::{TokenInfo, TokenKind},
};

use crate::{auth::secret, error::ApiError, state::AppState};

/// A session ends after this long without use.
pub const SESSION_IDLE: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Recording every use would make every read a write; once in a while is enough to keep a
/// session alive and show when a token was last used.
const TOUCH_EVERY: SignedDuration = SignedDuration::from_mins(5);

/// Who is calling, with the token they used.
#[derive(Debug, Clone)]
pub struct Caller {
    pub operator: Operator,
    pub token: TokenInfo,
}

impl Caller {
    pub fn account(&self) -> AccountId {
        self.operator.account_id
    }

    pub fn id(&self) -> OperatorId {
        self.operator.id
    }

    pub fn role(&self) -> Role {
        self.operator.role
    }

    pub fn require(&self, allowed: bool, what: &str) -> Result<(), ApiError> {
        if allowed {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "your role ({}) may not {what}",
                self.operator.role
            )))
        }
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    bearer_in(&parts.headers)
}

/// The token of an `Authorization: Bearer TOKEN` header.
pub(crate) fn bearer_in(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A cookie's value from the `Cookie` headers.
pub(crate) fn cookie(parts: &Parts, name: &str) -> Option<String> {
    cookie_in(&parts.headers, name)
}

/// A cookie's value from these headers.
pub(crate) fn cookie_in(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = match bearer(parts) {
            Some(token) => token.to_string(),
            None => {
                let token = cookie(parts, super::SESSION_COOKIE).ok_or_else(|| {
                    ApiError::unauthorized("send Authorization: Bearer TOKEN, or log in")
                })?;
                let safe = matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS");
                let presented = parts
                    .headers
                    .get(super::CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let expected = format!("csrf:{token}");
                if !safe && !state.sealer.verify(expected.as_bytes(), presented) {
                    return Err(ApiError::new(
                        axum::http::StatusCode::FORBIDDEN,
                        "csrf_failed",
                        "a request with the session cookie must carry its X-CSRF-Token",
                    ));
                }
                token
            }
        };
        let token = token.as_str();
        let now = Timestamp::now();
        let owner = state
            .store
            .authenticate(&secret::hash(token), now)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the token is invalid or expired"))?;
        let stale = owner
            .token
            .last_used_at
            .is_none_or(|t| now.duration_since(t) >= TOUCH_EVERY);
        if stale {
            let expiry = (owner.token.kind == TokenKind::Session).then(|| now + SESSION_IDLE);
            state.store.touch_token(owner.token.id, now, expiry).await?;
        }
        Ok(Caller {
            operator: owner.operator,
            token: owner.token,
        })
    }
}
