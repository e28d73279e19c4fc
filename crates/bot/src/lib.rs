//! Bot scenarios: written once in YAML, run the same in every channel.
//!
//! `scenario` reads the format of docs/scenarios.md into a model with positions; `validate` checks
//! the whole graph and reports every problem as `LINE:COL: message`; `runtime` is the pure
//! interpreter the server drives (state in, state and effects out); `preview` shows what each
//! step becomes in a given channel. Rendering for channels is `switchboard_core::render`,
//! shared with operators' replies.
//!
//! Architecture invariant: no I/O here. HTTP calls, timers and storage are the shell's; the
//! runtime only says what it needs.

pub mod diagnostic;
pub mod expr;
pub mod preview;
pub mod runtime;
pub mod scenario;
pub mod template;
pub mod validate;
pub mod vars;
mod yaml;

pub use diagnostic::{Diagnostic, Diagnostics, Pos};
pub use runtime::{advance, start, BotState, Env, HttpReply, HttpRequest, Input, Said, Stop, Turn};
pub use scenario::{HandoffTarget, Scenario};
pub use validate::{load, Context};
