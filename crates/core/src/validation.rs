//! Validation errors that name the field they are about, so API clients and forms can point
//! at the exact input that was wrong.

use std::fmt;

/// One rejected input: which field (a dotted path such as `distribution.capacity`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from an enclosing object: `capacity` inside `distribution`
    /// becomes `distribution.capacity`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_string()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// The result of parsing untrusted input into a domain value.
pub type Validated<T> = Result<T, FieldError>;

/// A trimmed, non-empty name of at most `max` characters.
pub fn name(field: &str, value: &str, max: usize) -> Validated<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Support ", 10).unwrap(), "Support");
        assert_eq!(
            name("name", "   ", 10).unwrap_err().message,
            "must not be empty"
        );
        assert!(name("name", "Поддержка клиентов", 10).is_err());
        assert!(
            name("name", "Поддержка", 10).is_ok(),
            "limits count characters, not bytes"
        );
        assert!(name("name", "a\u{0}b", 10).is_err());
    }

    #[test]
    fn nested_fields_get_dotted_paths() {
        let e = FieldError::new("capacity", "x").within("distribution");
        assert_eq!(e.field, "distribution.capacity");
        let e = FieldError::new("[2]", "x").within("operator_ids");
        assert_eq!(e.field, "operator_ids[2]");
    }
}
