//! Authentication: password hashing, bearer tokens, the caller extractor and login
//! throttling. Authorization (who may do what) is checked in each handler through
//! [`Caller`]'s role helpers, on the server, never only in the UI.

mod caller;
pub mod password;
pub mod secret;
pub mod throttle;

pub use caller::{Caller, SESSION_IDLE};
