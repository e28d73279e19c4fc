//! The Viber connector against the documentation's payloads and a fake API: signatures
//! (computed here with the `hmac` crate, not by the code under test), every callback kind,
//! sends with keyboards and long texts, and each error status sorted.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_core::{
    channel::ChannelKind,
    message::{AttachmentKind, Choice},
};

use super::{Viber, SIGNATURE_HEADER};
use crate::{
    connector::{
        ApiContext, ConnectError, Connector, HookKeys, InboundError, SendError, WebhookRequest,
    },
    event::{DeliveryReport, InboundKind, Keyboard, Outbound, OutboundLink, OutboundMessage},
    testkit::{sign, FakeViber},
};

const TOKEN: &str = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f";

fn parse(body: &[u8], signature: Option<String>) -> Result<crate::connector::Parsed, InboundError> {
    let credentials = json!({"token": TOKEN});
    let headers: Vec<(String, String)> = signature
        .map(|s| vec![(SIGNATURE_HEADER.to_lowercase(), s)])
        .unwrap_or_default();
    Viber.parse(
        &HookKeys {
            secret: "unused",
            credentials: &credentials,
        },
        &WebhookRequest {
            headers: &headers,
            body,
        },
    )
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("src/viber/fixtures/{name}.json")).unwrap()
}

fn signed(name: &str) -> crate::event::InboundEvent {
    let body = fixture(name);
    let mut parsed = parse(&body, Some(sign(TOKEN, &body))).unwrap();
    assert_eq!(parsed.events.len(), 1);
    parsed.events.remove(0)
}

#[test]
fn signatures_are_checked_before_anything_is_read() {
    let body = fixture("message_text");
    assert!(parse(&body, Some(sign(TOKEN, &body))).is_ok());
    assert!(
        parse(&body, Some(sign(TOKEN, &body).to_uppercase())).is_ok(),
        "hex in any case"
    );
    for bad in [
        None,
        Some(sign("another-token", &body)),
        Some("zz".into()),
        Some(String::new()),
    ] {
        assert!(
            matches!(
                parse(&body, bad.clone()),
                Err(InboundError::BadSignature(_))
            ),
            "{bad:?}"
        );
    }
    // A body changed after signing is refused.
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    assert!(matches!(
        parse(&tampered, Some(sign(TOKEN, &body))),
        Err(InboundError::BadSignature(_))
    ));
    // Signed garbage is malformed, not a crash.
    assert!(matches!(
        parse(b"{}", Some(sign(TOKEN, b"{}"))),
        Err(InboundError::Malformed(_))
    ));
}

#[test]
fn every_callback_kind_maps_to_a_neutral_event() {
    let text = signed("message_text");
    assert_eq!(text.external_event_id, "message:4912661846655238145");
    let InboundKind::Message {
        contact,
        external_message_id,
        content,
    } = text.kind
    else {
        panic!("{:?}", text.kind)
    };
    assert_eq!(
        (contact.external_id.as_str(), contact.name.as_str()),
        ("01234567890A=", "John McClane")
    );
    assert_eq!(external_message_id, "4912661846655238145");
    assert_eq!(content.text, "a message to the service");

    let picture = signed("message_picture");
    let InboundKind::Message { content, .. } = &picture.kind else {
        panic!()
    };
    assert_eq!(content.text, "Photo description");
    assert_eq!(content.attachments[0].kind, AttachmentKind::Image);
    assert_eq!(content.attachments[0].file_name.as_deref(), Some("img.jpg"));
    assert_eq!(
        picture.follow_ups,
        vec![Outbound::FetchMedia {
            file_id: "http://www.images.com/img.jpg".into(),
            index: 0
        }]
    );

    let shared = signed("message_contact");
    let InboundKind::Message { content, .. } = &shared.kind else {
        panic!()
    };
    assert_eq!(content.text, "Itamar +972511123123");

    let sub = signed("subscribed");
    assert!(matches!(
        sub.kind,
        InboundKind::Reachability {
            reachable: true,
            ..
        }
    ));
    let unsub = signed("unsubscribed");
    let InboundKind::Reachability { contact, reachable } = &unsub.kind else {
        panic!()
    };
    assert_eq!(
        (contact.external_id.as_str(), *reachable),
        ("01234567890A=", false)
    );

    let started = signed("conversation_started");
    assert_eq!(
        started.external_event_id,
        "conversation_started:4912661846655238145"
    );
    assert!(matches!(started.kind, InboundKind::Started { .. }));

    for (name, want) in [
        ("delivered", DeliveryReport::Delivered),
        ("seen", DeliveryReport::Read),
        (
            "failed",
            DeliveryReport::Failed("failure description".into()),
        ),
    ] {
        let event = signed(name);
        assert_eq!(
            event.external_event_id,
            format!("{name}:4912661846655238145")
        );
        assert_eq!(
            event.kind,
            InboundKind::Delivery {
                external_message_id: "4912661846655238145".into(),
                status: want
            }
        );
    }
    assert!(matches!(
        signed("webhook").kind,
        InboundKind::Ignored { .. }
    ));
}

fn api(fake: &FakeViber) -> ApiContext {
    ApiContext {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        api_base_url: Some(fake.url.clone()),
        send_key: None,
    }
}

fn text(chat: &str, text: &str, choices: &[&str]) -> Outbound {
    Outbound::Message(OutboundMessage {
        chat_id: chat.into(),
        text: text.into(),
        choices: choices
            .iter()
            .enumerate()
            .map(|(i, l)| Choice {
                label: l.to_string(),
                payload: format!("s:{i}"),
            })
            .collect(),
        files: Vec::new(),
        links: Vec::new(),
        keyboard: Keyboard::Reply,
    })
}

#[tokio::test]
async fn connecting_checks_the_token() {
    let fake = FakeViber::start().await;
    fake.add_account(TOKEN, "pa:75346594275468546724", "Магазин");
    let ok = Viber
        .verify(&api(&fake), &json!({"token": TOKEN}))
        .await
        .unwrap();
    assert_eq!(
        (ok.name.as_str(), ok.external_id.as_str()),
        ("Магазин", "pa:75346594275468546724")
    );
    let bad = Viber
        .verify(&api(&fake), &json!({"token": "0000-1111"}))
        .await;
    assert!(matches!(bad, Err(ConnectError::BotNotFound(_))), "{bad:?}");
    let malformed = Viber
        .verify(&api(&fake), &json!({"token": "a b\r\n"}))
        .await;
    assert!(matches!(
        malformed,
        Err(ConnectError::InvalidCredentials { .. })
    ));
}

#[tokio::test]
async fn sends_text_keyboards_and_media_and_sorts_errors() {
    let fake = FakeViber::start().await;
    fake.add_account(
        TOKEN,
        "pa:1",
        "A bot whose name is longer than twenty-eight",
    );
    let credentials = json!({"token": TOKEN});
    let sent = Viber
        .send(
            &api(&fake),
            &credentials,
            &text("01234567890A=", "Чем помочь?", &["Заказ", "Оператор"]),
        )
        .await
        .unwrap();
    assert_eq!(sent.external_ids.len(), 1);
    let call = &fake.calls_of("send_message")[0];
    assert_eq!(call.token, TOKEN);
    assert_eq!(call.body["receiver"], "01234567890A=");
    assert_eq!(
        call.body["sender"]["name"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        28
    );
    let buttons = call.body["keyboard"]["Buttons"].as_array().unwrap();
    assert_eq!(buttons.len(), 2);
    assert_eq!(buttons[1]["ActionType"], "reply");
    assert_eq!(
        buttons[1]["ActionBody"], "Оператор",
        "a press comes back as this text"
    );
    assert_eq!(buttons[1]["Columns"], 6);

    // A text over 7,000 characters goes in pieces; the keyboard rides on the last.
    let long = "Слово. ".repeat(1500);
    let sent = Viber
        .send(&api(&fake), &credentials, &text("u", &long, &["Да"]))
        .await
        .unwrap();
    assert_eq!(sent.external_ids.len(), 2);
    let calls = fake.calls_of("send_message");
    let max = crate::profile::of(ChannelKind::Viber).max_text;
    assert!(calls[1..]
        .iter()
        .all(|c| c.body["text"].as_str().unwrap().chars().count() <= max));
    assert!(calls[1].body.get("keyboard").is_none() && calls[2].body.get("keyboard").is_some());

    let picture = Outbound::Message(OutboundMessage {
        links: vec![OutboundLink {
            kind: AttachmentKind::Image,
            url: "https://shop.example/a.png".into(),
        }],
        ..match text("u", "", &[]) {
            Outbound::Message(m) => m,
            _ => unreachable!(),
        }
    });
    Viber
        .send(&api(&fake), &credentials, &picture)
        .await
        .unwrap();
    let last: Value = fake.calls_of("send_message").last().unwrap().body.clone();
    assert_eq!(
        (last["type"].as_str(), last["media"].as_str()),
        (Some("picture"), Some("https://shop.example/a.png"))
    );

    for (status, check) in [
        (6, "unreachable"),
        (5, "unreachable"),
        (2, "broken"),
        (7, "broken"),
        (12, "retry"),
        (3, "permanent"),
    ] {
        fake.fail_next("send_message", status);
        let err = Viber
            .send(&api(&fake), &credentials, &text("u", "hi", &[]))
            .await
            .unwrap_err();
        let ok = match check {
            "unreachable" => matches!(err, SendError::ContactUnreachable(_)),
            "broken" => matches!(err, SendError::ConnectionBroken(_)),
            "retry" => matches!(err, SendError::RetryAfter(_)),
            _ => matches!(err, SendError::Permanent(_)),
        };
        assert!(ok, "status {status}: {err:?}");
    }
    let media = fake.add_media("photo.jpg", b"JPEG");
    let fetched = Viber
        .send(
            &api(&fake),
            &credentials,
            &Outbound::FetchMedia {
                file_id: media,
                index: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(fetched.media.as_deref(), Some(&b"JPEG"[..]));
}

/// The greeting of a customer who opened the chat is the welcome message: a `send_message`
/// body without a receiver, sent as the bot (its name cut to Viber's 28 characters), with
/// the keyboard; one that would not fit a message is not offered.
#[tokio::test]
async fn the_welcome_message_is_a_send_message_body_without_receiver() {
    let fake = FakeViber::start().await;
    fake.add_account(TOKEN, "pa:1", "Магазин электроники и бытовой техники");
    let api = ApiContext {
        api_base_url: Some(fake.url.clone()),
        ..ApiContext::default()
    };
    let credentials = json!({"token": TOKEN});
    let welcome = async |m: &OutboundMessage| Viber.welcome(&api, &credentials, m).await;
    let greeting = OutboundMessage {
        chat_id: "01234567890A=".into(),
        text: "Здравствуйте! Чем помочь?".into(),
        choices: vec![Choice {
            label: "Оператор".into(),
            payload: "human".into(),
        }],
        files: Vec::new(),
        links: Vec::new(),
        keyboard: Keyboard::Inline,
    };
    let body = welcome(&greeting).await.expect("a greeting fits");
    let taken = crate::testkit::check_welcome(&body).expect("Viber takes it");
    assert_eq!(taken["text"], "Здравствуйте! Чем помочь?");
    assert_eq!(taken["sender"]["name"].as_str().unwrap().chars().count(), 28);
    assert_eq!(taken["keyboard"]["Buttons"][0]["ActionBody"], "Оператор");

    let long = OutboundMessage {
        text: "😀".repeat(7000),
        ..greeting.clone()
    };
    crate::testkit::check_welcome(&welcome(&long).await.expect("7,000 emoji fit"))
        .expect("within 30 KB");
    let longer = OutboundMessage {
        text: "я".repeat(7001),
        ..greeting.clone()
    };
    assert!(welcome(&longer).await.is_none(), "over 7,000 characters");
    let picture = OutboundMessage {
        links: vec![OutboundLink {
            kind: AttachmentKind::Image,
            url: "https://example.com/a.png".into(),
        }],
        ..greeting
    };
    assert!(welcome(&picture).await.is_none());
}
