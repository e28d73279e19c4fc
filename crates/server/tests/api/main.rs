//! API tests: each starts the real server on a random port with a fresh database (SQLite and
//! PostgreSQL, see `switchboard_store::backends!`) and talks HTTP to it.

mod accounts;
mod auth;
mod bodies;
mod bot;
mod contract;
mod edits;
mod groups;
mod helpers;
mod inbox;
mod isolation;
mod isolation_bodies;
mod journal;
mod kinds;
mod operators;
mod pacing;
mod routing;
mod schedules;
mod security;
mod service;
mod telegram;
mod viber;
mod vk;
mod webchat;
mod workspace;
