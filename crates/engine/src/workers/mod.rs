//! Background workers: they read their work from the database (outbox rows, later timers),
//! so any node can run them and a restart loses nothing.

pub mod checkpoint;
pub mod delivery;
mod limiter;
pub mod polling;
pub mod timers;
