//! A fake Viber REST Bot API: accounts by token, `set_webhook` that calls the webhook at once
//! (signed, as Viber does) and refuses a URL that does not answer 200, recorded sends,
//! scripted error statuses, and media to download. Like Viber, it refuses `send_message` to a
//! customer who opened the chat but has not subscribed (written, or pressed subscribe): such
//! a customer is greeted only by the welcome message in the answer to `conversation_started`,
//! which [`FakeViber::callback`] checks as Viber would. Signatures here are computed with the
//! `hmac` crate directly, independently of the connector's own check.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Path, State},
    http::HeaderMap,
    routing::{get, post},
    Json, Router,
};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::testkit::Call;

/// Hex HMAC-SHA256 of `body` keyed with `token`: Viber's `X-Viber-Content-Signature`.
pub fn sign(token: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Default)]
struct Inner {
    accounts: HashMap<String, (String, String)>,
    calls: Vec<Call>,
    statuses: HashMap<String, VecDeque<i64>>,
    webhook: Option<String>,
    next_token: u64,
    media: HashMap<String, Vec<u8>>,
    /// Customers who opened the chat and have not subscribed.
    unsubscribed: HashSet<String>,
    /// The welcome messages answered to `conversation_started`.
    welcomes: Vec<Value>,
}

/// A fake Viber API.
#[derive(Clone)]
pub struct FakeViber {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

fn status_message(status: i64) -> &'static str {
    match status {
        1 => "invalidUrl",
        2 => "invalidAuthToken",
        3 => "badData",
        5 => "receiverNotRegistered",
        6 => "receiverNotSubscribed",
        7 => "publicAccountBlocked",
        12 => "tooManyRequests",
        _ => "error",
    }
}

impl FakeViber {
    pub async fn start() -> FakeViber {
        let inner = Arc::new(Mutex::new(Inner {
            next_token: 5_741_311_803_571_721_000,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/media/{name}", get(media))
            .route("/{method}", post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Viber");
        let addr: SocketAddr = listener.local_addr().expect("fake address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeViber {
            url: format!("http://{addr}"),
            inner,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes `token` a valid bot account with this id and name.
    pub fn add_account(&self, token: &str, id: &str, name: &str) {
        self.lock()
            .accounts
            .insert(token.to_string(), (id.to_string(), name.to_string()));
    }

    /// The next call of `method` answers with this non-zero status.
    pub fn fail_next(&self, method: &str, status: i64) {
        self.lock()
            .statuses
            .entry(method.to_string())
            .or_default()
            .push_back(status);
    }

    /// Serves `bytes` at `{url}/media/{name}`.
    pub fn add_media(&self, name: &str, bytes: &[u8]) -> String {
        self.lock().media.insert(name.to_string(), bytes.to_vec());
        format!("{}/media/{name}", self.url)
    }

    /// The webhook URL currently set, if any.
    pub fn webhook(&self) -> Option<String> {
        self.lock().webhook.clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Waits until `method` was called at least `count` times, or panics after `timeout`.
    pub async fn wait_for(&self, method: &str, count: usize, timeout: Duration) -> Vec<Call> {
        crate::testkit::wait_for_calls(|| self.calls_of(method), method, count, timeout).await
    }

    /// Delivers a callback to the webhook as Viber would: signed with `token`. Returns the
    /// HTTP status and body of the answer. A customer who opens the chat without being
    /// subscribed cannot be sent to until they write or subscribe; the answer to
    /// `conversation_started`, when it has a body, is their welcome message and must be one
    /// Viber accepts (panics otherwise, naming why).
    pub async fn callback(&self, token: &str, event: &Value) -> (u16, String) {
        let url = self.webhook().expect("a webhook is set");
        self.note_subscription(event);
        let (status, body) = post_signed(&url, token, &serde_json::to_vec(event).unwrap()).await;
        if event["event"] == "conversation_started" && status == 200 && !body.trim().is_empty() {
            let welcome = check_welcome(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
            self.lock().welcomes.push(welcome);
        }
        (status, body)
    }

    /// Records what a callback says of the customer's subscription.
    pub fn note_subscription(&self, event: &Value) {
        let mut inner = self.lock();
        match event["event"].as_str() {
            Some("conversation_started") if event["subscribed"] != true => {
                if let Some(user) = event["user"]["id"].as_str() {
                    inner.unsubscribed.insert(user.to_string());
                }
            }
            Some("message") => {
                if let Some(user) = event["sender"]["id"].as_str() {
                    inner.unsubscribed.remove(user);
                }
            }
            Some("subscribed") => {
                if let Some(user) = event["user"]["id"].as_str() {
                    inner.unsubscribed.remove(user);
                }
            }
            _ => {}
        }
    }

    /// The welcome messages answered so far, in order.
    pub fn welcomes(&self) -> Vec<Value> {
        self.lock().welcomes.clone()
    }
}

/// Posts `body` signed with `token` to `url`.
pub async fn post_signed(url: &str, token: &str, body: &[u8]) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .header("X-Viber-Content-Signature", sign(token, body))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await;
    match response {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

async fn media(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(name): Path<String>,
) -> Result<Vec<u8>, axum::http::StatusCode> {
    let inner = inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    inner
        .media
        .get(&name)
        .cloned()
        .ok_or(axum::http::StatusCode::NOT_FOUND)
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let token = headers
        .get("X-Viber-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (account, scripted) = {
        let mut inner = inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.calls.push(Call {
            token: token.clone(),
            method: method.clone(),
            body: parsed.clone(),
            raw: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        let scripted = inner
            .statuses
            .get_mut(&method)
            .and_then(VecDeque::pop_front);
        (inner.accounts.get(&token).cloned(), scripted)
    };
    let Some((id, name)) = account else {
        return Json(json!({"status": 2, "status_message": "invalidAuthToken"})).into_response();
    };
    if let Some(status) = scripted {
        if status >= 500 {
            // The service itself failing, before any Viber status.
            return (
                axum::http::StatusCode::from_u16(status as u16)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
                "Internal Server Error",
            )
                .into_response();
        }
        return Json(json!({"status": status, "status_message": status_message(status)}))
            .into_response();
    }
    if method == "send_message" {
        if let Err(problem) = check_send(&body, &parsed) {
            return Json(json!({"status": 3, "status_message": problem})).into_response();
        }
        let receiver = parsed["receiver"].as_str().unwrap_or_default();
        let unsubscribed = inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .unsubscribed
            .contains(receiver);
        if unsubscribed {
            return Json(json!({"status": 6, "status_message": status_message(6)}))
                .into_response();
        }
    }
    let answer: Json<Value> = match method.as_str() {
        "get_account_info" => Json(
            json!({"status": 0, "status_message": "ok", "id": id, "name": name,
            "uri": "shop", "category": "Retail", "subscribers_count": 35}),
        ),
        "set_webhook" => {
            let url = parsed["url"].as_str().unwrap_or_default().to_string();
            if url.is_empty() {
                inner
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .webhook = None;
                return Json(json!({"status": 0, "status_message": "ok"})).into_response();
            }
            // Viber checks the URL with a signed `webhook` event before accepting it.
            let check = json!({"event": "webhook", "timestamp": 1457764197627_u64,
                "chat_hostname": "SN-CALLBACK-05_", "message_token": 241256543215_u64});
            let (status, _) = post_signed(&url, &token, &serde_json::to_vec(&check).unwrap()).await;
            if status != 200 {
                return Json(json!({"status": 1, "status_message": "invalidUrl"})).into_response();
            }
            inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .webhook = Some(url);
            Json(json!({"status": 0, "status_message": "ok", "event_types": parsed["event_types"]}))
        }
        "send_message" => {
            let token = {
                let mut inner = inner
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                inner.next_token += 1;
                inner.next_token
            };
            Json(
                json!({"status": 0, "status_message": "ok", "message_token": token,
                "chat_hostname": "SN-CHAT-05_", "billing_status": 1}),
            )
        }
        _ => Json(json!({"status": 3, "status_message": "badData"})),
    };
    answer.into_response()
}

/// Reads the answer to `conversation_started` as Viber does: a `send_message` body without
/// the receiver, with a sender and a type.
pub fn check_welcome(body: &str) -> Result<Value, String> {
    let welcome: Value =
        serde_json::from_str(body).map_err(|e| format!("the welcome is not JSON ({e})"))?;
    if welcome.get("receiver").is_some() {
        return Err("a welcome message names no receiver".into());
    }
    if welcome["sender"]["name"].as_str().is_none_or(str::is_empty) {
        return Err("a welcome message needs sender.name".into());
    }
    if welcome["type"] == "text" && welcome["text"].as_str().is_none_or(str::is_empty) {
        return Err("a text welcome message needs a text".into());
    }
    if welcome["type"].as_str().is_none() {
        return Err("a welcome message needs a type".into());
    }
    check_send(body.as_bytes(), &welcome)?;
    Ok(welcome)
}

/// Refuses a `send_message` the real API refuses: a request over 30 KB of JSON, a text over
/// 7,000 characters, a sender name over 28, a keyboard of more than 24 buttons or a button
/// without a text or action.
fn check_send(raw: &[u8], body: &Value) -> Result<(), String> {
    if raw.len() > 30 * 1024 {
        return Err(format!(
            "badData: the request is {} bytes, over 30 KB",
            raw.len()
        ));
    }
    if body["text"]
        .as_str()
        .is_some_and(|t| t.chars().count() > 7000)
    {
        return Err("badData: text over 7,000 characters".into());
    }
    if body["sender"]["name"]
        .as_str()
        .is_some_and(|n| n.chars().count() > 28)
    {
        return Err("badData: sender name over 28 characters".into());
    }
    if let Some(buttons) = body["keyboard"]["Buttons"].as_array() {
        if buttons.len() > 24 {
            return Err("badData: more than 24 buttons".into());
        }
        for b in buttons {
            if b["Text"].as_str().is_none_or(str::is_empty)
                || b["ActionBody"].as_str().is_none_or(str::is_empty)
            {
                return Err("badData: a button without Text or ActionBody".into());
            }
        }
    }
    Ok(())
}
