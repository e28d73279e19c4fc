//! Login, tokens, throttling and password rehashing.

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard_server::PasswordParams;
use switchboard_store::{
    backends,
    testing::{Backend, TestDb},
};

use crate::helpers::{spawn_app, spawn_on, ADMIN_EMAIL, ADMIN_PASSWORD};

backends!(
    login_gives_a_working_session,
    wrong_credentials_are_refused_alike,
    every_protected_endpoint_wants_a_valid_token,
    repeated_failures_are_throttled,
    api_tokens_work_until_revoked,
    logout_ends_the_session,
    hashes_are_upgraded_when_parameters_change,
    browser_sessions_use_an_httponly_cookie_and_a_csrf_token,
);

async fn login_gives_a_working_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let login = app.login(" Admin@Test.Local ", ADMIN_PASSWORD).await;
    assert_eq!(
        login.status,
        StatusCode::OK,
        "logins ignore case and surrounding spaces: {login:?}"
    );
    let token = login.body["token"].as_str().unwrap();
    assert!(token.starts_with("sb_"));
    assert!(
        login.body["operator"].get("password_hash").is_none(),
        "no hash in replies"
    );
    let me = app.get("/api/v1/auth/me", token).await;
    assert_eq!(
        (me.status, me.body["email"].as_str()),
        (StatusCode::OK, Some(ADMIN_EMAIL))
    );
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["instance_admin"], true);
}

async fn wrong_credentials_are_refused_alike(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let wrong_password = app.login(ADMIN_EMAIL, "not the password").await;
    let unknown_email = app.login("nobody@test.local", ADMIN_PASSWORD).await;
    for reply in [&wrong_password, &unknown_email] {
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            "{reply:?}"
        );
        assert_eq!(reply.body["error"]["message"], "wrong e-mail or password");
    }
    let missing = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": ADMIN_EMAIL})),
        )
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
}

async fn every_protected_endpoint_wants_a_valid_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for path in [
        "/api/v1/auth/me",
        "/api/v1/operators",
        "/api/v1/groups",
        "/api/v1/schedules",
        "/api/v1/tokens",
        "/api/v1/accounts",
        "/api/v1/audit",
    ] {
        let none = app.request(Method::GET, path, None, None).await;
        assert_eq!(
            (none.status, none.code()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{path}"
        );
        let forged = app.get(path, "sb_forged").await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{path}");
        let hash_as_token = app
            .get(
                path,
                &switchboard_server::auth::secret::hash(&app.admin_token),
            )
            .await;
        assert_eq!(
            hash_as_token.status,
            StatusCode::UNAUTHORIZED,
            "the stored hash is not a token: {path}"
        );
    }
    let basic = app
        .client
        .get(format!("{}/api/v1/auth/me", app.base))
        .basic_auth(ADMIN_EMAIL, Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

async fn repeated_failures_are_throttled(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for _ in 0..5 {
        assert_eq!(
            app.login(ADMIN_EMAIL, "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
        "{blocked:?}"
    );
    let wait: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    let (_, _) = app.operator("other@test.local", "operator").await;
    assert_eq!(
        app.login("other@test.local", "password-123").await.status,
        StatusCode::OK,
        "other logins are not blocked"
    );
}

async fn api_tokens_work_until_revoked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .post(
            "/api/v1/tokens",
            &app.admin_token,
            json!({"name": "CRM sync"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let token = created.body["token"].as_str().unwrap().to_string();
    let id = created.body["info"]["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["info"]["kind"], "api");
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status,
        StatusCode::OK
    );
    let listed = app.get("/api/v1/tokens", &app.admin_token).await;
    assert!(listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id.as_str()));
    assert!(
        !listed.body.to_string().contains(&token),
        "secrets are never listed"
    );
    let bad = app
        .post(
            "/api/v1/tokens",
            &app.admin_token,
            json!({"name": "x", "expires_in": "0s"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "expires_in")
    );
    assert_eq!(
        app.delete(&format!("/api/v1/tokens/{id}"), &app.admin_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.delete(&format!("/api/v1/tokens/{id}"), &app.admin_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn logout_ends_the_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = app
        .request(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &app.admin_token).await.status,
        StatusCode::OK,
        "other sessions live on"
    );
}

async fn hashes_are_upgraded_when_parameters_change(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = spawn_on(db, PasswordParams::default()).await;
    let store =
        switchboard_store::Store::connect(&switchboard_store::StoreConfig::new(&app.db.url))
            .await
            .unwrap();
    let before = store
        .credentials_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(
        before.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{before}"
    );
    let db = app.stop().await;

    let stronger = PasswordParams {
        iterations: 3,
        ..PasswordParams::default()
    };
    let app = spawn_on(db, stronger).await;
    let after = store
        .credentials_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(
        after.starts_with("$argon2id$v=19$m=19456,t=3,p=1$"),
        "rehashed on login: {after}"
    );
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login(ADMIN_EMAIL, "wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
    store.close().await;
}

async fn browser_sessions_use_an_httponly_cookie_and_a_csrf_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app
        .client
        .post(format!("{}/api/v1/auth/session", app.base))
        .json(&serde_json::json!({"email": crate::helpers::ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP here: {set_cookie}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body.get("token").is_none(),
        "the token is not given to page scripts"
    );
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let call = |method: reqwest::Method, path: &str, csrf: Option<&str>| {
        let mut request = app
            .client
            .request(method, format!("{}{path}", app.base))
            .header("cookie", &cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request
    };
    // Reading needs only the cookie.
    let me = call(reqwest::Method::GET, "/api/v1/auth/me", None)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // Changing something without the CSRF token (as a forged form would) is refused.
    let forged = call(reqwest::Method::POST, "/api/v1/groups", None)
        .json(&serde_json::json!({"name": "Forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let forged: serde_json::Value = forged.json().await.unwrap();
    assert_eq!(forged["error"]["code"], "csrf_failed");
    let wrong = call(
        reqwest::Method::POST,
        "/api/v1/groups",
        Some("0".repeat(64).as_str()),
    )
    .json(&serde_json::json!({"name": "Forged"}))
    .send()
    .await
    .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let made = call(reqwest::Method::POST, "/api/v1/groups", Some(&csrf))
        .json(&serde_json::json!({"name": "Real"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    // Bearer tokens (scripts) need no CSRF token.
    let scripted = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            serde_json::json!({"name": "Script"}),
        )
        .await;
    assert_eq!(scripted.status, StatusCode::CREATED);
    // Logging out ends the session and removes the cookie.
    let out = call(reqwest::Method::POST, "/api/v1/auth/logout", Some(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = call(reqwest::Method::GET, "/api/v1/auth/me", None)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}
