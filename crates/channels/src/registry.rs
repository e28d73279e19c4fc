//! The registry: which connector serves which channel kind. Adding a channel adds one line.

use std::sync::Arc;

use switchboard_core::channel::ChannelKind;

use crate::{connector::Connector, telegram::Telegram, viber::Viber, vk::Vk, webchat::Webchat};

/// The connector for `kind`, or `None` while that channel is not built yet.
pub fn connector(kind: ChannelKind) -> Option<Arc<dyn Connector>> {
    match kind {
        ChannelKind::Telegram => Some(Arc::new(Telegram)),
        ChannelKind::Viber => Some(Arc::new(Viber)),
        ChannelKind::Vk => Some(Arc::new(Vk)),
        ChannelKind::Webchat => Some(Arc::new(Webchat)),
        _ => None,
    }
}

/// The kinds that have a connector.
pub fn supported() -> Vec<ChannelKind> {
    ChannelKind::ALL
        .iter()
        .copied()
        .filter(|k| connector(*k).is_some())
        .collect()
}
