//! Schedules through the API.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_store::{backends, testing::Backend};

use crate::helpers::spawn_app;

backends!(schedules_round_trip, schedule_input_is_validated);

async fn schedules_round_trip(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = json!({
        "name": "Office",
        "time_zone": "Europe/Moscow",
        "weekly": {"mon": [{"start": "09:00", "end": "13:00"}, {"start": "14:00", "end": "18:00"}], "sat": [{"start": "10:00", "end": "24:00"}]},
        "exceptions": [{"date": "2027-01-01", "note": "Новый год"}, {"date": "2026-12-31", "intervals": [{"start": "09:00", "end": "15:00"}]}]
    });
    let created = app
        .post("/api/v1/schedules", &app.admin_token, body.clone())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    for key in ["name", "time_zone", "weekly"] {
        assert_eq!(created.body[key], body[key], "{key}");
    }
    assert_eq!(created.body["exceptions"][0]["intervals"], json!([]));
    let path = format!("/api/v1/schedules/{}", created.id());
    let moved = app
        .patch(
            &path,
            &app.admin_token,
            json!({"time_zone": "Asia/Vladivostok"}),
        )
        .await;
    assert_eq!(
        (
            moved.body["time_zone"].as_str(),
            moved.body["name"].as_str()
        ),
        (Some("Asia/Vladivostok"), Some("Office"))
    );
    assert_eq!(moved.body["weekly"], body["weekly"]);
    assert_eq!(
        app.get("/api/v1/schedules", &app.admin_token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.delete(&path, &app.admin_token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&path, &app.admin_token).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn schedule_input_is_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cases = [
        (
            json!({"name": "S", "time_zone": "Mars/Olympus"}),
            "time_zone",
        ),
        (
            json!({"name": "S", "time_zone": "UTC", "weekly": {"mon": [{"start": "18:00", "end": "09:00"}]}}),
            "weekly.mon[0]",
        ),
        (
            json!({"name": "S", "time_zone": "UTC", "weekly": {"funday": []}}),
            "weekly.funday",
        ),
        (
            json!({"name": "S", "time_zone": "UTC", "weekly": {"tue": [{"start": "25:00", "end": "26:00"}]}}),
            "weekly.tue[0].",
        ),
        (
            json!({"name": "S", "time_zone": "UTC", "exceptions": [{"date": "2027-02-30"}]}),
            "exceptions[0].date",
        ),
    ];
    for (body, field) in cases {
        let reply = app
            .post("/api/v1/schedules", &app.admin_token, body.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {reply:?}"
        );
        assert!(
            reply.field().starts_with(field),
            "{body}: expected {field}, got {reply:?}"
        );
    }
    let (_, op) = app.operator("op@b.ru", "operator").await;
    let forbidden = app
        .post(
            "/api/v1/schedules",
            &op,
            json!({"name": "S", "time_zone": "UTC"}),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/schedules", &op).await.body, json!([]));
}
