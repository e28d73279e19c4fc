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

/// The API addresses, other than each channel's own, that connections on this server may
/// use (`api_base_url`: a local Bot API server, a proxy, a test's fake). An instance setting,
/// not an account's: an account admin could otherwise make the server call any internal
/// address. An entry is a host (`tg-api.internal`, `127.0.0.1`, `[::1]`), allowing any port,
/// or a host with a port (`10.0.0.5:8081`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiBaseAllow {
    entries: Vec<(String, Option<u16>)>,
}

impl ApiBaseAllow {
    /// Reads the entries; an entry that is not a host or `host:port` is an error naming it.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut parsed = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let url = Url::parse(&format!("http://{entry}"))
                .ok()
                .filter(|u| u.path() == "/" && u.query().is_none() && u.username().is_empty())
                .filter(|u| u.host_str().is_some_and(|h| !h.is_empty()))
                .ok_or_else(|| format!("`{entry}` is not a host or host:port"))?;
            let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
            parsed.push((host, url.port()));
        }
        Ok(Self { entries: parsed })
    }

    /// Whether a connection may send its API calls to `base`.
    pub fn allows(&self, base: &str) -> bool {
        let Ok(url) = Url::parse(base) else {
            return false;
        };
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let port = url.port_or_known_default();
        matches!(url.scheme(), "http" | "https")
            && self
                .entries
                .iter()
                .any(|(h, p)| *h == host && p.is_none_or(|p| Some(p) == port))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
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
    fn api_addresses_are_allowed_by_host_and_port() {
        let allow = ApiBaseAllow::parse(&[
            "127.0.0.1".into(),
            "TG-API.internal:8081".into(),
            "[::1]".into(),
        ])
        .unwrap();
        for good in [
            "http://127.0.0.1:3456",
            "https://127.0.0.1/bot",
            "http://tg-api.internal:8081/",
            "http://[::1]:9",
        ] {
            assert!(allow.allows(good), "{good}");
        }
        for bad in [
            "http://127.0.0.2:3456",
            "http://tg-api.internal:8082",
            "https://tg-api.internal",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1",
            "http://127.0.0.1.nip.io",
            "ftp://127.0.0.1",
            "http://user@",
            "nonsense",
        ] {
            assert!(!allow.allows(bad), "{bad}");
        }
        assert!(!ApiBaseAllow::default().allows("http://127.0.0.1:1"));
        for bad in ["http://x", "a/b", "x:y", "a b"] {
            assert!(ApiBaseAllow::parse(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abd", "abc"));
        assert!(!secrets_match("ab", "abc"));
        assert!(!secrets_match("", ""), "an unset secret never matches");
    }
}
