//! VK through the real server on both backends, against the fake VK API: connecting (good
//! token, bad token, messages switched off), the callback server registered with our secret
//! and confirmed with the community's string, secret failures, duplicates, each event, error
//! codes, and the demo scenario walked in VK up to an operator's answer.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_channels::testkit::FakeVk;
use switchboard_store::{backends, testing::Backend};

use crate::helpers::{spawn_app, TestApp};

backends!(
    connecting_a_vk_community_registers_and_confirms_the_callback_server,
    vk_events_are_checked_stored_once_and_answered_ok,
    the_demo_bot_walks_in_vk,
    a_vk_community_without_a_public_url_is_read_by_long_poll,
    a_vk_community_is_connected_through_the_vk_app,
    without_a_vk_app_the_token_form_is_the_way,
);

const TOKEN: &str = "vk1.a.community-token_123";
const GROUP: i64 = 229876543;
const WAIT: Duration = Duration::from_secs(20);
const DEMO: &str = include_str!("../../demo/scenario.yaml");

fn body(fake: &FakeVk, token: &str, group: i64, routing: &Value) -> Value {
    json!({"kind": "vk", "name": "Shop VK", "credentials": {"token": token, "group_id": group},
        "api_base_url": fake.url, "rate_limits": null, "routing": routing, "auto_close_after": "1d"})
}

async fn routing_to_group(app: &TestApp, operators: &[&str]) -> Value {
    let r = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Support", "operator_ids": operators}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    json!({"target": "group", "group_id": r.id()})
}

fn text(event_id: &str, peer: i64, message_id: i64, text: &str, payload: Option<&str>) -> Value {
    let mut message = json!({"date": 1717000000, "from_id": peer, "id": message_id, "out": 0,
        "attachments": [], "conversation_message_id": message_id, "fwd_messages": [],
        "important": false, "is_hidden": false, "peer_id": peer, "random_id": 0, "text": text});
    if let Some(p) = payload {
        message["payload"] = p.into();
    }
    json!({"group_id": GROUP, "type": "message_new", "event_id": event_id, "v": "5.199",
        "object": {"message": message, "client_info": {"button_actions": ["text", "callback"],
            "keyboard": true, "inline_keyboard": true, "carousel": true, "lang_id": 0}}})
}

async fn connecting_a_vk_community_registers_and_confirms_the_callback_server(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Ромашка", true);
    fake.add_community("vk1.off", 42, "Без сообщений", false);
    let routing = routing_to_group(&app, &[]).await;

    let bad = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            body(&fake, "vk1.nobody", GROUP, &routing),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "bot_not_found")
    );
    let off = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            body(&fake, "vk1.off", 42, &routing),
        )
        .await;
    assert_eq!(off.status, StatusCode::UNPROCESSABLE_ENTITY, "{off:?}");
    assert!(
        off.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages are switched off"),
        "{off:?}"
    );
    assert!(
        fake.servers().is_empty(),
        "nothing registered for a refused community"
    );

    let ok = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            body(&fake, TOKEN, GROUP, &routing),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{ok:?}");
    assert_eq!(ok.body["account_name"], "Ромашка");
    let servers = fake.servers();
    assert_eq!(servers.len(), 1);
    assert_eq!(Some(servers[0].0.as_str()), ok.body["webhook_url"].as_str());
    assert!(servers[0].1.len() >= 32, "a generated secret key");
    // VK's check of the new server got the community's confirmation string.
    assert_eq!(fake.confirmed().as_deref(), Some("conf229876543"));
    let settings = &fake.calls_of("groups.setCallbackSettings")[0].body;
    for event in [
        "message_new",
        "message_event",
        "message_allow",
        "message_deny",
    ] {
        assert_eq!(settings[event], "1", "{settings}");
    }
    assert_eq!(settings["api_version"], "5.199");

    let disabled = app
        .patch(
            &format!("/api/v1/channels/{}", ok.id()),
            &app.admin_token,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{disabled:?}");
    assert!(
        fake.servers().is_empty(),
        "disabling removes our callback server"
    );
}

async fn vk_events_are_checked_stored_once_and_answered_ok(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Ромашка", true);
    let routing = routing_to_group(&app, &[]).await;
    let channel = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            body(&fake, TOKEN, GROUP, &routing),
        )
        .await
        .id();

    // A wrong secret, or another community, is refused and stores nothing.
    let mut forged = text("e-forged", 1111111, 1, "hi", None);
    forged["secret"] = "guess".into();
    assert_eq!(fake.callback(forged).await.0, 401);
    let mut other = text("e-other", 1111111, 1, "hi", None);
    other["group_id"] = 1.into();
    assert_eq!(fake.callback(other).await.0, 401);
    assert!(app.conversations().await.is_empty());

    // The answer is exactly `ok`, after storing; a redelivery changes nothing.
    for _ in 0..2 {
        let (status, answer) = fake
            .callback(text("e-1", 1111111, 1, "Здравствуйте", None))
            .await;
        assert_eq!((status, answer.as_str()), (200, "ok"));
    }
    let list = app.conversations().await;
    assert_eq!(list.len(), 1);
    let id = list[0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/conversations/{id}/messages");
    assert_eq!(
        app.get(&path, &app.admin_token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A photo: stored with the largest size fetched.
    let url = fake.add_media("w.jpg", b"JPEG-BYTES");
    let mut photo = text("e-2", 1111111, 2, "фото", None);
    photo["object"]["message"]["attachments"] = json!([{"type": "photo", "photo": {"id": 1, "owner_id": 1111111,
        "sizes": [{"type": "s", "width": 10, "height": 10, "url": "http://127.0.0.1:1/small.jpg"},
                  {"type": "w", "width": 960, "height": 1280, "url": url}]}}]);
    assert_eq!(fake.callback(photo).await.0, 200);
    let deadline = Instant::now() + WAIT;
    loop {
        let m = app.get(&path, &app.admin_token).await.body;
        if m[1]["content"]["attachments"][0]["sha256"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "the photo is fetched: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An operator's reply goes by messages.send with a random_id; the customer denies
    // messages: the next reply is refused up front; allowing them again lets it through.
    let reply = app
        .post(&path, &app.admin_token, json!({"text": "Добрый день!"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let sent = fake.wait_for("messages.send", 1, WAIT).await;
    assert_eq!(sent[0].body["message"], "Добрый день!");
    assert_eq!(sent[0].body["peer_id"], "1111111");
    assert!(
        sent[0].body["random_id"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    let deny = json!({"group_id": GROUP, "type": "message_deny", "event_id": "e-3", "v": "5.199",
        "object": {"user_id": 1111111}});
    assert_eq!(fake.callback(deny).await.0, 200);
    let refused = app
        .post(&path, &app.admin_token, json!({"text": "Вы тут?"}))
        .await;
    assert_eq!(refused.code(), "contact_unreachable");
    let allow = json!({"group_id": GROUP, "type": "message_allow", "event_id": "e-4", "v": "5.199",
        "object": {"user_id": 1111111, "key": ""}});
    assert_eq!(fake.callback(allow).await.0, 200);
    let again = app
        .post(&path, &app.admin_token, json!({"text": "Вы тут?"}))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    fake.wait_for("messages.send", 2, WAIT).await;

    // Error 901 (the user has not allowed messages) marks the contact unreachable.
    fake.fail_next("messages.send", 901);
    let failing = app
        .post(&path, &app.admin_token, json!({"text": "Ау"}))
        .await;
    let failing_id = failing.id();
    let deadline = Instant::now() + WAIT;
    loop {
        let m = app.get(&path, &app.admin_token).await.body;
        let it = m
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == failing_id.as_str())
            .cloned()
            .unwrap();
        if it["delivery_status"] == "failed" {
            assert!(
                it["failure_reason"].as_str().unwrap().contains("901"),
                "{it}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the send fails: {it}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = app
        .post(&path, &app.admin_token, json!({"text": "?"}))
        .await;
    assert_eq!(after.code(), "contact_unreachable");
    let _ = channel;
}

async fn the_demo_bot_walks_in_vk(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (agent, agent_token) = app.operator("anna@shop.ru", "operator").await;
    routing_to_group(&app, &[&agent]).await;
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
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Ромашка", true);
    // VK's events carry ids only: the name comes from `users.get`.
    fake.add_person(2222222, "Мария", "Иванова");
    let r = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            body(
                &fake,
                TOKEN,
                GROUP,
                &json!({"target": "bot", "scenario_id": demo}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let peer = 2222222;

    assert_eq!(
        fake.callback(text("d-1", peer, 1, "Начать", None)).await.0,
        200
    );
    let menu = fake.wait_for("messages.send", 1, WAIT).await.remove(0).body;
    assert_eq!(
        menu["message"],
        "Здравствуйте, Мария Иванова! Я демо-бот Switchboard. Чем помочь?"
    );
    let keyboard: Value = serde_json::from_str(menu["keyboard"].as_str().unwrap()).unwrap();
    let buttons: Vec<Value> = keyboard["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().clone())
        .collect();
    assert_eq!(buttons.len(), 3);
    // VK's labels are at most 20 characters: "Что умеет Switchboard" (21) is shortened.
    let labels: Vec<&str> = buttons
        .iter()
        .map(|b| b["action"]["label"].as_str().unwrap())
        .collect();
    assert!(labels.iter().all(|l| l.chars().count() <= 20), "{labels:?}");
    assert_eq!(labels[1], "Что умеет Switchboa…");
    // A press: the label as text and our payload.
    let payload = buttons[0]["action"]["payload"].as_str().unwrap();
    assert_eq!(
        fake.callback(text("d-2", peer, 2, labels[0], Some(payload)))
            .await
            .0,
        200
    );
    assert_eq!(
        fake.wait_for("messages.send", 2, WAIT).await[1].body["message"],
        "Введите номер заказа (от 4 до 10 цифр)"
    );
    assert_eq!(
        fake.callback(text("d-3", peer, 3, "123456", None)).await.0,
        200
    );
    let sent = fake.wait_for("messages.send", 4, WAIT).await;
    assert_eq!(
        sent[2].body["message"],
        "Заказ 123456 в пути и приедет завтра."
    );
    // The shortened label typed by hand selects too; here the number does.
    assert_eq!(fake.callback(text("d-4", peer, 4, "2", None)).await.0, 200);
    assert_eq!(
        fake.wait_for("messages.send", 5, WAIT).await[4].body["message"],
        "Соединяю с оператором — он ответит здесь же."
    );
    let deadline = Instant::now() + WAIT;
    let id = loop {
        if let Some(c) = app
            .conversations()
            .await
            .into_iter()
            .find(|c| c["status"] == "assigned" && c["assignee_id"] == agent.as_str())
        {
            break c["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "handed to the operator");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &agent_token,
            json!({"text": "Анна на связи"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        fake.wait_for("messages.send", 6, WAIT).await[5].body["message"],
        "Анна на связи"
    );
    assert_eq!(fake.delivered(), 6, "every message delivered once");

    // An app without inline keyboards gets the menu as numbered text, answered by number;
    // a page VK does not name (deleted) keeps the id as the name.
    let old_app = json!({"button_actions": ["text"], "keyboard": true, "inline_keyboard": false,
        "carousel": false, "lang_id": 0});
    let mut first = text("o-1", 3333333, 11, "Привет", None);
    first["object"]["client_info"] = old_app.clone();
    assert_eq!(fake.callback(first).await.0, 200);
    let menu = fake.wait_for("messages.send", 7, WAIT).await[6]
        .body
        .clone();
    assert_eq!(
        menu["message"],
        "Здравствуйте, VK id3333333! Я демо-бот Switchboard. Чем помочь?\n\n\
         1. Статус заказа\n2. Что умеет Switchboard\n3. Позвать оператора"
    );
    assert!(menu.get("keyboard").is_none(), "{menu}");
    let mut answer = text("o-2", 3333333, 12, "1", None);
    answer["object"]["client_info"] = old_app;
    assert_eq!(fake.callback(answer).await.0, 200);
    assert_eq!(
        fake.wait_for("messages.send", 8, WAIT).await[7].body["message"],
        "Введите номер заказа (от 4 до 10 цифр)"
    );
    let names: Vec<String> = app
        .conversations()
        .await
        .iter()
        .filter_map(|c| c["contact"]["name"].as_str().map(String::from))
        .collect();
    assert!(names.contains(&"Мария Иванова".to_string()), "{names:?}");
}

async fn a_vk_community_without_a_public_url_is_read_by_long_poll(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Ромашка", true);
    let routing = routing_to_group(&app, &[]).await;
    let mut request = body(&fake, TOKEN, GROUP, &routing);
    request["receive"] = "polling".into();
    let r = app
        .post("/api/v1/channels", &app.admin_token, request)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert!(
        fake.servers().is_empty(),
        "no callback server for a polled community"
    );
    let mut event = text("lp-1", 3333333, 1, "Через long poll", None);
    event.as_object_mut().unwrap().remove("secret");
    fake.push_update(event.clone());
    fake.push_update(event);
    let deadline = Instant::now() + WAIT;
    let list = loop {
        let list = app.conversations().await;
        if !list.is_empty() {
            break list;
        }
        assert!(Instant::now() < deadline, "the polled message arrives");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let id = list[0]["id"].as_str().unwrap();
    let path = format!("/api/v1/conversations/{id}/messages");
    let messages = app.get(&path, &app.admin_token).await.body;
    assert_eq!(
        messages.as_array().unwrap().len(),
        1,
        "the repeated update is stored once"
    );
    assert_eq!(messages[0]["content"]["text"], "Через long poll");
    let reply = app
        .post(&path, &app.admin_token, json!({"text": "Ответ"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(
        fake.wait_for("messages.send", 1, WAIT).await[0].body["peer_id"],
        "3333333"
    );
}

fn query_param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn a_vk_community_is_connected_through_the_vk_app(backend: Backend) {
    let fake = FakeVk::start().await;
    fake.add_community(TOKEN, GROUP, "Ромашка", true);
    fake.add_community("vk1.other", 42, "Другое", true);
    fake.set_app("51234", "app-secret");
    fake.add_user_code("user-code", "vk1.user", &[GROUP, 42]);
    fake.add_group_code("group-code", GROUP);
    let app_settings = switchboard_server::OAuthApp {
        client_id: "51234".into(),
        client_secret: "app-secret".into(),
        oauth_url: Some(fake.url.clone()),
        api_url: Some(fake.url.clone()),
    };
    let Some(app) = crate::helpers::spawn_with(backend, |c| {
        c.oauth_apps
            .insert(switchboard_channels::ChannelKind::Vk, app_settings);
    })
    .await
    else {
        return;
    };
    let routing = routing_to_group(&app, &[]).await;
    let form = json!({"name": "Shop VK", "api_base_url": fake.url, "routing": routing, "auto_close_after": "1d"});
    let mut bad = form.clone();
    bad["auto_close_after"] = "0s".into();
    let refused = app
        .post("/api/v1/channels/vk/authorize", &app.admin_token, bad)
        .await;
    assert_eq!(
        (refused.status, refused.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "auto_close_after")
    );
    let started = app
        .post("/api/v1/channels/vk/authorize", &app.admin_token, form)
        .await;
    assert_eq!(started.status, StatusCode::OK, "{started:?}");
    let url = started.body["authorize_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/authorize?", fake.url)),
        "{url}"
    );
    assert_eq!(query_param(url, "client_id"), "51234");
    assert_eq!(query_param(url, "scope"), "groups");
    assert_eq!(
        query_param(url, "redirect_uri"),
        format!("{}/oauth/vk/callback", app.base)
    );
    let state = query_param(url, "state");

    let callback = |code: &str, state: &str| {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/oauth/vk/callback", app.base),
            &[("code", code), ("state", state)],
        )
        .unwrap();
        let client = app.client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    // A forged state is refused.
    let (status, page) = callback("user-code", "forged").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired"), "{page}");

    // The administrator's communities, each a link to authorize it.
    let (status, page) = callback("user-code", &state).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Ромашка") && page.contains("Другое"),
        "{page}"
    );
    let marker = format!("data-pick=\"{GROUP}\" href=\"");
    let start = page.find(&marker).unwrap() + marker.len();
    let link = page[start..page[start..].find('"').unwrap() + start].replace("&amp;", "&");
    assert_eq!(query_param(&link, "group_ids"), GROUP.to_string());
    assert!(query_param(&link, "scope").contains("messages"));
    // A used code does not work twice.
    let (status, _) = callback("user-code", &state).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, page) = callback("group-code", &query_param(&link, "state")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Ромашка"), "{page}");
    let channels = app.get("/api/v1/channels", &app.admin_token).await.body;
    let vk = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "vk")
        .unwrap();
    assert_eq!(vk["account_name"], "Ромашка");
    assert_eq!(vk["external_account_id"], GROUP.to_string());
    // The server obtained the token: the callback server is registered and confirmed.
    assert_eq!(fake.servers().len(), 1);
    assert_eq!(fake.confirmed().as_deref(), Some("conf229876543"));
    assert_eq!(
        fake.callback(text("oauth-1", 1111111, 1, "Привет", None))
            .await
            .0,
        200
    );
}

async fn without_a_vk_app_the_token_form_is_the_way(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let r = app
        .post(
            "/api/v1/channels/vk/authorize",
            &app.admin_token,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "oauth_unavailable")
    );
}
