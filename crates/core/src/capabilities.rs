//! What a channel can show: text length, buttons, lists, media, messaging window. The
//! renderer fits a channel-neutral message into these. A built channel's profile lives in
//! its folder (`switchboard_channels`); kinds whose connector is still to come have a
//! provisional one here, so scenarios render for them already. A connection may override
//! parts of its profile.
//!
//! Numbers come from each vendor's API documentation (the limits it states for text, buttons,
//! lists and windows). Where a vendor documents nothing (Odnoklassniki, Webim, LiveTex, Yandex),
//! the profile is deliberately conservative: a menu that fits a smaller limit still works, one
//! that exceeds a real limit is refused.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{channel::ChannelKind, message::AttachmentKind, validation::FieldError};

/// How a channel counts the length of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonLimits {
    pub max_buttons: usize,
    pub max_per_row: usize,
    pub max_rows: usize,
    /// Counted in the channel's [`TextUnit`].
    pub max_label: usize,
    /// Largest payload the channel carries back, in bytes.
    pub max_payload_bytes: usize,
    /// Buttons attached to a message (Telegram inline keyboard).
    pub inline: bool,
    /// Buttons replacing the keyboard (Telegram reply keyboard, Viber's keyboard).
    pub reply: bool,
    /// A reply keyboard can hide itself after one press.
    pub one_time: bool,
    /// A pressed inline menu can be removed or disabled, or vanishes by itself (quick
    /// replies), so an old menu cannot be pressed again.
    pub removable: bool,
    /// The channel's text limit for a message that carries buttons, when it is smaller
    /// (WhatsApp's interactive body: 1,024).
    pub max_text: Option<usize>,
}

impl ButtonLimits {
    /// Buttons per row for `n` buttons: one per row while the rows last, then as few per
    /// row as fit. Renderers and connectors lay buttons out with this same rule.
    pub fn per_row(&self, n: usize) -> usize {
        n.div_ceil(self.max_rows.max(1))
            .clamp(1, self.max_per_row.max(1))
    }
}

/// A single-choice list (WhatsApp's list message): more rows than buttons, one press.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListLimits {
    pub max_rows: usize,
    /// Row title length, in the channel's [`TextUnit`].
    pub max_title: usize,
    pub max_id_bytes: usize,
}

/// Everything a renderer needs to know about a channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    pub max_text: usize,
    pub text_unit: TextUnit,
    /// `None`: the channel has no buttons; choices become a numbered text menu.
    pub buttons: Option<ButtonLimits>,
    /// Where the channel has a list message for menus too long for its buttons.
    pub list: Option<ListLimits>,
    pub media: Vec<AttachmentKind>,
    /// How long after the customer's last message the business may still write.
    #[serde(with = "seconds")]
    pub window: Option<Duration>,
    /// Default send limits: per connection and per chat, messages per second.
    pub per_second: Option<f64>,
    pub per_chat_per_second: Option<f64>,
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Buttons with the defaults most channels share; profiles change what differs.
pub fn buttons(max_buttons: usize, max_label: usize) -> ButtonLimits {
    ButtonLimits {
        max_buttons,
        max_per_row: 1,
        max_rows: max_buttons,
        max_label,
        max_payload_bytes: 64,
        inline: true,
        reply: false,
        one_time: false,
        removable: false,
        max_text: None,
    }
}

/// A profile of text and the common media, without buttons, at this text limit.
pub fn plain(max_text: usize) -> Capabilities {
    Capabilities {
        max_text,
        text_unit: TextUnit::Chars,
        buttons: None,
        list: None,
        media: vec![AttachmentKind::Image, AttachmentKind::File],
        window: None,
        per_second: None,
        per_chat_per_second: None,
    }
}

/// What an admin changes of a connection's profile: a platform that shows fewer buttons
/// than its documentation says, the messenger behind an omnichannel platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityOverrides {
    /// The longest text, in what the channel counts.
    pub max_text: Option<usize>,
    /// `false`: no buttons; choices become a numbered text menu.
    pub buttons: Option<bool>,
    pub max_buttons: Option<usize>,
    pub max_label: Option<usize>,
    /// For an omnichannel platform (Jivo, Webim, Umnico, Bitrix24, LiveTex): the messenger
    /// behind it, whose limits apply too.
    pub via: Option<ChannelKind>,
}

const PLATFORMS: &[ChannelKind] = &[
    ChannelKind::Jivo,
    ChannelKind::Webim,
    ChannelKind::Umnico,
    ChannelKind::Bitrix24,
    ChannelKind::Livetex,
];

impl CapabilityOverrides {
    /// Refuses values no channel could use.
    pub fn check(&self, kind: ChannelKind) -> Result<(), FieldError> {
        let bounded = |field: &str, value: Option<usize>, max: usize| match value {
            Some(v) if v == 0 || v > max => Err(FieldError::new(
                format!("capabilities.{field}"),
                format!("between 1 and {max}"),
            )),
            _ => Ok(()),
        };
        bounded("max_text", self.max_text, 100_000)?;
        bounded("max_buttons", self.max_buttons, 100)?;
        bounded("max_label", self.max_label, 250)?;
        if let Some(via) = self.via {
            if !PLATFORMS.contains(&kind) {
                return Err(FieldError::new(
                    "capabilities.via",
                    format!("only for omnichannel platforms, not {kind}"),
                ));
            }
            if PLATFORMS.contains(&via) {
                return Err(FieldError::new(
                    "capabilities.via",
                    "names the messenger behind the platform",
                ));
            }
        }
        Ok(())
    }
}

/// What one customer's app can show, where the channel reports it with each message (VK's
/// `client_info`): an older or simpler app may lack inline keyboards, or keyboards at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAbilities {
    /// Buttons attached to a message.
    pub inline: bool,
    /// Buttons in place of the keyboard.
    pub keyboard: bool,
}

impl Capabilities {
    /// The profile narrowed to what one customer's app shows: a menu of a kind the app
    /// cannot show becomes the numbered text menu, which every app shows and which is
    /// answered by number or label.
    pub fn for_client(mut self, client: Option<&ClientAbilities>) -> Self {
        let (Some(client), Some(buttons)) = (client, self.buttons.as_ref()) else {
            return self;
        };
        // The renderer shows inline menus wherever the channel has them: an app without
        // them gets text, not a keyboard the customer never asked to replace theirs.
        let shown = if buttons.inline {
            client.inline
        } else {
            client.keyboard
        };
        if !shown {
            self.buttons = None;
            self.list = None;
        }
        self
    }

    /// The profile with an admin's overrides applied (all but `via`, which names the
    /// profile to narrow by: see [`Capabilities::through`]).
    pub fn with_overrides(mut self, o: &CapabilityOverrides) -> Self {
        if let Some(n) = o.max_text {
            self.max_text = n;
        }
        if o.buttons == Some(false) {
            self.buttons = None;
            self.list = None;
        }
        if let Some(b) = self.buttons.as_mut() {
            if let Some(n) = o.max_buttons {
                b.max_buttons = n;
                b.max_rows = b.max_rows.max(n.div_ceil(b.max_per_row.max(1)));
            }
            if let Some(n) = o.max_label {
                b.max_label = n;
            }
        }
        self
    }

    /// The provisional profile of a kind whose connector is still to come, so scenarios
    /// render for it already; `None` for a built channel, whose profile lives in its folder
    /// (`switchboard_channels::profile::of` gives either).
    pub fn provisional(kind: ChannelKind) -> Option<Capabilities> {
        use AttachmentKind::*;
        Some(match kind {
            ChannelKind::Telegram | ChannelKind::Vk | ChannelKind::Viber | ChannelKind::Webchat => {
                return None
            }
            // The official Cloud API: 3 reply buttons of 20, or a list of 10 rows of 24.
            ChannelKind::Whatsapp => Capabilities {
                buttons: Some(ButtonLimits {
                    max_payload_bytes: 256,
                    max_text: Some(1024),
                    ..buttons(3, 20)
                }),
                list: Some(ListLimits {
                    max_rows: 10,
                    max_title: 24,
                    max_id_bytes: 200,
                }),
                media: vec![Image, Video, Audio, File, Sticker],
                window: Some(DAY),
                per_second: Some(80.0),
                per_chat_per_second: Some(1.0 / 6.0),
                ..plain(4096)
            },
            // Quick replies: 13 of 20 characters; they vanish once one is pressed.
            ChannelKind::Messenger => Capabilities {
                buttons: Some(ButtonLimits {
                    max_payload_bytes: 1000,
                    removable: true,
                    ..buttons(13, 20)
                }),
                media: vec![Image, Video, Audio, File],
                window: Some(DAY),
                per_second: Some(40.0),
                ..plain(2000)
            },
            ChannelKind::Instagram => Capabilities {
                text_unit: TextUnit::Bytes,
                buttons: Some(ButtonLimits {
                    max_payload_bytes: 1000,
                    removable: true,
                    ..buttons(13, 20)
                }),
                media: vec![Image, Video, Audio],
                window: Some(DAY),
                ..plain(1000)
            },
            // Limits are not documented: conservative.
            ChannelKind::Ok => Capabilities {
                buttons: Some(ButtonLimits {
                    max_payload_bytes: 64,
                    ..buttons(10, 30)
                }),
                ..plain(4000)
            },
            ChannelKind::Avito => Capabilities {
                media: vec![Image],
                ..plain(1000)
            },
            ChannelKind::Yandex => Capabilities {
                buttons: Some(buttons(10, 40)),
                ..plain(6000)
            },
            ChannelKind::Email => Capabilities {
                media: vec![Image, Video, Audio, Voice, File],
                ..plain(100_000)
            },
            // The seed: Jivo at most 7 buttons; their length is not documented.
            ChannelKind::Jivo => Capabilities {
                buttons: Some(buttons(7, 40)),
                ..plain(4000)
            },
            ChannelKind::Webim => Capabilities {
                buttons: Some(buttons(10, 40)),
                ..plain(4000)
            },
            ChannelKind::Livetex => Capabilities {
                buttons: Some(buttons(10, 40)),
                ..plain(4000)
            },
            // The seed: no buttons through Umnico or Bitrix24.
            ChannelKind::Umnico => plain(4000),
            ChannelKind::Bitrix24 => plain(20_000),
        })
    }

    /// A platform's profile (this one) narrowed by the channel behind it (`underlying`,
    /// whose profile is `inner`). The seed: WhatsApp, Instagram, Facebook and Odnoklassniki
    /// through a platform show no buttons.
    pub fn through(self, underlying: ChannelKind, inner: &Capabilities) -> Capabilities {
        let mut caps = self;
        if matches!(
            underlying,
            ChannelKind::Whatsapp
                | ChannelKind::Instagram
                | ChannelKind::Messenger
                | ChannelKind::Ok
        ) {
            caps.buttons = None;
            caps.list = None;
        }
        if inner.max_text < caps.max_text || inner.text_unit == TextUnit::Bytes {
            caps.max_text = caps.max_text.min(inner.max_text);
            if inner.text_unit == TextUnit::Bytes {
                caps.text_unit = TextUnit::Bytes;
            }
        }
        caps.window = inner.window;
        caps
    }

    /// The text limit of one message, with or without buttons on it.
    pub fn text_limit(&self, with_buttons: bool) -> usize {
        match (&self.buttons, with_buttons) {
            (
                Some(ButtonLimits {
                    max_text: Some(n), ..
                }),
                true,
            ) => (*n).min(self.max_text),
            _ => self.max_text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_checked() {
        let via = CapabilityOverrides {
            via: Some(ChannelKind::Whatsapp),
            ..CapabilityOverrides::default()
        };
        assert!(via.check(ChannelKind::Jivo).is_ok());
        assert!(via.check(ChannelKind::Telegram).is_err());
        let zero = CapabilityOverrides {
            max_text: Some(0),
            ..CapabilityOverrides::default()
        };
        assert_eq!(
            zero.check(ChannelKind::Vk).unwrap_err().field,
            "capabilities.max_text"
        );
    }
}
