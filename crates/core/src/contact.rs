//! Contacts: the customers. One contact may be known on several channels; each channel
//! knows them by its own id, an identity.

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::{AccountId, ConnectionId, ContactId};

/// A customer of one account.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub account_id: AccountId,
    /// The name the channel reported, as the customer wrote it (never trusted as markup).
    pub name: String,
    pub identities: Vec<Identity>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// How one connection knows a contact: the chat or user id in that channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Identity {
    pub connection_id: ConnectionId,
    pub external_id: String,
    /// False once the channel says the contact cannot be written to (blocked the bot).
    pub reachable: bool,
}
