//! Bad request bodies get a clear error in the contract's shape and change nothing.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_store::{backends, testing::Backend};

use crate::helpers::spawn_app;

backends!(
    malformed_json_is_a_400_that_says_where,
    unknown_and_mistyped_fields_are_named,
    wrong_content_type_and_oversized_bodies,
    ids_that_do_not_parse_are_not_found
);

async fn send_raw(
    app: &crate::helpers::TestApp,
    content_type: &str,
    body: Vec<u8>,
) -> crate::helpers::Reply {
    let response = app
        .client
        .post(format!("{}/api/v1/groups", app.base))
        .bearer_auth(&app.admin_token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    crate::helpers::Reply {
        status,
        body,
        headers,
    }
}

async fn malformed_json_is_a_400_that_says_where(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let reply = send_raw(
        &app,
        "application/json",
        b"{\"name\": \"Sales\",\n \"operator_ids\": [}".to_vec(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::BAD_REQUEST, "invalid_json"),
        "{reply:?}"
    );
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{reply:?}"
    );
    assert_eq!(
        app.get("/api/v1/groups", &app.admin_token).await.body,
        json!([]),
        "nothing was stored"
    );
}

async fn unknown_and_mistyped_fields_are_named(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let unknown = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Sales", "colour": "red"}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code(), unknown.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "colour")
    );
    let nested = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Sales", "distribution": {"strategy": "random"}}),
        )
        .await;
    assert_eq!(
        (nested.status, nested.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "distribution.strategy"),
        "{nested:?}"
    );
    assert!(
        nested.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("round_robin"),
        "names the allowed values: {nested:?}"
    );
    let mistyped = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": "Sales", "distribution": {"capacity": "five"}}),
        )
        .await;
    assert_eq!(mistyped.field(), "distribution.capacity");
    let missing = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"operator_ids": []}),
        )
        .await;
    assert_eq!(missing.code(), "invalid_body");
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `name`"),
        "{missing:?}"
    );
    assert_eq!(
        app.get("/api/v1/groups", &app.admin_token).await.body,
        json!([]),
        "nothing was stored"
    );
}

async fn wrong_content_type_and_oversized_bodies(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let text = send_raw(&app, "text/plain", br#"{"name": "Sales"}"#.to_vec()).await;
    assert_eq!(
        (text.status, text.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(100 * 1024));
    let too_large = send_raw(&app, "application/json", huge.into_bytes()).await;
    assert_eq!(
        (too_large.status, too_large.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{too_large:?}"
    );
}

async fn ids_that_do_not_parse_are_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for path in [
        "/api/v1/groups/not-a-uuid",
        "/api/v1/operators/1",
        "/api/v1/schedules/%27%20OR%201=1",
    ] {
        let reply = app.get(path, &app.admin_token).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
}
