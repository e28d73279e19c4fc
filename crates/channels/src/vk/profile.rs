//! What VK shows, from the VK API and the seed: the renderer fits every message to it.

use switchboard_core::{
    capabilities::{ButtonLimits, Capabilities, buttons, plain},
};

/// VK's default profile; a connection may override parts of it.
/// The seed: at most 7 buttons of at most 20 characters. Inline keyboards have at
/// most 6 rows of 5.
pub fn profile() -> Capabilities {
    Capabilities {
        buttons: Some(ButtonLimits {
            max_per_row: 5,
            max_rows: 6,
            max_payload_bytes: 255,
            reply: true,
            one_time: true,
            ..buttons(7, 20)
        }),
        per_second: Some(20.0),
        ..plain(9000)
    }
}
