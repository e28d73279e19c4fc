//! Operators: the people who answer. Roles decide what they may change; status decides
//! whether they receive conversations.

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    ids::{AccountId, OperatorId},
    string_enum,
    validation::{self, FieldError, Validated},
};

string_enum! {
    /// What an operator may do inside their account.
    pub enum Role {
        /// Connects channels, writes scenarios, manages operators.
        Admin = "admin",
        /// Watches queues, transfers conversations, edits groups and schedules.
        Supervisor = "supervisor",
        /// Answers conversations.
        Operator = "operator",
    }
}

impl Role {
    /// Creating, changing and deleting operators.
    pub fn manages_operators(self) -> bool {
        self == Role::Admin
    }

    /// Creating and changing groups, schedules and distribution settings.
    pub fn manages_routing(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }
}

string_enum! {
    /// Whether an operator is taking conversations.
    pub enum OperatorStatus {
        Online = "online",
        Away = "away",
        Offline = "offline",
    }
}

/// A person who answers conversations, as the API shows them (never with the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Operator {
    pub id: OperatorId,
    pub account_id: AccountId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: OperatorStatus,
    /// Their own limit of open conversations; none takes each group's capacity.
    pub capacity: Option<u32>,
    /// May create accounts on this install (the integrator's own administrators).
    pub instance_admin: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// The longest operator name we accept.
pub const MAX_NAME: usize = 200;
/// OWASP: at least 8 characters without composition rules; a cap keeps hashing bounded.
pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 256;

/// Normalises an e-mail address used as a login: trimmed and lower-cased, so `Anna@X.ru`
/// and `anna@x.ru` are one login.
pub fn parse_email(field: &str, value: &str) -> Validated<String> {
    let email = value.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(FieldError::new(
            field,
            "must be an e-mail address such as anna@example.com",
        ))
    }
}

/// Checks a new password against the length policy.
pub fn check_password(field: &str, value: &str) -> Validated<()> {
    let length = value.chars().count();
    if length < MIN_PASSWORD {
        return Err(FieldError::new(
            field,
            format!("must be at least {MIN_PASSWORD} characters"),
        ));
    }
    if length > MAX_PASSWORD {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_PASSWORD} characters"),
        ));
    }
    Ok(())
}

/// Parses an operator's display name.
pub fn parse_name(value: &str) -> Validated<String> {
    validation::name("name", value, MAX_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            parse_email("email", " Anna@Example.COM ").unwrap(),
            "anna@example.com"
        );
        for bad in ["", "anna", "@x.ru", "anna@", "a@b@c", "an na@x.ru"] {
            assert!(parse_email("email", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_follow_the_length_policy() {
        assert!(check_password("password", "short").is_err());
        assert!(
            check_password("password", "пароль12").is_ok(),
            "counts characters"
        );
        assert!(check_password("password", &"x".repeat(MAX_PASSWORD + 1)).is_err());
    }

    #[test]
    fn roles_read_back_from_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), *role);
        }
        let err = "root".parse::<Role>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown value \"root\", expected one of: admin, supervisor, operator"
        );
    }
}
