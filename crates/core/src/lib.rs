//! The domain core of Switchboard: ids, the glossary's types and the rules over them.
//!
//! Architecture invariant: nothing here does I/O or is async. Functions take state and an
//! event and return a decision or a validation error, so every rule is unit-tested without a
//! database or a network. The shell (store, server, workers) performs what the core decides.

pub mod account;
pub mod admission;
pub mod audit;
pub mod autoclose;
pub mod capabilities;
pub mod channel;
pub mod contact;
pub mod conversation;
pub mod delivery;
pub mod distribution;
pub mod duration;
pub mod enums;
pub mod group;
pub mod ids;
pub mod message;
pub mod operator;
pub mod rate;
pub mod render;
pub mod report;
pub mod routing;
pub mod scenario;
pub mod schedule;
pub mod secret;
pub mod text;
pub mod throttle;
pub mod timer;
pub mod token;
pub mod validation;

pub use duration::DurationSpec;
pub use validation::{FieldError, Validated};
