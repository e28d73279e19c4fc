//! Tokens as the API shows them: sessions from a login and API tokens for scripts. The
//! secret is shown once at creation and only its hash is stored.

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ids::TokenId, string_enum};

string_enum! {
    /// Where a token came from.
    pub enum TokenKind {
        /// From `POST /auth/login`; expires after a week without use.
        Session = "session",
        /// Made by an operator for scripts; lives until revoked or its expiry.
        Api = "api",
    }
}

/// A token's public facts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: TokenId,
    pub kind: TokenKind,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
}
