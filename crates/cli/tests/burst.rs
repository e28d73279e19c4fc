//! Two server processes on one PostgreSQL take a burst of 1,000 new conversations through
//! their webhooks while ten operators accept offers through both: no conversation is ever
//! held by two operators, nobody goes above capacity, and every timer (answer timeouts,
//! auto-close) fires once. The proof is the audit log, replayed in order: every routing
//! decision is written under the account's routing lock, so its order is the decisions'.

mod common;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use sqlx::Row;
use switchboard_channels::testkit::FakeTelegram;
use switchboard_store::testing::{Backend, TestDb};

use common::{start_in, temp_dir, Server};

const TOKEN: &str = "7000000002:AAH-burst_test";
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const CONVERSATIONS: i64 = 1000;
const OPERATORS: usize = 10;
const CAPACITY: i64 = 5;

async fn boot(dir: std::path::PathBuf, database_url: &str) -> (Server, String) {
    let url = database_url.to_string();
    tokio::task::spawn_blocking(move || {
        let (server, base, _) = start_in(
            &dir,
            &["--database-url", &url],
            &[
                ("SWITCHBOARD_ADMIN_EMAIL", "admin@burst.test"),
                ("SWITCHBOARD_ADMIN_PASSWORD", "password-123"),
                ("SWITCHBOARD_SECRET_KEY", KEY),
            ],
        );
        (server, base)
    })
    .await
    .unwrap()
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn login(client: &reqwest::Client, base: &str, email: &str) -> String {
    let reply: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": "password-123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["token"].as_str().unwrap().to_string()
}

fn update(id: i64) -> Vec<u8> {
    // Every update from its own chat: each opens a conversation.
    let chat = 50_000 + id;
    serde_json::to_vec(&json!({"update_id": id, "message": {"message_id": id, "date": 1,
        "from": {"id": chat, "is_bot": false, "first_name": "Клиент"}, "chat": {"id": chat, "type": "private"},
        "text": format!("u{id}")}}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_a_burst_without_double_assignment() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let fake = FakeTelegram::start().await;
    fake.add_bot(TOKEN, 7000000002, "Burst Bot");
    let client = reqwest::Client::new();
    // One after the other: the first creates the admin.
    let (_a, node_a) = boot(temp_dir().join("a"), &db.url).await;
    let (_b, node_b) = boot(temp_dir().join("b"), &db.url).await;
    let nodes = [node_a.clone(), node_b.clone()];
    let admin = login(&client, &node_a, "admin@burst.test").await;
    let post = reqwest::Method::POST;

    let mut operators = Vec::new();
    for i in 0..OPERATORS {
        let email = format!("op{i}@burst.test");
        let (status, created) = call(
            &client,
            post.clone(),
            &format!("{node_a}/api/v1/operators"),
            &admin,
            Some(json!({"email": email, "name": email, "role": "operator", "password": "password-123"})),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let token = login(&client, &nodes[i % 2], &email).await;
        operators.push((id, token));
    }
    let ids: Vec<&str> = operators.iter().map(|(id, _)| id.as_str()).collect();
    let (status, group) = call(
        &client,
        post.clone(),
        &format!("{node_a}/api/v1/groups"),
        &admin,
        Some(json!({"name": "Support", "operator_ids": ids, "distribution":
            {"strategy": "all_at_once", "capacity": CAPACITY, "answer_timeout": "2s", "max_offers": 100}})),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let (status, channel) = call(
        &client,
        post.clone(),
        &format!("{node_b}/api/v1/channels"),
        &admin,
        Some(json!({"kind": "telegram", "name": "Burst", "credentials": {"token": TOKEN}, "api_base_url": fake.url,
            "rate_limits": null, "routing": {"target": "group", "group_id": group["id"]}, "auto_close_after": "4s"})),
    )
    .await;
    assert_eq!(status, 201, "{channel}");
    let channel = channel["id"].as_str().unwrap().to_string();
    let secret = fake.calls_of("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    for (i, (id, token)) in operators.iter().enumerate() {
        let (status, _) = call(
            &client,
            post.clone(),
            &format!("{}/api/v1/operators/{id}/status", nodes[i % 2]),
            token,
            Some(json!({"status": "online"})),
        )
        .await;
        assert_eq!(status, 200);
    }

    // Operators accept what they are offered, through both nodes, while the burst lands.
    let done = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut operator_tasks = tokio::task::JoinSet::new();
    for (i, (id, token)) in operators.iter().cloned().enumerate() {
        let (client, nodes, done, accepted) = (
            client.clone(),
            nodes.clone(),
            done.clone(),
            accepted.clone(),
        );
        operator_tasks.spawn(async move {
            let mut n = i;
            while !done.load(Ordering::Relaxed) {
                n += 1;
                let url = format!(
                    "{}/api/v1/conversations?offered_to={id}&limit=3",
                    nodes[n % 2]
                );
                let (_, offered) = call(&client, reqwest::Method::GET, &url, &token, None).await;
                let Some(first) = offered.as_array().and_then(|l| l.first()).cloned() else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let conversation = first["id"].as_str().unwrap();
                let url = format!(
                    "{}/api/v1/conversations/{conversation}/assign",
                    nodes[(n + 1) % 2]
                );
                let (status, body) = call(&client, reqwest::Method::POST, &url, &token, None).await;
                match status.as_u16() {
                    200 => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        // Half are answered; the rest run into the answer timeout.
                        if n % 2 == 0 {
                            let url = format!(
                                "{}/api/v1/conversations/{conversation}/messages",
                                nodes[n % 2]
                            );
                            call(
                                &client,
                                reqwest::Method::POST,
                                &url,
                                &token,
                                Some(json!({"text": "Здравствуйте"})),
                            )
                            .await;
                        }
                    }
                    409 => {}
                    other => panic!("accept answered {other}: {body}"),
                }
            }
        });
    }

    let started = Instant::now();
    let mut webhooks = tokio::task::JoinSet::new();
    for worker in 0..16i64 {
        let (client, nodes, channel, secret) = (
            client.clone(),
            nodes.clone(),
            channel.clone(),
            secret.clone(),
        );
        webhooks.spawn(async move {
            for id in (1..=CONVERSATIONS).filter(|id| id % 16 == worker) {
                let node = &nodes[(id % 2) as usize];
                let response = client
                    .post(format!("{node}/hooks/{channel}"))
                    .header("X-Telegram-Bot-Api-Secret-Token", &secret)
                    .body(update(id))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    response.status().is_success(),
                    "webhook {id}: {}",
                    response.status()
                );
            }
        });
    }
    while let Some(result) = webhooks.join_next().await {
        result.unwrap();
    }
    let burst = started.elapsed();

    // Everything closes by itself 4 s after its last message.
    let store = db.store().await;
    let pool = store.raw_pool();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let open: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM conversations WHERE closed_at IS NULL")
                .fetch_one(pool)
                .await
                .unwrap()
                .get("n");
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} conversations still open");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    done.store(true, Ordering::Relaxed);
    while let Some(result) = operator_tasks.join_next().await {
        result.unwrap();
    }
    eprintln!(
        "burst of {CONVERSATIONS} took {burst:?}; {} accepts; all closed after {:?}",
        accepted.load(Ordering::Relaxed),
        started.elapsed()
    );

    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM conversations")
        .fetch_one(pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(
        count, CONVERSATIONS,
        "one conversation per new chat, none twice"
    );
    assert!(
        accepted.load(Ordering::Relaxed) > 0,
        "nobody accepted: the test proves nothing"
    );
    let timers: i64 = sqlx::query("SELECT COUNT(*) AS n FROM timers")
        .fetch_one(pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(timers, 0, "every timer fired and went");

    // Replay the routing decisions in the order they were made.
    let rows = sqlx::query(
        "SELECT action, object_id, details FROM audit_log WHERE object_type = 'conversation' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut holder: HashMap<String, String> = HashMap::new();
    let mut load: HashMap<String, i64> = HashMap::new();
    let mut closes: HashMap<String, usize> = HashMap::new();
    let mut rounds: HashSet<(String, i64)> = HashSet::new();
    let mut unanswered = 0;
    for row in &rows {
        let action: String = row.get("action");
        let conversation: String = row.get("object_id");
        let details: Value = serde_json::from_str(&row.get::<String, _>("details")).unwrap();
        match action.as_str() {
            "conversation.assign" => {
                let operator = details["operator_id"].as_str().unwrap().to_string();
                assert!(
                    !holder.contains_key(&conversation),
                    "{conversation} assigned to {operator} while {:?} held it",
                    holder.get(&conversation)
                );
                let l = load.entry(operator.clone()).or_default();
                *l += 1;
                assert!(*l <= CAPACITY, "{operator} above capacity");
                holder.insert(conversation, operator);
            }
            "conversation.unanswered" => {
                unanswered += 1;
                let round = details["offers_made"].as_i64().unwrap();
                assert!(
                    rounds.insert((conversation.clone(), round)),
                    "the answer timeout of round {round} of {conversation} fired twice"
                );
                if !details["assigned_at"].is_null() {
                    let operator = holder
                        .remove(&conversation)
                        .expect("unanswered without a holder");
                    assert_eq!(details["operator_ids"][0], operator.as_str());
                    *load.get_mut(&operator).unwrap() -= 1;
                }
            }
            "conversation.close" => {
                *closes.entry(conversation.clone()).or_default() += 1;
                if let Some(operator) = holder.remove(&conversation) {
                    *load.get_mut(&operator).unwrap() -= 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!(closes.len() as i64, CONVERSATIONS);
    assert!(
        closes.values().all(|n| *n == 1),
        "a conversation closed twice"
    );
    assert!(holder.is_empty());
    eprintln!(
        "{} routing decisions replayed, {unanswered} answer timeouts",
        rows.len()
    );
}
