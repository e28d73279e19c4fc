//! Accounts: instance administrators create them, with their first admin.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_store::{backends, testing::Backend};

use crate::helpers::{spawn_app, ADMIN_EMAIL};

backends!(instance_admins_create_accounts, others_cannot);

async fn instance_admins_create_accounts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .post("/api/v1/accounts", &app.admin_token, json!({"name": "Пекарня", "admin": {"email": "boss@bakery.ru", "name": "Boss", "password": "password-123"}}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let account = created.body["account"]["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["admin"]["account_id"], account.as_str());
    assert_eq!(created.body["admin"]["role"], "admin");
    assert_eq!(created.body["admin"]["instance_admin"], false);
    let login = app.login("boss@bakery.ru", "password-123").await;
    assert_eq!(login.status, StatusCode::OK);
    let boss = login.body["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/operators", boss)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1,
        "a fresh account"
    );
    assert_eq!(
        app.get(&format!("/api/v1/accounts/{account}"), boss)
            .await
            .status,
        StatusCode::OK,
        "own account"
    );
    assert_eq!(
        app.get("/api/v1/accounts", &app.admin_token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let taken = app
        .post("/api/v1/accounts", &app.admin_token, json!({"name": "X", "admin": {"email": ADMIN_EMAIL, "name": "X", "password": "password-123"}}))
        .await;
    assert_eq!(
        (taken.status, taken.field()),
        (StatusCode::CONFLICT, "admin.email")
    );
    let invalid = app
        .post("/api/v1/accounts", &app.admin_token, json!({"name": "X", "admin": {"email": "x@y.ru", "name": "", "password": "password-123"}}))
        .await;
    assert_eq!(
        (invalid.status, invalid.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "admin.name")
    );
    assert_eq!(
        app.get("/api/v1/accounts", &app.admin_token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing half-made"
    );
}

async fn others_cannot(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, admin) = app.operator("second-admin@b.ru", "admin").await;
    let create = app.post("/api/v1/accounts", &admin, json!({"name": "X", "admin": {"email": "x@y.ru", "name": "X", "password": "password-123"}})).await;
    assert_eq!(
        (create.status, create.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        app.get("/api/v1/accounts", &admin).await.status,
        StatusCode::FORBIDDEN
    );
}
