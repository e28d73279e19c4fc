//! Viber through the real server on both backends, against the fake Viber API: connecting
//! (good and bad token, the webhook check Viber makes at once), signed callbacks and their
//! duplicates, every inbound event, delivery reports, an unsubscribed customer, disabling,
//! and the demo scenario walked in Viber up to an operator's answer.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_channels::testkit::{post_signed, FakeViber};
use switchboard_store::{backends, testing::Backend};

use crate::helpers::{eventually, spawn_app, TestApp};

backends!(
    connecting_a_viber_bot_checks_the_token_and_sets_the_webhook,
    viber_callbacks_are_signed_stored_once_and_reported,
    the_demo_bot_greets_and_walks_in_viber,
);

const TOKEN: &str = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f";
const WAIT: Duration = Duration::from_secs(20);
const DEMO: &str = include_str!("../../demo/scenario.yaml");

async fn connect(app: &TestApp, fake: &FakeViber, routing: Value) -> String {
    let r = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"kind": "viber", "name": "Shop Viber", "credentials": {"token": TOKEN},
                "api_base_url": fake.url, "rate_limits": null, "routing": routing, "auto_close_after": "1d"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.id()
}

async fn to_group(app: &TestApp) -> Value {
    let group = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Support"}),
        )
        .await
        .id();
    json!({"target": "group", "group_id": group})
}

fn message(token: u64, user: &str, text: &str) -> Value {
    json!({"event": "message", "timestamp": 1457764197627_u64, "message_token": token,
        "sender": {"id": user, "name": "Иван", "api_version": 10},
        "message": {"type": "text", "text": text}})
}

async fn connecting_a_viber_bot_checks_the_token_and_sets_the_webhook(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let fake = FakeViber::start().await;
    let routing = to_group(&app).await;
    let bad = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"kind": "viber", "name": "X", "credentials": {"token": TOKEN}, "api_base_url": fake.url,
                "routing": routing, "auto_close_after": "1d"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "bot_not_found")
    );
    assert!(bad.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Bot not found"));

    fake.add_account(TOKEN, "pa:75346594275468546724", "Магазин");
    let r = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"kind": "viber", "name": "Shop Viber", "credentials": {"token": TOKEN},
                "api_base_url": fake.url, "routing": routing, "auto_close_after": "1d"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["account_name"], "Магазин");
    // Viber called the webhook before accepting it, and it answered.
    assert_eq!(fake.webhook().as_deref(), r.body["webhook_url"].as_str());
    let set = &fake.calls_of("set_webhook")[0].body;
    assert!(set["event_types"]
        .as_array()
        .unwrap()
        .contains(&json!("conversation_started")));

    let disabled = app
        .patch(
            &format!("/api/v1/channels/{}", r.id()),
            &app.admin_token,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{disabled:?}");
    assert_eq!(fake.webhook(), None, "disabling removes the webhook");
}

async fn viber_callbacks_are_signed_stored_once_and_reported(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let fake = FakeViber::start().await;
    fake.add_account(TOKEN, "pa:1", "Магазин");
    let routing = to_group(&app).await;
    let channel = connect(&app, &fake, routing).await;
    let hook = format!("{}/hooks/{channel}", app.base);
    let user = "01234567890A=";

    // A wrong signature is refused and stores nothing.
    let body = serde_json::to_vec(&message(1001, user, "Здравствуйте")).unwrap();
    let (status, _) = post_signed(&hook, "not-the-token", &body).await;
    assert_eq!(status, 401);
    let unsigned = app
        .client
        .post(&hook)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert!(app.conversations().await.is_empty());

    // Signed: stored; the same callback again changes nothing.
    for _ in 0..2 {
        assert_eq!(
            fake.callback(TOKEN, &message(1001, user, "Здравствуйте"))
                .await
                .0,
            200
        );
    }
    let list = app.conversations().await;
    assert_eq!(list.len(), 1);
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(app.messages(&id).await.len(), 1);

    // A picture is stored with the file fetched from Viber's link.
    let url = fake.add_media("photo.jpg", b"JPEG-BYTES");
    let picture = json!({"event": "message", "timestamp": 1_u64, "message_token": 1002_u64,
        "sender": {"id": user, "name": "Иван"},
        "message": {"type": "picture", "text": "фото", "media": url, "file_name": "photo.jpg", "size": 10}});
    assert_eq!(fake.callback(TOKEN, &picture).await.0, 200);
    let sha = eventually("the picture is fetched", async || {
        let m = app.messages(&id).await;
        m.last()?["content"]["attachments"][0]["sha256"]
            .as_str()
            .map(str::to_string)
    })
    .await;
    assert_eq!(sha.len(), 64);

    // An operator's reply reaches Viber; its delivery and reading are reported back.
    let reply = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &app.admin_token,
            json!({"text": "Добрый день!"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let sent = fake.wait_for("send_message", 1, WAIT).await;
    assert_eq!(sent[0].body["text"], "Добрый день!");
    assert_eq!(sent[0].body["receiver"], user);
    let reply_id = reply.id();
    let token = eventually("the reply is sent", async || {
        let m = app.messages(&id).await;
        let mine = m.iter().find(|m| m["id"] == reply_id.as_str())?;
        (mine["delivery_status"] == "sent")
            .then(|| mine["external_id"].as_str().unwrap().to_string())
    })
    .await;
    let report = |event: &str| {
        json!({"event": event, "timestamp": 2_u64,
        "message_token": token.parse::<u64>().unwrap(), "user_id": user})
    };
    assert_eq!(fake.callback(TOKEN, &report("seen")).await.0, 200);
    // A late "delivered" never takes a read message back.
    assert_eq!(fake.callback(TOKEN, &report("delivered")).await.0, 200);
    let m = app.messages(&id).await;
    let mine = m.iter().find(|m| m["id"] == reply_id.as_str()).unwrap();
    assert_eq!(mine["delivery_status"], "read");

    // A file goes by a signed link that expires; Viber fetches it from there.
    let pdf = app
        .upload("?name=invoice.pdf", "application/pdf", b"%PDF-1.7 invoice")
        .await
        .body;
    let with_file = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &app.admin_token,
            json!({"text": "Счёт", "attachments": [{"sha256": pdf["sha256"], "file_name": "invoice.pdf",
                "mime_type": "application/pdf"}]}),
        )
        .await;
    assert_eq!(with_file.status, StatusCode::CREATED, "{with_file:?}");
    let sends = fake.wait_for("send_message", 3, WAIT).await;
    let file = &sends[2].body;
    assert_eq!(
        (file["type"].as_str(), file["file_name"].as_str()),
        (Some("file"), Some("invoice.pdf"))
    );
    assert_eq!(file["size"], 16);
    let link = file["media"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/files/", app.base)), "{link}");
    let fetched = app.client.get(link).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    assert_eq!(&fetched.bytes().await.unwrap()[..], b"%PDF-1.7 invoice");
    let forged = link.replace("signature=", "signature=0");
    assert_eq!(
        app.client.get(forged).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let retyped = link.replace("type=application%2Fpdf", "type=text%2Fhtml");
    assert_eq!(
        app.client.get(retyped).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Unsubscribed: replies are refused before they are tried; subscribing again allows them.
    let unsub = json!({"event": "unsubscribed", "timestamp": 3_u64, "user_id": user, "message_token": 1003_u64});
    assert_eq!(fake.callback(TOKEN, &unsub).await.0, 200);
    let refused = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &app.admin_token,
            json!({"text": "Вы тут?"}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "contact_unreachable")
    );
    let sub = json!({"event": "subscribed", "timestamp": 4_u64, "message_token": 1004_u64,
        "user": {"id": user, "name": "Иван"}});
    assert_eq!(fake.callback(TOKEN, &sub).await.0, 200);
    let again = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &app.admin_token,
            json!({"text": "Вы тут?"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    fake.wait_for("send_message", 4, WAIT).await;

    // Viber says the receiver is not subscribed: the message fails with the reason, and
    // the customer counts as unreachable until they write or subscribe again.
    fake.fail_next("send_message", 6);
    let failing = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &app.admin_token,
            json!({"text": "Ау"}),
        )
        .await;
    let failing_id = failing.id();
    let reason = eventually("the send fails", async || {
        let m = app.messages(&id).await;
        let it = m.iter().find(|m| m["id"] == failing_id.as_str())?;
        (it["delivery_status"] == "failed").then(|| {
            it["failure_reason"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
    })
    .await;
    assert!(reason.contains("receiverNotSubscribed"), "{reason}");
    let after = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &app.admin_token,
            json!({"text": "?"}),
        )
        .await;
    assert_eq!(after.code(), "contact_unreachable");
}

async fn the_demo_bot_greets_and_walks_in_viber(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (agent, agent_token) = app.operator("anna@shop.ru", "operator").await;
    let group = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Support", "operator_ids": [agent]}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED);
    app.post(
        &format!("/api/v1/operators/{agent}/status"),
        &agent_token,
        json!({"status": "online"}),
    )
    .await;
    let demo = app
        .post(
            "/api/v1/scenarios",
            &app.admin_token,
            json!({"name": "Demo", "source": DEMO}),
        )
        .await
        .id();
    let fake = FakeViber::start().await;
    fake.add_account(TOKEN, "pa:2", "Магазин");
    connect(&app, &fake, json!({"target": "bot", "scenario_id": demo})).await;
    let user = "u-viber-1";

    // Opening the chat is enough for the bot to greet, with Viber's keyboard. Viber refuses
    // `send_message` to a customer who has not subscribed: the greeting is the welcome
    // message in the callback's answer (checked by the fake as Viber reads it).
    let started = json!({"event": "conversation_started", "timestamp": 1_u64, "message_token": 2001_u64,
        "type": "open", "user": {"id": user, "name": "Иван"}, "subscribed": false});
    assert_eq!(fake.callback(TOKEN, &started).await.0, 200);
    let greeting = fake.welcomes().remove(0);
    assert_eq!(
        greeting["text"],
        "Здравствуйте, Иван! Я демо-бот Switchboard. Чем помочь?"
    );
    assert_eq!(greeting["sender"]["name"], "Магазин");
    let labels: Vec<&str> = greeting["keyboard"]["Buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["ActionBody"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Статус заказа",
            "Что умеет Switchboard",
            "Позвать оператора"
        ]
    );
    // Stored as the bot's message, sent, and never sent again through the outbox.
    let opened = app.conversations().await.remove(0);
    let said = app.messages(opened["id"].as_str().unwrap()).await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0]["delivery_status"], "sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.calls_of("send_message").is_empty());

    // A press arrives as the button's text.
    assert_eq!(
        fake.callback(TOKEN, &message(2002, user, "Статус заказа"))
            .await
            .0,
        200
    );
    let asked = fake.wait_for("send_message", 1, WAIT).await;
    assert_eq!(
        asked[0].body["text"],
        "Введите номер заказа (от 4 до 10 цифр)"
    );
    assert_eq!(
        fake.callback(TOKEN, &message(2003, user, "123456")).await.0,
        200
    );
    let replies = fake.wait_for("send_message", 3, WAIT).await;
    assert_eq!(
        replies[1].body["text"],
        "Заказ 123456 в пути и приедет завтра."
    );
    assert_eq!(replies[2].body["text"], "Что-нибудь ещё?");
    assert_eq!(
        fake.callback(TOKEN, &message(2004, user, "Позвать оператора"))
            .await
            .0,
        200
    );
    fake.wait_for("send_message", 4, WAIT).await;
    let id = eventually("handed to the operator", async || {
        app.conversations()
            .await
            .into_iter()
            .find(|c| c["status"] == "assigned" && c["assignee_id"] == agent.as_str())
            .map(|c| c["id"].as_str().unwrap().to_string())
    })
    .await;
    let r = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &agent_token,
            json!({"text": "Анна на связи"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let all = fake.wait_for("send_message", 5, WAIT).await;
    assert_eq!(all[4].body["text"], "Анна на связи");
    // A second conversation_started while the conversation is open greets nobody twice.
    let again = json!({"event": "conversation_started", "timestamp": 5_u64, "message_token": 2005_u64,
        "type": "open", "user": {"id": user, "name": "Иван"}, "subscribed": true});
    assert_eq!(fake.callback(TOKEN, &again).await.0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.calls_of("send_message").len(), 5);
    assert_eq!(fake.welcomes().len(), 1);
}
