//! What the web chat shows, from the widget: the renderer fits every message to it.

use switchboard_core::{
    capabilities::{ButtonLimits, Capabilities, buttons, plain},
};

/// The web chat's default profile; a connection may override parts of it.
pub fn profile() -> Capabilities {
    Capabilities {
        buttons: Some(ButtonLimits {
            max_payload_bytes: 256,
            removable: true,
            ..buttons(20, 100)
        }),
        // The widget shows text and buttons; files arrive with the inbox's upload.
        media: vec![],
        ..plain(10_000)
    }
}
