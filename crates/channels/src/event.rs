//! Channel-neutral events in and actions out.

use switchboard_core::message::{Choice, Content};

/// Who wrote, as the channel knows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContactRef {
    /// The channel's id of the chat we answer into (Telegram chat id, VK peer id).
    pub external_id: String,
    /// The name the channel reported; plain text, never markup.
    pub name: String,
    /// What the customer's app can show, where the channel says so with the event (VK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<switchboard_core::capabilities::ClientAbilities>,
}

/// What happened, per inbound event. Serializable: the engine journals events before it
/// acknowledges them (see the engine's `journal.rs`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum InboundKind {
    /// The customer wrote (text, media, a shared contact, a reply-keyboard press).
    Message {
        contact: ContactRef,
        external_message_id: String,
        content: Content,
    },
    /// The customer changed a message they sent (`external_message_id`): its stored wording
    /// is replaced. Nobody answers an edit as a new message.
    Edited {
        contact: ContactRef,
        external_message_id: String,
        content: Content,
    },
    /// The customer pressed a button of an inline menu. `content.text` is the button's label,
    /// `content.pressed` its payload.
    ChoicePressed {
        contact: ContactRef,
        external_message_id: Option<String>,
        content: Content,
    },
    /// The customer can no longer be written to (blocked the bot) or can again.
    Reachability {
        contact: ContactRef,
        reachable: bool,
    },
    /// The customer opened the chat with the bot without writing yet (Viber's
    /// `conversation_started`): a bot may greet them.
    Started { contact: ContactRef },
    /// The channel reports what became of a message we sent.
    Delivery {
        external_message_id: String,
        status: DeliveryReport,
    },
    /// An event we record (so a redelivery is recognised) but do nothing with.
    Ignored { reason: String },
}

impl InboundKind {
    /// The customer the event is about, where it is about one.
    pub fn contact_mut(&mut self) -> Option<&mut ContactRef> {
        match self {
            InboundKind::Message { contact, .. }
            | InboundKind::Edited { contact, .. }
            | InboundKind::ChoicePressed { contact, .. }
            | InboundKind::Reachability { contact, .. }
            | InboundKind::Started { contact } => Some(contact),
            InboundKind::Delivery { .. } | InboundKind::Ignored { .. } => None,
        }
    }
}

/// What the channel reported of a sent message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryReport {
    Delivered,
    Read,
    Failed(String),
}

/// One event from a channel, with the id the channel will repeat on redelivery.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InboundEvent {
    pub external_event_id: String,
    pub kind: InboundKind,
    /// Actions the channel expects in answer (e.g. acknowledging a button press), sent
    /// through the outbox after the event is stored.
    pub follow_ups: Vec<Outbound>,
}

/// A message to send to one chat.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboundMessage {
    pub chat_id: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<OutboundFile>,
    /// Media the channel fetches by URL (a scenario's pictures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<OutboundLink>,
    /// How the choices are shown where the channel offers both kinds.
    #[serde(default)]
    pub keyboard: Keyboard,
}

impl OutboundMessage {
    /// A plain text (with `choices` as an inline menu, if any) to `chat_id`.
    pub fn text(chat_id: impl Into<String>, text: impl Into<String>, choices: Vec<Choice>) -> Self {
        OutboundMessage {
            chat_id: chat_id.into(),
            text: text.into(),
            choices,
            files: Vec::new(),
            links: Vec::new(),
            keyboard: Keyboard::Inline,
        }
    }

    /// The bot's first messages as ONE greeting, for channels that greet in the answer to
    /// their webhook (see `Connector::welcome`): texts joined by a blank line, up to and
    /// including the first menu, while the text stays within `max_text` characters; media
    /// ends it (a greeting is text and buttons). Returns how many messages it took (0: none
    /// fits, the greeting goes out as sends).
    pub fn greeting(messages: &[OutboundMessage], max_text: usize) -> (usize, OutboundMessage) {
        let mut taken = 0;
        let mut merged = OutboundMessage {
            chat_id: messages
                .first()
                .map(|m| m.chat_id.clone())
                .unwrap_or_default(),
            text: String::new(),
            choices: Vec::new(),
            files: Vec::new(),
            links: Vec::new(),
            keyboard: Keyboard::default(),
        };
        for message in messages {
            if !message.files.is_empty() || !message.links.is_empty() {
                break;
            }
            let text = match (merged.text.is_empty(), message.text.trim().is_empty()) {
                (_, true) => merged.text.clone(),
                (true, false) => message.text.clone(),
                (false, false) => format!("{}\n\n{}", merged.text, message.text),
            };
            if text.chars().count() > max_text {
                break;
            }
            merged.text = text;
            merged.choices = message.choices.clone();
            merged.keyboard = message.keyboard;
            taken += 1;
            if !message.choices.is_empty() {
                break;
            }
        }
        (taken, merged)
    }
}

/// Buttons attached to the message (inline), or replacing the customer's keyboard (reply;
/// a press arrives as the label typed as text).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Keyboard {
    #[default]
    Inline,
    /// A reply keyboard that hides itself after one press.
    ReplyOnce,
    /// A reply keyboard that stays until replaced.
    Reply,
    /// A single-choice list behind one button (WhatsApp); channels without lists show it
    /// inline.
    List,
}

/// Media sent by its URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboundLink {
    pub kind: switchboard_core::message::AttachmentKind,
    pub url: String,
}

/// A stored file to send with a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboundFile {
    pub kind: switchboard_core::message::AttachmentKind,
    pub sha256: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    /// The bytes, read from storage by the delivery worker just before sending; never stored
    /// in the outbox.
    #[serde(skip)]
    pub data: Option<Vec<u8>>,
    /// A link to the file that expires, for channels that fetch media by URL (Viber); made
    /// by the delivery worker just before sending.
    #[serde(skip)]
    pub url: Option<String>,
}

/// Something to do through a channel's API; stored in the outbox as JSON, tagged by
/// `action`. Read back through [`StoredOutbound`]: serde's derived reading of a tagged enum
/// buffers every field into a tree first, and that was a tenth of the delivery worker's
/// instructions (docs/performance-history.md, ninth round).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", try_from = "StoredOutbound")]
pub enum Outbound {
    Message(OutboundMessage),
    /// Stop the spinner on a pressed button (Telegram answerCallbackQuery).
    AcknowledgeChoice {
        callback_id: String,
    },
    /// Remove the buttons of a sent menu so an old menu cannot be pressed again.
    ClearChoices {
        chat_id: String,
        message_id: String,
    },
    /// Download an attachment the customer sent (the `index`-th of its message), so it is
    /// kept by us and not only by the channel.
    FetchMedia {
        file_id: String,
        index: usize,
    },
}

/// Which [`Outbound`] a stored row holds.
#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Message,
    AcknowledgeChoice,
    ClearChoices,
    FetchMedia,
}

/// An outbox row's JSON as it is stored: every variant's fields side by side, read in one
/// pass (unknown fields are ignored, as the tagged enum's reading did).
#[derive(serde::Deserialize)]
struct StoredOutbound {
    action: Action,
    chat_id: Option<String>,
    text: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    files: Vec<OutboundFile>,
    #[serde(default)]
    links: Vec<OutboundLink>,
    #[serde(default)]
    keyboard: Keyboard,
    callback_id: Option<String>,
    message_id: Option<String>,
    file_id: Option<String>,
    index: Option<usize>,
}

impl TryFrom<StoredOutbound> for Outbound {
    type Error = String;

    fn try_from(stored: StoredOutbound) -> Result<Self, String> {
        fn needed<T>(value: Option<T>, field: &str) -> Result<T, String> {
            value.ok_or_else(|| format!("missing field `{field}`"))
        }
        Ok(match stored.action {
            Action::Message => Outbound::Message(OutboundMessage {
                chat_id: needed(stored.chat_id, "chat_id")?,
                text: needed(stored.text, "text")?,
                choices: stored.choices,
                files: stored.files,
                links: stored.links,
                keyboard: stored.keyboard,
            }),
            Action::AcknowledgeChoice => Outbound::AcknowledgeChoice {
                callback_id: needed(stored.callback_id, "callback_id")?,
            },
            Action::ClearChoices => Outbound::ClearChoices {
                chat_id: needed(stored.chat_id, "chat_id")?,
                message_id: needed(stored.message_id, "message_id")?,
            },
            Action::FetchMedia => Outbound::FetchMedia {
                file_id: needed(stored.file_id, "file_id")?,
                index: needed(stored.index, "index")?,
            },
        })
    }
}

impl Outbound {
    /// Whether this action must keep its place among the conversation's messages. Downloads
    /// and acknowledgements must not wait behind (or hold up) replies.
    pub fn ordered(&self) -> bool {
        matches!(self, Outbound::Message(_) | Outbound::ClearChoices { .. })
    }

    /// The chat this action touches, for per-chat rate limits.
    pub fn chat_id(&self) -> Option<&str> {
        match self {
            Outbound::Message(m) => Some(&m.chat_id),
            Outbound::ClearChoices { chat_id, .. } => Some(chat_id),
            Outbound::AcknowledgeChoice { .. } | Outbound::FetchMedia { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use switchboard_core::message::AttachmentKind;

    use super::*;

    /// Every action reads back as it was written, whatever the order of its fields.
    #[test]
    fn stored_actions_read_back_as_written() {
        let actions = [
            Outbound::Message(OutboundMessage {
                chat_id: "42".into(),
                text: "Выберите".into(),
                choices: vec![Choice {
                    label: "Да".into(),
                    payload: "yes".into(),
                }],
                files: vec![OutboundFile {
                    kind: AttachmentKind::Image,
                    sha256: "ab".repeat(32),
                    file_name: Some("a.png".into()),
                    mime_type: None,
                    data: None,
                    url: None,
                }],
                links: vec![OutboundLink {
                    kind: AttachmentKind::Video,
                    url: "https://example.com/v.mp4".into(),
                }],
                keyboard: Keyboard::ReplyOnce,
            }),
            Outbound::Message(OutboundMessage {
                chat_id: "42".into(),
                text: String::new(),
                choices: Vec::new(),
                files: Vec::new(),
                links: Vec::new(),
                keyboard: Keyboard::Inline,
            }),
            Outbound::AcknowledgeChoice {
                callback_id: "cb".into(),
            },
            Outbound::ClearChoices {
                chat_id: "42".into(),
                message_id: "7".into(),
            },
            Outbound::FetchMedia {
                file_id: "f".into(),
                index: 2,
            },
        ];
        for action in actions {
            let text = serde_json::to_string(&action).unwrap();
            assert_eq!(
                serde_json::from_str::<Outbound>(&text).unwrap(),
                action,
                "{text}"
            );
        }
        let reordered = json!({"text": "hi", "unknown": 1, "chat_id": "5", "action": "message"});
        assert!(matches!(
            serde_json::from_value::<Outbound>(reordered).unwrap(),
            Outbound::Message(m) if m.chat_id == "5" && m.text == "hi"
        ));
    }

    fn said(text: &str, choices: &[&str]) -> OutboundMessage {
        let choices = choices
            .iter()
            .map(|c| Choice {
                label: c.to_string(),
                payload: c.to_string(),
            })
            .collect();
        OutboundMessage::text("7", text, choices)
    }

    /// A greeting takes the texts up to the first menu, within the text limit; media or
    /// a text that would not fit ends it.
    #[test]
    fn a_greeting_joins_texts_up_to_the_first_menu() {
        let turn = [
            said("Здравствуйте!", &[]),
            said("Чем помочь?", &["Часы", "Оператор"]),
            said("Ещё", &[]),
        ];
        let (taken, greeting) = OutboundMessage::greeting(&turn, 7000);
        assert_eq!(taken, 2);
        assert_eq!(greeting.text, "Здравствуйте!\n\nЧем помочь?");
        assert_eq!(greeting.choices.len(), 2);
        assert_eq!(greeting.chat_id, "7");

        let (taken, greeting) = OutboundMessage::greeting(&turn, 20);
        assert_eq!((taken, greeting.text.as_str()), (1, "Здравствуйте!"));

        let mut picture = said("Вот карта", &[]);
        picture.links.push(OutboundLink {
            kind: AttachmentKind::Image,
            url: "https://example.com/map.png".into(),
        });
        assert_eq!(OutboundMessage::greeting(&[picture.clone()], 7000).0, 0);
        assert_eq!(
            OutboundMessage::greeting(&[said("Привет", &[]), picture], 7000).0,
            1
        );
        assert_eq!(OutboundMessage::greeting(&[], 7000).0, 0);
    }

    /// A row missing what its action needs, or naming an action we do not know, is refused
    /// with a reason rather than read as something else.
    #[test]
    fn incomplete_or_unknown_actions_are_refused() {
        for (row, reason) in [
            (json!({"action": "message", "text": "hi"}), "chat_id"),
            (
                json!({"action": "clear_choices", "chat_id": "1"}),
                "message_id",
            ),
            (json!({"action": "fetch_media", "file_id": "f"}), "index"),
            (json!({"action": "launch_rocket"}), "launch_rocket"),
            (json!({"chat_id": "1", "text": "hi"}), "action"),
        ] {
            let error = serde_json::from_value::<Outbound>(row)
                .unwrap_err()
                .to_string();
            assert!(error.contains(reason), "{error}");
        }
    }
}
