//! Operators through the API: validation, roles, status, retirement.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_store::{backends, testing::Backend};

use crate::helpers::spawn_app;

backends!(
    admins_manage_operators,
    operator_input_is_validated,
    roles_are_checked_on_the_server,
    status_is_set_by_self_or_supervisor
);

async fn admins_manage_operators(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .post(
            "/api/v1/operators",
            &app.admin_token,
            json!({"email": "Anna@Shop.ru", "name": "Анна", "password": "password-123"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(
        (
            created.body["email"].as_str(),
            created.body["role"].as_str()
        ),
        (Some("anna@shop.ru"), Some("operator"))
    );
    assert_eq!(created.body["status"], "offline");
    let id = created.id();
    let path = format!("/api/v1/operators/{id}");
    assert_eq!(app.get(&path, &app.admin_token).await.body["name"], "Анна");
    let promoted = app
        .patch(
            &path,
            &app.admin_token,
            json!({"role": "supervisor", "name": "Anna"}),
        )
        .await;
    assert_eq!(
        (
            promoted.body["role"].as_str(),
            promoted.body["name"].as_str()
        ),
        (Some("supervisor"), Some("Anna"))
    );
    let listed = app.get("/api/v1/operators", &app.admin_token).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2);
    assert_eq!(
        app.delete(&path, &app.admin_token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&path, &app.admin_token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.login("anna@shop.ru", "password-123").await.status,
        StatusCode::UNAUTHORIZED
    );
    let last_admin = app
        .delete(
            &format!("/api/v1/operators/{}", app.admin_id),
            &app.admin_token,
        )
        .await;
    assert_eq!(
        (last_admin.status, last_admin.code()),
        (StatusCode::CONFLICT, "last_admin")
    );
    let audit = app.get("/api/v1/audit", &app.admin_token).await;
    let actions: Vec<_> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..3],
        ["operator.delete", "operator.update", "operator.create"]
    );
}

async fn operator_input_is_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cases = [
        (
            json!({"email": "not-an-email", "name": "A", "password": "password-123"}),
            "email",
        ),
        (
            json!({"email": "a@b.ru", "name": "  ", "password": "password-123"}),
            "name",
        ),
        (
            json!({"email": "a@b.ru", "name": "A", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "a@b.ru", "name": "A", "password": "password-123", "role": "root"}),
            "role",
        ),
    ];
    for (body, field) in cases {
        let reply = app
            .post("/api/v1/operators", &app.admin_token, body.clone())
            .await;
        assert_eq!(
            (reply.status, reply.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, field),
            "{body}: {reply:?}"
        );
    }
    app.operator("taken@b.ru", "operator").await;
    let taken = app
        .post(
            "/api/v1/operators",
            &app.admin_token,
            json!({"email": "TAKEN@b.ru", "name": "A", "password": "password-123"}),
        )
        .await;
    assert_eq!(
        (taken.status, taken.code(), taken.field()),
        (StatusCode::CONFLICT, "conflict", "email")
    );
    assert_eq!(
        app.get("/api/v1/operators", &app.admin_token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn roles_are_checked_on_the_server(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (op_id, op) = app.operator("op@b.ru", "operator").await;
    let (_, sup) = app.operator("sup@b.ru", "supervisor").await;
    let admin_path = format!("/api/v1/operators/{}", app.admin_id);
    for token in [&op, &sup] {
        let create = app
            .post(
                "/api/v1/operators",
                token,
                json!({"email": "x@b.ru", "name": "X", "password": "password-123"}),
            )
            .await;
        assert_eq!(
            (create.status, create.code()),
            (StatusCode::FORBIDDEN, "forbidden")
        );
        assert_eq!(
            app.patch(&admin_path, token, json!({"name": "Hacked"}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.delete(&admin_path, token).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.get("/api/v1/operators", token).await.status,
            StatusCode::OK,
            "everyone sees colleagues"
        );
    }
    let own = format!("/api/v1/operators/{op_id}");
    assert_eq!(
        app.patch(&own, &op, json!({"name": "Оля"})).await.status,
        StatusCode::OK,
        "own name"
    );
    assert_eq!(
        app.patch(&own, &op, json!({"role": "admin"})).await.status,
        StatusCode::FORBIDDEN,
        "no self-promotion"
    );
    assert_eq!(
        app.patch(&own, &op, json!({"password": "new-password-1"}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("op@b.ru", "new-password-1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/audit", &op).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get("/api/v1/audit", &sup).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&admin_path, &app.admin_token).await.body["name"],
        "Administrator",
        "nothing changed"
    );
}

async fn status_is_set_by_self_or_supervisor(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (op_id, op) = app.operator("op@b.ru", "operator").await;
    let (other_id, _) = app.operator("other@b.ru", "operator").await;
    let (_, sup) = app.operator("sup@b.ru", "supervisor").await;
    let own = app
        .post(
            &format!("/api/v1/operators/{op_id}/status"),
            &op,
            json!({"status": "online"}),
        )
        .await;
    assert_eq!(
        (own.status, own.body["status"].as_str()),
        (StatusCode::OK, Some("online"))
    );
    let others = app
        .post(
            &format!("/api/v1/operators/{other_id}/status"),
            &op,
            json!({"status": "online"}),
        )
        .await;
    assert_eq!(others.status, StatusCode::FORBIDDEN);
    let by_sup = app
        .post(
            &format!("/api/v1/operators/{other_id}/status"),
            &sup,
            json!({"status": "away"}),
        )
        .await;
    assert_eq!(by_sup.body["status"], "away");
    let bad = app
        .post(
            &format!("/api/v1/operators/{op_id}/status"),
            &op,
            json!({"status": "busy"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "status")
    );
}
