//! Groups through the API: defaults, validation, partial updates, references.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_store::{backends, testing::Backend};

use crate::helpers::spawn_app;

backends!(
    groups_get_sensible_defaults,
    group_input_is_validated,
    groups_update_partially
);

async fn groups_get_sensible_defaults(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Support"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(
        created.body["distribution"],
        json!({"strategy": "round_robin", "capacity": 5, "answer_timeout": "2m", "max_offers": 3, "fallback_group_id": null})
    );
    assert_eq!(created.body["operator_ids"], json!([]));
    let fetched = app
        .get(
            &format!("/api/v1/groups/{}", created.id()),
            &app.admin_token,
        )
        .await;
    assert_eq!(fetched.body, created.body);
}

async fn group_input_is_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (op, _) = app.operator("op@b.ru", "operator").await;
    let cases = [
        (json!({"name": ""}), "name"),
        (
            json!({"name": "S", "distribution": {"capacity": 0}}),
            "distribution.capacity",
        ),
        (
            json!({"name": "S", "distribution": {"max_offers": 0}}),
            "distribution.max_offers",
        ),
        (
            json!({"name": "S", "distribution": {"answer_timeout": "0s"}}),
            "distribution.answer_timeout",
        ),
        (
            json!({"name": "S", "distribution": {"answer_timeout": "soon"}}),
            "distribution.answer_timeout",
        ),
        (
            json!({"name": "S", "operator_ids": [op, op]}),
            "operator_ids[1]",
        ),
        (
            json!({"name": "S", "operator_ids": [uuid::Uuid::now_v7()]}),
            "operator_ids[0]",
        ),
        (
            json!({"name": "S", "distribution": {"fallback_group_id": uuid::Uuid::now_v7()}}),
            "distribution.fallback_group_id",
        ),
    ];
    for (body, field) in cases {
        let reply = app
            .post("/api/v1/groups", &app.admin_token, body.clone())
            .await;
        assert_eq!(
            (reply.status, reply.field()),
            (StatusCode::UNPROCESSABLE_ENTITY, field),
            "{body}: {reply:?}"
        );
    }
    app.post("/api/v1/groups", &app.admin_token, json!({"name": "Sales"}))
        .await;
    let duplicate = app
        .post("/api/v1/groups", &app.admin_token, json!({"name": "Sales"}))
        .await;
    assert_eq!(
        (duplicate.status, duplicate.field()),
        (StatusCode::CONFLICT, "name")
    );
    assert_eq!(
        app.get("/api/v1/groups", &app.admin_token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn groups_update_partially(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (op, op_token) = app.operator("op@b.ru", "operator").await;
    let (_, sup) = app.operator("sup@b.ru", "supervisor").await;
    let night = app
        .post("/api/v1/groups", &app.admin_token, json!({"name": "Night"}))
        .await
        .id();
    let support = app
        .post("/api/v1/groups", &sup, json!({"name": "Support", "operator_ids": [op], "distribution": {
            "strategy": "in_order", "capacity": 2, "answer_timeout": "90s", "fallback_group_id": night}}))
        .await;
    assert_eq!(
        support.status,
        StatusCode::CREATED,
        "supervisors manage groups: {support:?}"
    );
    let path = format!("/api/v1/groups/{}", support.id());
    let changed = app
        .patch(&path, &sup, json!({"distribution": {"capacity": 4}}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    let d = &changed.body["distribution"];
    assert_eq!(
        (
            d["capacity"].as_u64(),
            d["strategy"].as_str(),
            d["answer_timeout"].as_str()
        ),
        (Some(4), Some("in_order"), Some("90s"))
    );
    assert_eq!(d["fallback_group_id"], night.as_str());
    let cleared = app
        .patch(
            &path,
            &sup,
            json!({"distribution": {"fallback_group_id": null}}),
        )
        .await;
    assert_eq!(
        cleared.body["distribution"]["fallback_group_id"],
        json!(null)
    );
    let itself = app
        .patch(
            &path,
            &sup,
            json!({"distribution": {"fallback_group_id": support.id()}}),
        )
        .await;
    assert_eq!(itself.field(), "distribution.fallback_group_id");
    assert_eq!(
        app.patch(&path, &op_token, json!({"name": "Mine"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&path, &op_token).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.delete(&path, &sup).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &sup).await.status, StatusCode::NOT_FOUND);
}
