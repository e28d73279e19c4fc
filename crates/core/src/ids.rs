//! Typed ids. Every stored object has a UUID; a typed wrapper per kind keeps an operator id
//! from being passed where a group id is expected.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $generate:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self($generate)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

// Time-ordered (v7) ids keep index inserts local; connection ids are fully random (v4)
// because they appear in webhook URLs and must not be guessable.
id_type!(/// A tenant: one client company on the install.
    AccountId, Uuid::now_v7());
id_type!(/// A person who answers conversations.
    OperatorId, Uuid::now_v7());
id_type!(/// A group of operators sharing a queue.
    GroupId, Uuid::now_v7());
id_type!(/// Weekly working hours with exceptions.
    ScheduleId, Uuid::now_v7());
id_type!(/// One connected account of one channel kind.
    ConnectionId, Uuid::new_v4());
id_type!(/// A customer.
    ContactId, Uuid::now_v7());
id_type!(/// One episode of talk with one contact on one connection.
    ConversationId, Uuid::now_v7());
id_type!(/// One message in a conversation.
    MessageId, Uuid::now_v7());
id_type!(/// An internal note on a conversation.
    NoteId, Uuid::now_v7());
id_type!(/// A session or API token (the id, never the secret).
    TokenId, Uuid::now_v7());
id_type!(/// A bot scenario.
    ScenarioId, Uuid::now_v7());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = GroupId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<GroupId>().unwrap(), id);
        assert!("not-an-id".parse::<GroupId>().is_err());
    }

    #[test]
    fn connection_ids_are_random() {
        assert_eq!(ConnectionId::new().0.get_version_num(), 4);
    }
}
