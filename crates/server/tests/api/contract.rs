//! The connector contract suite through the server: for every registered channel kind (its
//! kit from the channels crate's registry), a connection is made over the API against the
//! kit's fake; every fixture delivered to `POST /hooks/{id}` is answered 2xx, a second
//! delivery stores nothing more, and a forged request is 401 with nothing stored. Routed to
//! a bot, a customer opening the chat is greeted, in the webhook's answer where the channel
//! takes the greeting only there (Viber's welcome message), and then not sent it again.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_channels::{
    registry, testkit::contract::Hook, HookKeys, OutboundMessage, WebhookRequest,
};
use switchboard_store::{backends, testing::Backend};

use crate::helpers::{eventually, spawn_app, TestApp};

backends!(every_channel_stores_each_delivery_once_and_refuses_forgeries);

async fn deliver(app: &TestApp, channel: &str, hook: &Hook) -> StatusCode {
    answer(app, channel, hook).await.0
}

/// Delivers `hook`: the answer's status and body.
async fn answer(app: &TestApp, channel: &str, hook: &Hook) -> (StatusCode, String) {
    let mut request = app
        .client
        .post(format!("{}/hooks/{channel}", app.base))
        .body(hook.body.clone())
        .header("content-type", "application/json");
    for (name, value) in &hook.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

const GREETER: &str = "name: Greeter\nsteps:\n  welcome:\n    say: \"Здравствуйте! Чем помочь?\"\n    choices:\n      - { label: \"Часы работы\", goto: bye }\n      - { label: \"Оператор\", goto: bye }\n  bye:\n    say: \"Спасибо!\"\n    close: true\n";

/// What is stored once the server has caught up (an acknowledged webhook may still be on
/// its way from the journal): the same counts twice, a moment apart.
async fn settled(app: &TestApp) -> (usize, usize) {
    let mut last = stored(app).await;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let now = stored(app).await;
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Everything stored: conversations, and the messages of each.
async fn stored(app: &TestApp) -> (usize, usize) {
    let conversations = app.conversations().await;
    let mut messages = 0;
    for c in &conversations {
        messages += app.messages(c["id"].as_str().unwrap()).await.len();
    }
    (conversations.len(), messages)
}

async fn every_channel_stores_each_delivery_once_and_refuses_forgeries(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let group = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Support"}),
        )
        .await
        .id();
    let greeter = app
        .post(
            "/api/v1/scenarios",
            &app.admin_token,
            json!({"name": "Greeter", "source": GREETER}),
        )
        .await;
    assert_eq!(greeter.status, StatusCode::CREATED, "{greeter:?}");
    let greeter = greeter.id();
    for kind in registry::supported() {
        let kit = registry::kit(kind).expect("every kind has a kit")().await;
        let mut body = json!({"kind": kind, "name": format!("Contract {kind}"),
            "credentials": kit.good_credentials(),
            "routing": {"target": "group", "group_id": group}, "auto_close_after": "1d"});
        if let Some(base) = kit.api().api_base_url {
            body["api_base_url"] = base.into();
        }
        let created = app.post("/api/v1/channels", &app.admin_token, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{kind}: {created:?}");
        let channel = created.id();
        let secret = kit.registered_secret().unwrap_or_default();
        let hooks = kit.hooks(&secret);
        let connector = registry::connector(kind).unwrap();
        let credentials = kit.good_credentials();
        for round in ["first", "again"] {
            let before = settled(&app).await;
            for hook in &hooks {
                let status = deliver(&app, &channel, hook).await;
                assert!(
                    status.is_success(),
                    "{kind}: {} ({round}) -> {status}",
                    hook.name
                );
            }
            if round == "again" {
                assert_eq!(
                    settled(&app).await,
                    before,
                    "{kind}: a second delivery stored something"
                );
            }
        }
        let before = settled(&app).await;
        for hook in &hooks {
            // A handshake without events may be answered unsigned (VK's confirmation).
            let keys = HookKeys {
                secret: &secret,
                credentials: &credentials,
            };
            let carries_events = connector
                .parse(
                    &keys,
                    &WebhookRequest {
                        headers: &hook.headers,
                        body: &hook.body,
                    },
                )
                .is_ok_and(|p| !p.events.is_empty());
            if carries_events {
                let status = deliver(&app, &channel, &kit.forged(hook)).await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{kind}: forged {}",
                    hook.name
                );
            }
        }
        assert_eq!(
            settled(&app).await,
            before,
            "{kind}: a forgery stored something"
        );

        // Routed to a bot: an opening is greeted (in the webhook's answer where the channel
        // takes it only there), and an app without the channel's menus gets numbered text.
        let opening = kit.started(&secret, "contract-opener");
        let plain_chat = "4444444";
        let plain = kit.plain_client(&secret, plain_chat);
        if opening.is_none() && plain.is_none() {
            continue;
        }
        let routed = app
            .patch(
                &format!("/api/v1/channels/{channel}"),
                &app.admin_token,
                json!({"routing": {"target": "bot", "scenario_id": greeter}}),
            )
            .await;
        assert_eq!(routed.status, StatusCode::OK, "{kind}: {routed:?}");
        if let Some(opening) = opening {
            greets_an_opening(&app, &*kit, kind, &channel, &opening).await;
        }
        if let Some(plain) = plain {
            let status = deliver(&app, &channel, &plain).await;
            assert!(status.is_success(), "{kind}: {} -> {status}", plain.name);
            let menu = eventually("the bot's menu sent", async || {
                kit.sends_to(plain_chat)?
                    .into_iter()
                    .find(|(text, _)| text.contains("Здравствуйте"))
            })
            .await;
            assert_eq!(menu.1, 0, "{kind}: buttons sent to an app without them");
            assert!(
                menu.0.contains("1. Часы работы") && menu.0.contains("2. Оператор"),
                "{kind}: the choices are not listed: {}",
                menu.0
            );
        }
    }
}

/// A customer opening the chat of a connection routed to the greeter is greeted; where the
/// channel takes the greeting only in the webhook's answer, it is there, stored as sent,
/// and not sent again.
async fn greets_an_opening(
    app: &TestApp,
    kit: &dyn switchboard_channels::testkit::contract::Kit,
    kind: switchboard_channels::ChannelKind,
    channel: &str,
    opening: &Hook,
) {
    let (status, body) = answer(app, channel, opening).await;
    assert!(status.is_success(), "{kind}: the opening -> {status}");
    let probe = OutboundMessage::text("contract-opener", "?", Vec::new());
    let greeted = eventually("the greeting stored", async || {
        let opened = app
            .conversations()
            .await
            .into_iter()
            .find(|c| c["channel_id"] == channel && c["status"] == "bot")?;
        let said = app.messages(opened["id"].as_str().unwrap()).await;
        said.into_iter().find(|m| m["direction"] == "outbound")
    })
    .await;
    assert_eq!(greeted["content"]["text"], "Здравствуйте! Чем помочь?");
    let connector = registry::connector(kind).unwrap();
    if connector
        .welcome(&kit.api(), &kit.good_credentials(), &probe)
        .await
        .is_some()
    {
        let shown = kit
            .check_welcome(&body)
            .unwrap_or_else(|e| panic!("{kind}: the welcome answer is dropped: {e}"));
        assert!(
            shown.starts_with("Здравствуйте! Чем помочь?"),
            "{kind}: {shown}"
        );
        assert_eq!(greeted["delivery_status"], "sent");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            kit.sends_to("contract-opener").map_or(0, |s| s.len()),
            0,
            "{kind}: the greeting was also sent"
        );
    }
}
