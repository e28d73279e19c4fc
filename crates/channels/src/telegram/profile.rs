//! What Telegram shows, from the Bot API (https://core.telegram.org/bots/api): the renderer
//! fits every message to it.

use switchboard_core::{
    capabilities::{ButtonLimits, Capabilities, TextUnit, buttons, plain},
    message::AttachmentKind,
};

/// Telegram's default profile; a connection may override parts of it.
pub fn profile() -> Capabilities {
    use AttachmentKind::*;
    Capabilities {
        text_unit: TextUnit::Utf16,
        // Label length is not specified by the Bot API; 64 keeps menus readable.
        buttons: Some(ButtonLimits {
            max_per_row: 8,
            reply: true,
            one_time: true,
            removable: true,
            ..buttons(100, 64)
        }),
        media: vec![Image, File, Audio, Voice, Video],
        per_second: Some(30.0),
        per_chat_per_second: Some(1.0),
        ..plain(4096)
    }
}
