//! The server killed with SIGKILL while webhooks and sends are in flight, then restarted:
//! every webhook that got a 2xx is stored exactly once, every outbox row ends sent, failed
//! or unknown, and nothing is sent twice. On SQLite and PostgreSQL.

mod common;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use switchboard_channels::testkit::{Failure, FakeTelegram};
use switchboard_store::{
    backends,
    testing::{Backend, TestDb},
};

use common::{start_in, temp_dir, Server};

backends!(a_killed_server_loses_nothing_and_sends_nothing_twice);

const TOKEN: &str = "7000000001:AAH-crash_test";
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const UPDATES: i64 = 1500;
const CHATS: i64 = 60;
const WEBHOOKS_AT_ONCE: i64 = 24;

async fn boot(dir: &std::path::Path, database_url: &str) -> (Server, String) {
    let (dir, url) = (dir.to_path_buf(), database_url.to_string());
    tokio::task::spawn_blocking(move || {
        let (server, base, _) = start_in(
            &dir,
            // A short lease: the killed process's claimed rows settle within seconds.
            &["--database-url", &url, "--delivery-lease", "3s"],
            &[
                ("SWITCHBOARD_ADMIN_EMAIL", "admin@crash.test"),
                ("SWITCHBOARD_ADMIN_PASSWORD", "password-123"),
                ("SWITCHBOARD_SECRET_KEY", KEY),
            ],
        );
        (server, base)
    })
    .await
    .unwrap()
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let reply: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@crash.test", "password": "password-123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["token"].as_str().unwrap().to_string()
}

fn update(id: i64) -> Vec<u8> {
    let chat = 1000 + id % CHATS;
    serde_json::to_vec(&json!({"update_id": id, "message": {"message_id": id, "date": 1,
        "from": {"id": chat, "is_bot": false, "first_name": "Клиент"}, "chat": {"id": chat, "type": "private"},
        "text": format!("u{id}")}}))
    .unwrap()
}

async fn post_update(
    client: &reqwest::Client,
    base: &str,
    channel: &str,
    secret: &str,
    id: i64,
) -> bool {
    let sent = client
        .post(format!("{base}/hooks/{channel}"))
        .header("X-Telegram-Bot-Api-Secret-Token", secret)
        .body(update(id))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    matches!(sent, Ok(r) if r.status().is_success())
}

/// Sends an authorized request (with a JSON body when given) and decodes the JSON answer.
async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// A counter's value from `/metrics` (0 when absent).
async fn metric(client: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

async fn all_messages(client: &reqwest::Client, base: &str, token: &str) -> Vec<Value> {
    let url = format!("{base}/api/v1/conversations?limit=1000");
    let conversations = call(client, reqwest::Method::GET, &url, token, None).await;
    let mut messages = Vec::new();
    for c in conversations.as_array().unwrap() {
        let url = format!(
            "{base}/api/v1/conversations/{}/messages",
            c["id"].as_str().unwrap()
        );
        let list = call(client, reqwest::Method::GET, &url, token, None).await;
        messages.extend(list.as_array().unwrap().iter().cloned());
    }
    messages
}

async fn a_killed_server_loses_nothing_and_sends_nothing_twice(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = temp_dir();
    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN, 7000000001, "Crash Bot");
    // The first sends are held far longer than the test runs before the kill: they are
    // certainly in flight (written, unanswered) when the server dies. Then slow sends, so
    // more are in flight.
    for _ in 0..3 {
        fake.fail_next("sendMessage", Failure::Delay(Duration::from_secs(10)));
    }
    for _ in 0..40 {
        fake.fail_next("sendMessage", Failure::Delay(Duration::from_millis(150)));
    }
    let client = reqwest::Client::new();
    let (mut server, base) = boot(&dir, &db.url).await;
    let token = login(&client, &base).await;
    let post = reqwest::Method::POST;
    let group = call(
        &client,
        post.clone(),
        &format!("{base}/api/v1/groups"),
        &token,
        Some(json!({"name": "Support"})),
    )
    .await;
    let channel_body = json!({"kind": "telegram", "name": "Crash", "credentials": {"token": TOKEN}, "api_base_url": fake.url,
        "rate_limits": null, "routing": {"target": "group", "group_id": group["id"]}, "auto_close_after": "1d"});
    let channel = call(
        &client,
        post,
        &format!("{base}/api/v1/channels"),
        &token,
        Some(channel_body),
    )
    .await;
    let channel_id = channel["id"].as_str().unwrap().to_string();
    let secret = fake.calls_of("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Webhooks from many chats, and operator replies, while the server is killed.
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = tokio::task::JoinSet::new();
    // More webhooks at once than SQLite stores directly: some are acknowledged on the
    // inbound journal and must survive the kill from there.
    for worker in 0..WEBHOOKS_AT_ONCE {
        let (client, base, channel_id, secret, acknowledged) = (
            client.clone(),
            base.clone(),
            channel_id.clone(),
            secret.clone(),
            acknowledged.clone(),
        );
        tasks.spawn(async move {
            for id in (1..=UPDATES).filter(|id| id % WEBHOOKS_AT_ONCE == worker) {
                if post_update(&client, &base, &channel_id, &secret, id).await {
                    acknowledged.lock().unwrap().insert(id);
                }
            }
        });
    }
    let replies = Arc::new(Mutex::new(HashMap::new()));
    {
        let (client, base, token, replies) =
            (client.clone(), base.clone(), token.clone(), replies.clone());
        tasks.spawn(async move {
            for n in 0..200 {
                let Ok(list) = client
                    .get(format!("{base}/api/v1/conversations"))
                    .bearer_auth(&token)
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(list) = list.json::<Value>().await else {
                    return;
                };
                let Some(conversation) = list
                    .as_array()
                    .and_then(|l| l.get(n % l.len().max(1)))
                    .cloned()
                else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let url = format!(
                    "{base}/api/v1/conversations/{}/messages",
                    conversation["id"].as_str().unwrap()
                );
                let text = format!("r{n}");
                if let Ok(r) = client
                    .post(url)
                    .bearer_auth(&token)
                    .json(&json!({"text": text}))
                    .send()
                    .await
                {
                    if r.status().is_success() {
                        replies.lock().unwrap().insert(text, ());
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    // The kill must find what it tests: webhooks answered once journaled (before being
    // stored) and a send written but unanswered (the first ones are held for 10 s). On a
    // busy machine both may take longer than the pause above.
    let deadline = Instant::now() + Duration::from_secs(8);
    let journaled = loop {
        let journaled = metric(
            &client,
            &base,
            "switchboard_journal_acknowledged_events_total",
        )
        .await;
        let in_flight = !fake.calls_of("sendMessage").is_empty();
        if (journaled > 0 && in_flight) || Instant::now() > deadline {
            break journaled;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    while tasks.join_next().await.is_some() {}
    let acknowledged_before = acknowledged.lock().unwrap().clone();
    assert!(
        !acknowledged_before.is_empty(),
        "the kill came before any webhook: the test proves nothing"
    );
    assert!(
        journaled > 0,
        "no webhook was acknowledged on the journal before the kill: the test proves nothing of it"
    );

    // Restart on the same database; the channel redelivers what was not acknowledged, and
    // some acknowledged ones again (Telegram does both).
    let (_server, base) = boot(&dir, &db.url).await;
    let token = login(&client, &base).await;
    for id in 1..=UPDATES {
        if !acknowledged_before.contains(&id) || id % 10 == 0 {
            assert!(
                post_update(&client, &base, &channel_id, &secret, id).await,
                "redelivery of {id} after restart"
            );
        }
    }

    // Every update stored exactly once.
    let messages = all_messages(&client, &base, &token).await;
    let mut inbound: HashMap<String, usize> = HashMap::new();
    for m in messages.iter().filter(|m| m["direction"] == "inbound") {
        *inbound
            .entry(m["content"]["text"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for id in 1..=UPDATES {
        assert_eq!(
            inbound.get(&format!("u{id}")),
            Some(&1),
            "update {id} must be stored exactly once"
        );
    }

    // Every outbound row settles; nothing reaches the customer twice.
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        let messages = all_messages(&client, &base, &token).await;
        let outbound: Vec<Value> = messages
            .into_iter()
            .filter(|m| m["direction"] == "outbound")
            .collect();
        if outbound.iter().all(|m| m["delivery_status"] != "pending") {
            break outbound;
        }
        assert!(
            Instant::now() < deadline,
            "outbound messages still pending a minute after restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut sent_texts: HashMap<String, usize> = HashMap::new();
    for call in fake.calls_of("sendMessage") {
        *sent_texts
            .entry(call.body["text"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (text, count) in &sent_texts {
        assert_eq!(*count, 1, "{text} reached the customer {count} times");
    }
    // A send cut mid-flight (the channel got the request, the answer never came back) is
    // unknown after the restart, and was not sent again.
    let cut: Vec<&str> = settled
        .iter()
        .filter(|m| m["delivery_status"] == "unknown")
        .filter_map(|m| m["content"]["text"].as_str())
        .filter(|text| sent_texts.get(*text) == Some(&1))
        .collect();
    assert!(
        !cut.is_empty(),
        "no send was cut mid-flight by the kill: the test proves nothing of it"
    );
    for m in &settled {
        let text = m["content"]["text"].as_str().unwrap();
        match m["delivery_status"].as_str().unwrap() {
            "sent" => assert_eq!(sent_texts.get(text), Some(&1), "{text} is marked sent"),
            "unknown" | "failed" => assert!(m["failure_reason"].is_string(), "{m}"),
            other => panic!("unexpected final status {other}: {m}"),
        }
    }
    let accepted = replies.lock().unwrap().len();
    let count = |status: &str| {
        settled
            .iter()
            .filter(|m| m["delivery_status"] == status)
            .count()
    };
    eprintln!(
        "acknowledged before the kill: {}/{UPDATES}; replies accepted: {accepted}; sent {}, unknown {}, failed {}",
        acknowledged_before.len(),
        count("sent"),
        count("unknown"),
        count("failed")
    );
    assert!(
        settled.len() >= accepted,
        "every accepted reply is stored: {} < {accepted}",
        settled.len()
    );
}
