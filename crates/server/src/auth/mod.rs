//! Authentication: password hashing, bearer tokens, the caller extractor and login
//! throttling. Authorization (who may do what) is checked in each handler through
//! [`Caller`]'s role helpers, on the server, never only in the UI.

pub(crate) mod caller;
pub mod password;
pub mod secret;
pub mod throttle;

pub use caller::{Caller, SESSION_IDLE};

/// The browser session's cookie.
pub const SESSION_COOKIE: &str = "sb_session";
/// The header a cookie-authenticated request that changes something must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The `Set-Cookie` value for a browser session (`max_age` 0 removes it): HttpOnly so page
/// scripts never see it, SameSite=Strict so other sites' pages do not send it, Secure when
/// the server is reached over HTTPS.
pub fn session_cookie(state: &crate::state::AppState, token: &str, max_age: i64) -> String {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}

/// The CSRF token of a session: a signature of its token, so nothing is stored for it and
/// it is worthless without the cookie.
pub fn csrf_token(state: &crate::state::AppState, session: &str) -> String {
    state.sealer.sign(format!("csrf:{session}").as_bytes())
}
