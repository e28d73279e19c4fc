//! The channel's default pacing, end to end: a Telegram connection made without
//! `rate_limits` sends one chat's replies at most once a second (the Bot API's per-chat
//! limit, from the channel's profile), while another chat is not held behind it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use switchboard_store::{backends, testing::Backend};

use crate::{
    helpers::spawn_app,
    telegram::{connect_with, deliver, text_update},
};

backends!(a_chats_replies_leave_at_the_channels_own_pace);

async fn a_chats_replies_leave_at_the_channels_own_pace(backend: Backend) {
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
    // No `rate_limits`: the profile's defaults apply.
    let (fake, channel, secret) = connect_with(
        &app,
        json!({"routing": {"target": "group", "group_id": group}}),
    )
    .await;
    let mut conversations = Vec::new();
    for (update, chat) in [(1, 5551), (2, 5552)] {
        let r = deliver(
            &app,
            &channel,
            &secret,
            &text_update(update, chat, "Привет"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        conversations.push(
            app.conversations().await[0]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Three replies to the first chat at once, then one to the second.
    for (conversation, text) in [
        (&conversations[0], "Раз"),
        (&conversations[0], "Два"),
        (&conversations[0], "Три"),
        (&conversations[1], "Другому"),
    ] {
        let r = app
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                &app.admin_token,
                json!({"text": text}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    let sent = fake
        .wait_for("sendMessage", 4, Duration::from_secs(20))
        .await;
    let to = |chat: i64| -> Vec<std::time::Instant> {
        sent.iter()
            .filter(|c| {
                c.body["chat_id"].as_i64() == Some(chat)
                    || c.body["chat_id"].as_str() == Some(chat.to_string().as_str())
            })
            .map(|c| c.at)
            .collect()
    };
    let first = to(5551);
    assert_eq!(first.len(), 3, "{sent:?}");
    for pair in first.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            gap >= Duration::from_millis(900),
            "one chat's replies {gap:?} apart"
        );
    }
    let other = to(5552);
    assert_eq!(other.len(), 1);
    assert!(
        other[0] < first[2],
        "the other chat waited behind the first one's pacing"
    );
}
