//! Channel connectors: everything that knows a vendor's API lives here, one folder per
//! channel kind, behind the [`Connector`] trait. The server finds a connector in the
//! [`registry`] by [`ChannelKind`] and never sees vendor wire formats.
//!
//! Architecture invariants: parsing an inbound request is pure (signature check on the raw
//! bytes, then mapping to channel-neutral [`InboundEvent`]s); network calls happen only in
//! the connector's async methods (`verify`, the webhook's registration, `send`, `poll`,
//! `welcome`, `contact_names`); every call goes to the connection's `api_base_url` when one
//! is set, so tests and on-premise API servers work.
//!
//! A channel is one folder (`telegram/`, ...): its connector with its form, its wire types,
//! its fixtures, its fake API (`fake.rs`) and its contract kit (`kit.rs`). Adding a channel
//! is its folder and one line in `channels!` below: the line declares the folder, puts its
//! connector in the [`registry`] and its kit in the contract suite.

mod connector;
mod event;
pub mod form;
mod http;
pub mod oauth;
pub mod profile;
#[cfg(feature = "testkit")]
pub mod testkit;

#[macro_use]
mod registry_macro;

channels! {
    Telegram => telegram::Telegram,
    Viber => viber::Viber,
    Vk => vk::Vk,
    Webchat => webchat::Webchat,
}

pub use capabilities::{ButtonLimits, Capabilities, TextUnit};
pub use connector::{
    AccountInfo, ApiContext, ConnectError, Connector, HookKeys, InboundError, Parsed, Polled,
    SendError, Sent, WebhookRequest, MAX_MEDIA_BYTES,
};
pub use event::{
    ContactRef, DeliveryReport, InboundEvent, InboundKind, Keyboard, Outbound, OutboundFile,
    OutboundLink, OutboundMessage,
};
pub use http::{secrets_match, ApiBaseAllow};
pub use reqwest;
pub use switchboard_core::channel::ChannelKind;
pub use switchboard_core::{capabilities, text};
