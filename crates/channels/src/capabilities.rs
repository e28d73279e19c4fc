//! What a channel can show: text length, buttons, media, messaging window. The renderer fits
//! a channel-neutral message into these; each connector declares its defaults.

use std::time::Duration;

use switchboard_core::message::AttachmentKind;

/// How a channel counts the length of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextUnit {
    /// Unicode scalar values.
    Chars,
    /// UTF-16 code units (Telegram): an emoji outside the BMP counts twice.
    Utf16,
    /// UTF-8 bytes (Instagram).
    Bytes,
}

impl TextUnit {
    pub fn len(self, text: &str) -> usize {
        match self {
            TextUnit::Chars => text.chars().count(),
            TextUnit::Utf16 => text.encode_utf16().count(),
            TextUnit::Bytes => text.len(),
        }
    }

    pub fn len_char(self, c: char) -> usize {
        match self {
            TextUnit::Chars => 1,
            TextUnit::Utf16 => c.len_utf16(),
            TextUnit::Bytes => c.len_utf8(),
        }
    }
}

/// Button limits of a channel that has buttons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ButtonLimits {
    pub max_buttons: usize,
    pub max_per_row: usize,
    pub max_label_chars: usize,
    /// Largest payload the channel carries back, in bytes.
    pub max_payload_bytes: usize,
    /// Buttons attached to a message (Telegram inline keyboard).
    pub inline: bool,
    /// Buttons replacing the keyboard (Telegram reply keyboard).
    pub reply: bool,
    /// A reply keyboard can hide itself after one press.
    pub one_time: bool,
    /// A pressed inline menu can be removed or disabled.
    pub removable: bool,
}

/// Everything a renderer needs to know about a channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Capabilities {
    pub max_text: usize,
    pub text_unit: TextUnit,
    /// `None`: the channel has no buttons; choices become a numbered text menu.
    pub buttons: Option<ButtonLimits>,
    pub media: Vec<AttachmentKind>,
    /// How long after the customer's last message the business may still write.
    pub window: Option<Duration>,
    /// Default send limits: per connection and per chat, messages per second.
    pub per_second: Option<f64>,
    pub per_chat_per_second: Option<f64>,
}
