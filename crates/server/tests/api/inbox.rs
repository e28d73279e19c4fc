//! The inbox's list: filters combine, and pages follow a keyset cursor (`X-Next-Cursor`,
//! passed back as `after`) so that every conversation is listed once, newest activity
//! first, however the pages fall.

use reqwest::StatusCode;
use serde_json::json;
use switchboard_store::{backends, testing::Backend};

use crate::{helpers::spawn_app, routing::center};

backends!(pages_list_every_conversation_once_newest_first);

async fn pages_list_every_conversation_once_newest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Nobody online: every conversation waits in the queue.
    let mut c = center(
        &app,
        1,
        json!({"strategy": "round_robin", "capacity": 5}),
        json!({}),
    )
    .await;
    let mut written = Vec::new();
    for chat in 0..7 {
        let conversation = c.write(&app, 500 + chat, &format!("Вопрос {chat}")).await;
        written.push(conversation["id"].as_str().unwrap().to_string());
    }
    let mut listed: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!(
            "/api/v1/conversations?status=queued&channel_id={}&limit=3",
            c.channel
        );
        if let Some(cursor) = &after {
            path.push_str(&format!("&after={cursor}"));
        }
        let page = app.get(&path, &app.admin_token).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let items = page.body.as_array().unwrap();
        assert!(items.len() <= 3);
        assert!(items.iter().all(|c| c["status"] == "queued"));
        listed.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_string()));
        pages += 1;
        match page.headers.get("x-next-cursor") {
            Some(next) => after = Some(next.to_str().unwrap().to_string()),
            None => break,
        }
        assert!(pages < 10, "the cursor does not move on");
    }
    assert_eq!(pages, 3);
    // Newest activity first: the last written comes first, and nothing twice.
    written.reverse();
    assert_eq!(listed, written);

    let other_filter = app
        .get(
            "/api/v1/conversations?status=assigned&limit=3",
            &app.admin_token,
        )
        .await;
    assert_eq!(other_filter.body.as_array().unwrap().len(), 0);
    let bad = app
        .get("/api/v1/conversations?after=yesterday", &app.admin_token)
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "after")
    );
}
