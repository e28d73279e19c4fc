//! `GET /api/v1/channel-kinds`: exactly the kinds the registry connects, each with the form
//! its own folder describes; `?all=true` adds the kinds that can only be previewed.

use reqwest::StatusCode;
use serde_json::Value;
use switchboard_channels::registry;
use switchboard_store::{backends, testing::Backend};

use crate::helpers::{spawn_app, spawn_with};

backends!(the_server_lists_the_kinds_it_connects_with_their_forms);

async fn the_server_lists_the_kinds_it_connects_with_their_forms(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, operator) = app.operator("kinds@x.ru", "operator").await;
    let reply = app.get("/api/v1/channel-kinds", &operator).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let kinds = reply.body.as_array().unwrap();
    let listed: Vec<&str> = kinds.iter().map(|k| k["kind"].as_str().unwrap()).collect();
    let built: Vec<String> = registry::supported()
        .iter()
        .map(|k| k.as_str().to_string())
        .collect();
    assert_eq!(listed, built, "the list is the registry");
    for kind in kinds {
        assert_eq!(kind["connectable"], true);
        assert!(kind["title"]["ru"].is_string() && kind["title"]["en"].is_string());
        for field in kind["fields"].as_array().unwrap() {
            for key in ["name", "secret", "required", "input"] {
                assert!(!field[key].is_null(), "{kind}: {field} lacks {key}");
            }
            assert!(field["label"]["ru"].is_string() && field["label"]["en"].is_string());
        }
        assert_eq!(kind["receive"][0], "webhook");
    }
    let by = |name: &str| -> &Value { kinds.iter().find(|k| k["kind"] == name).unwrap() };
    let telegram = by("telegram");
    assert_eq!(telegram["fields"][0]["name"], "token");
    assert_eq!(telegram["fields"][0]["secret"], true);
    assert_eq!(
        telegram["receive"],
        serde_json::json!(["webhook", "polling"])
    );
    assert_eq!(by("vk")["oauth"], true, "VK connects by OAuth");
    assert_eq!(by("vk")["oauth_ready"], false, "no VK app on this server");
    assert_eq!(by("webchat")["verifies"], false);

    let all = app
        .get("/api/v1/channel-kinds?all=true", &operator)
        .await
        .body;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 16, "every kind a scenario renders for");
    let bitrix = all.iter().find(|k| k["kind"] == "bitrix24").unwrap();
    assert_eq!(
        (&bitrix["connectable"], &bitrix["title"]["ru"]),
        (&Value::Bool(false), &Value::from("Битрикс24"))
    );

    // With a VK app configured, OAuth is ready.
    let Some(with_app) = spawn_with(backend, |c| {
        c.oauth_apps.insert(
            switchboard_channels::ChannelKind::Vk,
            switchboard_server::OAuthApp {
                client_id: "1".into(),
                client_secret: "s".into(),
                oauth_url: Some("http://127.0.0.1:9".into()),
                api_url: Some("http://127.0.0.1:9".into()),
            },
        );
    })
    .await
    else {
        return;
    };
    let kinds = with_app
        .get("/api/v1/channel-kinds", &with_app.admin_token)
        .await
        .body;
    let vk = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "vk")
        .unwrap();
    assert_eq!(vk["oauth_ready"], true);
}
