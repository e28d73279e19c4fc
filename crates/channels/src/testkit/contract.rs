//! The connector contract suite: what every channel must do, checked the same way for each
//! (in the spirit of Vector's component compliance tests). A channel's folder provides a
//! [`Kit`] (`kit.rs`: its fake API started, good and bad credentials, its fixtures as the
//! channel delivers them) and the registry line that names it; the suite then runs for it
//! without being asked (`tests/contract.rs` walks the registry, and a kind without a kit
//! fails there).
//!
//! Checked here, without a server: credentials verify (good) and are refused (bad); every
//! fixture parses, twice to the same events (so redelivery is recognised); a forged request
//! is refused as a bad signature; a long text, a long menu and a file are sent within the
//! channel's limits (the fakes refuse what the real APIs refuse); and the channel's ways of
//! failing map to what the delivery worker does: rate limited → retry after, server down →
//! transient, blocked by the customer → unreachable, credentials revoked → broken. A
//! customer opening the chat is reported, and greeted in the webhook's answer where the
//! channel wants it so (Viber); an app that shows no inline menus is reported, and gets
//! numbered text (VK's `client_info`). The
//! server's suite (`crates/server/tests/api/contract.rs`) runs the same kits through
//! `POST /hooks/{id}`: a forged request is 401 with nothing stored, a duplicate is stored once.

use std::{future::Future, pin::Pin};

use serde_json::Value;
use switchboard_core::{
    message::{AttachmentKind, Choice},
    render::{compose, MenuWords},
};

use crate::{
    connector::{ApiContext, ConnectError, Connector, HookKeys, InboundError, SendError},
    event::{InboundEvent, Outbound, OutboundFile, OutboundMessage},
    WebhookRequest,
};

/// A way a channel's API fails a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// Too many requests: wait.
    RateLimited,
    /// The API is down (5xx or the channel's equivalent).
    ServerDown,
    /// The customer blocked the bot or left.
    Blocked,
    /// The credentials were revoked.
    Revoked,
}

impl Trouble {
    pub const ALL: [Trouble; 4] = [
        Trouble::RateLimited,
        Trouble::ServerDown,
        Trouble::Blocked,
        Trouble::Revoked,
    ];

    /// Whether `error` is what the delivery worker must be told for this trouble.
    pub fn maps_to(self, error: &SendError) -> bool {
        matches!(
            (self, error),
            (Trouble::RateLimited, SendError::RetryAfter(_))
                | (Trouble::ServerDown, SendError::Transient(_))
                | (Trouble::Blocked, SendError::ContactUnreachable(_))
                | (Trouble::Revoked, SendError::ConnectionBroken(_))
        )
    }
}

/// A webhook request as the channel sends it.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The fixture it was made from.
    pub name: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a channel's folder gives the suite.
pub trait Kit: Send + Sync {
    /// The API context pointed at the kit's fake (the default context for a channel
    /// without an API).
    fn api(&self) -> ApiContext;
    /// Credentials the fake knows.
    fn good_credentials(&self) -> Value;
    /// Credentials the channel refuses; `None` when the channel checks none.
    fn bad_credentials(&self) -> Option<Value>;
    /// A webhook secret for a connection made without the server (this suite's own).
    fn secret(&self) -> String {
        "contract-secret-0123456789_abcdef".into()
    }
    /// The secret the connector gave the channel when it registered the webhook (read from
    /// the fake): what the server's suite signs with.
    fn registered_secret(&self) -> Option<String>;
    /// Every fixture, as the channel delivers it to a connection with the kit's credentials
    /// and this secret (signed where the channel signs).
    fn hooks(&self, secret: &str) -> Vec<Hook>;
    /// `hook` with its signature or secret broken.
    fn forged(&self, hook: &Hook) -> Hook;
    /// A message and the customer's edit of it, where the channel reports edits (the names
    /// of two of `hooks`).
    fn edit(&self) -> Option<(&'static str, &'static str)> {
        None
    }
    /// A customer opening the chat without writing, as a fresh event of `user` (never
    /// delivered before), where the channel reports it (Viber's `conversation_started`).
    fn started(&self, _secret: &str, _user: &str) -> Option<Hook> {
        None
    }
    /// Reads `body`, answered to a [`Kit::started`] hook, as the channel would: the greeting
    /// text it shows, or why it would drop the answer.
    fn check_welcome(&self, _body: &str) -> Result<String, String> {
        Err("this channel takes no greeting in its webhook's answer".into())
    }
    /// A fresh message (never delivered before) from `chat` whose app shows none of the
    /// channel's inline menus, where the channel reports what the app shows (VK's
    /// `client_info`): its menus must come as numbered text.
    fn plain_client(&self, _secret: &str, _chat: &str) -> Option<Hook> {
        None
    }
    /// The message sends the fake received for `chat`, in order: each one's text and how
    /// many buttons it carried; `None` where the kit does not record them.
    fn sends_to(&self, _chat: &str) -> Option<Vec<(String, usize)>> {
        None
    }
    /// The chat sends go to.
    fn chat(&self) -> String;
    /// Makes the fake fail the next send this way; false when the channel has no such way
    /// of failing (it stays unscripted).
    fn trouble(&self, trouble: Trouble) -> bool;
}

/// Starts a channel's kit (its fake API).
pub type Start = fn() -> Pin<Box<dyn Future<Output = Box<dyn Kit>> + Send>>;

/// Text of `units` characters of several scripts, with paragraph and sentence breaks.
fn long_text(chars: usize) -> String {
    let sentence = "Здравствуйте! Ваш заказ №12345 собран 📦 и передан в доставку. ";
    let mut text = String::new();
    let mut n = 0;
    while text.chars().count() < chars {
        text.push_str(sentence);
        n += 1;
        if n % 7 == 0 {
            text.push_str("\n\n");
        }
    }
    text
}

/// Runs the suite on `connector` with `kit`; panics naming the first broken promise.
pub async fn check(connector: &dyn Connector, kit: &dyn Kit) {
    let kind = connector.kind();
    let api = kit.api();
    let good = kit.good_credentials();

    // Credentials: their shape is checked without I/O, then by the channel.
    connector
        .validate(&good)
        .unwrap_or_else(|e| panic!("{kind}: good credentials have a bad shape: {e}"));
    for shapeless in [
        serde_json::json!(null),
        serde_json::json!({"unknown_field": 1}),
    ] {
        assert!(
            matches!(
                connector.validate(&shapeless),
                Err(ConnectError::InvalidCredentials { .. })
            ),
            "{kind}: {shapeless} passes as credentials"
        );
    }
    let account = connector
        .verify(&api, &good)
        .await
        .unwrap_or_else(|e| panic!("{kind}: good credentials refused: {e}"));
    assert!(!account.name.is_empty(), "{kind}: no account name");
    if let Some(bad) = kit.bad_credentials() {
        let refused = connector.verify(&api, &bad).await;
        assert!(
            matches!(
                refused,
                Err(ConnectError::BotNotFound(_) | ConnectError::InvalidCredentials { .. })
            ),
            "{kind}: bad credentials gave {refused:?}"
        );
    }
    let mut credentials = good.clone();
    if let (Some(Value::Object(keep)), Some(object)) =
        (account.keep.clone(), credentials.as_object_mut())
    {
        object.extend(keep);
    }

    // Every fixture parses, the same way twice; a forged one is refused.
    let secret = kit.secret();
    let keys = HookKeys {
        secret: &secret,
        credentials: &credentials,
    };
    for hook in kit.hooks(&secret) {
        let request = |h: &Hook| (h.headers.clone(), h.body.clone());
        let (headers, body) = request(&hook);
        let parsed = connector
            .parse(
                &keys,
                &WebhookRequest {
                    headers: &headers,
                    body: &body,
                },
            )
            .unwrap_or_else(|e| panic!("{kind}: fixture {} does not parse: {e}", hook.name));
        let again = connector
            .parse(
                &keys,
                &WebhookRequest {
                    headers: &headers,
                    body: &body,
                },
            )
            .unwrap();
        assert_eq!(
            parsed, again,
            "{kind}: {} parses differently twice",
            hook.name
        );
        for event in &parsed.events {
            assert_event_has_its_id(kind, &hook.name, event);
        }
        // A handshake that carries no event (VK's confirmation, Viber's webhook check) may
        // be answered unsigned, as those channels send it; anything with an event may not.
        let forged = kit.forged(&hook);
        let (headers, body) = request(&forged);
        let refused = connector.parse(
            &keys,
            &WebhookRequest {
                headers: &headers,
                body: &body,
            },
        );
        match refused {
            Err(InboundError::BadSignature(_)) => {}
            Ok(p) if parsed.events.is_empty() && p.events.is_empty() => {}
            other => panic!("{kind}: forged {} gave {other:?}", hook.name),
        }
    }

    // An edit names the message it changes: the stored one is updated, not answered anew.
    if let Some((original, edit)) = kit.edit() {
        let hooks = kit.hooks(&secret);
        let parse = |name: &str| {
            let hook = hooks
                .iter()
                .find(|h| h.name == name)
                .unwrap_or_else(|| panic!("{kind}: no fixture {name}"));
            connector
                .parse(
                    &keys,
                    &WebhookRequest {
                        headers: &hook.headers,
                        body: &hook.body,
                    },
                )
                .unwrap()
                .events
                .remove(0)
                .kind
        };
        let crate::event::InboundKind::Message {
            external_message_id: sent,
            ..
        } = parse(original)
        else {
            panic!("{kind}: {original} is not a message")
        };
        match parse(edit) {
            crate::event::InboundKind::Edited {
                external_message_id,
                content,
                ..
            } => {
                assert_eq!(
                    external_message_id, sent,
                    "{kind}: the edit names another message"
                );
                assert!(content.edited, "{kind}: an edit not marked edited");
            }
            other => panic!("{kind}: {edit} gave {other:?}, not an edit"),
        }
    }

    // A customer opening the chat is reported as such; a channel that greets in the answer
    // to its webhook renders a greeting it would show.
    let caps = connector.capabilities();
    if let Some(hook) = kit.started(&secret, "contract-opener") {
        let parsed = connector
            .parse(
                &keys,
                &WebhookRequest {
                    headers: &hook.headers,
                    body: &hook.body,
                },
            )
            .unwrap_or_else(|e| panic!("{kind}: the opening {} does not parse: {e}", hook.name));
        assert!(
            matches!(
                parsed.events.as_slice(),
                [InboundEvent { kind: crate::event::InboundKind::Started { contact }, .. }]
                    if contact.external_id == "contract-opener"
            ),
            "{kind}: an opening gave {parsed:?}"
        );
        let choices =
            [("Часы работы", "hours"), ("Оператор", "human")].map(|(label, payload)| Choice {
                label: label.into(),
                payload: payload.into(),
            });
        let composed = compose(
            &caps,
            "Здравствуйте! Чем помочь?",
            &choices,
            0,
            &MenuWords::default(),
        );
        let greeting = OutboundMessage::text(
            "contract-opener",
            composed.text.clone(),
            composed.buttons.into_iter().map(Choice::from).collect(),
        );
        if let Some(body) = connector.welcome(&api, &credentials, &greeting).await {
            let shown = kit
                .check_welcome(&body)
                .unwrap_or_else(|e| panic!("{kind}: the channel would drop the welcome: {e}"));
            assert!(
                shown.contains("Здравствуйте! Чем помочь?"),
                "{kind}: the welcome shows {shown:?}"
            );
        }
    }

    // An app that shows none of the channel's menus is reported, and a menu fitted to it is
    // text the channel takes.
    if let Some(hook) = kit.plain_client(&secret, &kit.chat()) {
        let parsed = connector
            .parse(
                &keys,
                &WebhookRequest {
                    headers: &hook.headers,
                    body: &hook.body,
                },
            )
            .unwrap_or_else(|e| panic!("{kind}: {} does not parse: {e}", hook.name));
        let client = match parsed.events.first().map(|e| &e.kind) {
            Some(crate::event::InboundKind::Message { contact, .. }) => contact.client,
            other => panic!("{kind}: {} gave {other:?}", hook.name),
        };
        let fitted = caps.clone().for_client(client.as_ref());
        assert_eq!(fitted.buttons, None, "{kind}: {} shows buttons", hook.name);
        let choices =
            [("Часы работы", "hours"), ("Оператор", "human")].map(|(label, payload)| Choice {
                label: label.into(),
                payload: payload.into(),
            });
        let composed = compose(&fitted, "Чем помочь?", &choices, 0, &MenuWords::default());
        assert!(composed.buttons.is_empty() && composed.text.contains("2. Оператор"));
        connector
            .send(
                &api,
                &credentials,
                &Outbound::Message(OutboundMessage::text(kit.chat(), composed.text, Vec::new())),
            )
            .await
            .unwrap_or_else(|e| panic!("{kind}: a numbered menu was refused: {e}"));
    }

    // Sends within the channel's limits: the fakes refuse what the real APIs refuse.
    let chat = kit.chat();
    let send = |message: OutboundMessage| {
        let (api, credentials) = (&api, &credentials);
        async move {
            connector
                .send(api, credentials, &Outbound::Message(message))
                .await
        }
    };
    let text = long_text(caps.max_text * 2 + 10);
    let sent = send(OutboundMessage::text(chat.clone(), text, Vec::new()))
        .await
        .unwrap_or_else(|e| panic!("{kind}: a long text was refused: {e}"));
    assert!(
        sent.external_ids.len() >= 3 || sent.external_ids.is_empty(),
        "{kind}: a text of twice the limit went out in {} parts",
        sent.external_ids.len()
    );
    let choices: Vec<Choice> = (1..=14)
        .map(|i| Choice {
            label: format!("Вариант номер {i}: доставка курьером до двери в удобное время"),
            payload: format!("choice-{i}-{}", "x".repeat(80)),
        })
        .collect();
    let composed = compose(
        &caps,
        "Выберите вариант",
        &choices,
        0,
        &MenuWords::default(),
    );
    let menu: Vec<Choice> = composed.buttons.into_iter().map(Choice::from).collect();
    send(OutboundMessage::text(
        chat.clone(),
        composed.text,
        menu.clone(),
    ))
    .await
    .unwrap_or_else(|e| panic!("{kind}: a menu fitted to its profile was refused: {e}"));
    // Emoji weigh four bytes and two UTF-16 units each: limits in bytes and requests in
    // kilobytes are tested by them.
    // With the menu, a request of the longest text is as heavy as it gets.
    let wide: String = "😀".repeat(caps.max_text);
    send(OutboundMessage::text(chat.clone(), wide, menu.clone()))
        .await
        .unwrap_or_else(|e| panic!("{kind}: a text of emoji was refused: {e}"));
    if caps.media.contains(&AttachmentKind::Image) {
        send(OutboundMessage {
            files: vec![OutboundFile {
                kind: AttachmentKind::Image,
                sha256: "ab".repeat(32),
                file_name: Some("map.png".into()),
                mime_type: Some("image/png".into()),
                data: Some(b"\x89PNG fake bytes".to_vec()),
                url: Some("http://127.0.0.1:9/files/map.png".into()),
            }],
            ..OutboundMessage::text(chat.clone(), "Схема проезда", Vec::new())
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: a picture was refused: {e}"));
    }

    // Failures sorted by what the delivery worker does next.
    for trouble in Trouble::ALL {
        if !kit.trouble(trouble) {
            continue;
        }
        let failed = send(OutboundMessage::text(chat.clone(), "Спасибо!", Vec::new())).await;
        match failed {
            Err(e) if trouble.maps_to(&e) => {}
            other => panic!("{kind}: {trouble:?} gave {other:?}"),
        }
    }
}

/// An event that can come again carries the id the channel repeats: dedupe depends on it.
fn assert_event_has_its_id(
    kind: switchboard_core::channel::ChannelKind,
    hook: &str,
    event: &InboundEvent,
) {
    assert!(
        !event.external_event_id.is_empty(),
        "{kind}: an event of {hook} has no id"
    );
}
