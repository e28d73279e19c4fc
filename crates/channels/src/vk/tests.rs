//! The VK connector against the documentation's payloads and a fake API: the secret and
//! community checks, the confirmation answer, every event kind, sends with keyboards and
//! `random_id`, and error codes sorted.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_core::message::{AttachmentKind, Choice};

use super::{outbound::random_id, Vk};
use crate::{
    connector::{
        ApiContext, ConnectError, Connector, HookKeys, InboundError, SendError, WebhookRequest,
    },
    event::{InboundKind, Keyboard, Outbound, OutboundMessage},
    testkit::FakeVk,
};

const TOKEN: &str = "vk1.a.community-token_123";
const GROUP: i64 = 229876543;

fn parse(body: &[u8]) -> Result<crate::connector::Parsed, InboundError> {
    let credentials = json!({"token": TOKEN, "group_id": GROUP, "confirmation": "a1b2c3d4"});
    Vk.parse(
        &HookKeys {
            secret: "SECRET",
            credentials: &credentials,
        },
        &WebhookRequest { headers: &[], body },
    )
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("src/vk/fixtures/{name}.json")).unwrap()
}

fn one(name: &str) -> crate::event::InboundEvent {
    let mut parsed = parse(&fixture(name)).unwrap();
    assert_eq!(parsed.events.len(), 1);
    parsed.events.remove(0)
}

#[test]
fn the_secret_and_the_community_are_checked() {
    let mut event: Value = serde_json::from_slice(&fixture("message_new")).unwrap();
    assert!(parse(&serde_json::to_vec(&event).unwrap()).is_ok());
    event["secret"] = "wrong".into();
    assert!(matches!(
        parse(&serde_json::to_vec(&event).unwrap()),
        Err(InboundError::BadSignature(_))
    ));
    event.as_object_mut().unwrap().remove("secret");
    assert!(matches!(
        parse(&serde_json::to_vec(&event).unwrap()),
        Err(InboundError::BadSignature(_))
    ));
    let mut other: Value = serde_json::from_slice(&fixture("message_new")).unwrap();
    other["group_id"] = 1.into();
    assert!(matches!(
        parse(&serde_json::to_vec(&other).unwrap()),
        Err(InboundError::BadSignature(_))
    ));
    assert!(matches!(
        parse(b"not json"),
        Err(InboundError::Malformed(_))
    ));
}

#[test]
fn confirmation_is_answered_with_the_communitys_string() {
    let parsed = parse(&fixture("confirmation")).unwrap();
    assert!(parsed.events.is_empty());
    assert_eq!(parsed.reply.as_deref(), Some("a1b2c3d4"));
}

#[test]
fn every_event_kind_maps_to_a_neutral_event() {
    let text = one("message_new");
    assert_eq!(
        text.external_event_id,
        "6e8f1cb7a9c3d1b2e4f5a6b7c8d9e0f1a2b3c4d5"
    );
    let InboundKind::Message {
        contact,
        content,
        external_message_id,
    } = &text.kind
    else {
        panic!()
    };
    assert_eq!(
        (contact.external_id.as_str(), content.text.as_str()),
        ("1111111", "Здравствуйте")
    );
    assert_eq!(external_message_id, "42");

    let button = one("message_new_button");
    let InboundKind::Message { content, .. } = &button.kind else {
        panic!()
    };
    assert_eq!(
        (content.text.as_str(), content.pressed.as_deref()),
        ("Статус заказа", Some("welcome:0"))
    );

    let photo = one("message_new_photo");
    let InboundKind::Message { content, .. } = &photo.kind else {
        panic!()
    };
    assert_eq!(content.attachments[0].kind, AttachmentKind::Image);
    assert_eq!(
        photo.follow_ups,
        vec![Outbound::FetchMedia {
            file_id: "https://sun9-1.userapi.com/w.jpg".into(),
            index: 0
        }],
        "the largest size is kept"
    );

    let press = one("message_event");
    let InboundKind::ChoicePressed { content, .. } = &press.kind else {
        panic!()
    };
    assert_eq!(content.pressed.as_deref(), Some("welcome:1"));
    let Outbound::AcknowledgeChoice { callback_id } = &press.follow_ups[0] else {
        panic!()
    };
    let ack: Value = serde_json::from_str(callback_id).unwrap();
    assert_eq!(
        (ack["event_id"].as_str(), ack["user_id"].as_i64()),
        (Some("3159dc190b1f"), Some(1111111))
    );

    assert!(matches!(
        one("message_allow").kind,
        InboundKind::Reachability {
            reachable: true,
            ..
        }
    ));
    assert!(matches!(
        one("message_deny").kind,
        InboundKind::Reachability {
            reachable: false,
            ..
        }
    ));
}

fn api(fake: &FakeVk, key: Option<u64>) -> ApiContext {
    ApiContext {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        api_base_url: Some(fake.url.clone()),
        send_key: key,
    }
}

#[tokio::test]
async fn connecting_checks_the_token_and_that_messages_are_on() {
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Ромашка", true);
    fake.add_community("vk1.off", 42, "Без сообщений", false);
    let info = Vk
        .verify(
            &api(&fake, None),
            &json!({"token": TOKEN, "group_id": GROUP}),
        )
        .await
        .unwrap();
    assert_eq!(
        (info.name.as_str(), info.external_id.as_str()),
        ("Ромашка", "229876543")
    );
    assert_eq!(info.keep, Some(json!({"confirmation": "conf229876543"})));
    let bad = Vk
        .verify(
            &api(&fake, None),
            &json!({"token": "vk1.nobody", "group_id": GROUP}),
        )
        .await;
    assert!(matches!(bad, Err(ConnectError::BotNotFound(_))), "{bad:?}");
    let foreign = Vk
        .verify(
            &api(&fake, None),
            &json!({"token": TOKEN, "group_id": "club42"}),
        )
        .await;
    assert!(
        matches!(foreign, Err(ConnectError::BotNotFound(_))),
        "{foreign:?}"
    );
    let off = Vk
        .verify(
            &api(&fake, None),
            &json!({"token": "vk1.off", "group_id": 42}),
        )
        .await;
    let Err(ConnectError::Refused(why)) = off else {
        panic!("{off:?}")
    };
    assert!(why.contains("messages are switched off"), "{why}");
    let malformed = Vk
        .verify(
            &api(&fake, None),
            &json!({"token": TOKEN, "group_id": "shop"}),
        )
        .await;
    assert!(
        matches!(malformed, Err(ConnectError::InvalidCredentials { ref field, .. }) if field == "group_id"),
        "{malformed:?}"
    );
}

fn menu(chat: &str, choices: usize) -> Outbound {
    Outbound::Message(OutboundMessage {
        chat_id: chat.into(),
        text: "Чем помочь?".into(),
        choices: (0..choices)
            .map(|i| Choice {
                label: format!("Вариант {i}"),
                payload: format!("welcome:{i}"),
            })
            .collect(),
        files: Vec::new(),
        links: Vec::new(),
        keyboard: Keyboard::Inline,
    })
}

#[tokio::test]
async fn sends_once_per_row_with_keyboards_and_sorts_errors() {
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Ромашка", true);
    let credentials = json!({"token": TOKEN, "group_id": GROUP});
    let sent = Vk
        .send(&api(&fake, Some(77)), &credentials, &menu("1111111", 7))
        .await
        .unwrap();
    let call = &fake.calls_of("messages.send")[0];
    assert_eq!(call.body["peer_id"], "1111111");
    assert_eq!(call.body["random_id"], random_id(Some(77), 0).to_string());
    let keyboard: Value = serde_json::from_str(call.body["keyboard"].as_str().unwrap()).unwrap();
    assert_eq!(keyboard["inline"], true);
    let rows = keyboard["buttons"].as_array().unwrap();
    assert!(
        rows.len() <= 6 && rows.iter().all(|r| r.as_array().unwrap().len() <= 5),
        "{keyboard}"
    );
    let first = &rows[0][0]["action"];
    assert_eq!(first["type"], "text");
    assert_eq!(
        serde_json::from_str::<Value>(first["payload"].as_str().unwrap()).unwrap(),
        json!({"p": "welcome:0"})
    );
    // The same row sent again (a retry after a lost answer) is dropped by VK.
    let again = Vk
        .send(&api(&fake, Some(77)), &credentials, &menu("1111111", 7))
        .await
        .unwrap();
    assert_eq!(again.external_ids, sent.external_ids);
    assert_eq!(fake.delivered(), 1);
    // A long text goes in pieces, each with its own random_id.
    let long = Outbound::Message(OutboundMessage {
        text: "Слово. ".repeat(2000),
        ..match menu("1111111", 0) {
            Outbound::Message(m) => m,
            _ => unreachable!(),
        }
    });
    let pieces = Vk
        .send(&api(&fake, Some(78)), &credentials, &long)
        .await
        .unwrap();
    assert_eq!(pieces.external_ids.len(), 2);
    assert_eq!(fake.delivered(), 3);

    for (code, check) in [
        (901, "unreachable"),
        (5, "broken"),
        (6, "retry"),
        (9, "retry"),
        (914, "permanent"),
        (10, "transient"),
    ] {
        fake.fail_next("messages.send", code);
        let e = Vk
            .send(
                &api(&fake, Some(100 + code as u64)),
                &credentials,
                &menu("1", 0),
            )
            .await
            .unwrap_err();
        let ok = match check {
            "unreachable" => matches!(e, SendError::ContactUnreachable(_)),
            "broken" => matches!(e, SendError::ConnectionBroken(_)),
            "retry" => matches!(e, SendError::RetryAfter(_)),
            "transient" => matches!(e, SendError::Transient(_)),
            _ => matches!(e, SendError::Permanent(_)),
        };
        assert!(ok, "error {code}: {e:?}");
    }
    let ack = Outbound::AcknowledgeChoice {
        callback_id: json!({"event_id": "3159dc190b1f", "user_id": 1111111, "peer_id": 1111111})
            .to_string(),
    };
    Vk.send(&api(&fake, None), &credentials, &ack)
        .await
        .unwrap();
    let answer = &fake.calls_of("messages.sendMessageEventAnswer")[0].body;
    assert_eq!(
        (answer["event_id"].as_str(), answer["user_id"].as_str()),
        (Some("3159dc190b1f"), Some("1111111"))
    );
    let url = fake.add_media("p.jpg", b"JPEG");
    let fetched = Vk
        .send(
            &api(&fake, None),
            &credentials,
            &Outbound::FetchMedia {
                file_id: url,
                index: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(fetched.media.as_deref(), Some(&b"JPEG"[..]));
}

#[tokio::test]
async fn long_polling_reads_events_and_recovers_from_failures() {
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Ромашка", true);
    let credentials = json!({"token": TOKEN, "group_id": GROUP});
    let api = api(&fake, None);
    let event = |id: &str, text: &str| {
        let mut e: Value = serde_json::from_slice(&fixture("message_new")).unwrap();
        e.as_object_mut().unwrap().remove("secret");
        e["event_id"] = id.into();
        e["object"]["message"]["text"] = text.into();
        e
    };
    fake.push_update(event("lp-1", "первое"));
    fake.push_update(event("lp-2", "второе"));
    let first = Vk.poll(&api, &credentials, None).await.unwrap();
    assert_eq!(first.events.len(), 2);
    assert_eq!(first.events[1].external_event_id, "lp-2");
    assert_eq!(
        fake.calls_of("groups.setLongPollSettings").len(),
        1,
        "long poll switched on once"
    );
    let settings = &fake.calls_of("groups.setLongPollSettings")[0].body;
    assert_eq!(
        (
            settings["enabled"].as_str(),
            settings["message_new"].as_str()
        ),
        (Some("1"), Some("1"))
    );
    let cursor = first.cursor.unwrap();
    // Asking from the next ts confirms them: nothing again.
    let empty = Vk.poll(&api, &credentials, Some(&cursor)).await.unwrap();
    assert!(empty.events.is_empty());
    let cursor = empty.cursor.unwrap();

    // failed 2: a new key, same ts; the event is still read.
    fake.push_update(event("lp-3", "третье"));
    fake.fail_long_poll(2);
    let renewed = Vk.poll(&api, &credentials, Some(&cursor)).await.unwrap();
    assert!(renewed.events.is_empty());
    assert_eq!(fake.calls_of("groups.getLongPollServer").len(), 2);
    let after = Vk
        .poll(&api, &credentials, renewed.cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(after.events.len(), 1);
    assert_eq!(after.events[0].external_event_id, "lp-3");
    // failed 3: new key and ts.
    fake.fail_long_poll(3);
    let reset = Vk
        .poll(&api, &credentials, after.cursor.as_deref())
        .await
        .unwrap();
    assert!(reset.events.is_empty());
    assert_eq!(fake.calls_of("groups.getLongPollServer").len(), 3);
    // Another community's events are not ours.
    let mut foreign = event("lp-4", "чужое");
    foreign["group_id"] = 1.into();
    fake.push_update(foreign);
    // (A new ts may redeliver what was not confirmed yet: deduplication absorbs it.)
    let next = Vk
        .poll(&api, &credentials, reset.cursor.as_deref())
        .await
        .unwrap();
    assert!(
        next.events.iter().all(|e| e.external_event_id == "lp-3"),
        "{:?}",
        next.events
    );
}

#[tokio::test]
async fn photos_and_documents_go_through_the_upload_servers() {
    use crate::event::OutboundFile;
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Ромашка", true);
    let credentials = json!({"token": TOKEN, "group_id": GROUP});
    let file = |kind, name: &str, bytes: &[u8]| OutboundFile {
        kind,
        sha256: "0".repeat(64),
        file_name: Some(name.into()),
        mime_type: Some("application/octet-stream".into()),
        data: Some(bytes.to_vec()),
        url: None,
    };
    let message = Outbound::Message(OutboundMessage {
        files: vec![
            file(AttachmentKind::Image, "photo.jpg", b"JPEG"),
            file(AttachmentKind::File, "invoice.pdf", b"%PDF"),
        ],
        ..match menu("1111111", 0) {
            Outbound::Message(m) => m,
            _ => unreachable!(),
        }
    });
    Vk.send(&api(&fake, Some(5)), &credentials, &message)
        .await
        .unwrap();
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 2);
    assert_eq!(uploads[0].0, "photo");
    assert!(String::from_utf8_lossy(&uploads[0].1).contains("name=\"photo\""));
    assert!(String::from_utf8_lossy(&uploads[1].1).contains("name=\"file\""));
    let send = &fake.calls_of("messages.send")[0].body;
    assert_eq!(
        send["attachment"],
        format!("photo-{GROUP}_457239100_ak1,doc-{GROUP}_600")
    );
    assert_eq!(fake.calls_of("docs.save")[0].body["title"], "invoice.pdf");
}

/// `client_info` says what the writer's app shows: our menus are text buttons, inline where
/// the app has inline keyboards.
#[test]
fn the_writers_app_is_reported_with_the_message() {
    let client = |name: &str| match one(name).kind {
        InboundKind::Message { contact, .. } => contact.client,
        other => panic!("{other:?}"),
    };
    let full = client("message_new").expect("reported");
    assert!(full.inline && full.keyboard);
    let old = client("message_new_old_client").expect("reported");
    assert!(!old.inline && old.keyboard);
    let mut event: Value = serde_json::from_slice(&fixture("message_new")).unwrap();
    event["object"]["client_info"]["button_actions"] = json!(["vkpay"]);
    let parsed = parse(&serde_json::to_vec(&event).unwrap()).unwrap();
    let InboundKind::Message { contact, .. } = &parsed.events[0].kind else {
        panic!()
    };
    let no_text = contact.client.unwrap();
    assert!(!no_text.inline && !no_text.keyboard, "no text buttons: no menus");
    event["object"].as_object_mut().unwrap().remove("client_info");
    let parsed = parse(&serde_json::to_vec(&event).unwrap()).unwrap();
    let InboundKind::Message { contact, .. } = &parsed.events[0].kind else {
        panic!()
    };
    assert_eq!(contact.client, None);
}

/// Customers are named by `users.get`, asked once: group chats and communities are not
/// users, and a deleted page keeps its id.
#[tokio::test]
async fn customers_are_named_by_users_get_once() {
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Магазин", true);
    fake.add_person(1111111, "Иван", "Петров");
    let api = ApiContext {
        api_base_url: Some(fake.url.clone()),
        ..ApiContext::default()
    };
    let credentials = json!({"token": TOKEN, "group_id": GROUP});
    let ids: Vec<String> = ["1111111", "3333333", "2000000001", "-5"]
        .map(String::from)
        .to_vec();
    let names = Vk.contact_names(&api, &credentials, &ids).await.unwrap();
    assert_eq!(names, vec![("1111111".to_string(), "Иван Петров".to_string())]);
    let asked = fake.calls_of("users.get");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].body["user_ids"], "1111111,3333333");
    let again = Vk
        .contact_names(&api, &credentials, &ids[..1])
        .await
        .unwrap();
    assert_eq!(again, names);
    assert_eq!(fake.calls_of("users.get").len(), 1, "the known name is not asked again");
}
