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

    /// Writing bot scenarios, and checking drafts of them (the check parses untrusted YAML,
    /// so it is not open to every operator).
    pub fn edits_scenarios(self) -> bool {
        self == Role::Admin
    }

    /// Opening any conversation of the account. A plain operator opens only those assigned
    /// or offered to them and those of their groups.
    pub fn reads_every_conversation(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
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

/// Checks a new password: the length policy, and not guessable as a whole (OWASP ASVS
/// 2.1.7): one of the 30,000 most common passwords (also reversed, capitalised or in l33t),
/// a keyboard walk, a repeat or sequence, or the operator's own e-mail or name (`personal`).
/// A common word inside a longer password is fine: "correct horse battery" passes.
pub fn check_password(field: &str, value: &str, personal: &[&str]) -> Validated<()> {
    check_password_length(field, value)?;
    if guessable(value, personal) {
        return Err(FieldError::new(
            field,
            "is too easy to guess (a common password, a keyboard pattern, or your own \
             e-mail or name): add a few unrelated words",
        ));
    }
    Ok(())
}

/// Whether `value` is guessable as a whole (see [`check_password`]).
pub fn is_guessable(value: &str, personal: &[&str]) -> bool {
    guessable(value, personal)
}

/// Checks a password against the length policy only (8 to 256 characters).
pub fn check_password_length(field: &str, value: &str) -> Validated<()> {
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

/// Whether one guessable pattern makes up the whole password.
fn guessable(password: &str, personal: &[&str]) -> bool {
    // zxcvbn reads the first 100 characters only; nothing that long is one common word.
    let length = password.chars().count();
    if length > 100 {
        return false;
    }
    let mut inputs: Vec<&str> = personal.to_vec();
    // The parts of an e-mail are inputs too: "anna" of anna@shop.ru.
    for p in personal {
        if let Some((local, domain)) = p.split_once('@') {
            inputs.push(local);
            inputs.push(domain);
        }
    }
    let entropy = zxcvbn::zxcvbn(password, &inputs);
    let whole = |m: &zxcvbn::matching::Match| m.i == 0 && m.j + 1 >= length;
    let lowered = password.to_lowercase();
    entropy.sequence().len() == 1
        && entropy.sequence().iter().any(|m| {
            whole(m)
                && !matches!(
                    m.pattern,
                    zxcvbn::matching::patterns::MatchPattern::BruteForce
                )
        })
        || personal
            .iter()
            .any(|p| !p.is_empty() && lowered == p.to_lowercase())
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
        assert!(check_password("password", "short", &[]).is_err());
        assert!(
            check_password("password", "пароль12", &[]).is_ok(),
            "counts characters"
        );
        assert!(check_password("password", &"x".repeat(MAX_PASSWORD + 1), &[]).is_err());
    }

    #[test]
    fn guessable_passwords_are_refused() {
        let me = ["anna.smirnova@shop.ru", "Anna Smirnova"];
        for weak in [
            "password",
            "12345678",
            "qwertyuiop",
            "P@ssw0rd",
            "drowssap",
            "iloveyou",
            "aaaaaaaaaa",
            "abcdefgh",
            "anna.smirnova@shop.ru",
            "Anna Smirnova",
            "anna.smirnova",
        ] {
            let err = check_password("password", weak, &me).unwrap_err();
            assert!(err.message.contains("too easy to guess"), "{weak}: {err:?}");
        }
        for fine in [
            "correct horse battery",
            "password-123",
            "пароль12",
            "bench-password-123",
            "Tr0ub4dor&3-staple",
        ] {
            assert!(check_password("password", fine, &me).is_ok(), "{fine}");
        }
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
