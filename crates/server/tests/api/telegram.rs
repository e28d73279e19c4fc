//! Telegram end to end through the real server and a fake Bot API on 127.0.0.1: connect,
//! webhook in, stored once, reply out, and every failure the Bot API can answer with.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_channels::{
    telegram::SECRET_HEADER,
    testkit::{Failure, FakeTelegram},
};
use switchboard_store::{backends, testing::Backend};

use crate::helpers::{spawn_app, spawn_with, Reply, TestApp};

backends!(
    connecting_checks_the_token_and_registers_the_webhook,
    inbound_messages_are_stored_once,
    bad_signatures_and_malformed_bodies_store_nothing,
    replies_reach_the_customer_with_keyboards_and_split_text,
    button_presses_are_acknowledged_and_the_menu_removed,
    rate_limits_and_server_errors_are_retried,
    paced_sends_never_outlast_their_lease,
    lost_answers_are_unknown_and_never_resent,
    blocked_bots_and_revoked_tokens_are_visible,
    retried_replies_with_one_key_send_once,
    disabling_unregisters_and_keeps_history,
    media_is_kept_and_served_to_its_account_only,
    long_polling_receives_without_a_public_url,
    operators_send_files,
    quiet_conversations_close_by_themselves,
    a_new_token_of_the_same_bot_replaces_the_old,
);

pub const TOKEN: &str = "7000000001:AAH-fake_token";
const WAIT: Duration = Duration::from_secs(20);

pub struct Telegram {
    pub fake: FakeTelegram,
    pub channel: Value,
    pub secret: String,
    pub group: String,
}

/// Connects a Telegram bot on a fake Bot API, routed to a new group, receiving by webhook.
pub async fn connect(app: &TestApp) -> Telegram {
    let (fake, channel, group) = connect_receiving(app, "webhook").await;
    let secret = fake.calls_of("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    Telegram {
        fake,
        channel,
        secret,
        group,
    }
}

/// Connects a bot on a fresh fake with `settings` merged into the channel's body (its
/// routing at least): the fake, the channel's id and the webhook secret it registered.
pub async fn connect_with(app: &TestApp, settings: Value) -> (FakeTelegram, String, String) {
    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN, 7000000001, "Shop Bot");
    let mut body = json!({"kind": "telegram", "name": "Shop", "credentials": {"token": TOKEN},
        "api_base_url": fake.url, "auto_close_after": "12h"});
    body.as_object_mut()
        .unwrap()
        .extend(settings.as_object().unwrap().clone());
    let channel = app.post("/api/v1/channels", &app.admin_token, body).await;
    assert_eq!(channel.status, StatusCode::CREATED, "{channel:?}");
    let secret = fake.calls_of("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    (fake, channel.id(), secret)
}

/// Connects a bot with `receive` set: the fake, the created channel and its group.
async fn connect_receiving(app: &TestApp, receive: &str) -> (FakeTelegram, Value, String) {
    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN, 7000000001, "Shop Bot");
    let group = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Support"}),
        )
        .await
        .id();
    let body = json!({"kind": "telegram", "name": "Shop", "credentials": {"token": TOKEN}, "api_base_url": fake.url,
        "rate_limits": null, "receive": receive, "routing": {"target": "group", "group_id": group}, "auto_close_after": "12h"});
    let reply = app.post("/api/v1/channels", &app.admin_token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    (fake, reply.body, group)
}

impl Telegram {
    pub fn id(&self) -> &str {
        self.channel["id"].as_str().unwrap()
    }
}

/// Delivers a raw webhook body with the given secret.
pub async fn deliver(app: &TestApp, channel: &str, secret: &str, body: &[u8]) -> Reply {
    let response = app
        .client
        .post(format!("{}/hooks/{channel}", app.base))
        .header(SECRET_HEADER, secret)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

pub fn text_update(update_id: i64, chat: i64, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"update_id": update_id, "message": {"message_id": update_id, "date": 1,
        "from": {"id": chat, "is_bot": false, "first_name": "Иван"}, "chat": {"id": chat, "type": "private", "first_name": "Иван"},
        "text": text}}))
    .unwrap()
}

/// Polls a conversation until its newest outbound message leaves `pending`.
async fn settled(app: &TestApp, conversation: &str) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let all = app.messages(conversation).await;
        let last = all
            .iter()
            .rev()
            .find(|m| m["direction"] == "outbound")
            .cloned()
            .unwrap();
        if last["delivery_status"] != "pending" {
            return last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still pending: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn first_conversation(app: &TestApp, tg: &Telegram, chat: i64) -> String {
    assert_eq!(
        deliver(
            app,
            tg.id(),
            &tg.secret,
            &text_update(chat, chat, "Здравствуйте")
        )
        .await
        .status,
        StatusCode::OK
    );
    app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn connecting_checks_the_token_and_registers_the_webhook(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    assert_eq!(tg.channel["account_name"], "Shop Bot");
    assert_eq!(tg.channel["external_account_id"], "7000000001");
    assert!(
        tg.channel.get("credentials").is_none(),
        "credentials are never returned"
    );
    assert!(!tg.channel.to_string().contains(TOKEN));
    let hook = tg.fake.calls_of("setWebhook")[0].body.clone();
    assert_eq!(hook["url"], format!("{}/hooks/{}", app.base, tg.id()));
    assert_eq!(tg.channel["webhook_url"], hook["url"]);
    assert!(tg.secret.len() >= 32);

    let bad = app
        .post("/api/v1/channels", &app.admin_token, json!({"kind": "telegram", "name": "Bad", "credentials": {"token": "1:wrong"},
            "api_base_url": tg.fake.url, "routing": {"target": "group", "group_id": tg.group}, "auto_close_after": "1d"}))
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "bot_not_found"),
        "{bad:?}"
    );
    let zero = app
        .post("/api/v1/channels", &app.admin_token, json!({"kind": "telegram", "name": "Zero", "credentials": {"token": TOKEN},
            "api_base_url": tg.fake.url, "routing": {"target": "group", "group_id": tg.group}, "auto_close_after": "0h"}))
        .await;
    assert_eq!(
        (zero.status, zero.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "auto_close_after")
    );
    let listed = app.get("/api/v1/channels", &app.admin_token).await.body;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "nothing saved for bad input: {listed}"
    );
    let (_, operator) = app.operator("op@x.ru", "operator").await;
    let forbidden = app
        .post(
            "/api/v1/channels",
            &operator,
            json!({"kind": "telegram", "name": "X", "credentials": {"token": TOKEN},
        "routing": {"target": "group", "group_id": tg.group}, "auto_close_after": "1d"}),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    let again = app
        .post("/api/v1/channels", &app.admin_token, json!({"kind": "telegram", "name": "Shop 2", "credentials": {"token": TOKEN},
            "api_base_url": tg.fake.url, "routing": {"target": "group", "group_id": tg.group}, "auto_close_after": "1d"}))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(
        again.body["displaced"],
        json!([tg.id()]),
        "the same bot connected again replaces the older connection"
    );
    let old = app
        .get(&format!("/api/v1/channels/{}", tg.id()), &app.admin_token)
        .await;
    assert_eq!(old.body["enabled"], false);
}

async fn inbound_messages_are_stored_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let update = text_update(500, 1111, "Где мой заказ?");
    for _ in 0..3 {
        let reply = deliver(&app, tg.id(), &tg.secret, &update).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "duplicates are acknowledged too"
        );
    }
    let fixture = include_bytes!("../../../channels/src/telegram/fixtures/photo.json");
    assert_eq!(
        deliver(&app, tg.id(), &tg.secret, fixture).await.status,
        StatusCode::OK
    );
    let all = app.conversations().await;
    assert_eq!(all.len(), 2, "{all:?}");
    let by_text: Vec<Value> = {
        let mut found = Vec::new();
        for c in &all {
            found.extend(app.messages(c["id"].as_str().unwrap()).await);
        }
        found
    };
    assert_eq!(
        by_text
            .iter()
            .filter(|m| m["content"]["text"] == "Где мой заказ?")
            .count(),
        1,
        "stored once"
    );
    let photo = by_text
        .iter()
        .find(|m| m["content"]["text"] == "Вот так пришла коробка")
        .unwrap();
    assert_eq!(photo["content"]["attachments"][0]["kind"], "image");
    for c in &all {
        assert_eq!(
            (c["status"].as_str(), c["group_id"].as_str()),
            (Some("queued"), Some(tg.group.as_str()))
        );
        assert_eq!(c["contact"]["reachable"], true);
    }
    let names: Vec<&str> = all
        .iter()
        .map(|c| c["contact"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Иван"),
        "the contact as the channel named them: {names:?}"
    );
    // Every event went through an ingest lane, duplicates too; each batch is a commit.
    assert_eq!(app.metric("switchboard_ingest_events_total").await, 4);
    assert!(app.metric("switchboard_ingest_commits_total").await >= 1);
}

async fn bad_signatures_and_malformed_bodies_store_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let wrong = deliver(&app, tg.id(), "not-the-secret", &text_update(1, 1, "x")).await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );
    let missing = app
        .client
        .post(format!("{}/hooks/{}", app.base, tg.id()))
        .body(text_update(2, 1, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let malformed = deliver(&app, tg.id(), &tg.secret, b"{\"update_id\": ").await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, "malformed")
    );
    let unknown = deliver(
        &app,
        &uuid::Uuid::new_v4().to_string(),
        &tg.secret,
        &text_update(3, 1, "x"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let oversized = deliver(
        &app,
        tg.id(),
        &tg.secret,
        &text_update(4, 1, &"x".repeat(100 * 1024)),
    )
    .await;
    assert_eq!(oversized.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.conversations().await.is_empty(), "nothing stored");
    // The refused events were not recorded either: the channel's retry is processed.
    assert_eq!(
        deliver(&app, tg.id(), &tg.secret, &text_update(1, 1, "x"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.conversations().await.len(), 1);
}

async fn replies_reach_the_customer_with_keyboards_and_split_text(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let conversation = first_conversation(&app, &tg, 1111).await;
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let sent = app
        .post(&path, &app.admin_token, json!({"text": "Выберите:", "choices": [{"label": "Да", "payload": "yes"}, {"label": "Нет", "payload": "no"}]}))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    let long = format!("{}\n\n{}", "а".repeat(4000), "б".repeat(200));
    app.post(&path, &app.admin_token, json!({"text": long}))
        .await;
    let calls = tg.fake.wait_for("sendMessage", 3, WAIT).await;
    assert_eq!(calls[0].body["chat_id"], "1111");
    assert_eq!(
        calls[0].body["reply_markup"]["inline_keyboard"],
        json!([[{"text": "Да", "callback_data": "yes"}], [{"text": "Нет", "callback_data": "no"}]])
    );
    assert_eq!(calls[1].body["text"], "а".repeat(4000));
    assert_eq!(calls[2].body["text"], "б".repeat(200));
    let last = settled(&app, &conversation).await;
    assert_eq!(last["delivery_status"], "sent");
    assert!(last["external_id"].is_string());
}

async fn button_presses_are_acknowledged_and_the_menu_removed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let press = include_bytes!("../../../channels/src/telegram/fixtures/callback_query.json");
    assert_eq!(
        deliver(&app, tg.id(), &tg.secret, press).await.status,
        StatusCode::OK
    );
    assert_eq!(
        deliver(&app, tg.id(), &tg.secret, press).await.status,
        StatusCode::OK,
        "a redelivered press"
    );
    tg.fake.wait_for("editMessageReplyMarkup", 1, WAIT).await;
    let acks = tg.fake.wait_for("answerCallbackQuery", 1, WAIT).await;
    assert_eq!(acks[0].body["callback_query_id"], "4382bfdwdsb323b2d9");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        tg.fake.calls_of("answerCallbackQuery").len(),
        1,
        "acknowledged once"
    );
    let conversation = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = app.messages(&conversation).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (
            stored[0]["content"]["text"].as_str(),
            stored[0]["content"]["pressed"].as_str()
        ),
        (Some("Позвать оператора"), Some("human"))
    );
}

async fn rate_limits_and_server_errors_are_retried(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let conversation = first_conversation(&app, &tg, 1111).await;
    tg.fake.fail_next("sendMessage", Failure::RetryAfter(2));
    tg.fake.fail_next("sendMessage", Failure::ServerError);
    app.post(
        &format!("/api/v1/conversations/{conversation}/messages"),
        &app.admin_token,
        json!({"text": "first"}),
    )
    .await;
    app.post(
        &format!("/api/v1/conversations/{conversation}/messages"),
        &app.admin_token,
        json!({"text": "second"}),
    )
    .await;
    let calls = tg
        .fake
        .wait_for("sendMessage", 4, Duration::from_secs(30))
        .await;
    let texts: Vec<_> = calls
        .iter()
        .map(|c| c.body["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["first", "first", "first", "second"],
        "retried in place, order kept"
    );
    let waited = calls[1].at.duration_since(calls[0].at);
    assert!(
        waited >= Duration::from_secs(2),
        "retry_after honoured: {waited:?}"
    );
    assert_eq!(
        settled(&app, &conversation).await["delivery_status"],
        "sent"
    );
}

/// A connection paced at one send a second with eight replies due at once, and a lease of
/// four seconds: waiting in line for their slots, the later sends would outlast their leases and
/// be settled `unknown` (sent, but shown as maybe lost). They go back to the queue instead,
/// leave at the connection's pace, and every one ends `sent`.
async fn paced_sends_never_outlast_their_lease(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| {
        c.delivery_lease = Duration::from_secs(4);
    })
    .await
    else {
        return;
    };
    let tg = connect(&app).await;
    let paced = app
        .patch(
            &format!("/api/v1/channels/{}", tg.id()),
            &app.admin_token,
            json!({"rate_limits": {"per_second": 1.0}}),
        )
        .await;
    assert_eq!(paced.status, StatusCode::OK, "{paced:?}");
    for chat in 1..=8 {
        let stored = deliver(
            &app,
            tg.id(),
            &tg.secret,
            &text_update(chat, 5000 + chat, "Здравствуйте"),
        )
        .await;
        assert_eq!(stored.status, StatusCode::OK);
    }
    let all = app.conversations().await;
    assert_eq!(all.len(), 8);
    for conversation in &all {
        let id = conversation["id"].as_str().unwrap();
        let sent = app
            .post(
                &format!("/api/v1/conversations/{id}/messages"),
                &app.admin_token,
                json!({"text": "Ответ"}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    }
    let calls = tg
        .fake
        .wait_for("sendMessage", 8, Duration::from_secs(60))
        .await;
    for pair in calls.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(900),
            "one send a second: {gap:?}"
        );
    }
    for conversation in &all {
        let last = settled(&app, conversation["id"].as_str().unwrap()).await;
        assert_eq!(last["delivery_status"], "sent", "{last}");
    }
}

async fn lost_answers_are_unknown_and_never_resent(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let conversation = first_conversation(&app, &tg, 1111).await;
    tg.fake.fail_next("sendMessage", Failure::Reset);
    app.post(
        &format!("/api/v1/conversations/{conversation}/messages"),
        &app.admin_token,
        json!({"text": "maybe"}),
    )
    .await;
    let last = settled(&app, &conversation).await;
    assert_eq!(last["delivery_status"], "unknown", "{last}");
    assert!(last["failure_reason"].is_string());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tg.fake.calls_of("sendMessage").len(), 1, "no blind resend");

    // The operator decides: send it again, for real.
    let retry = format!(
        "/api/v1/conversations/{conversation}/messages/{}/retry",
        last["id"].as_str().unwrap()
    );
    let again = app
        .request(Method::POST, &retry, Some(&app.admin_token), None)
        .await;
    assert_eq!(
        (again.status, again.body["delivery_status"].as_str()),
        (StatusCode::OK, Some("pending")),
        "{again:?}"
    );
    assert_eq!(
        settled(&app, &conversation).await["delivery_status"],
        "sent"
    );
    assert_eq!(tg.fake.calls_of("sendMessage").len(), 2);
    let twice = app
        .request(Method::POST, &retry, Some(&app.admin_token), None)
        .await;
    assert_eq!(
        (twice.status, twice.code()),
        (StatusCode::CONFLICT, "not_retryable"),
        "a sent message is not resent"
    );
}

async fn blocked_bots_and_revoked_tokens_are_visible(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let conversation = first_conversation(&app, &tg, 1111).await;
    let path = format!("/api/v1/conversations/{conversation}/messages");
    tg.fake.fail_next("sendMessage", Failure::Blocked);
    app.post(&path, &app.admin_token, json!({"text": "hello?"}))
        .await;
    let last = settled(&app, &conversation).await;
    assert_eq!(last["delivery_status"], "failed");
    assert!(
        last["failure_reason"].as_str().unwrap().contains("blocked"),
        "{last}"
    );
    let refused = app
        .post(&path, &app.admin_token, json!({"text": "again"}))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "contact_unreachable")
    );
    let shown = app
        .get(
            &format!("/api/v1/conversations/{conversation}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        shown.body["contact"]["reachable"], false,
        "operators see the customer is unreachable"
    );

    let other = first_conversation(&app, &tg, 2222).await;
    let other = app
        .conversations()
        .await
        .into_iter()
        .find(|c| c["id"] != conversation.as_str())
        .map_or(other, |c| c["id"].as_str().unwrap().to_string());
    tg.fake.fail_next("sendMessage", Failure::Unauthorized);
    app.post(
        &format!("/api/v1/conversations/{other}/messages"),
        &app.admin_token,
        json!({"text": "hi"}),
    )
    .await;
    assert_eq!(settled(&app, &other).await["delivery_status"], "failed");
    let channel = app
        .get(&format!("/api/v1/channels/{}", tg.id()), &app.admin_token)
        .await;
    assert!(
        channel.body["broken_reason"]
            .as_str()
            .unwrap()
            .contains("Unauthorized"),
        "{:?}",
        channel.body
    );
}

async fn retried_replies_with_one_key_send_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let conversation = first_conversation(&app, &tg, 1111).await;
    let url = format!("{}/api/v1/conversations/{conversation}/messages", app.base);
    let mut ids = Vec::new();
    for expected in [StatusCode::CREATED, StatusCode::OK] {
        let response = app
            .client
            .post(&url)
            .bearer_auth(&app.admin_token)
            .header("idempotency-key", "browser-42")
            .json(&json!({"text": "once"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
        ids.push(response.json::<Value>().await.unwrap()["id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
    settled(&app, &conversation).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tg.fake.calls_of("sendMessage").len(), 1);
}

async fn disabling_unregisters_and_keeps_history(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let conversation = first_conversation(&app, &tg, 1111).await;
    assert_eq!(
        app.delete(&format!("/api/v1/channels/{}", tg.id()), &app.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(tg.fake.calls_of("deleteWebhook").len(), 1);
    assert_eq!(
        deliver(&app, tg.id(), &tg.secret, &text_update(9, 1111, "late"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.messages(&conversation).await.len(), 1, "history kept");
    let enabled = app
        .patch(
            &format!("/api/v1/channels/{}", tg.id()),
            &app.admin_token,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(
        (enabled.status, enabled.body["enabled"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    assert_eq!(tg.fake.calls_of("setWebhook").len(), 2, "re-registered");
}

/// Delivers the photo fixture and waits until its file is stored; returns the SHA-256.
pub async fn stored_photo(app: &TestApp, tg: &Telegram) -> String {
    let photo = include_bytes!("../../../channels/src/telegram/fixtures/photo.json");
    assert_eq!(
        deliver(app, tg.id(), &tg.secret, photo).await.status,
        StatusCode::OK
    );
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        for c in app.conversations().await {
            for m in app.messages(c["id"].as_str().unwrap()).await {
                if let Some(sha) = m["content"]["attachments"][0]["sha256"].as_str() {
                    return sha.to_string();
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the photo was not downloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn media_is_kept_and_served_to_its_account_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let sha = stored_photo(&app, &tg).await;
    assert_eq!(
        tg.fake.calls_of("getFile")[0].body["file_id"],
        "AgACAgIAAxkBAAIBlarge"
    );
    let response = app
        .client
        .get(format!("{}/api/v1/attachments/{sha}", app.base))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let bytes = response.bytes().await.unwrap();
    assert_eq!(
        bytes.as_ref(),
        switchboard_channels::testkit::file_bytes("AgACAgIAAxkBAAIBlarge").as_slice()
    );
    let anonymous = app
        .client
        .get(format!("{}/api/v1/attachments/{sha}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let conversation = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = app.messages(&conversation).await;
    assert_eq!(
        stored[0]["delivery_status"], "received",
        "fetching a file does not touch the message's status"
    );
    assert_eq!(stored.len(), 1, "downloads are not messages");
}

async fn long_polling_receives_without_a_public_url(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (fake, channel, group) = connect_receiving(&app, "polling").await;
    assert_eq!(channel["receive"], "polling");
    assert!(fake.calls_of("setWebhook").is_empty());
    assert_eq!(
        fake.calls_of("deleteWebhook").len(),
        1,
        "getUpdates needs the webhook gone"
    );

    let update: Value = serde_json::from_slice(&text_update(700, 3333, "через polling")).unwrap();
    fake.push_update(update.clone());
    fake.push_update(update);
    let deadline = std::time::Instant::now() + WAIT;
    let conversation = loop {
        if let Some(c) = app.conversations().await.first() {
            break c["id"].as_str().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the polled update never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    fake.push_update(serde_json::from_slice(&text_update(701, 3333, "второе")).unwrap());
    let deadline = std::time::Instant::now() + WAIT;
    while app.messages(&conversation).await.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second update never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let texts: Vec<String> = app
        .messages(&conversation)
        .await
        .iter()
        .map(|m| m["content"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts,
        ["через polling", "второе"],
        "the duplicate update was stored once"
    );
    let confirmed = fake.wait_for("getUpdates", 3, WAIT).await;
    assert!(
        confirmed.iter().any(|c| c.body["offset"] == 702),
        "stored updates are confirmed with the next offset"
    );

    // An API that answers an empty long poll at once is not polled in a busy loop: about
    // once a second (it was hundreds of times).
    fake.hold_polls_for(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = fake.calls_of("getUpdates").len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let polls = fake.calls_of("getUpdates").len() - before;
    assert!((1..=5).contains(&polls), "{polls} polls in 3 s");

    let webchat = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"kind": "webchat", "name": "X", "credentials": {}, "receive": "polling",
            "routing": {"target": "group", "group_id": group}, "auto_close_after": "1d"}),
        )
        .await;
    assert_eq!(
        (webchat.status, webchat.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "receive")
    );
}

async fn operators_send_files(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let conversation = first_conversation(&app, &tg, 1111).await;
    let uploaded = app
        .upload(
            "?name=%D1%81%D1%85%D0%B5%D0%BC%D0%B0.png",
            "image/png",
            b"PNG-BYTES-OF-THE-MAP",
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED);
    let uploaded = uploaded.body;
    assert_eq!(
        (
            uploaded["file_name"].as_str(),
            uploaded["mime_type"].as_str()
        ),
        (Some("схема.png"), Some("image/png"))
    );
    let sha = uploaded["sha256"].as_str().unwrap().to_string();
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let sent = app
        .post(&path, &app.admin_token, json!({"text": "Схема проезда", "attachments": [{"sha256": sha, "file_name": "схема.png", "mime_type": "image/png"}]}))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    assert_eq!(sent.body["content"]["attachments"][0]["kind"], "image");
    let photo = tg.fake.wait_for("sendPhoto", 1, WAIT).await;
    assert!(photo[0].raw.contains("PNG-BYTES-OF-THE-MAP"));
    assert_eq!(
        settled(&app, &conversation).await["delivery_status"],
        "sent"
    );
    let served = app
        .client
        .get(format!("{}/api/v1/attachments/{sha}", app.base))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);

    // Cited by its hash alone, the upload keeps its name and type: a photo, not a "file".
    let again = app
        .post(
            &path,
            &app.admin_token,
            json!({"attachments": [{"sha256": sha}]}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{again:?}");
    let attachment = &again.body["content"]["attachments"][0];
    assert_eq!(
        (
            &attachment["kind"],
            &attachment["file_name"],
            &attachment["mime_type"]
        ),
        (&json!("image"), &json!("схема.png"), &json!("image/png"))
    );
    tg.fake.wait_for("sendPhoto", 2, WAIT).await;
    assert!(tg.fake.calls_of("sendDocument").is_empty());

    let missing = app
        .post(
            &path,
            &app.admin_token,
            json!({"attachments": [{"sha256": "0".repeat(64)}]}),
        )
        .await;
    assert_eq!(
        (missing.status, missing.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "attachments[0].sha256")
    );
    let empty = app.upload("", "application/octet-stream", b"").await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn quiet_conversations_close_by_themselves(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    let patched = app
        .patch(
            &format!("/api/v1/channels/{}", tg.id()),
            &app.admin_token,
            json!({"auto_close_after": "1s"}),
        )
        .await;
    assert_eq!(patched.body["auto_close_after"], "1s");
    let zero = app
        .patch(
            &format!("/api/v1/channels/{}", tg.id()),
            &app.admin_token,
            json!({"auto_close_after": "0s"}),
        )
        .await;
    assert_eq!(
        (zero.status, zero.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "auto_close_after")
    );
    let first = first_conversation(&app, &tg, 1111).await;
    let deadline = std::time::Instant::now() + WAIT;
    let closed = loop {
        let c = app
            .get(&format!("/api/v1/conversations/{first}"), &app.admin_token)
            .await
            .body;
        if c["status"] == "closed" {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "not auto-closed: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        closed["closed_reason"], "operator_silent",
        "the customer wrote last and nobody answered"
    );
    assert!(closed["closed_at"].is_string());
    assert_eq!(
        deliver(
            &app,
            tg.id(),
            &tg.secret,
            &text_update(2, 1111, "Я ещё здесь")
        )
        .await
        .status,
        StatusCode::OK
    );
    let again = app.conversations().await;
    let reopened = again
        .iter()
        .find(|c| c["id"] != first.as_str())
        .expect("a new conversation");
    assert_eq!(
        (
            reopened["previous_id"].as_str(),
            reopened["status"].as_str()
        ),
        (Some(first.as_str()), Some("queued"))
    );
    let audit = app.get("/api/v1/audit", &app.admin_token).await.body;
    let close = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "conversation.close")
        .unwrap();
    assert_eq!(close["details"]["reason"], "operator_silent");
}

/// A revoked token is replaced by the bot's new one without connecting again: the webhook is
/// set with it, the channel is no longer broken, and replies go out with it; another bot's
/// token is refused (it would be another channel), and nothing changes.
async fn a_new_token_of_the_same_bot_replaces_the_old(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = connect(&app).await;
    // The old token is refused while sending: the channel shows broken.
    let first = first_conversation(&app, &tg, 1111).await;
    tg.fake.fail_next("sendMessage", Failure::Unauthorized);
    app.post(
        &format!("/api/v1/conversations/{first}/messages"),
        &app.admin_token,
        json!({"text": "hi"}),
    )
    .await;
    assert_eq!(settled(&app, &first).await["delivery_status"], "failed");
    let renewed = "7000000001:AAH-renewed_token";
    tg.fake.add_bot(renewed, 7000000001, "Shop Bot");
    tg.fake
        .add_bot("7000000002:AAH-other_bot", 7000000002, "Other Bot");
    let other = app
        .patch(
            &format!("/api/v1/channels/{}", tg.id()),
            &app.admin_token,
            json!({"credentials": {"token": "7000000002:AAH-other_bot"}}),
        )
        .await;
    assert_eq!(
        (other.status, other.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "credentials"),
        "{other:?}"
    );
    let changed = app
        .patch(
            &format!("/api/v1/channels/{}", tg.id()),
            &app.admin_token,
            json!({"credentials": {"token": renewed}}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    assert!(
        changed.body.get("credentials").is_none(),
        "never shown back"
    );
    let set = tg.fake.calls_of("setWebhook");
    assert_eq!(
        set.last().unwrap().token,
        renewed,
        "the webhook is set with the new token"
    );
    let conversation = first_conversation(&app, &tg, 2222).await;
    let reply = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &app.admin_token,
            json!({"text": "С новым токеном"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let sent = tg
        .fake
        .wait_for("sendMessage", 2, WAIT)
        .await
        .into_iter()
        .find(|c| c.body["text"] == "С новым токеном")
        .unwrap();
    assert_eq!(sent.token, renewed);
}
