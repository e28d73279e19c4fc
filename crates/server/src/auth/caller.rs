//! The authenticated caller of an API request, from `Authorization: Bearer TOKEN`.

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
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer TOKEN"))?;
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
