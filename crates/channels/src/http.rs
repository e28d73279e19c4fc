//! Mechanics every connector shares: constant-time secret comparison and classifying
//! transport failures by whether the request may have reached the channel.

use subtle::ConstantTimeEq;

use crate::connector::SendError;

/// Compares a presented secret with the expected one without leaking where they differ.
pub fn secrets_match(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// Sorts a transport error: a failure to connect means nothing was sent and retrying is
/// safe; anything after the request may have been written means delivery is unknown.
pub fn transport_error(error: &reqwest::Error) -> SendError {
    if error.is_connect() || error.is_builder() {
        SendError::Transient(error.to_string())
    } else {
        SendError::Unknown(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abd", "abc"));
        assert!(!secrets_match("ab", "abc"));
        assert!(!secrets_match("", ""), "an unset secret never matches");
    }
}
