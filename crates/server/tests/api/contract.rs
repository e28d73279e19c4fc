//! The connector contract suite through the server: for every registered channel kind (its
//! kit from the channels crate's registry), a connection is made over the API against the
//! kit's fake; every fixture delivered to `POST /hooks/{id}` is answered 2xx, a second
//! delivery stores nothing more, and a forged request is 401 with nothing stored.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_channels::{registry, testkit::contract::Hook, HookKeys, WebhookRequest};
use switchboard_store::{backends, testing::Backend};

use crate::helpers::{spawn_app, TestApp};

backends!(every_channel_stores_each_delivery_once_and_refuses_forgeries);

async fn deliver(app: &TestApp, channel: &str, hook: &Hook) -> StatusCode {
    let mut request = app
        .client
        .post(format!("{}/hooks/{channel}", app.base))
        .body(hook.body.clone())
        .header("content-type", "application/json");
    for (name, value) in &hook.headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status()
}

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
    }
}
