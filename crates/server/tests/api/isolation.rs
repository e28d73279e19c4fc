//! Tenant isolation: an admin and an operator of account B get 404 for every object id of
//! account A, on every endpoint that takes an id. The endpoints are read from the OpenAPI
//! document, so a new endpoint is covered the day it is added (and fails here until this
//! test knows which object its id names).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_store::{backends, testing::Backend};

use crate::helpers::{spawn_app, TestApp};

backends!(other_accounts_ids_are_not_found_anywhere);

/// A body the endpoint would accept, so a 404 cannot be a validation error in disguise.
fn plausible_body(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", p) if p.ends_with("/status") => Some(json!({"status": "online"})),
        ("PATCH", p) if p.starts_with("/api/v1/operators") => Some(json!({"name": "Taken over"})),
        ("PATCH", p) if p.starts_with("/api/v1/groups") => Some(json!({"name": "Taken over"})),
        ("PATCH", p) if p.starts_with("/api/v1/schedules") => Some(json!({"name": "Taken over"})),
        ("PATCH", p) if p.starts_with("/api/v1/channels") => Some(json!({"name": "Taken over"})),
        ("PATCH", p) if p.starts_with("/api/v1/scenarios") => Some(json!({"name": "Taken over"})),
        ("POST", p) if p.ends_with("/messages") => Some(json!({"text": "Taken over"})),
        ("POST", p) if p.ends_with("/notes") => Some(json!({"text": "Taken over"})),
        ("POST" | "PATCH" | "PUT", _) => Some(json!({})),
        _ => None,
    }
}

async fn other_accounts_ids_are_not_found_anywhere(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Account A: the default account, with one object of every kind.
    let (a_operator, _) = app.operator("a-op@a.ru", "operator").await;
    let a_group = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "A group", "operator_ids": [a_operator]}),
        )
        .await
        .id();
    let a_schedule = app
        .post(
            "/api/v1/schedules",
            &app.admin_token,
            json!({"name": "A hours", "time_zone": "UTC"}),
        )
        .await
        .id();
    let a_token = app
        .post(
            "/api/v1/tokens",
            &app.admin_token,
            json!({"name": "A script"}),
        )
        .await
        .body["info"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a_scenario = app
        .post(
            "/api/v1/scenarios",
            &app.admin_token,
            json!({"name": "A bot", "source": "name: A\nstart: bye\nsteps:\n  bye:\n    close: true\n"}),
        )
        .await
        .id();
    let tg = crate::telegram::connect(&app).await;
    let a_channel = tg.id().to_string();
    let delivered = crate::telegram::deliver(
        &app,
        &a_channel,
        &tg.secret,
        &crate::telegram::text_update(1, 1111, "A's customer"),
    )
    .await;
    assert_eq!(delivered.status, StatusCode::OK);
    let a_conversation = app
        .get("/api/v1/conversations", &app.admin_token)
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a_attachment = crate::telegram::stored_photo(&app, &tg).await;
    let a_message = app
        .get(
            &format!("/api/v1/conversations/{a_conversation}/messages"),
            &app.admin_token,
        )
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = |resource: &str| -> String {
        match resource {
            "attachments" => a_attachment.clone(),
            "channels" => a_channel.clone(),
            "conversations" => a_conversation.clone(),
            "operators" => a_operator.clone(),
            "groups" => a_group.clone(),
            "schedules" => a_schedule.clone(),
            "scenarios" => a_scenario.clone(),
            "tokens" => a_token.clone(),
            "accounts" => app.account_id.clone(),
            other => panic!(
                "the isolation test does not know which object /{other}/{{id}} names: add it"
            ),
        }
    };

    // Account B: its admin and one of its operators.
    let b = app
        .post("/api/v1/accounts", &app.admin_token, json!({"name": "B", "admin": {"email": "boss@b.ru", "name": "Boss", "password": "password-123"}}))
        .await;
    assert_eq!(b.status, StatusCode::CREATED, "{b:?}");
    let b_admin = app.login("boss@b.ru", "password-123").await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, b_operator) = app.operator_as(&b_admin, "op@b.ru", "operator").await;

    let doc = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await
        .body;
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        if !path.contains("{id}") {
            continue;
        }
        let resource = path
            .trim_start_matches("/api/v1/")
            .split('/')
            .next()
            .unwrap();
        let concrete = path
            .replace("{id}", &ids(resource))
            .replace("{message_id}", &a_message);
        for method in operations.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            for (who, token) in [("B's admin", &b_admin), ("B's operator", &b_operator)] {
                let reply = app
                    .request(
                        method.clone(),
                        &concrete,
                        Some(token),
                        plausible_body(&method, path),
                    )
                    .await;
                assert_eq!(
                    reply.status,
                    StatusCode::NOT_FOUND,
                    "{who}: {method} {path} -> {reply:?}"
                );
                assert_eq!(reply.code(), "not_found");
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 2 * 11,
        "only {checked} requests checked: did the document lose paths?"
    );

    for list in [
        "/api/v1/operators",
        "/api/v1/groups",
        "/api/v1/schedules",
        "/api/v1/tokens",
        "/api/v1/audit",
    ] {
        let reply = app.get(list, &b_admin).await;
        let text = reply.body.to_string();
        for id in [&a_operator, &a_group, &a_schedule, &a_token] {
            assert!(!text.contains(id.as_str()), "{list} shows account A's {id}");
        }
    }
    assert_unchanged(&app, &a_operator, &a_group, &a_schedule).await;
    assert_eq!(
        app.get(&format!("/api/v1/channels/{a_channel}"), &app.admin_token)
            .await
            .body["name"],
        "Shop"
    );
    let history = app
        .get(
            &format!("/api/v1/conversations/{a_conversation}/messages"),
            &app.admin_token,
        )
        .await
        .body;
    assert_eq!(
        history.as_array().unwrap().len(),
        1,
        "B could not write into A's conversation"
    );
    assert!(
        tg.fake.calls_of("sendMessage").is_empty(),
        "nothing was sent to A's customer"
    );
}

async fn assert_unchanged(app: &TestApp, operator: &str, group: &str, schedule: &str) {
    let token = &app.admin_token;
    assert_eq!(
        app.get(&format!("/api/v1/operators/{operator}"), token)
            .await
            .body["name"],
        "a-op@a.ru"
    );
    assert_eq!(
        app.get(&format!("/api/v1/operators/{operator}"), token)
            .await
            .body["status"],
        "offline"
    );
    assert_eq!(
        app.get(&format!("/api/v1/groups/{group}"), token)
            .await
            .body["name"],
        "A group"
    );
    assert_eq!(
        app.get(&format!("/api/v1/schedules/{schedule}"), token)
            .await
            .body["name"],
        "A hours"
    );
    let tokens = app.get("/api/v1/tokens", token).await.body;
    assert!(
        tokens
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "A script"),
        "A's token survived"
    );
}
