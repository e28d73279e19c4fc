//! Closed sets of names stored as text (roles, statuses, strategies, kinds).
//!
//! One macro gives each the same text form in JSON, in the database, in error messages and
//! in the OpenAPI document, so a value can never read one way in the API and another in
//! storage or in a generated client. (The schema is written by hand: utoipa's derive does
//! not see a `serde(rename)` whose name comes from a macro argument, and documented
//! `Admin` where the wire says `admin`.)

/// Declares a fieldless enum whose variants have fixed snake_case names.
#[macro_export]
macro_rules! string_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialized name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The names, joined for an error message.
            pub fn expected() -> String {
                [$($text),+].join(", ")
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::enums::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::enums::UnknownName {
                        found: other.to_string(),
                        expected: $name::expected(),
                    }),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use crate::operator::{OperatorStatus, Role};

    /// The document lists exactly the names the API reads and writes.
    #[test]
    fn the_schema_names_what_the_wire_carries() {
        let schema = serde_json::to_value(Role::schema()).unwrap();
        assert_eq!(
            schema,
            serde_json::json!({"type": "string", "enum": ["admin", "supervisor", "operator"]})
        );
        let schema = serde_json::to_value(OperatorStatus::schema()).unwrap();
        assert_eq!(
            schema["enum"],
            serde_json::json!(["online", "away", "offline"])
        );
        assert_eq!(serde_json::to_value(Role::Admin).unwrap(), "admin");
    }
}

/// A name outside an enum's closed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {found:?}, expected one of: {expected}")]
pub struct UnknownName {
    pub found: String,
    pub expected: String,
}
