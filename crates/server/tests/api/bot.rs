//! The bot through the real server on both backends: scenarios managed and validated over
//! the API, the demo scenario walked over the fake Telegram API and over the web chat up to
//! the handoff and an operator's answer, and the `http` step behind its SSRF guard.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_channels::testkit::FakeTelegram;
use switchboard_store::{backends, testing::Backend};

use crate::{
    helpers::{spawn_app, spawn_with, TestApp},
    telegram::{deliver, text_update},
};

backends!(
    scenarios_are_validated_managed_and_rendered,
    a_customer_walks_the_demo_bot_over_telegram_to_an_operator,
    a_visitor_walks_the_demo_bot_in_the_web_chat,
    the_http_step_reaches_only_allowed_hosts,
    the_bot_survives_a_restart_and_waits_on_durable_timers,
    a_connection_without_buttons_gets_a_numbered_menu,
    a_reply_is_claimed_in_the_commit_that_stores_its_question,
);

const WAIT: Duration = Duration::from_secs(20);
const DEMO: &str = include_str!("../../demo/scenario.yaml");

async fn group(app: &TestApp, name: &str, operators: &[&str]) -> String {
    let r = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": name, "operator_ids": operators}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.id()
}

async fn scenario(app: &TestApp, name: &str, source: &str) -> String {
    let r = app
        .post(
            "/api/v1/scenarios",
            &app.admin_token,
            json!({"name": name, "source": source}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.id()
}

/// A Telegram bot on a fake Bot API, routed to `scenario`: the fake, channel id and secret.
async fn telegram_bot(
    app: &TestApp,
    scenario: &str,
    bot_id: i64,
) -> (FakeTelegram, String, String) {
    let token = format!("{bot_id}:AAH-bot");
    let fake = FakeTelegram::start().await;
    fake.add_bot(&token, bot_id, "Shop Bot");
    let r = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"kind": "telegram", "name": "Shop", "credentials": {"token": token}, "api_base_url": fake.url,
                "rate_limits": null, "routing": {"target": "bot", "scenario_id": scenario}, "auto_close_after": "12h"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let secret = fake.calls_of("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    (fake, r.id(), secret)
}

fn press(update_id: i64, chat: i64, message_id: i64, data: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"update_id": update_id, "callback_query": {"id": format!("cb{update_id}"),
        "from": {"id": chat, "is_bot": false, "first_name": "Иван"},
        "message": {"message_id": message_id, "date": 1, "chat": {"id": chat, "type": "private"}, "text": "menu"},
        "chat_instance": "1", "data": data}}))
    .unwrap()
}

/// The texts the fake Telegram received by sendMessage, once there are `count`.
async fn sent(fake: &FakeTelegram, count: usize) -> Vec<Value> {
    fake.wait_for("sendMessage", count, WAIT)
        .await
        .into_iter()
        .map(|c| c.body)
        .collect()
}

fn button(message: &Value, label: &str) -> String {
    message["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .find(|b| b["text"] == label)
        .unwrap_or_else(|| panic!("no button {label} in {message}"))["callback_data"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn wait_for_conversation(
    app: &TestApp,
    query: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = app
            .get(&format!("/api/v1/conversations{query}"), &app.admin_token)
            .await
            .body;
        if let Some(c) = list.as_array().unwrap().iter().find(|c| done(c)) {
            return c.clone();
        }
        assert!(Instant::now() < deadline, "{what}: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn scenarios_are_validated_managed_and_rendered(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The demo hands off to "Support", which does not exist yet: refused, at its place.
    let refused = app
        .post(
            "/api/v1/scenarios",
            &app.admin_token,
            json!({"name": "Demo", "source": DEMO}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{refused:?}"
    );
    assert_eq!(refused.code(), "invalid_scenario");
    let problems = refused.body["error"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0]["message"],
        "step `human` hands off to group `Support`, which does not exist"
    );
    assert!(problems[0]["line"].as_u64().unwrap() > 1);
    let broken = app
        .post(
            "/api/v1/scenarios",
            &app.admin_token,
            json!({"name": "Broken", "source": "name: x\nstart: a\nsteps:\n  a:\n    say: \"{{nope}}\"\n    goto: b\n"}),
        )
        .await;
    let problems: Vec<String> = broken.body["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{}: {}",
                p["line"],
                p["col"],
                p["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            "5:11: variable `nope` is never set (save it with `ask`, `http` or `set`)",
            "6:11: step `a` goes to `b`, which does not exist"
        ]
    );
    assert!(broken.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("source:5:11: "));

    group(&app, "Support", &[]).await;
    let id = scenario(&app, "Demo", DEMO).await;
    let check = app
        .post(
            "/api/v1/scenarios/validate",
            &app.admin_token,
            json!({"source": "name: [x"}),
        )
        .await;
    assert_eq!(check.status, StatusCode::OK);
    assert_eq!(check.body["valid"], false);

    // Checking a draft parses untrusted YAML: only those who edit scenarios may, and nine
    // levels of nested aliases (387 million copies of "x") are refused at once.
    let (_, plain) = app.operator("validator@x.ru", "operator").await;
    let refused = app
        .post(
            "/api/v1/scenarios/validate",
            &plain,
            json!({"source": "name: x"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let refused = app
        .post(
            "/api/v1/scenarios/render",
            &plain,
            json!({"source": "name: x", "channel": "telegram"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        let items = vec![format!("*{prev}"); 9].join(", ");
        bomb.push_str(&format!("{name}: &{name} [{items}]\n"));
    }
    let check = app
        .post(
            "/api/v1/scenarios/validate",
            &app.admin_token,
            json!({"source": bomb}),
        )
        .await;
    assert_eq!(check.status, StatusCode::OK, "{check:?}");
    assert_eq!(check.body["valid"], false);
    assert!(
        check.body["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too big"),
        "{check:?}"
    );
    let rendered = app
        .get(
            &format!("/api/v1/scenarios/{id}/render?channel=bitrix24"),
            &app.admin_token,
        )
        .await;
    assert_eq!(rendered.status, StatusCode::OK, "{rendered:?}");
    assert_eq!(rendered.body["channel"], "bitrix24");
    let welcome = rendered.body["steps"]["welcome"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        welcome.ends_with("1. Статус заказа\n2. Что умеет Switchboard\n3. Позвать оператора"),
        "{welcome}"
    );

    // An invalid change is refused and the scenario stays as it was.
    let bad = app
        .patch(
            &format!("/api/v1/scenarios/{id}"),
            &app.admin_token,
            json!({"source": "name: x\n"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let kept = app
        .get(&format!("/api/v1/scenarios/{id}"), &app.admin_token)
        .await;
    assert_eq!(
        (
            kept.body["source"].as_str().unwrap(),
            kept.body["version"].as_i64()
        ),
        (DEMO, Some(1))
    );

    // An operator may read but not change scenarios.
    let (_, token) = app.operator("agent@shop.ru", "operator").await;
    let r = app
        .post(
            "/api/v1/scenarios",
            &token,
            json!({"name": "Mine", "source": DEMO}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // A channel routed to it keeps it from being deleted; an unknown scenario is refused.
    let fake = FakeTelegram::start().await;
    fake.add_bot("7300000001:AAH-x", 7300000001, "Shop Bot");
    let body = |scenario: &str| {
        json!({"kind": "telegram", "name": "Shop", "credentials": {"token": "7300000001:AAH-x"},
        "api_base_url": fake.url, "routing": {"target": "bot", "scenario_id": scenario}, "auto_close_after": "12h"})
    };
    let unknown = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            body(&uuid::Uuid::new_v4().to_string()),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "routing.scenario_id")
    );
    let channel = app
        .post("/api/v1/channels", &app.admin_token, body(&id))
        .await;
    assert_eq!(channel.status, StatusCode::CREATED, "{channel:?}");
    let in_use = app
        .delete(&format!("/api/v1/scenarios/{id}"), &app.admin_token)
        .await;
    assert_eq!(
        (in_use.status, in_use.code()),
        (StatusCode::CONFLICT, "scenario_in_use")
    );
    let list = app.get("/api/v1/scenarios", &app.admin_token).await.body;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn a_customer_walks_the_demo_bot_over_telegram_to_an_operator(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (agent, agent_token) = app.operator("anna@shop.ru", "operator").await;
    group(&app, "Support", &[&agent]).await;
    let r = app
        .post(
            &format!("/api/v1/operators/{agent}/status"),
            &agent_token,
            json!({"status": "online"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let demo = scenario(&app, "Demo", DEMO).await;
    let (fake, channel, secret) = telegram_bot(&app, &demo, 7_200_000_001).await;
    let chat = 555;

    let ok = |r: crate::helpers::Reply| assert_eq!(r.status, StatusCode::OK, "{r:?}");
    ok(deliver(&app, &channel, &secret, &text_update(1, chat, "/start")).await);
    let menu = sent(&fake, 1).await.remove(0);
    assert_eq!(
        menu["text"],
        "Здравствуйте, Иван! Я демо-бот Switchboard. Чем помочь?"
    );
    assert_eq!(menu["chat_id"], "555");
    let conversation = wait_for_conversation(&app, "", "the conversation is with the bot", |c| {
        c["status"] == "bot"
    })
    .await;
    assert_eq!(conversation["assignee_id"], Value::Null);

    // A press of "Статус заказа", then a wrong and a right order number.
    ok(deliver(
        &app,
        &channel,
        &secret,
        &press(2, chat, 900, &button(&menu, "Статус заказа")),
    )
    .await);
    assert_eq!(
        sent(&fake, 2).await[1]["text"],
        "Введите номер заказа (от 4 до 10 цифр)"
    );
    ok(deliver(&app, &channel, &secret, &text_update(3, chat, "12")).await);
    let texts: Vec<Value> = sent(&fake, 4)
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts[2..],
        [
            json!("Номер заказа — от 4 до 10 цифр, например 123456."),
            json!("Введите номер заказа (от 4 до 10 цифр)")
        ]
    );
    ok(deliver(&app, &channel, &secret, &text_update(4, chat, "123456")).await);
    let all = sent(&fake, 6).await;
    assert_eq!(all[4]["text"], "Заказ 123456 в пути и приедет завтра.");
    assert_eq!(all[5]["text"], "Что-нибудь ещё?");
    // A redelivered update changes nothing.
    ok(deliver(&app, &channel, &secret, &text_update(4, chat, "123456")).await);

    // The label typed as text selects too: hand over to people.
    ok(deliver(
        &app,
        &channel,
        &secret,
        &text_update(5, chat, "позвать  ОПЕРАТОРА"),
    )
    .await);
    assert_eq!(
        sent(&fake, 7).await[6]["text"],
        "Соединяю с оператором — он ответит здесь же."
    );
    let handed = wait_for_conversation(&app, "", "handed to the online operator", |c| {
        c["status"] == "assigned"
    })
    .await;
    assert_eq!(handed["assignee_id"], agent.as_str());
    let id = handed["id"].as_str().unwrap();

    let r = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &agent_token,
            json!({"text": "Здравствуйте, я Анна!"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(sent(&fake, 8).await[7]["text"], "Здравствуйте, я Анна!");
    // The pressed menu was removed so it cannot be pressed again.
    fake.wait_for("editMessageReplyMarkup", 1, WAIT).await;
    // Now people answer: the bot says nothing more.
    ok(deliver(&app, &channel, &secret, &text_update(6, chat, "1")).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.calls_of("sendMessage").len(), 8);

    let history = app
        .get(
            &format!("/api/v1/conversations/{id}/messages"),
            &app.admin_token,
        )
        .await
        .body;
    let authors: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author_kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        authors,
        [
            "contact", "bot", "contact", "bot", "contact", "bot", "bot", "contact", "bot", "bot",
            "contact", "bot", "operator", "contact"
        ]
    );
}

async fn a_visitor_walks_the_demo_bot_in_the_web_chat(backend: Backend) {
    let Some(app) = spawn_with(backend, |config| config.demo = true).await else {
        return;
    };
    let demo = app.request(Method::GET, "/demo", None, None).await;
    assert_eq!(demo.status, StatusCode::OK);
    let chats = app.get("/api/v1/channels", &app.admin_token).await.body;
    let chat = chats
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "webchat")
        .unwrap();
    assert_eq!(chat["routing"]["target"], "bot");
    let chat = chat["id"].as_str().unwrap().to_string();
    let (visitor, token) = crate::webchat::session(&app, &chat).await;
    // The demo chat is embedded in the server's own /demo page.
    let mut socket = crate::webchat::join(&app, &chat, &visitor, &token, &app.base)
        .await
        .unwrap();
    let outbound = |f: &Value| f["type"] == "message" && f["message"]["author_kind"] == "bot";
    crate::webchat::say(
        &mut socket,
        json!({"type": "message", "id": "m1", "text": "Привет"}),
    )
    .await;
    let menu = crate::webchat::until(&mut socket, outbound).await;
    let choices = menu["message"]["content"]["choices"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(choices.len(), 3, "{menu}");
    assert_eq!(choices[1]["label"], "Что умеет Switchboard");
    crate::webchat::say(
        &mut socket,
        json!({"type": "choice", "id": "c1", "payload": choices[1]["payload"], "label": choices[1]["label"]}),
    )
    .await;
    let about = crate::webchat::until(&mut socket, |f| {
        outbound(f)
            && f["message"]["content"]["text"]
                .as_str()
                .unwrap()
                .starts_with("Switchboard собирает")
    })
    .await;
    assert!(about["message"]["content"]["choices"].as_array().is_none());
    crate::webchat::until(&mut socket, |f| {
        outbound(f) && f["message"]["content"]["text"] == "Что-нибудь ещё?"
    })
    .await;
    // By number: 2 is "Позвать оператора".
    crate::webchat::say(
        &mut socket,
        json!({"type": "message", "id": "m2", "text": "2"}),
    )
    .await;
    crate::webchat::until(&mut socket, |f| {
        outbound(f)
            && f["message"]["content"]["text"] == "Соединяю с оператором — он ответит здесь же."
    })
    .await;
    let queued =
        wait_for_conversation(&app, "", "queued in Support", |c| c["status"] == "queued").await;
    // The demo group holds the admin: going online takes the conversation.
    let r = app
        .post(
            &format!("/api/v1/operators/{}/status", app.admin_id),
            &app.admin_token,
            json!({"status": "online"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let id = queued["id"].as_str().unwrap();
    wait_for_conversation(&app, "", "assigned to the admin", |c| {
        c["id"] == id && c["status"] == "assigned"
    })
    .await;
    let r = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &app.admin_token,
            json!({"text": "Добрый день! Чем помочь?"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    crate::webchat::until(&mut socket, |f| {
        f["type"] == "message" && f["message"]["content"]["text"] == "Добрый день! Чем помочь?"
    })
    .await;
}

async fn the_http_step_reaches_only_allowed_hosts(backend: Backend) {
    let Some(app) = spawn_with(backend, |config| {
        config.bot_http_allow = vec!["127.0.0.1".into()]
    })
    .await
    else {
        return;
    };
    group(&app, "Support", &[]).await;
    // The fake Bot API doubles as the shop's internal service: getMe answers JSON to a POST.
    let service = FakeTelegram::start().await;
    service.add_bot("42:AAH-svc", 42, "Inventory");
    let allowed = format!("{}/bot42:AAH-svc/getMe", service.url);
    let forbidden = allowed.replace("127.0.0.1", "127.0.0.2");
    let source = format!(
        r#"name: Lookup
start: menu
steps:
  menu:
    say: "Куда?"
    choices:
      - {{ label: "Разрешённый", goto: ok_call }}
      - {{ label: "Внутренний", goto: bad_call }}
  ok_call:
    http: {{ method: POST, url: "{allowed}", body: {{}}, save: me }}
    on_error: failed
    goto: found
  bad_call:
    http: {{ method: POST, url: "{forbidden}", body: {{}}, save: me }}
    on_error: failed
    goto: found
  found:
    say: "Нашёл: {{{{me.result.first_name}}}}"
    goto: menu
  failed:
    say: "Сервис недоступен"
    goto: menu
"#
    );
    let lookup = scenario(&app, "Lookup", &source).await;
    let (fake, channel, secret) = telegram_bot(&app, &lookup, 7_200_000_002).await;
    assert_eq!(
        deliver(&app, &channel, &secret, &text_update(1, 77, "hi"))
            .await
            .status,
        StatusCode::OK
    );
    sent(&fake, 1).await;
    assert_eq!(
        deliver(&app, &channel, &secret, &text_update(2, 77, "1"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(sent(&fake, 3).await[1]["text"], "Нашёл: Inventory");
    assert_eq!(service.calls_of("getMe").len(), 1);
    assert_eq!(
        deliver(&app, &channel, &secret, &text_update(3, 77, "2"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(sent(&fake, 5).await[3]["text"], "Сервис недоступен");
    assert_eq!(
        service.calls_of("getMe").len(),
        1,
        "the internal address was never called"
    );
}

async fn the_bot_survives_a_restart_and_waits_on_durable_timers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let funnel = scenario(
        &app,
        "Funnel",
        r#"name: Funnel
start: ask
steps:
  ask:
    ask: "Как вас зовут?"
    save: name
    goto: thanks
  thanks:
    say: "Спасибо, {{name}}! Напомню о себе через секунду."
    goto: later
  later:
    wait: 1s
    goto: remind
  remind:
    say: "{{name}}, вы ещё здесь?"
    choices:
      - { label: "Да", goto: bye }
  bye:
    say: "Пока!"
    close: true
"#,
    )
    .await;
    let (fake, channel, secret) = telegram_bot(&app, &funnel, 7_200_000_003).await;
    let ok = |r: crate::helpers::Reply| assert_eq!(r.status, StatusCode::OK, "{r:?}");
    ok(deliver(&app, &channel, &secret, &text_update(1, 88, "hi")).await);
    assert_eq!(sent(&fake, 1).await[0]["text"], "Как вас зовут?");

    // A restart between the question and the answer loses nothing.
    let db = app.stop().await;
    let app = crate::helpers::spawn_on(db, switchboard_server::PasswordParams::default()).await;
    ok(deliver(&app, &channel, &secret, &text_update(2, 88, "Анна")).await);
    assert_eq!(
        sent(&fake, 2).await[1]["text"],
        "Спасибо, Анна! Напомню о себе через секунду."
    );
    // The wait is a durable timer; a message meanwhile does not hurry it.
    ok(deliver(&app, &channel, &secret, &text_update(3, 88, "?")).await);
    let all = sent(&fake, 3).await;
    assert_eq!(all[2]["text"], "Анна, вы ещё здесь?");
    ok(deliver(&app, &channel, &secret, &text_update(4, 88, "да")).await);
    assert_eq!(sent(&fake, 4).await[3]["text"], "Пока!");
    let closed =
        wait_for_conversation(&app, "", "closed by the bot", |c| c["status"] == "closed").await;
    assert_eq!(closed["closed_reason"], "bot");
}

async fn a_connection_without_buttons_gets_a_numbered_menu(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    group(&app, "Support", &[]).await;
    let demo = scenario(&app, "Demo", DEMO).await;
    let fake = FakeTelegram::start().await;
    fake.add_bot("7300000009:AAH-y", 7300000009, "Shop Bot");
    let body = |caps: Value| {
        json!({"kind": "telegram", "name": "Shop", "credentials": {"token": "7300000009:AAH-y"},
        "api_base_url": fake.url, "rate_limits": null, "routing": {"target": "bot", "scenario_id": demo},
        "auto_close_after": "12h", "capabilities": caps})
    };
    let bad = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            body(json!({"max_buttons": 0})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "capabilities.max_buttons")
    );
    let bad = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            body(json!({"via": "whatsapp"})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "capabilities.via")
    );
    let r = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            body(json!({"buttons": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["capabilities"]["buttons"], false);
    let (channel, secret) = (
        r.id(),
        fake.calls_of("setWebhook")[0].body["secret_token"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    assert_eq!(
        deliver(&app, &channel, &secret, &text_update(1, 99, "hi"))
            .await
            .status,
        StatusCode::OK
    );
    let menu = sent(&fake, 1).await.remove(0);
    assert!(
        menu["text"]
            .as_str()
            .unwrap()
            .ends_with("\n\n1. Статус заказа\n2. Что умеет Switchboard\n3. Позвать оператора"),
        "{menu}"
    );
    assert_eq!(menu.get("reply_markup"), None);
    assert_eq!(
        deliver(&app, &channel, &secret, &text_update(2, 99, "1."))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        sent(&fake, 2).await[1]["text"],
        "Введите номер заказа (от 4 до 10 цифр)"
    );
}

/// The delivery worker leaves its claim with the ingest lane while idle: the commit that
/// stores a question also claims the bot's reply, and the only other commit per question
/// records that the reply was sent (there were four: a round to claim, an empty one, and a
/// round to record). On PostgreSQL the worker's rounds are not the lane's commits; there
/// this checks that the replies leave.
async fn a_reply_is_claimed_in_the_commit_that_stores_its_question(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let menu = scenario(
        &app,
        "Menu",
        "name: Menu\nstart: menu\nsteps:\n  menu:\n    say: \"Чем помочь?\"\n    choices:\n      - { label: \"Доставка\", goto: menu }\n",
    )
    .await;
    let (fake, channel, secret) = telegram_bot(&app, &menu, 7001).await;
    let before = app.metric("switchboard_ingest_commits_total").await;
    let started = Instant::now();
    const QUESTIONS: usize = 12;
    let mut settled = std::collections::HashSet::new();
    for i in 0..QUESTIONS {
        let update = text_update(700 + i as i64, 90_000 + i as i64, "привет");
        let r = deliver(&app, &channel, &secret, &update).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        sent(&fake, i + 1).await;
        // The next question once the reply is recorded as sent (the worker then waits with
        // its claim left for the next batch).
        let deadline = Instant::now() + WAIT;
        while settled.len() <= i {
            for c in app.conversations().await {
                let id = c["id"].as_str().unwrap().to_string();
                let sent_reply =
                    !settled.contains(&id)
                        && app.messages(&id).await.iter().any(|m| {
                            m["direction"] == "outbound" && m["delivery_status"] == "sent"
                        });
                if sent_reply {
                    settled.insert(id);
                }
            }
            assert!(Instant::now() < deadline, "reply {i} not recorded as sent");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let commits = app.metric("switchboard_ingest_commits_total").await - before;
    // Idle, the worker also looks for due rows four times a second, in a commit of its own.
    let polls = (started.elapsed().as_millis() / 250) as i64 + 2;
    assert!(
        commits <= 2 * QUESTIONS as i64 + polls,
        "{commits} commits for {QUESTIONS} questions in {:?}",
        started.elapsed()
    );
}
