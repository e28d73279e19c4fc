//! A fake Telegram Bot API on 127.0.0.1: bots by token, recorded calls, scripted failures,
//! long polling, files to download.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};

use crate::testkit::Call;

/// A scripted answer for the next call of a method.
#[derive(Clone, Debug)]
pub enum Failure {
    /// 429 with `parameters.retry_after`.
    RetryAfter(u64),
    /// 500 Internal Server Error.
    ServerError,
    /// 403 "bot was blocked by the user".
    Blocked,
    /// 401 "Unauthorized" (token revoked).
    Unauthorized,
    /// Drop the connection after reading the request: the request was written, no answer.
    Reset,
    /// Answer only after this long (longer than the client's timeout: a timeout).
    Delay(Duration),
}

#[derive(Default)]
struct Inner {
    bots: HashMap<String, (i64, String)>,
    calls: Vec<Call>,
    failures: HashMap<String, VecDeque<Failure>>,
    next_message_id: i64,
    /// Updates waiting for getUpdates; confirmed (dropped) by a later call's offset.
    updates: Vec<Value>,
    /// How long getUpdates holds an empty answer (by default the request's timeout, at
    /// most a second).
    poll_wait: Option<Duration>,
}

fn lock_inner(inner: &Arc<Mutex<Inner>>) -> std::sync::MutexGuard<'_, Inner> {
    inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fake Telegram Bot API.
#[derive(Clone)]
pub struct FakeTelegram {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeTelegram {
    /// Starts the fake on a random loopback port.
    pub async fn start() -> FakeTelegram {
        let inner = Arc::new(Mutex::new(Inner {
            next_message_id: 1000,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .route("/file/{bot}/{*path}", axum::routing::get(download))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Telegram");
        let addr: SocketAddr = listener.local_addr().expect("fake address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTelegram {
            url: format!("http://{addr}"),
            inner,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes `token` a valid bot with this id and name.
    pub fn add_bot(&self, token: &str, id: i64, name: &str) {
        self.lock()
            .bots
            .insert(token.to_string(), (id, name.to_string()));
    }

    /// Queues a failure for the next call of `method`.
    pub fn fail_next(&self, method: &str, failure: Failure) {
        self.lock()
            .failures
            .entry(method.to_string())
            .or_default()
            .push_back(failure);
    }

    /// Queues an update for getUpdates (long polling).
    /// Makes getUpdates answer an empty poll after `wait` (zero: at once, as an API or a
    /// proxy that does not hold long polls).
    pub fn hold_polls_for(&self, wait: Duration) {
        lock_inner(&self.inner).poll_wait = Some(wait);
    }

    pub fn push_update(&self, update: Value) {
        self.lock().updates.push(update);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The calls of one method.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Waits until `method` was called at least `count` times, or panics after `timeout`.
    pub async fn wait_for(&self, method: &str, count: usize, timeout: Duration) -> Vec<Call> {
        crate::testkit::wait_for_calls(|| self.calls_of(method), method, count, timeout).await
    }
}

/// getUpdates: confirms updates below `offset`, then waits (briefly: this is a test) for some.
async fn long_poll(inner: &Arc<Mutex<Inner>>, body: &Value) -> Vec<Value> {
    let offset = body["offset"].as_i64();
    let held = lock_inner(inner).poll_wait;
    let wait = held.unwrap_or_else(|| {
        Duration::from_secs(body["timeout"].as_u64().unwrap_or(0)).min(Duration::from_secs(1))
    });
    let deadline = Instant::now() + wait;
    loop {
        let ready: Vec<Value> = {
            let mut inner = inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(offset) = offset {
                inner
                    .updates
                    .retain(|u| u["update_id"].as_i64().unwrap_or_default() >= offset);
            }
            inner.updates.clone()
        };
        if !ready.is_empty() || Instant::now() >= deadline {
            return ready;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The bytes the fake serves for a file id.
pub fn file_bytes(file_id: &str) -> Vec<u8> {
    format!("the bytes of {file_id}").into_bytes()
}

async fn download(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((bot, path)): Path<(String, String)>,
) -> Response {
    let token = bot.strip_prefix("bot").unwrap_or_default().to_string();
    let known = {
        let mut inner = inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.calls.push(Call {
            token: token.clone(),
            method: "download".into(),
            body: json!({"path": path}),
            raw: String::new(),
            at: Instant::now(),
        });
        inner.bots.contains_key(&token)
    };
    let file_id = path.trim_start_matches("files/").trim_end_matches(".bin");
    if !known {
        return StatusCode::NOT_FOUND.into_response();
    }
    file_bytes(file_id).into_response()
}

fn error(status: StatusCode, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (status, Json(body)).into_response()
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let raw = String::from_utf8_lossy(&body).to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = bot.strip_prefix("bot").unwrap_or_default().to_string();
    let (failure, known, message_id) = {
        let mut inner = inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.calls.push(Call {
            token: token.clone(),
            method: method.clone(),
            body: body.clone(),
            raw,
            at: Instant::now(),
        });
        let failure = inner
            .failures
            .get_mut(&method)
            .and_then(VecDeque::pop_front);
        let known = inner.bots.get(&token).cloned();
        inner.next_message_id += 1;
        (failure, known, inner.next_message_id)
    };
    match failure {
        Some(Failure::RetryAfter(seconds)) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too Many Requests: retry after {seconds}"),
                Some(json!({"retry_after": seconds})),
            )
        }
        Some(Failure::ServerError) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                None,
            )
        }
        Some(Failure::Blocked) => {
            return error(
                StatusCode::FORBIDDEN,
                "Forbidden: bot was blocked by the user",
                None,
            )
        }
        Some(Failure::Unauthorized) => {
            return error(StatusCode::UNAUTHORIZED, "Unauthorized", None)
        }
        Some(Failure::Reset) => panic!("fake Telegram drops this connection on purpose"),
        Some(Failure::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let Some((bot_id, bot_name)) = known else {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    };
    if let Err(problem) = check_request(&method, &body) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("Bad Request: {problem}"),
            None,
        );
    }
    if method == "getUpdates" {
        return Json(json!({"ok": true, "result": long_poll(&inner, &body).await})).into_response();
    }
    let result = match method.as_str() {
        "getMe" => {
            json!({"id": bot_id, "is_bot": true, "first_name": bot_name, "username": "fake_bot"})
        }
        "sendMessage" => {
            json!({"message_id": message_id, "chat": {"id": body["chat_id"], "type": "private"}, "date": 0, "text": body["text"]})
        }
        "sendPhoto" | "sendDocument" | "sendVideo" | "sendAudio" | "sendVoice" => {
            json!({"message_id": message_id, "chat": {"type": "private"}, "date": 0})
        }
        "setWebhook" | "deleteWebhook" | "answerCallbackQuery" => json!(true),
        "getFile" => {
            let file_id = body["file_id"].as_str().unwrap_or_default();
            json!({"file_id": file_id, "file_unique_id": file_id, "file_size": file_bytes(file_id).len(), "file_path": format!("files/{file_id}.bin")})
        }
        "editMessageReplyMarkup" => {
            json!({"message_id": body["message_id"], "chat": {"id": body["chat_id"], "type": "private"}, "date": 0})
        }
        _ => return error(StatusCode::NOT_FOUND, "Not Found: method not found", None),
    };
    Json(json!({"ok": true, "result": result})).into_response()
}

/// Refuses what the Bot API refuses (its documented limits), so a connector that exceeds
/// them fails here as it would in production: texts of 1–4,096 characters (UTF-16 units),
/// captions up to 1,024, `callback_data` of 1–64 bytes, buttons with a text, a
/// `message_id` that is a number.
fn check_request(method: &str, body: &Value) -> Result<(), String> {
    let utf16 = |v: &Value| v.as_str().map(|s| s.encode_utf16().count());
    match method {
        "sendMessage" => match utf16(&body["text"]) {
            None | Some(0) => return Err("message text is empty".into()),
            Some(n) if n > 4096 => return Err("message is too long".into()),
            _ => {}
        },
        "editMessageReplyMarkup" | "editMessageText" | "deleteMessage"
            if !body["message_id"].is_i64() =>
        {
            return Err("field \"message_id\" must be an Integer".into());
        }
        "answerCallbackQuery" if utf16(&body["text"]).is_some_and(|n| n > 200) => {
            return Err("text is too long".into());
        }
        _ => {}
    }
    if utf16(&body["caption"]).is_some_and(|n| n > 1024) {
        return Err("message caption is too long".into());
    }
    // A keyboard may come as JSON or, in multipart uploads, as a JSON string.
    let markup = match &body["reply_markup"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    for row in markup["inline_keyboard"].as_array().into_iter().flatten() {
        for button in row.as_array().into_iter().flatten() {
            if button["text"].as_str().is_none_or(str::is_empty) {
                return Err("text buttons are unallowed in the inline keyboard".into());
            }
            if let Some(data) = button.get("callback_data") {
                let len = data.as_str().map_or(0, str::len);
                if !(1..=64).contains(&len) {
                    return Err("BUTTON_DATA_INVALID".into());
                }
            }
        }
    }
    for row in markup["keyboard"].as_array().into_iter().flatten() {
        for button in row.as_array().into_iter().flatten() {
            let text = button.as_str().or_else(|| button["text"].as_str());
            if text.is_none_or(str::is_empty) {
                return Err("keyboard button text is empty".into());
            }
        }
    }
    Ok(())
}
