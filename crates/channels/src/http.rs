//! Mechanics every connector shares: constant-time secret comparison, API addresses,
//! classifying transport failures by whether the request may have reached the channel.

use std::{cell::RefCell, collections::HashMap};

use reqwest::Url;
use subtle::ConstantTimeEq;

use crate::connector::{ApiContext, SendError, Sent, MAX_MEDIA_BYTES};

/// Compares a presented secret with the expected one without leaking where they differ.
pub fn secrets_match(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// The address of an API call: `base` (scheme, host, maybe a path) with `segments` appended,
/// each percent-encoded as a path segment. Parsing an address (its host goes through IDNA)
/// cost a sixth of the delivery worker's instructions when every send parsed its own; each
/// base is now parsed once per thread and copied.
pub fn endpoint(base: &str, segments: &[&str]) -> Result<Url, SendError> {
    thread_local! {
        static PARSED: RefCell<HashMap<String, Url>> = RefCell::new(HashMap::new());
    }
    /// Bases are a handful (one per channel, plus test and proxy overrides): a bound in
    /// case something makes up new ones.
    const KEEP: usize = 64;
    let mut url = PARSED.with(|parsed| {
        let mut parsed = parsed.borrow_mut();
        if let Some(url) = parsed.get(base) {
            return Ok(url.clone());
        }
        // A bad base is the operator's setting, not the message's fault: tried again later,
        // as a request reqwest could not build was.
        let url = Url::parse(base)
            .map_err(|e| SendError::Transient(format!("bad API address {base}: {e}")))?;
        if parsed.len() >= KEEP {
            parsed.clear();
        }
        parsed.insert(base.to_string(), url.clone());
        Ok(url)
    })?;
    url.path_segments_mut()
        .map_err(|()| SendError::Transient(format!("bad API address {base}: not a base")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
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

/// Downloads a customer's file from a link the channel gave (VK's and Viber's expire), up to
/// the size Switchboard keeps. Telegram's file links go through here too.
pub async fn fetch_url(api: &ApiContext, url: &str) -> Result<Sent, SendError> {
    let mut response = api
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| SendError::Transient(e.to_string()))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(SendError::Transient(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(SendError::Permanent(format!("HTTP {status}")));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| SendError::Transient(e.to_string()))?
    {
        if bytes.len() + chunk.len() > MAX_MEDIA_BYTES {
            return Err(SendError::Permanent("the file is larger than 20 MB".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Sent {
        media: Some(bytes),
        ..Sent::default()
    })
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
