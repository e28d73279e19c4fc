//! Tenant isolation, the ids inside request bodies: account B's admin names account A's
//! operators, groups, schedules, scenarios, contacts, channels and files in what it creates,
//! changes, routes, filters and sends. Every such request is refused (or finds nothing),
//! and account A's objects stay as they were.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_store::{backends, testing::Backend};

use crate::{
    helpers::{spawn_app, Reply, TestApp},
    webchat::{join, say, until},
};

backends!(other_accounts_ids_in_bodies_are_refused);

/// Account A's objects, by kind.
struct Theirs {
    operator: String,
    group: String,
    schedule: String,
    scenario: String,
    channel: String,
    contact: String,
    upload: String,
    received: String,
}

async fn account_a(app: &TestApp) -> Theirs {
    let (operator, _) = app.operator("a-op@a.ru", "operator").await;
    let group = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "A group", "operator_ids": [operator]}),
        )
        .await
        .id();
    let schedule = app
        .post(
            "/api/v1/schedules",
            &app.admin_token,
            json!({"name": "A hours", "time_zone": "UTC"}),
        )
        .await
        .id();
    let scenario = app
        .post(
            "/api/v1/scenarios",
            &app.admin_token,
            json!({"name": "A bot", "source": "name: A\nstart: bye\nsteps:\n  bye:\n    close: true\n"}),
        )
        .await
        .id();
    let tg = crate::telegram::connect(app).await;
    let delivered = crate::telegram::deliver(
        app,
        tg.id(),
        &tg.secret,
        &crate::telegram::text_update(1, 1111, "A's customer"),
    )
    .await;
    assert_eq!(delivered.status, StatusCode::OK);
    let contact = app.conversations().await[0]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let received = crate::telegram::stored_photo(app, &tg).await;
    let upload = app
        .upload(
            "?name=secret.pdf",
            "application/pdf",
            b"A's private document",
        )
        .await
        .body["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    Theirs {
        operator,
        group,
        schedule,
        scenario,
        channel: tg.id().to_string(),
        contact,
        upload,
        received,
    }
}

/// Account B: its admin's token, a group, a web chat and one conversation in it.
async fn account_b(app: &TestApp) -> (String, String, String, String) {
    let created = app
        .post("/api/v1/accounts", &app.admin_token, json!({"name": "B", "admin": {"email": "boss@b.ru", "name": "Boss", "password": "password-123"}}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let admin = app.login("boss@b.ru", "password-123").await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let group = app
        .post("/api/v1/groups", &admin, json!({"name": "B group"}))
        .await
        .id();
    let chat = app
        .post(
            "/api/v1/channels",
            &admin,
            json!({"kind": "webchat", "name": "B chat",
                "credentials": {"allowed_origins": ["https://b.example"]},
                "routing": {"target": "group", "group_id": group}, "auto_close_after": "1d"}),
        )
        .await;
    assert_eq!(chat.status, StatusCode::CREATED, "{chat:?}");
    let chat = chat.id();
    let session = app
        .request(
            Method::POST,
            &format!("/webchat/{chat}/session"),
            None,
            None,
        )
        .await;
    let (visitor, token) = (
        session.body["visitor_id"].as_str().unwrap(),
        session.body["token"].as_str().unwrap(),
    );
    let mut socket = join(app, &chat, visitor, token, "https://b.example")
        .await
        .unwrap();
    say(
        &mut socket,
        json!({"type": "message", "id": "b1", "text": "B's visitor"}),
    )
    .await;
    until(&mut socket, |f| f["type"] == "ack").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let conversation = loop {
        let list = app.get("/api/v1/conversations", &admin).await.body;
        if let Some(id) = list[0]["id"].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "B's conversation never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    (admin, group, chat, conversation)
}

fn refused(what: &str, reply: &Reply) {
    assert!(
        reply.status.is_client_error(),
        "{what} was accepted: {reply:?}"
    );
}

async fn other_accounts_ids_in_bodies_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = account_a(&app).await;
    let (b, b_group, b_chat, b_conversation) = account_b(&app).await;
    let webchat = |routing: Value, extra: Value| {
        let mut body = json!({"kind": "webchat", "name": "B chat 2",
            "credentials": {"allowed_origins": ["https://b2.example"]},
            "routing": routing, "auto_close_after": "1d"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let post = |path: &str, body: Value| {
        let (app, b) = (&app, &b);
        let path = path.to_string();
        async move { app.post(&path, b, body).await }
    };
    let patch = |path: &str, body: Value| {
        let (app, b) = (&app, &b);
        let path = path.to_string();
        async move { app.patch(&path, b, body).await }
    };

    // Groups: A's operator as a member, A's group as the fallback.
    refused(
        "a group with A's operator",
        &post(
            "/api/v1/groups",
            json!({"name": "Taken", "operator_ids": [a.operator]}),
        )
        .await,
    );
    refused(
        "a group falling back to A's group",
        &post(
            "/api/v1/groups",
            json!({"name": "Fallback", "distribution": {"fallback_group_id": a.group}}),
        )
        .await,
    );
    refused(
        "B's group joined by A's operator",
        &patch(
            &format!("/api/v1/groups/{b_group}"),
            json!({"operator_ids": [a.operator]}),
        )
        .await,
    );
    // Channels: routed to A's group, operator or scenario; on A's schedule.
    for (what, routing, extra) in [
        (
            "a channel routed to A's group",
            json!({"target": "group", "group_id": a.group}),
            json!({}),
        ),
        (
            "a channel routed to A's operator",
            json!({"target": "operator", "operator_id": a.operator}),
            json!({}),
        ),
        (
            "a channel running A's scenario",
            json!({"target": "bot", "scenario_id": a.scenario}),
            json!({}),
        ),
        (
            "a channel on A's schedule",
            json!({"target": "group", "group_id": b_group}),
            json!({"schedule_id": a.schedule}),
        ),
    ] {
        refused(
            what,
            &post("/api/v1/channels", webchat(routing, extra)).await,
        );
    }
    refused(
        "B's channel put on A's schedule",
        &patch(
            &format!("/api/v1/channels/{b_chat}"),
            json!({"schedule_id": a.schedule}),
        )
        .await,
    );
    refused(
        "B's channel routed to A's group",
        &patch(
            &format!("/api/v1/channels/{b_chat}"),
            json!({"routing": {"target": "group", "group_id": a.group}}),
        )
        .await,
    );
    // B's conversation handed to A's people, or answered with A's files.
    let conversation = format!("/api/v1/conversations/{b_conversation}");
    for (what, path, body) in [
        (
            "a transfer to A's group",
            "transfer",
            json!({"group_id": a.group}),
        ),
        (
            "a transfer to A's operator",
            "transfer",
            json!({"operator_id": a.operator}),
        ),
        (
            "an assignment to A's operator",
            "assign",
            json!({"operator_id": a.operator}),
        ),
    ] {
        refused(what, &post(&format!("{conversation}/{path}"), body).await);
    }
    for sha in [&a.upload, &a.received] {
        let reply = post(
            &format!("{conversation}/messages"),
            json!({"text": "look", "attachments": [{"sha256": sha}]}),
        )
        .await;
        assert_eq!(
            (reply.status, reply.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, "attachments[0].sha256"),
            "A's file cited by B: {reply:?}"
        );
        let served = app
            .request(
                Method::GET,
                &format!("/api/v1/attachments/{sha}"),
                Some(&b),
                None,
            )
            .await;
        assert_eq!(served.status, StatusCode::NOT_FOUND, "{served:?}");
    }
    // Filters naming A's objects find nothing.
    for filter in [
        format!("contact_id={}", a.contact),
        format!("assignee_id={}", a.operator),
        format!("group_id={}", a.group),
        format!("channel_id={}", a.channel),
        format!("offered_to={}", a.operator),
    ] {
        let reply = app
            .get(&format!("/api/v1/conversations?{filter}"), &b)
            .await;
        assert_eq!(reply.body, json!([]), "{filter}: {reply:?}");
    }

    // A's objects are as they were.
    let group = app
        .get(&format!("/api/v1/groups/{}", a.group), &app.admin_token)
        .await
        .body;
    assert_eq!(group["operator_ids"], json!([a.operator]));
    let operator = app
        .get(
            &format!("/api/v1/operators/{}", a.operator),
            &app.admin_token,
        )
        .await
        .body;
    assert_eq!(operator["status"], "offline");
    // The text and the photo came from two chats: two conversations, both still waiting.
    let theirs = app.conversations().await;
    assert_eq!(theirs.len(), 2, "{theirs:?}");
    assert!(
        theirs.iter().all(|c| c["assignee_id"].is_null()),
        "{theirs:?}"
    );
}
