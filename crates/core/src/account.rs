//! Accounts: the tenants of one install. Every other object belongs to exactly one account,
//! and every query is scoped by the caller's account.

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ids::AccountId, validation};

/// One client company hosted on the install.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// The longest account name we accept.
pub const MAX_NAME: usize = 200;

/// Parses an account name from user input.
pub fn parse_name(value: &str) -> validation::Validated<String> {
    validation::name("name", value, MAX_NAME)
}
