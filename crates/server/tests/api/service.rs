//! Probes, metrics, the OpenAPI document and the fallbacks.

use reqwest::{Method, StatusCode};
use switchboard_store::{backends, testing::Backend};

use crate::helpers::spawn_app;

backends!(
    probes_answer,
    metrics_count_requests_by_route,
    openapi_describes_the_api,
    unknown_routes_answer_in_the_error_shape
);

async fn probes_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let health = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let ready = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

async fn metrics_count_requests_by_route(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.get("/api/v1/groups", &app.admin_token).await;
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"switchboard_http_requests_total{method="GET",route="/api/v1/groups",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("switchboard_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

async fn openapi_describes_the_api(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let doc = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/auth/login",
        "/api/v1/operators/{id}",
        "/api/v1/groups",
        "/api/v1/schedules/{id}",
        "/api/v1/accounts",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "{path} missing from the document"
        );
    }
    assert!(doc.body["components"]["schemas"]
        .get("Distribution")
        .is_some());
    assert!(doc.body["components"]["securitySchemes"]
        .get("bearer")
        .is_some());
    // Path parameters match the path's placeholders exactly, query parameters are not
    // mistaken for path ones, and every operation id is unique (code generators rely on it).
    let mut ids = std::collections::HashSet::new();
    for (path, operations) in doc.body["paths"].as_object().unwrap() {
        let placeholders: std::collections::BTreeSet<String> = path
            .split('{')
            .skip(1)
            .map(|rest| rest.split('}').next().unwrap().to_string())
            .collect();
        for (method, operation) in operations.as_object().unwrap() {
            let declared: std::collections::BTreeSet<String> = operation["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(declared, placeholders, "{method} {path}");
            let id = operation["operationId"].as_str().unwrap().to_string();
            assert!(ids.insert(id.clone()), "{id} used twice");
        }
    }
}

async fn unknown_routes_answer_in_the_error_shape(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let missing = app.get("/api/v1/nothing-here", &app.admin_token).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let wrong_method = app
        .request(Method::PUT, "/api/v1/groups", Some(&app.admin_token), None)
        .await;
    assert_eq!(
        (wrong_method.status, wrong_method.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}
