//! What Viber shows, from the REST Bot API: the renderer fits every message to it.

use switchboard_core::{
    capabilities::{ButtonLimits, Capabilities, buttons, plain},
    message::AttachmentKind,
};

/// Viber's default profile; a connection may override parts of it.
/// Viber shows a keyboard in place of the customer's; a press comes back as text.
/// It fetches media by URL: stored files go as signed links that expire.
pub fn profile() -> Capabilities {
    use AttachmentKind::*;
    Capabilities {
        buttons: Some(ButtonLimits {
            max_payload_bytes: 250,
            inline: false,
            reply: true,
            ..buttons(24, 250)
        }),
        media: vec![Image, Video, File],
        ..plain(7000)
    }
}
