//! What the operator workspace in the browser relies on: the page and its policy, the CSRF
//! token of a reloaded page, the live event feed, checking a token before saving a channel,
//! declining an offer, and the supervisor's figures.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_channels::testkit::FakeTelegram;
use switchboard_store::{backends, testing::Backend};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::{
    helpers::spawn_app,
    routing::center,
    telegram::{deliver, text_update},
    webchat::{until, Socket},
};

backends!(
    the_workspace_is_served_with_a_strict_policy,
    a_reloaded_page_gets_its_csrf_token_again,
    the_event_feed_streams_the_accounts_changes,
    a_token_is_checked_without_saving_anything,
    declining_passes_the_conversation_on,
    accepting_stops_the_answer_timeout,
    a_contacts_history_and_a_channels_limits_are_listed,
    an_unsaved_scenario_is_previewed,
    the_supervisor_sees_queues_loads_and_todays_figures,
);

async fn the_workspace_is_served_with_a_strict_policy(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let page = app.client.get(&app.base).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    let missing = app
        .client
        .get(format!("{}/ui/no-such-file.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

async fn a_reloaded_page_gets_its_csrf_token_again(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app
        .client
        .post(format!("{}/api/v1/auth/session", app.base))
        .json(&json!({"email": crate::helpers::ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session: Value = response.json().await.unwrap();
    let again: Value = app
        .client
        .get(format!("{}/api/v1/auth/csrf", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["csrf_token"], session["csrf_token"]);
    // A script with a bearer token has no cookie session, hence no CSRF token.
    let script = app.get("/api/v1/auth/csrf", &app.admin_token).await;
    assert_eq!(script.status, StatusCode::BAD_REQUEST, "{script:?}");
}

async fn feed(
    app: &crate::helpers::TestApp,
    token: &str,
    origin: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("{}/api/v1/events", app.base.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn the_event_feed_streams_the_accounts_changes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    assert!(
        feed(&app, &app.admin_token, Some("https://evil.example"))
            .await
            .is_err(),
        "another site's page may not open the feed"
    );
    assert!(feed(&app, "not-a-token", None).await.is_err());
    let (operator_id, operator) = app.operator("feed-op@shop.ru", "operator").await;
    let mut socket = feed(&app, &operator, Some(&app.base)).await.unwrap();
    let hello = until(&mut socket, |f| f["type"] == "hello").await;
    assert_eq!(hello["operator_id"], operator_id.as_str());

    // Another account's admin sees nothing of this account.
    let other = app
        .post("/api/v1/accounts", &app.admin_token, json!({"name": "B", "admin": {"email": "boss@b.ru", "name": "Boss", "password": "password-123"}}))
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{other:?}");
    let b_admin = app.login("boss@b.ru", "password-123").await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut b_socket = feed(&app, &b_admin, None).await.unwrap();
    until(&mut b_socket, |f| f["type"] == "hello").await;
    // A plain operator outside the conversation's group sees nothing of it either.
    let (_, outsider) = app.operator("outsider@shop.ru", "operator").await;
    let mut outsider_socket = feed(&app, &outsider, Some(&app.base)).await.unwrap();
    until(&mut outsider_socket, |f| f["type"] == "hello").await;

    let tg = crate::telegram::connect(&app).await;
    let joined = app
        .patch(
            &format!("/api/v1/groups/{}", tg.group),
            &app.admin_token,
            json!({"operator_ids": [operator_id]}),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{joined:?}");
    let r = deliver(
        &app,
        tg.id(),
        &tg.secret,
        &text_update(1, 4242, "Где мой заказ?"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let event = until(&mut socket, |f| f["type"] == "conversation").await;
    assert_eq!(event["conversation"]["channel_id"], tg.id());
    assert_eq!(event["conversation"]["status"], "queued");
    let id = event["conversation"]["id"].as_str().unwrap().to_string();

    // An assignment arrives as a change of the same conversation.
    let r = app
        .post(
            &format!("/api/v1/conversations/{id}/assign"),
            &app.admin_token,
            json!({"operator_id": app.admin_id}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "the admin is offline: {r:?}"
    );
    let r = app
        .post(
            &format!("/api/v1/conversations/{id}/close"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let closed = until(&mut socket, |f| {
        f["type"] == "conversation" && f["conversation"]["status"] == "closed"
    })
    .await;
    assert_eq!(closed["conversation"]["id"], id.as_str());

    for (who, socket) in [
        ("another account", &mut b_socket),
        ("an operator outside the group", &mut outsider_socket),
    ] {
        let quiet = tokio::time::timeout(
            Duration::from_millis(500),
            until(socket, |f| f["type"] == "conversation"),
        )
        .await;
        assert!(quiet.is_err(), "{who}'s feed got {quiet:?}");
    }
}

async fn a_token_is_checked_without_saving_anything(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let fake = FakeTelegram::start().await;
    fake.add_bot("7000000009:AAH-verify", 7000000009, "Shop Bot");
    let good = app
        .post("/api/v1/channels/verify", &app.admin_token,
            json!({"kind": "telegram", "credentials": {"token": "7000000009:AAH-verify"}, "api_base_url": fake.url}))
        .await;
    assert_eq!(good.status, StatusCode::OK, "{good:?}");
    assert_eq!(good.body["account_name"], "Shop Bot");
    let bad = app
        .post("/api/v1/channels/verify", &app.admin_token,
            json!({"kind": "telegram", "credentials": {"token": "123:wrong"}, "api_base_url": fake.url}))
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "bot_not_found"),
        "{bad:?}"
    );
    assert!(bad.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Bot not found"));
    assert!(fake.calls_of("setWebhook").is_empty(), "nothing registered");
    assert_eq!(
        app.get("/api/v1/channels", &app.admin_token).await.body,
        json!([])
    );
    let (_, operator) = app.operator("verify-op@shop.ru", "operator").await;
    let refused = app
        .post("/api/v1/channels/verify", &operator,
            json!({"kind": "telegram", "credentials": {"token": "7000000009:AAH-verify"}, "api_base_url": fake.url}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn declining_passes_the_conversation_on(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(
        &app,
        2,
        json!({"strategy": "in_order", "capacity": 5, "max_offers": 3}),
        json!({}),
    )
    .await;
    c.status(&app, 0, "online").await;
    c.status(&app, 1, "online").await;
    let conv = c.write(&app, 500, "Примите, пожалуйста").await;
    assert_eq!(conv["assignee_id"], c.op(0));
    let id = conv["id"].as_str().unwrap();
    let stranger = app
        .post(
            &format!("/api/v1/conversations/{id}/decline"),
            c.token(1),
            json!({}),
        )
        .await;
    assert_eq!(
        (stranger.status, stranger.code()),
        (StatusCode::CONFLICT, "not_offered")
    );
    let declined = app
        .post(
            &format!("/api/v1/conversations/{id}/decline"),
            c.token(0),
            json!({}),
        )
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{declined:?}");
    assert_eq!(
        declined.body["assignee_id"],
        c.op(1),
        "the next operator gets it"
    );

    // all_at_once: whoever declines steps out; the others keep the offer.
    let mut all = center(
        &app,
        3,
        json!({"strategy": "all_at_once", "capacity": 5}),
        json!({}),
    )
    .await;
    for i in 0..3 {
        all.status(&app, i, "online").await;
    }
    let conv = all.write(&app, 501, "Кто-нибудь?").await;
    let id = conv["id"].as_str().unwrap();
    let declined = app
        .post(
            &format!("/api/v1/conversations/{id}/decline"),
            all.token(0),
            json!({}),
        )
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{declined:?}");
    let offered: Vec<&str> = declined.body["offered_to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert!(!offered.contains(&all.op(0)));
    let taken = app
        .post(
            &format!("/api/v1/conversations/{id}/assign"),
            all.token(2),
            json!({}),
        )
        .await;
    assert_eq!(taken.body["assignee_id"], all.op(2), "{taken:?}");

    // The only operator online declines: it waits in the queue instead of coming straight
    // back to them, the next customer still reaches them, and they may still take it.
    let mut alone = center(
        &app,
        1,
        json!({"strategy": "round_robin", "capacity": 5, "max_offers": 3}),
        json!({}),
    )
    .await;
    alone.status(&app, 0, "online").await;
    let conv = alone.write(&app, 502, "Есть кто?").await;
    assert_eq!(conv["assignee_id"], alone.op(0));
    let id = conv["id"].as_str().unwrap();
    let declined = app
        .post(
            &format!("/api/v1/conversations/{id}/decline"),
            alone.token(0),
            json!({}),
        )
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{declined:?}");
    assert_eq!(declined.body["status"], "queued", "{declined:?}");
    assert_eq!(declined.body["assignee_id"], Value::Null);
    let next = alone.write(&app, 503, "А у меня вопрос").await;
    assert_eq!(
        next["assignee_id"],
        alone.op(0),
        "the next customer still reaches them"
    );
    let again = app
        .get(&format!("/api/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert_eq!(
        again.body["status"], "queued",
        "not offered back: {again:?}"
    );
    let taken = app
        .post(
            &format!("/api/v1/conversations/{id}/assign"),
            alone.token(0),
            json!({}),
        )
        .await;
    assert_eq!(taken.body["assignee_id"], alone.op(0), "{taken:?}");
}

async fn the_supervisor_sees_queues_loads_and_todays_figures(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(
        &app,
        1,
        json!({"strategy": "round_robin", "capacity": 3}),
        json!({}),
    )
    .await;
    c.write(&app, 600, "Жду в очереди").await;
    c.status(&app, 0, "online").await;
    let answered = c.write(&app, 601, "Второй вопрос").await;
    let id = answered["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            c.token(0),
            json!({"text": "Отвечаю"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = app
        .post(
            &format!("/api/v1/conversations/{id}/close"),
            c.token(0),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let stats = app.get("/api/v1/stats", &app.admin_token).await;
    assert_eq!(stats.status, StatusCode::OK, "{stats:?}");
    let channel = stats.body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ch| ch["channel_id"] == c.channel.as_str())
        .unwrap()
        .clone();
    assert_eq!(channel["conversations"], 2, "{channel}");
    assert!(channel["first_response_secs"].as_f64().unwrap() >= 0.0);
    assert!(channel["resolution_secs"].as_f64().unwrap() >= 0.0);
    assert_eq!(channel["auto_closed"], 0);
    let hourly: u64 = stats.body["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["channel_id"] == c.channel.as_str())
        .map(|h| h["conversations"].as_u64().unwrap())
        .sum();
    assert_eq!(hourly, 2);
    let op = stats.body["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["operator_id"] == c.op(0))
        .unwrap()
        .clone();
    assert_eq!(
        (op["status"].as_str(), op["capacity"].as_u64()),
        (Some("online"), Some(3)),
        "{op}"
    );
    let group = stats.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group_id"] == c.group.as_str())
        .unwrap()
        .clone();
    assert_eq!(group["conversations"], 2);

    let (_, operator) = app.operator("stats-op@shop.ru", "operator").await;
    assert_eq!(
        app.get("/api/v1/stats", &operator).await.status,
        StatusCode::FORBIDDEN
    );
    let bad = app
        .get("/api/v1/stats?since=yesterday", &app.admin_token)
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "since")
    );
}

async fn accepting_stops_the_answer_timeout(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(
        &app,
        2,
        json!({"strategy": "in_order", "capacity": 5, "answer_timeout": "1s"}),
        json!({}),
    )
    .await;
    c.status(&app, 0, "online").await;
    c.status(&app, 1, "online").await;
    let conv = c.write(&app, 700, "Примите").await;
    assert_eq!(
        (conv["assignee_id"].as_str(), conv["answered"].as_bool()),
        (Some(c.op(0)), Some(false))
    );
    let id = conv["id"].as_str().unwrap();
    let accepted = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{id}/assign"),
            Some(c.token(0)),
            None,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
    assert_eq!(accepted.body["answered"], true);
    // Well past the answer timeout, it is still theirs.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let now = app
        .get(&format!("/api/v1/conversations/{id}"), &app.admin_token)
        .await
        .body;
    assert_eq!(now["assignee_id"], c.op(0), "{now}");
    let declined = app
        .post(
            &format!("/api/v1/conversations/{id}/decline"),
            c.token(0),
            json!({}),
        )
        .await;
    assert_eq!(
        declined.code(),
        "not_offered",
        "accepted is no longer declinable"
    );
}

async fn a_contacts_history_and_a_channels_limits_are_listed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(&app, 1, json!({}), json!({})).await;
    let first = c.write(&app, 800, "Первый").await;
    let other = c.write(&app, 801, "Другой клиент").await;
    let contact = first["contact_id"].as_str().unwrap();
    assert!(
        first["last_inbound_at"].as_str().is_some(),
        "the messaging window counts from the customer's last message: {first}"
    );
    let listed = app
        .get(
            &format!("/api/v1/conversations?contact_id={contact}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![first["id"].as_str().unwrap()]);
    assert!(!ids.contains(&other["id"].as_str().unwrap()));

    let channel = app
        .get(&format!("/api/v1/channels/{}", c.channel), &app.admin_token)
        .await
        .body;
    assert_eq!(channel["limits"]["max_text"], 4096, "{channel}");
    assert_eq!(channel["limits"]["text_unit"], "utf16");
    assert!(
        channel["limits"]["buttons"]["max_buttons"]
            .as_u64()
            .unwrap()
            > 0
    );
    let r = app
        .patch(
            &format!("/api/v1/channels/{}", c.channel),
            &app.admin_token,
            json!({"capabilities": {"buttons": false}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.body["limits"]["buttons"],
        Value::Null,
        "a numbered menu there: {}",
        r.body
    );
}

async fn an_unsaved_scenario_is_previewed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let source = "name: Draft\nstart: hi\nsteps:\n  hi:\n    say: \"Choose\"\n    choices:\n      - { label: \"Track my parcel\", goto: bye }\n      - { label: \"Operator\", goto: bye }\n  bye:\n    close: true\n";
    let telegram = app
        .post(
            "/api/v1/scenarios/render",
            &app.admin_token,
            json!({"source": source, "channel": "telegram"}),
        )
        .await;
    assert_eq!(telegram.status, StatusCode::OK, "{telegram:?}");
    assert_eq!(
        telegram.body["steps"]["hi"][0]["buttons"][0][0]["label"],
        "Track my parcel"
    );
    let bitrix = app
        .post(
            "/api/v1/scenarios/render",
            &app.admin_token,
            json!({"source": source, "channel": "bitrix24"}),
        )
        .await;
    assert_eq!(bitrix.body["steps"]["hi"][0]["buttons"], Value::Null);
    assert!(bitrix.body["steps"]["hi"][0]["text"]
        .as_str()
        .unwrap()
        .contains("1. Track my parcel"));
    let broken = app
        .post(
            "/api/v1/scenarios/render",
            &app.admin_token,
            json!({"source": "name: X\nstart: nowhere\nsteps: {}\n", "channel": "telegram"}),
        )
        .await;
    assert_eq!(
        (broken.status, broken.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_scenario"),
        "{broken:?}"
    );
    assert!(!broken.body["error"]["problems"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        app.get("/api/v1/scenarios", &app.admin_token).await.body,
        json!([]),
        "nothing saved"
    );
}
