//! How a channel kind is connected, described as data: its title, the credential fields the
//! admin fills in (labels and help in Russian and English, which are secret), whether it
//! connects by OAuth and whether the credentials are checked with the channel. The server
//! lists these (`GET /api/v1/channel-kinds`) and the admin interface builds its forms from
//! them, so the interface names no kind: a new channel's folder describes its own form.

use serde::Serialize;
use switchboard_core::channel::ChannelKind;
use utoipa::ToSchema;

/// A text in the interface's two languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Words {
    pub ru: &'static str,
    pub en: &'static str,
}

/// How a field is typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// One line of text.
    Text,
    /// A whole number.
    Number,
    /// A list, one item per line; sent as an array of strings.
    Lines,
}

/// One credential field: `name` is its key in `credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Field {
    pub name: &'static str,
    pub label: Words,
    /// Shown as dots, never echoed back; kept sealed.
    pub secret: bool,
    pub required: bool,
    pub input: Input,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<Words>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<&'static str>,
}

/// What a connector says about connecting its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub title: Words,
    pub fields: &'static [Field],
    /// The credentials are checked with the channel's API before saving (and as typed).
    pub verifies: bool,
}

/// The title of every kind, including those no connector serves yet (a scenario can be
/// previewed in any of them).
pub fn title(kind: ChannelKind) -> Words {
    if let Some(connector) = crate::registry::connector(kind) {
        return connector.form().title;
    }
    let (ru, en) = match kind {
        ChannelKind::Telegram => ("Telegram", "Telegram"),
        ChannelKind::Vk => ("ВКонтакте", "VK"),
        ChannelKind::Viber => ("Viber", "Viber"),
        ChannelKind::Whatsapp => ("WhatsApp", "WhatsApp"),
        ChannelKind::Messenger => ("Messenger", "Messenger"),
        ChannelKind::Instagram => ("Instagram", "Instagram"),
        ChannelKind::Ok => ("Одноклассники", "Odnoklassniki"),
        ChannelKind::Avito => ("Авито", "Avito"),
        ChannelKind::Yandex => ("Яндекс", "Yandex"),
        ChannelKind::Email => ("Эл. почта", "E-mail"),
        ChannelKind::Webchat => ("Чат на сайте", "Web chat"),
        ChannelKind::Jivo => ("Jivo", "Jivo"),
        ChannelKind::Webim => ("Webim", "Webim"),
        ChannelKind::Umnico => ("Umnico", "Umnico"),
        ChannelKind::Bitrix24 => ("Битрикс24", "Bitrix24"),
        ChannelKind::Livetex => ("LiveTex", "LiveTex"),
    };
    Words { ru, en }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connector describes a usable form: a title, fields with labels in both
    /// languages, keys that are plain identifiers, and no field twice.
    #[test]
    fn every_connector_describes_its_form() {
        for kind in crate::registry::supported() {
            let form = crate::registry::connector(kind).unwrap().form();
            assert!(
                !form.title.ru.is_empty() && !form.title.en.is_empty(),
                "{kind}"
            );
            let mut seen = std::collections::HashSet::new();
            for field in form.fields {
                assert!(seen.insert(field.name), "{kind}: {} twice", field.name);
                assert!(
                    field
                        .name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{kind}: {}",
                    field.name
                );
                assert!(!field.label.ru.is_empty() && !field.label.en.is_empty());
            }
            assert_eq!(title(kind), form.title);
        }
        for kind in ChannelKind::ALL {
            assert!(!title(*kind).en.is_empty());
        }
    }
}
