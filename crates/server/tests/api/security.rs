//! What hostile testing found, each held by a test: API addresses as an instance setting
//! with foreign bodies never reflected, login throttling under concurrency and sprays,
//! trusted proxies, sessions ended by a new password, guessable passwords refused, plain
//! operators kept to their own conversations, `/metrics` behind a token.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_store::{backends, testing::Backend};

use crate::helpers::{spawn_app, spawn_with, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

backends!(
    api_addresses_are_an_instance_setting_and_foreign_answers_are_not_reflected,
    concurrent_guesses_get_no_more_checks_than_the_policy,
    a_spray_from_a_shared_address_does_not_lock_out_known_logins,
    behind_a_trusted_proxy_each_client_is_throttled_apart,
    a_new_password_ends_the_other_sessions,
    guessable_passwords_are_refused,
    plain_operators_open_only_their_own_conversations,
    metrics_can_require_a_token,
    the_public_web_chat_is_rate_limited,
);

/// An "internal service" on loopback that answers every request with an error whose
/// description is a secret: what an admin pointing `api_base_url` at it must never read.
async fn internal_service() -> String {
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"ok": false, "error_code": 400, "description": "INTERNAL-SECRET-42"}),
            ),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

async fn api_addresses_are_an_instance_setting_and_foreign_answers_are_not_reflected(
    backend: Backend,
) {
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
    // 127.0.0.2 is not on the instance's list (127.0.0.1 is): refused before any request.
    let channel = |base: &str| {
        json!({"kind": "telegram", "name": "Shop", "credentials": {"token": "1:AA"},
            "api_base_url": base, "routing": {"target": "group", "group_id": group},
            "auto_close_after": "1d"})
    };
    for (path, body) in [
        (
            "/api/v1/channels/verify",
            json!({"kind": "telegram", "credentials": {"token": "1:AA"},
                "api_base_url": "http://127.0.0.2:9"}),
        ),
        ("/api/v1/channels", channel("http://127.0.0.2:9")),
    ] {
        let refused = app.post(path, &app.admin_token, body).await;
        assert_eq!(
            (refused.status, refused.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, "api_base_url"),
            "{path}: {refused:?}"
        );
        assert!(refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--api-base-allow"));
    }

    // An allowed address whose answer is someone else's body: not passed on.
    let internal = internal_service().await;
    for (path, body) in [
        (
            "/api/v1/channels/verify",
            json!({"kind": "telegram", "credentials": {"token": "1:AA"}, "api_base_url": internal}),
        ),
        ("/api/v1/channels", channel(&internal)),
    ] {
        let answer = app.post(path, &app.admin_token, body).await;
        assert!(answer.status.is_client_error() || answer.status.is_server_error());
        assert!(
            !answer.body.to_string().contains("INTERNAL-SECRET-42"),
            "{path} reflected a foreign body: {answer:?}"
        );
    }
    assert_eq!(
        app.get("/api/v1/channels", &app.admin_token).await.body,
        json!([])
    );
}

/// A hundred wrong passwords at once: five are checked (the policy), the rest wait.
async fn concurrent_guesses_get_no_more_checks_than_the_policy(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.operator("victim@x.ru", "operator").await;
    let guesses = (0..100).map(|i| {
        let app = &app;
        async move { app.login("victim@x.ru", &format!("guess-{i}")).await.status }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 95), "{statuses:?}");
    // The right password now waits too: the login is locked out from this address.
    assert_eq!(
        app.login("victim@x.ru", "password-123").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn a_spray_from_a_shared_address_does_not_lock_out_known_logins(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The admin has logged in from this address (the test's own login); 35 made-up e-mails
    // fail from it.
    for i in 0..35 {
        let status = app
            .login(&format!("nobody-{i}@x.ru"), "guess-guess")
            .await
            .status;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&status),
            "{status}"
        );
    }
    assert_eq!(
        app.login("nobody-else@x.ru", "guess-guess").await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is held for unknown logins"
    );
    let admin = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(admin.status, StatusCode::OK, "{admin:?}");
}

async fn login_from(app: &TestApp, client: &str, password: &str) -> StatusCode {
    app.client
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("x-forwarded-for", client)
        .json(&json!({"email": ADMIN_EMAIL, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn behind_a_trusted_proxy_each_client_is_throttled_apart(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| c.trusted_proxies = vec!["127.0.0.1".into()]).await
    else {
        return;
    };
    for _ in 0..5 {
        assert_eq!(
            login_from(&app, "203.0.113.7", "guess-guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "203.0.113.7", ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&app, "203.0.113.8", ADMIN_PASSWORD).await,
        StatusCode::OK,
        "another client behind the same proxy is not held"
    );

    // Without the setting the header is the client's word and is ignored.
    let Some(plain) = spawn_app(backend).await else {
        return;
    };
    for _ in 0..5 {
        login_from(&plain, "203.0.113.7", "guess-guess").await;
    }
    assert_eq!(
        login_from(&plain, "203.0.113.8", ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn a_new_password_ends_the_other_sessions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (anna, first) = app.operator("anna@x.ru", "operator").await;
    let second = app.login("anna@x.ru", "password-123").await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    // Anna changes her own password with her first session: the second one ends.
    let changed = app
        .patch(
            &format!("/api/v1/operators/{anna}"),
            &first,
            json!({"password": "a new and long one"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    assert_eq!(
        app.get("/api/v1/auth/me", &first).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &second).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The admin resets it: every session of hers ends.
    let reset = app
        .patch(
            &format!("/api/v1/operators/{anna}"),
            &app.admin_token,
            json!({"password": "reset by the admin"}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
    assert_eq!(
        app.get("/api/v1/auth/me", &first).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &app.admin_token).await.status,
        StatusCode::OK
    );
}

async fn guessable_passwords_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for weak in [
        "password",
        "12345678",
        "qwertyuiop",
        "boris@x.ru",
        "Boris Petrov",
    ] {
        let refused = app
            .post(
                "/api/v1/operators",
                &app.admin_token,
                json!({"email": "boris@x.ru", "name": "Boris Petrov", "role": "operator",
                    "password": weak}),
            )
            .await;
        assert_eq!(
            (refused.status, refused.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, "password"),
            "{weak}: {refused:?}"
        );
    }
    let accepted = app
        .post(
            "/api/v1/operators",
            &app.admin_token,
            json!({"email": "boris@x.ru", "name": "Boris Petrov", "role": "operator",
                "password": "winter tea with lemon"}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{accepted:?}");
    let changed = app
        .patch(
            &format!("/api/v1/operators/{}", accepted.id()),
            &app.admin_token,
            json!({"password": "iloveyou"}),
        )
        .await;
    assert_eq!(changed.field(), "password", "{changed:?}");
}

async fn plain_operators_open_only_their_own_conversations(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tg = crate::telegram::connect(&app).await;
    let delivered = crate::telegram::deliver(
        &app,
        tg.id(),
        &tg.secret,
        &crate::telegram::text_update(1, 1111, "Где мой заказ?"),
    )
    .await;
    assert_eq!(delivered.status, StatusCode::OK);
    let conversation = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (outsider, token) = app.operator("outsider@x.ru", "operator").await;
    let (_, supervisor) = app.operator("boss@x.ru", "supervisor").await;
    let paths = [
        (
            Method::GET,
            format!("/api/v1/conversations/{conversation}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/conversations/{conversation}/messages"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/conversations/{conversation}/notes"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/conversations/{conversation}/history"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({"text": "Я всё вижу"})),
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{conversation}/notes"),
            Some(json!({"text": "Чужая заметка"})),
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{conversation}/assign"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in &paths {
        let reply = app
            .request(method.clone(), path, Some(&token), body.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {reply:?}"
        );
    }
    let listed = app.get("/api/v1/conversations", &token).await.body;
    assert_eq!(listed, json!([]), "the list hides it too");
    let seen = app.get("/api/v1/conversations", &supervisor).await.body;
    assert_eq!(
        seen.as_array().unwrap().len(),
        1,
        "supervisors see every one"
    );
    let messages = app.messages(&conversation).await;
    assert_eq!(messages.len(), 1, "nothing was written: {messages:?}");

    // A member of the conversation's group may open it.
    let joined = app
        .patch(
            &format!("/api/v1/groups/{}", tg.group),
            &app.admin_token,
            json!({"operator_ids": [outsider]}),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{joined:?}");
    let opened = app
        .get(&format!("/api/v1/conversations/{conversation}"), &token)
        .await;
    assert_eq!(opened.status, StatusCode::OK, "{opened:?}");
    let listed: Value = app.get("/api/v1/conversations", &token).await.body;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

async fn metrics_can_require_a_token(backend: Backend) {
    let Some(app) = spawn_with(backend, |c| c.metrics_token = Some("scrape-me".into())).await
    else {
        return;
    };
    let url = format!("{}/metrics", app.base);
    let open = app.client.get(&url).send().await.unwrap();
    assert_eq!(open.status(), StatusCode::UNAUTHORIZED);
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("scrape-you")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app
        .client
        .get(&url)
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("# EOF"));
}

/// Anyone may open a web-chat session and write: a script minting sessions or flooding
/// messages is slowed down, and what it sent over the limit is not stored.
async fn the_public_web_chat_is_rate_limited(backend: Backend) {
    use crate::webchat::{join, say, session, until, webchat};
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let chat = webchat(&app).await;
    let (visitor, token) = session(&app, &chat).await;
    let mut refused = None;
    for _ in 0..40 {
        let reply = app
            .request(
                Method::POST,
                &format!("/webchat/{chat}/session"),
                None,
                None,
            )
            .await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(reply);
            break;
        }
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let refused = refused.expect("40 sessions at once from one address were all allowed");
    assert!(refused.headers.contains_key("retry-after"), "{refused:?}");

    let mut socket = join(&app, &chat, &visitor, &token, "https://shop.example")
        .await
        .unwrap();
    for i in 0..30 {
        say(
            &mut socket,
            json!({"type": "message", "id": format!("m{i}"), "text": format!("флуд {i}")}),
        )
        .await;
    }
    let slowed = until(&mut socket, |f| {
        f["type"] == "error"
            && f["message"]
                .as_str()
                .unwrap_or_default()
                .contains("too many")
    })
    .await;
    assert_eq!(slowed["type"], "error");
    // Let the acknowledged ones land, then count: fewer than were sent.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let conversation = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = app.messages(&conversation).await;
    assert!(
        (10..30).contains(&stored.len()),
        "{} of 30 flooded messages stored",
        stored.len()
    );
}
