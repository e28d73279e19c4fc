//! A bot scenario as stored: its name and YAML source. Reading and running it is the bot
//! crate's; here is what the API and the store pass around.

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    ids::{AccountId, ScenarioId},
    validation::{self, Validated},
};

/// The longest scenario source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;
const MAX_NAME: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ScenarioRecord {
    pub id: ScenarioId,
    pub account_id: AccountId,
    pub name: String,
    /// The YAML text.
    pub source: String,
    /// Bumped on every change.
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Parses a scenario name.
pub fn parse_name(value: &str) -> Validated<String> {
    validation::name("name", value, MAX_NAME)
}
