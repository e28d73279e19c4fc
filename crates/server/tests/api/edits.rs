//! A customer's edit updates the message they sent: stored once, in its latest wording, and
//! never answered as a new message (the bot does not react to it).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use switchboard_store::{backends, testing::Backend};

use crate::{
    helpers::spawn_app,
    telegram::{connect_with, deliver, text_update},
};

backends!(an_edit_changes_the_stored_message_and_the_bot_ignores_it);

const SCENARIO: &str = "name: Names\nstart: ask\nsteps:\n  ask:\n    ask: \"Как вас зовут?\"\n    save: name\n    goto: hello\n  hello:\n    say: \"Привет, {{name}}\"\n    goto: ask\n";

async fn an_edit_changes_the_stored_message_and_the_bot_ignores_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let scenario = app
        .post(
            "/api/v1/scenarios",
            &app.admin_token,
            json!({"name": "Names", "source": SCENARIO}),
        )
        .await;
    assert_eq!(scenario.status, StatusCode::CREATED, "{scenario:?}");
    let (fake, channel, secret) = connect_with(
        &app,
        json!({"rate_limits": null, "routing": {"target": "bot", "scenario_id": scenario.id()}}),
    )
    .await;
    let wait = Duration::from_secs(20);
    deliver(
        &app,
        &channel,
        &secret,
        &text_update(1, 4444, "Добрый день"),
    )
    .await;
    fake.wait_for("sendMessage", 1, wait).await;
    deliver(&app, &channel, &secret, &text_update(2, 4444, "Анна")).await;
    let said = fake.wait_for("sendMessage", 3, wait).await;
    assert!(
        said.iter().any(|c| c.body["text"] == "Привет, Анна"),
        "{said:?}"
    );

    // The customer corrects "Анна" (message 2) to "Мария".
    let edit = serde_json::to_vec(&json!({"update_id": 3, "edited_message": {"message_id": 2,
        "date": 1, "edit_date": 2, "from": {"id": 4444, "is_bot": false, "first_name": "Иван"},
        "chat": {"id": 4444, "type": "private", "first_name": "Иван"}, "text": "Мария"}}))
    .unwrap();
    let reply = deliver(&app, &channel, &secret, &edit).await;
    assert_eq!(reply.status, StatusCode::OK);
    let conversation = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + wait;
    let messages = loop {
        let messages = app.messages(&conversation).await;
        if messages.iter().any(|m| m["content"]["text"] == "Мария") {
            break messages;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the edit never landed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let edited: Vec<_> = messages
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .map(|m| (m["content"]["text"].clone(), m["content"]["edited"].clone()))
        .collect();
    assert_eq!(
        edited,
        [
            (json!("Добрый день"), serde_json::Value::Null),
            (json!("Мария"), json!(true))
        ],
        "the edit replaced the message, it did not add one"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        fake.calls_of("sendMessage").len(),
        3,
        "the bot answered an edit: {:?}",
        fake.calls_of("sendMessage")
    );
}
