//! Telegram: fixtures from the Bot API documentation through `parse`, and sends against the
//! fake Bot API.

use std::time::Duration;

use serde_json::json;
use switchboard_core::message::{AttachmentKind, Choice};

use super::*;
use crate::{
    event::{InboundKind, OutboundMessage},
    testkit::{Failure, FakeTelegram},
};

const SECRET: &str = "s3cret_token-1";
const TOKEN: &str = "123456:AAH-test_token";

fn keys() -> crate::connector::HookKeys<'static> {
    static NO_CREDENTIALS: serde_json::Value = serde_json::Value::Null;
    crate::connector::HookKeys {
        secret: SECRET,
        credentials: &NO_CREDENTIALS,
    }
}

fn request<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
    WebhookRequest { headers, body }
}

fn parse_fixture(name: &str) -> crate::event::InboundEvent {
    let body = std::fs::read(format!(
        "{}/src/telegram/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let headers = vec![(SECRET_HEADER.to_string(), SECRET.to_string())];
    let mut parsed = Telegram.parse(&keys(), &request(&headers, &body)).unwrap();
    assert_eq!(parsed.events.len(), 1);
    parsed.events.remove(0)
}

#[test]
fn text_messages_become_messages() {
    let event = parse_fixture("text_message.json");
    assert_eq!(event.external_event_id, "10000");
    let InboundKind::Message {
        contact,
        external_message_id,
        content,
    } = event.kind
    else {
        panic!("{event:?}")
    };
    assert_eq!(
        (contact.external_id.as_str(), contact.name.as_str()),
        ("1111111", "Иван Петров")
    );
    assert_eq!(external_message_id, "1365");
    assert_eq!(content.text, "Здравствуйте! Где мой заказ?");
    assert!(event.follow_ups.is_empty());
}

/// An edit names the message it changes (its message_id), not a new one: the stored
/// message is updated and nobody answers it as new.
#[test]
fn edits_name_the_message_they_change() {
    let event = parse_fixture("edited_message.json");
    assert_eq!(event.external_event_id, "10001");
    let InboundKind::Edited {
        external_message_id,
        content,
        ..
    } = event.kind
    else {
        panic!("{:?}", event.kind)
    };
    assert_eq!(external_message_id, "1365");
    assert!(content.text.contains("№1234") && content.edited);
}

/// A press on a message too old for the bot to read (an InaccessibleMessage, date 0) is
/// acknowledged, but its menu cannot be edited: no edit is attempted, and its payload is
/// not taken for the customer's words.
#[test]
fn a_press_on_an_inaccessible_message_edits_nothing() {
    let event = parse_fixture("callback_query_old_message.json");
    assert_eq!(
        event.follow_ups,
        vec![Outbound::AcknowledgeChoice {
            callback_id: "4382bfdwdsb323b2e0".into()
        }]
    );
    let InboundKind::ChoicePressed { content, .. } = event.kind else {
        panic!()
    };
    assert_eq!(content.pressed.as_deref(), Some("welcome:3"));
    assert_eq!(content.text, "", "the payload stored as what the customer wrote");
}

#[test]
fn button_presses_carry_label_and_payload_and_clear_the_menu() {
    let event = parse_fixture("callback_query.json");
    let InboundKind::ChoicePressed {
        contact,
        external_message_id,
        content,
    } = event.kind
    else {
        panic!()
    };
    assert_eq!(contact.external_id, "1111111");
    assert_eq!(external_message_id.as_deref(), Some("1400"));
    assert_eq!(
        (content.text.as_str(), content.pressed.as_deref()),
        ("Позвать оператора", Some("human"))
    );
    assert_eq!(
        event.follow_ups,
        vec![
            Outbound::AcknowledgeChoice {
                callback_id: "4382bfdwdsb323b2d9".into()
            },
            Outbound::ClearChoices {
                chat_id: "1111111".into(),
                message_id: "1400".into()
            },
        ]
    );
}

#[test]
fn media_and_shared_contacts_are_kept() {
    let InboundKind::Message { content, .. } = parse_fixture("photo.json").kind else {
        panic!()
    };
    assert_eq!(content.text, "Вот так пришла коробка");
    assert_eq!(content.attachments.len(), 1);
    assert_eq!(content.attachments[0].kind, AttachmentKind::Image);
    assert_eq!(
        content.attachments[0].external_id.as_deref(),
        Some("AgACAgIAAxkBAAIBlarge"),
        "the largest size"
    );

    let InboundKind::Message { content, .. } = parse_fixture("document.json").kind else {
        panic!()
    };
    let doc = &content.attachments[0];
    assert_eq!(
        (doc.kind, doc.file_name.as_deref(), doc.mime_type.as_deref()),
        (
            AttachmentKind::File,
            Some("чек.pdf"),
            Some("application/pdf")
        )
    );

    let InboundKind::Message { content, .. } = parse_fixture("voice.json").kind else {
        panic!()
    };
    assert_eq!(content.attachments[0].kind, AttachmentKind::Voice);

    let InboundKind::Message { content, .. } = parse_fixture("contact.json").kind else {
        panic!()
    };
    assert_eq!(content.text, "Иван Петров: +79001234567");
}

#[test]
fn blocking_the_bot_makes_the_contact_unreachable() {
    let InboundKind::Reachability { contact, reachable } =
        parse_fixture("my_chat_member_kicked.json").kind
    else {
        panic!()
    };
    assert_eq!(
        (contact.external_id.as_str(), reachable),
        ("1111111", false)
    );
}

#[test]
fn unknown_update_kinds_are_recorded_and_ignored() {
    let event = parse_fixture("poll.json");
    assert_eq!(event.external_event_id, "10008");
    assert!(matches!(event.kind, InboundKind::Ignored { .. }));
}

#[test]
fn a_wrong_or_missing_secret_is_refused() {
    let body = br#"{"update_id": 1}"#;
    let wrong = vec![(SECRET_HEADER.to_string(), "guess".to_string())];
    assert!(matches!(
        Telegram.parse(&keys(), &request(&wrong, body)),
        Err(InboundError::BadSignature(_))
    ));
    assert!(matches!(
        Telegram.parse(&keys(), &request(&[], body)),
        Err(InboundError::BadSignature(_))
    ));
    let lower = vec![(SECRET_HEADER.to_lowercase(), SECRET.to_string())];
    assert!(
        Telegram.parse(&keys(), &request(&lower, body)).is_ok(),
        "header names are case-insensitive"
    );
}

#[test]
fn malformed_bodies_are_refused() {
    let headers = vec![(SECRET_HEADER.to_string(), SECRET.to_string())];
    for body in [&b"{"[..], b"[]", br#"{"message": {}}"#, b""] {
        assert!(
            matches!(
                Telegram.parse(&keys(), &request(&headers, body)),
                Err(InboundError::Malformed(_))
            ),
            "{body:?}"
        );
    }
}

async fn fake() -> (FakeTelegram, ApiContext) {
    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN, 7000000001, "Shop Bot");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let api = ApiContext {
        http,
        api_base_url: Some(fake.url.clone()),
        send_key: None,
    };
    (fake, api)
}

#[tokio::test]
async fn verify_reports_the_bot_or_bot_not_found() {
    let (_fake, api) = fake().await;
    let info = Telegram
        .verify(&api, &json!({"token": TOKEN}))
        .await
        .unwrap();
    assert_eq!(
        info,
        AccountInfo {
            name: "Shop Bot".into(),
            external_id: "7000000001".into(),
            keep: None,
        }
    );
    let unknown = Telegram
        .verify(&api, &json!({"token": "999:unknown"}))
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, ConnectError::BotNotFound(_)),
        "{unknown:?}"
    );
    let malformed = Telegram
        .verify(&api, &json!({"token": "../../etc"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&malformed, ConnectError::InvalidCredentials { field, .. } if field == "token"),
        "{malformed:?}"
    );
    let missing = Telegram.verify(&api, &json!({})).await.unwrap_err();
    assert!(matches!(missing, ConnectError::InvalidCredentials { .. }));
}

#[tokio::test]
async fn webhooks_are_registered_with_the_secret() {
    let (fake, api) = fake().await;
    Telegram
        .register_webhook(
            &api,
            &json!({"token": TOKEN}),
            "https://hub.example/hooks/x",
            SECRET,
        )
        .await
        .unwrap();
    let call = &fake.calls_of("setWebhook")[0];
    assert_eq!(call.body["url"], "https://hub.example/hooks/x");
    assert_eq!(call.body["secret_token"], SECRET);
    assert_eq!(
        call.body["allowed_updates"],
        json!([
            "message",
            "edited_message",
            "callback_query",
            "my_chat_member"
        ])
    );
    Telegram
        .unregister_webhook(&api, &json!({"token": TOKEN}))
        .await
        .unwrap();
    assert_eq!(fake.calls_of("deleteWebhook").len(), 1);
}

fn message(text: &str, choices: Vec<Choice>) -> Outbound {
    Outbound::Message(OutboundMessage {
        chat_id: "1111111".into(),
        text: text.into(),
        choices,
        files: vec![],
        links: Vec::new(),
        keyboard: crate::event::Keyboard::Inline,
    })
}

#[tokio::test]
async fn long_texts_are_split_and_choices_go_on_the_last_piece() {
    let (fake, api) = fake().await;
    let text = format!("{}\n\n{}", "а".repeat(3000), "б".repeat(3000));
    let choices = vec![
        Choice {
            label: "Да".into(),
            payload: "yes".into(),
        },
        Choice {
            label: "Нет".into(),
            payload: "n".repeat(80),
        },
    ];
    let sent = Telegram
        .send(&api, &json!({"token": TOKEN}), &message(&text, choices))
        .await
        .unwrap();
    assert_eq!(sent.external_ids.len(), 2);
    let calls = fake.calls_of("sendMessage");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body["text"], "а".repeat(3000));
    assert!(calls[0].body.get("reply_markup").is_none());
    assert_eq!(
        calls[1].body["reply_markup"],
        json!({"inline_keyboard": [[{"text": "Да", "callback_data": "yes"}], [{"text": "Нет", "callback_data": "#1"}]]})
    );
}

/// Media by URL goes as the Bot API's own fetch (`sendVideo` with the link), and a reply
/// keyboard rides on it when it is the last part.
#[tokio::test]
async fn linked_media_carries_a_reply_keyboard_when_last() {
    let (fake, api) = fake().await;
    let outbound = Outbound::Message(OutboundMessage {
        chat_id: "1111111".into(),
        text: "Как добраться".into(),
        choices: vec![Choice {
            label: "Понятно".into(),
            payload: "ok".into(),
        }],
        files: Vec::new(),
        links: vec![crate::event::OutboundLink {
            kind: AttachmentKind::Video,
            url: "https://example.com/route.mp4".into(),
        }],
        keyboard: crate::event::Keyboard::ReplyOnce,
    });
    let sent = Telegram
        .send(&api, &json!({"token": TOKEN}), &outbound)
        .await
        .unwrap();
    assert_eq!(sent.external_ids.len(), 2);
    assert!(fake.calls_of("sendMessage")[0]
        .body
        .get("reply_markup")
        .is_none());
    let video = &fake.calls_of("sendVideo")[0];
    assert_eq!(video.body["video"], "https://example.com/route.mp4");
    assert_eq!(
        video.body["reply_markup"],
        json!({"keyboard": [[{"text": "Понятно"}]], "one_time_keyboard": true, "resize_keyboard": true})
    );
}

#[tokio::test]
async fn failures_are_sorted_for_the_delivery_worker() {
    let (fake, api) = fake().await;
    let credentials = json!({"token": TOKEN});
    let hello = message("hello", vec![]);
    fake.fail_next("sendMessage", Failure::RetryAfter(7));
    assert_eq!(
        Telegram.send(&api, &credentials, &hello).await,
        Err(SendError::RetryAfter(Duration::from_secs(7)))
    );
    fake.fail_next("sendMessage", Failure::ServerError);
    assert!(matches!(
        Telegram.send(&api, &credentials, &hello).await,
        Err(SendError::Transient(_))
    ));
    fake.fail_next("sendMessage", Failure::Blocked);
    assert!(matches!(
        Telegram.send(&api, &credentials, &hello).await,
        Err(SendError::ContactUnreachable(_))
    ));
    fake.fail_next("sendMessage", Failure::Unauthorized);
    assert!(matches!(
        Telegram.send(&api, &credentials, &hello).await,
        Err(SendError::ConnectionBroken(_))
    ));
    fake.fail_next("sendMessage", Failure::Reset);
    assert!(matches!(
        Telegram.send(&api, &credentials, &hello).await,
        Err(SendError::Unknown(_))
    ));
    fake.fail_next("sendMessage", Failure::Delay(Duration::from_secs(5)));
    assert!(
        matches!(
            Telegram.send(&api, &credentials, &hello).await,
            Err(SendError::Unknown(_))
        ),
        "a timeout after writing"
    );
    let closed = ApiContext {
        http: api.http.clone(),
        api_base_url: Some("http://127.0.0.1:9".into()),
        send_key: None,
    };
    assert!(
        Telegram.send(&api, &credentials, &hello).await.is_ok(),
        "healthy again"
    );
    assert!(
        matches!(
            Telegram.send(&closed, &credentials, &hello).await,
            Err(SendError::Transient(_))
        ),
        "nothing listens: never sent"
    );
}

#[test]
fn attachments_are_queued_for_download() {
    let event = parse_fixture("photo.json");
    assert_eq!(
        event.follow_ups,
        vec![Outbound::FetchMedia {
            file_id: "AgACAgIAAxkBAAIBlarge".into(),
            index: 0
        }]
    );
}

#[tokio::test]
async fn media_is_downloaded_through_get_file() {
    let (fake, api) = fake().await;
    let fetch = Outbound::FetchMedia {
        file_id: "BQAdoc".into(),
        index: 0,
    };
    let sent = Telegram
        .send(&api, &json!({"token": TOKEN}), &fetch)
        .await
        .unwrap();
    assert_eq!(
        sent.media.as_deref(),
        Some(crate::testkit::file_bytes("BQAdoc").as_slice())
    );
    assert_eq!(fake.calls_of("getFile")[0].body["file_id"], "BQAdoc");
    assert_eq!(
        fake.calls_of("download")[0].body["path"],
        "files/BQAdoc.bin"
    );
    fake.fail_next("getFile", Failure::Reset);
    let lost = Telegram
        .send(&api, &json!({"token": TOKEN}), &fetch)
        .await
        .unwrap_err();
    assert!(
        matches!(lost, SendError::Transient(_)),
        "a download is safe to retry: {lost:?}"
    );
}

#[tokio::test]
async fn files_are_uploaded_after_the_text_and_carry_the_menu() {
    let (fake, api) = fake().await;
    let file = crate::event::OutboundFile {
        kind: AttachmentKind::Image,
        sha256: "ab".repeat(32),
        file_name: Some("схема.png".into()),
        mime_type: Some("image/png".into()),
        data: Some(b"PNG-BYTES".to_vec()),
        url: None,
    };
    let outbound = Outbound::Message(OutboundMessage {
        chat_id: "1111111".into(),
        text: "Вот схема проезда".into(),
        choices: vec![Choice {
            label: "Спасибо".into(),
            payload: "thanks".into(),
        }],
        files: vec![file],
        links: Vec::new(),
        keyboard: crate::event::Keyboard::Inline,
    });
    let sent = Telegram
        .send(&api, &json!({"token": TOKEN}), &outbound)
        .await
        .unwrap();
    assert_eq!(sent.external_ids.len(), 2);
    let text = &fake.calls_of("sendMessage")[0];
    assert!(
        text.body.get("reply_markup").is_none(),
        "the menu goes on the last part"
    );
    let photo = &fake.calls_of("sendPhoto")[0];
    assert!(
        photo.raw.contains("PNG-BYTES") && photo.raw.contains("name=\"photo\""),
        "{}",
        photo.raw
    );
    assert!(photo.raw.contains("thanks"), "the menu rides on the photo");
    fake.fail_next("sendPhoto", Failure::ServerError);
    let partial = Telegram
        .send(&api, &json!({"token": TOKEN}), &outbound)
        .await
        .unwrap_err();
    assert!(
        matches!(partial, SendError::Unknown(_)),
        "the text went out already: {partial:?}"
    );
}

#[tokio::test]
async fn reply_keyboards_can_hide_after_one_press() {
    let (fake, api) = fake().await;
    let outbound = Outbound::Message(OutboundMessage {
        chat_id: "1".into(),
        text: "Да или нет?".into(),
        choices: vec![
            Choice {
                label: "Да".into(),
                payload: "yes".into(),
            },
            Choice {
                label: "Нет".into(),
                payload: "no".into(),
            },
        ],
        files: vec![],
        links: Vec::new(),
        keyboard: crate::event::Keyboard::ReplyOnce,
    });
    Telegram
        .send(&api, &json!({"token": TOKEN}), &outbound)
        .await
        .unwrap();
    assert_eq!(
        fake.calls_of("sendMessage")[0].body["reply_markup"],
        json!({"keyboard": [[{"text": "Да"}], [{"text": "Нет"}]], "one_time_keyboard": true, "resize_keyboard": true})
    );
}

#[tokio::test]
async fn presses_are_acknowledged_and_menus_cleared() {
    let (fake, api) = fake().await;
    let credentials = json!({"token": TOKEN});
    Telegram
        .send(
            &api,
            &credentials,
            &Outbound::AcknowledgeChoice {
                callback_id: "cb1".into(),
            },
        )
        .await
        .unwrap();
    Telegram
        .send(
            &api,
            &credentials,
            &Outbound::ClearChoices {
                chat_id: "1".into(),
                message_id: "2".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        fake.calls_of("answerCallbackQuery")[0].body["callback_query_id"],
        "cb1"
    );
    assert_eq!(
        fake.calls_of("editMessageReplyMarkup")[0].body["reply_markup"],
        json!({"inline_keyboard": []})
    );
}
