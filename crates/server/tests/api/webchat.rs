//! The web chat through the real server: a visitor session, messages over the WebSocket
//! stored once, operator replies pushed live, history after a reconnect, origins and tokens.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_store::{backends, testing::Backend};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

use crate::helpers::{spawn_app, TestApp};

backends!(
    the_widget_script_is_served,
    visitors_chat_with_operators_live,
    a_reconnecting_visitor_gets_what_they_missed,
    foreign_origins_and_forged_tokens_are_refused,
    a_reply_through_another_node_reaches_the_visitor_live,
);

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn webchat(app: &TestApp) -> String {
    let group = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Support"}),
        )
        .await
        .id();
    let reply = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"kind": "webchat", "name": "Site chat",
            "credentials": {"allowed_origins": ["https://shop.example"]},
            "routing": {"target": "group", "group_id": group}, "auto_close_after": "1d"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.body["account_name"], "Web chat");
    reply.id()
}

pub async fn session(app: &TestApp, chat: &str) -> (String, String) {
    let reply = app
        .request(
            Method::POST,
            &format!("/webchat/{chat}/session"),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    (
        reply.body["visitor_id"].as_str().unwrap().to_string(),
        reply.body["token"].as_str().unwrap().to_string(),
    )
}

pub async fn join(
    app: &TestApp,
    chat: &str,
    visitor: &str,
    token: &str,
    origin: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!(
        "{}/webchat/{chat}/ws?visitor={visitor}&token={token}",
        app.base.replace("http", "ws")
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// The next JSON frame, or panic after a while.
pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Frames until one matches.
pub async fn until(socket: &mut Socket, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = next(socket).await;
        if wanted(&frame) {
            return frame;
        }
    }
}

pub async fn say(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

async fn the_widget_script_is_served(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app
        .client
        .get(format!("{}/widget.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
    let script = response.text().await.unwrap();
    assert!(script.contains("data-connection") && script.contains("textContent"));
    assert!(
        !script.contains("innerHTML"),
        "customer text is never parsed as HTML"
    );
    let demo = app.request(Method::GET, "/demo", None, None).await;
    assert_eq!(demo.status, StatusCode::NOT_FOUND, "no demo without --demo");

    // The channel gives the code to paste into the site's pages; a webhook channel has none.
    let id = webchat(&app).await;
    let channel = app
        .get(&format!("/api/v1/channels/{id}"), &app.admin_token)
        .await;
    assert_eq!(
        channel.body["embed_code"],
        format!(
            "<script src=\"{}/widget.js\" data-connection=\"{id}\" async></script>",
            app.base
        )
    );
}

async fn visitors_chat_with_operators_live(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let chat = webchat(&app).await;
    let (visitor, token) = session(&app, &chat).await;
    let mut socket = join(&app, &chat, &visitor, &token, "https://shop.example")
        .await
        .unwrap();
    say(
        &mut socket,
        json!({"type": "message", "id": "m1", "text": "Привет! <img src=x onerror=alert(1)>"}),
    )
    .await;
    assert_eq!(until(&mut socket, |f| f["type"] == "ack").await["id"], "m1");
    let echoed = until(&mut socket, |f| f["type"] == "message").await;
    assert_eq!(
        echoed["message"]["content"]["text"],
        "Привет! <img src=x onerror=alert(1)>"
    );
    assert_eq!(echoed["message"]["direction"], "inbound");
    // A resend after a flaky network is acknowledged and not stored twice.
    say(
        &mut socket,
        json!({"type": "message", "id": "m1", "text": "Привет! <img src=x onerror=alert(1)>"}),
    )
    .await;
    until(&mut socket, |f| f["type"] == "ack").await;

    let conversations = app
        .get("/api/v1/conversations", &app.admin_token)
        .await
        .body;
    let conversation = conversations[0]["id"].as_str().unwrap().to_string();
    assert_eq!(conversations[0]["status"], "queued");
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let sent = app
        .post(&path, &app.admin_token, json!({"text": "Чем помочь?", "choices": [{"label": "Доставка", "payload": "delivery"}]}))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED);
    let pushed = until(&mut socket, |f| {
        f["type"] == "message" && f["message"]["direction"] == "outbound"
    })
    .await;
    assert_eq!(
        pushed["message"]["content"]["choices"][0]["label"],
        "Доставка"
    );

    say(
        &mut socket,
        json!({"type": "choice", "id": "c1", "payload": "delivery", "label": "Доставка"}),
    )
    .await;
    until(&mut socket, |f| f["type"] == "ack" && f["id"] == "c1").await;
    say(&mut socket, json!({"type": "shout", "id": "x"})).await;
    assert_eq!(
        until(&mut socket, |f| f["type"] == "error").await["type"],
        "error",
        "a bad frame is answered, not fatal"
    );
    say(
        &mut socket,
        json!({"type": "message", "id": "m2", "text": "   "}),
    )
    .await;
    until(&mut socket, |f| f["type"] == "error").await;

    let file = app
        .upload("", "application/octet-stream", b"bytes")
        .await
        .body;
    let no_files = app
        .post(
            &path,
            &app.admin_token,
            json!({"attachments": [{"sha256": file["sha256"]}]}),
        )
        .await;
    assert_eq!(
        (no_files.status, no_files.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "attachments[0]"),
        "the widget shows no files yet"
    );
    let history = app.get(&path, &app.admin_token).await.body;
    let texts: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Привет! <img src=x onerror=alert(1)>",
            "Чем помочь?",
            "Доставка"
        ]
    );
    assert_eq!(history[2]["content"]["pressed"], "delivery");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while app.get(&path, &app.admin_token).await.body[1]["delivery_status"] != "sent" {
        assert!(
            std::time::Instant::now() < deadline,
            "the reply is marked sent once stored for the visitor"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_reconnecting_visitor_gets_what_they_missed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let chat = webchat(&app).await;
    let (visitor, token) = session(&app, &chat).await;
    let mut socket = join(&app, &chat, &visitor, &token, "https://shop.example")
        .await
        .unwrap();
    say(
        &mut socket,
        json!({"type": "message", "id": "a", "text": "Есть кто?"}),
    )
    .await;
    until(&mut socket, |f| f["type"] == "ack").await;
    socket.close(None).await.unwrap();

    let conversation = app
        .get("/api/v1/conversations", &app.admin_token)
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/conversations/{conversation}/messages"),
        &app.admin_token,
        json!({"text": "Да, слушаю"}),
    )
    .await;

    let mut again = join(&app, &chat, &visitor, &token, "https://shop.example")
        .await
        .unwrap();
    let first = until(&mut again, |f| f["type"] == "message").await;
    let second = until(&mut again, |f| f["type"] == "message").await;
    assert_eq!(first["message"]["content"]["text"], "Есть кто?");
    assert_eq!(second["message"]["content"]["text"], "Да, слушаю");
    assert_eq!(
        app.get("/api/v1/conversations", &app.admin_token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1,
        "the same conversation"
    );
}

async fn foreign_origins_and_forged_tokens_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let chat = webchat(&app).await;
    let (visitor, token) = session(&app, &chat).await;
    assert!(
        join(&app, &chat, &visitor, &token, "https://evil.example")
            .await
            .is_err(),
        "a foreign site"
    );
    assert!(
        join(&app, &chat, &visitor, &token, &app.base).await.is_ok(),
        "the server's own pages"
    );
    assert!(
        join(
            &app,
            &chat,
            "v-someone-else",
            &token,
            "https://shop.example"
        )
        .await
        .is_err(),
        "another visitor's token"
    );
    assert!(join(&app, &chat, &visitor, "00", "https://shop.example")
        .await
        .is_err());
    let evil_session = app
        .client
        .post(format!("{}/webchat/{chat}/session", app.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil_session.status(), StatusCode::FORBIDDEN);
    let unknown = app
        .request(
            Method::POST,
            &format!("/webchat/{}/session", uuid::Uuid::new_v4()),
            None,
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad_origin = app
        .post("/api/v1/channels", &app.admin_token, json!({"kind": "webchat", "name": "X", "credentials": {"allowed_origins": ["shop.example"]},
            "routing": {"target": "operator", "operator_id": app.admin_id}, "auto_close_after": "1d"}))
        .await;
    assert_eq!(
        (bad_origin.status, bad_origin.field()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "credentials.allowed_origins[0]"
        )
    );

    // The allowed sites are changed later, not by connecting again: the new one gets in,
    // the old one no longer does, and a malformed list is refused as on connect.
    let origin_session = |origin: &'static str| {
        let (client, url) = (
            app.client.clone(),
            format!("{}/webchat/{chat}/session", app.base),
        );
        async move {
            client
                .post(url)
                .header("origin", origin)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(origin_session("https://shop.example").await, StatusCode::OK);
    let changed = app
        .patch(
            &format!("/api/v1/channels/{chat}"),
            &app.admin_token,
            json!({"credentials": {"allowed_origins": ["https://new.example"]}}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    assert_eq!(origin_session("https://new.example").await, StatusCode::OK);
    assert_eq!(
        origin_session("https://shop.example").await,
        StatusCode::FORBIDDEN
    );
    let malformed = app
        .patch(
            &format!("/api/v1/channels/{chat}"),
            &app.admin_token,
            json!({"credentials": {"allowed_origins": ["new.example"]}}),
        )
        .await;
    assert_eq!(
        malformed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{malformed:?}"
    );
    assert_eq!(
        origin_session("https://new.example").await,
        StatusCode::OK,
        "kept"
    );
}

async fn a_reply_through_another_node_reaches_the_visitor_live(backend: Backend) {
    if backend != Backend::Postgres {
        // One SQLite file has one node.
        return;
    }
    let Some(app) = crate::helpers::spawn_with(backend, |c| c.delivery = false).await else {
        return;
    };
    let (b, _stop_b) = crate::helpers::second_node(&app).await;
    let chat = webchat(&app).await;
    let (visitor, token) = session(&app, &chat).await;
    let mut socket = join(&app, &chat, &visitor, &token, "https://shop.example")
        .await
        .unwrap();
    say(
        &mut socket,
        json!({"type": "message", "id": "m1", "text": "Здравствуйте"}),
    )
    .await;
    until(&mut socket, |f| f["type"] == "ack").await;
    let conversation = app
        .get("/api/v1/conversations", &app.admin_token)
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = app
        .client
        .post(format!("{b}/api/v1/conversations/{conversation}/messages"))
        .bearer_auth(&app.admin_token)
        .json(&json!({"text": "Ответ с другого узла"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    let pushed = until(&mut socket, |f| {
        f["type"] == "message" && f["message"]["content"]["text"] == "Ответ с другого узла"
    })
    .await;
    assert_eq!(pushed["message"]["direction"], "outbound");
}
