//! A fake VK API: communities by token, the Callback API's server list and its confirmation
//! handshake (made at once when a server is added, as VK does when it checks one), recorded
//! sends deduplicated on `random_id` per peer like VK, scripted error codes, media, and
//! `users.get` for the people it was told about.

use std::{
    collections::{HashMap, VecDeque},
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
use serde_json::{json, Value};

use crate::testkit::Call;

#[derive(Clone)]
struct Community {
    id: i64,
    name: String,
    can_message: bool,
    confirmation: String,
}

#[derive(Default)]
struct Inner {
    communities: HashMap<String, Community>,
    calls: Vec<Call>,
    errors: HashMap<String, VecDeque<i64>>,
    /// (id, url, secret).
    servers: Vec<(i64, String, String)>,
    /// What the last confirmation request was answered with.
    confirmed: Option<String>,
    /// (peer, random_id) -> message id.
    sent: HashMap<(String, String), i64>,
    next_id: i64,
    media: HashMap<String, Vec<u8>>,
    /// Bots Long Poll: our own address, the current key, events not yet confirmed (each
    /// with its `ts`), and scripted `failed` answers.
    url: String,
    key: u32,
    updates: Vec<(u64, Value)>,
    next_ts: u64,
    lp_failures: VecDeque<Value>,
    /// Files received by the upload servers: (kind, multipart body).
    uploads: Vec<(String, Vec<u8>)>,
    /// OAuth: the app's id and secret, codes and what they exchange for, user tokens and
    /// the communities their users administer.
    app: Option<(String, String)>,
    codes: HashMap<String, Value>,
    users: HashMap<String, Vec<i64>>,
    /// People `users.get` knows: id -> (first name, last name).
    people: HashMap<i64, (String, String)>,
}

/// A fake VK API.
#[derive(Clone)]
pub struct FakeVk {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeVk {
    pub async fn start() -> FakeVk {
        let inner = Arc::new(Mutex::new(Inner {
            next_id: 500,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/method/{name}", post(handle))
            .route("/media/{name}", get(media))
            .route("/lp", get(long_poll))
            .route("/upload/{kind}", post(upload))
            .route("/access_token", get(access_token))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake VK");
        let addr: SocketAddr = listener.local_addr().expect("fake address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        {
            let mut i = lock(&inner);
            i.url = format!("http://{addr}");
            i.next_ts = 1;
        }
        FakeVk {
            url: format!("http://{addr}"),
            inner,
        }
    }

    /// Makes `token` the access token of community `id`.
    pub fn add_community(&self, token: &str, id: i64, name: &str, can_message: bool) {
        lock(&self.inner).communities.insert(
            token.to_string(),
            Community {
                id,
                name: name.to_string(),
                can_message,
                confirmation: format!("conf{id}"),
            },
        );
    }

    /// Makes `users.get` know user `id` by this name (others read as deleted pages).
    pub fn add_person(&self, id: i64, first_name: &str, last_name: &str) {
        lock(&self.inner)
            .people
            .insert(id, (first_name.to_string(), last_name.to_string()));
    }

    /// The next call of `method` fails with this VK error code.
    pub fn fail_next(&self, method: &str, code: i64) {
        lock(&self.inner)
            .errors
            .entry(method.to_string())
            .or_default()
            .push_back(code);
    }

    pub fn add_media(&self, name: &str, bytes: &[u8]) -> String {
        lock(&self.inner)
            .media
            .insert(name.to_string(), bytes.to_vec());
        format!("{}/media/{name}", self.url)
    }

    /// The callback servers: (url, secret key).
    pub fn servers(&self) -> Vec<(String, String)> {
        lock(&self.inner)
            .servers
            .iter()
            .map(|(_, u, s)| (u.clone(), s.clone()))
            .collect()
    }

    /// The VK app whose codes this fake exchanges.
    pub fn set_app(&self, client_id: &str, client_secret: &str) {
        lock(&self.inner).app = Some((client_id.to_string(), client_secret.to_string()));
    }

    /// `code` exchanges for a user token of someone who administers `admin_of`.
    pub fn add_user_code(&self, code: &str, user_token: &str, admin_of: &[i64]) {
        let mut inner = lock(&self.inner);
        inner
            .users
            .insert(user_token.to_string(), admin_of.to_vec());
        inner.codes.insert(
            code.to_string(),
            json!({"access_token": user_token, "expires_in": 86400, "user_id": 1}),
        );
    }

    /// `code` exchanges for the token of community `group` (added with `add_community`),
    /// in VK's `access_token_<group_id>` form.
    pub fn add_group_code(&self, code: &str, group: i64) {
        let mut inner = lock(&self.inner);
        let token = inner
            .communities
            .iter()
            .find(|(_, c)| c.id == group)
            .map(|(t, _)| t.clone())
            .unwrap_or_default();
        inner.codes.insert(
            code.to_string(),
            json!({format!("access_token_{group}"): token, "expires_in": 0}),
        );
    }

    /// Files the upload servers received: (photo or doc, the raw multipart body).
    pub fn uploads(&self) -> Vec<(String, Vec<u8>)> {
        lock(&self.inner).uploads.clone()
    }

    /// Queues an event for Bots Long Poll.
    pub fn push_update(&self, event: Value) {
        let mut inner = lock(&self.inner);
        let ts = inner.next_ts;
        inner.next_ts += 1;
        inner.updates.push((ts, event));
    }

    /// The next long poll answers with this `failed` code (1 also carries a new `ts`).
    pub fn fail_long_poll(&self, failed: i64) {
        let mut inner = lock(&self.inner);
        let ts = inner.next_ts;
        inner
            .lp_failures
            .push_back(json!({"failed": failed, "ts": ts}));
    }

    /// What our server answered VK's confirmation request with.
    pub fn confirmed(&self) -> Option<String> {
        lock(&self.inner).confirmed.clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        lock(&self.inner)
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Messages VK delivered: sends with a new (peer, random_id).
    pub fn delivered(&self) -> usize {
        lock(&self.inner).sent.len()
    }

    pub async fn wait_for(&self, method: &str, count: usize, timeout: Duration) -> Vec<Call> {
        crate::testkit::wait_for_calls(|| self.calls_of(method), method, count, timeout).await
    }

    /// Delivers a Callback API event to the registered server as VK would, with its secret
    /// (unless `event` carries one already). Returns the HTTP status and body.
    pub async fn callback(&self, mut event: Value) -> (u16, String) {
        let (url, secret) = self.servers().pop().expect("a callback server is set");
        if event.get("secret").is_none() {
            event["secret"] = secret.into();
        }
        let response = reqwest::Client::new().post(url).json(&event).send().await;
        match response {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }
}

async fn media(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(name): Path<String>,
) -> Result<Vec<u8>, axum::http::StatusCode> {
    lock(&inner)
        .media
        .get(&name)
        .cloned()
        .ok_or(axum::http::StatusCode::NOT_FOUND)
}

async fn access_token(
    State(inner): State<Arc<Mutex<Inner>>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Json<Value> {
    let q = url_decode(query.unwrap_or_default().as_bytes());
    let mut inner = lock(&inner);
    let app_ok = inner.app.as_ref().is_some_and(|(id, secret)| {
        q.get("client_id") == Some(id) && q.get("client_secret") == Some(secret)
    });
    if !app_ok {
        return Json(
            json!({"error": "invalid_client", "error_description": "client_secret is incorrect"}),
        );
    }
    if q.get("redirect_uri").is_none_or(String::is_empty) {
        return Json(
            json!({"error": "invalid_request", "error_description": "redirect_uri is missing"}),
        );
    }
    // A code is good once.
    match q.get("code").and_then(|c| inner.codes.remove(c)) {
        Some(answer) => Json(answer),
        None => Json(
            json!({"error": "invalid_grant", "error_description": "Code is invalid or expired."}),
        ),
    }
}

async fn upload(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(kind): Path<String>,
    body: axum::body::Bytes,
) -> Json<Value> {
    lock(&inner).uploads.push((kind.clone(), body.to_vec()));
    if kind == "photo" {
        Json(
            json!({"server": 867530, "photo": "[{\"photo\":\"abc\",\"sizes\":[]}]", "hash": "f00d"}),
        )
    } else {
        Json(json!({"file": "doc-upload-token"}))
    }
}

async fn long_poll(
    State(inner): State<Arc<Mutex<Inner>>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Json<Value> {
    let q = url_decode(query.unwrap_or_default().as_bytes());
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        {
            let mut inner = lock(&inner);
            if let Some(failure) = inner.lp_failures.pop_front() {
                return Json(failure);
            }
            if q.get("key").map(String::as_str) != Some(format!("k{}", inner.key).as_str()) {
                return Json(json!({"failed": 2}));
            }
            let ts: u64 = q.get("ts").and_then(|t| t.parse().ok()).unwrap_or(0);
            // Asking from `ts` confirms everything before it.
            inner.updates.retain(|(t, _)| *t >= ts);
            if !inner.updates.is_empty() {
                let updates: Vec<Value> = inner.updates.iter().map(|(_, u)| u.clone()).collect();
                let next = inner.updates.last().map_or(ts, |(t, _)| t + 1);
                return Json(json!({"ts": next.to_string(), "updates": updates}));
            }
        }
        if Instant::now() >= deadline {
            let ts = q.get("ts").cloned().unwrap_or_default();
            return Json(json!({"ts": ts, "updates": []}));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn err(code: i64, message: &str) -> Json<Value> {
    Json(json!({"error": {"error_code": code, "error_msg": message, "request_params": []}}))
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Json<Value> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let form: HashMap<String, String> = url_decode(&body);
    let (community, scripted) = {
        let mut inner = lock(&inner);
        inner.calls.push(Call {
            token: token.clone(),
            method: method.clone(),
            body: serde_json::to_value(&form).unwrap_or(Value::Null),
            raw: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        let scripted = inner.errors.get_mut(&method).and_then(VecDeque::pop_front);
        (inner.communities.get(&token).cloned(), scripted)
    };
    let Some(community) = community else {
        let admin_of = lock(&inner).users.get(&token).cloned();
        if let (Some(groups), "groups.get") = (admin_of, method.as_str()) {
            let inner = lock(&inner);
            let items: Vec<Value> = groups
                .iter()
                .filter_map(|id| inner.communities.values().find(|c| c.id == *id))
                .map(|c| {
                    json!({"id": c.id, "name": c.name, "screen_name": format!("club{}", c.id),
                    "is_admin": 1, "admin_level": 3, "type": "group"})
                })
                .collect();
            return Json(json!({"response": {"count": items.len(), "items": items}}));
        }
        return err(5, "User authorization failed: invalid access_token (4).");
    };
    if let Some(code) = scripted {
        return err(code, "scripted failure");
    }
    if form.get("v").map(String::as_str) != Some("5.199") {
        return err(8, "Invalid request: v is required");
    }
    let param = |k: &str| form.get(k).cloned().unwrap_or_default();
    match method.as_str() {
        "groups.getById" => Json(
            json!({"response": {"groups": [{"id": community.id, "name": community.name,
            "screen_name": format!("club{}", community.id), "is_closed": 0, "type": "group",
            "can_message": i64::from(community.can_message)}], "profiles": []}}),
        ),
        "groups.getCallbackConfirmationCode" => {
            Json(json!({"response": {"code": community.confirmation}}))
        }
        "groups.getCallbackServers" => {
            let items: Vec<Value> = lock(&inner)
                .servers
                .iter()
                .map(|(id, url, secret)| {
                    json!({"id": id, "title": "Switchboard", "creator_id": 1,
                    "url": url, "secret_key": secret, "status": "ok"})
                })
                .collect();
            Json(json!({"response": {"count": items.len(), "items": items}}))
        }
        "groups.addCallbackServer" => {
            let url = param("url");
            let id = {
                let mut inner = lock(&inner);
                let id = inner.servers.len() as i64 + 1;
                inner.servers.push((id, url.clone(), param("secret_key")));
                id
            };
            // VK checks a new server with a confirmation request.
            let check = json!({"type": "confirmation", "group_id": community.id});
            let answer = match reqwest::Client::new().post(&url).json(&check).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            lock(&inner).confirmed = Some(answer);
            Json(json!({"response": {"server_id": id}}))
        }
        "groups.editCallbackServer" => {
            let mut inner = lock(&inner);
            let id: i64 = param("server_id").parse().unwrap_or_default();
            if let Some(s) = inner.servers.iter_mut().find(|s| s.0 == id) {
                s.1 = param("url");
                s.2 = param("secret_key");
            }
            Json(json!({"response": 1}))
        }
        "groups.deleteCallbackServer" => {
            let id: i64 = param("server_id").parse().unwrap_or_default();
            lock(&inner).servers.retain(|s| s.0 != id);
            Json(json!({"response": 1}))
        }
        "groups.setCallbackSettings"
        | "messages.sendMessageEventAnswer"
        | "groups.setLongPollSettings" => Json(json!({"response": 1})),
        "photos.getMessagesUploadServer" | "docs.getMessagesUploadServer" => {
            let kind = if method.starts_with("photos") {
                "photo"
            } else {
                "doc"
            };
            let url = format!("{}/upload/{kind}", lock(&inner).url);
            Json(json!({"response": {"upload_url": url, "album_id": -3, "group_id": community.id}}))
        }
        "photos.saveMessagesPhoto" => {
            if param("hash").is_empty() || param("photo").is_empty() {
                return err(100, "photo and hash are required");
            }
            Json(
                json!({"response": [{"id": 457239100, "owner_id": -community.id, "access_key": "ak1", "sizes": []}]}),
            )
        }
        "docs.save" => {
            if param("file").is_empty() {
                return err(100, "file is required");
            }
            Json(
                json!({"response": {"type": "doc", "doc": {"id": 600, "owner_id": -community.id, "title": param("title")}}}),
            )
        }
        "groups.getLongPollServer" => {
            let mut inner = lock(&inner);
            inner.key += 1;
            // A new key starts from the oldest event not yet confirmed.
            let ts = inner.updates.first().map_or(inner.next_ts, |(ts, _)| *ts);
            Json(json!({"response": {"key": format!("k{}", inner.key),
                "server": format!("{}/lp", inner.url), "ts": ts.to_string()}}))
        }
        "users.get" => {
            let ids: Result<Vec<i64>, _> = param("user_ids")
                .split(',')
                .map(|id| id.trim().parse::<i64>())
                .collect();
            let Ok(ids) = ids else {
                return err(113, "Invalid user id");
            };
            if ids.len() > 1000 {
                return err(100, "One of the parameters specified was missing or invalid: too many user_ids");
            }
            let inner = lock(&inner);
            let users: Vec<Value> = ids
                .iter()
                .map(|id| match inner.people.get(id) {
                    Some((first, last)) => json!({"id": id, "first_name": first,
                        "last_name": last, "can_access_closed": true, "is_closed": false}),
                    None => json!({"id": id, "first_name": "DELETED", "last_name": "",
                        "deactivated": "deleted"}),
                })
                .collect();
            Json(json!({"response": users}))
        }
        "messages.send" => {
            if param("random_id").is_empty() {
                return err(
                    100,
                    "One of the parameters specified was missing or invalid: random_id is required",
                );
            }
            if let Err((code, message)) = check_send(&param("message"), &param("keyboard")) {
                return err(code, &message);
            }
            let mut inner = lock(&inner);
            let key = (param("peer_id"), param("random_id"));
            // A repeated random_id returns the first message, sending nothing new.
            let id = match inner.sent.get(&key) {
                Some(id) => *id,
                None => {
                    inner.next_id += 1;
                    let id = inner.next_id;
                    inner.sent.insert(key, id);
                    id
                }
            };
            Json(json!({"response": id}))
        }
        _ => err(3, "Unknown method passed"),
    }
}

/// Refuses a `messages.send` the real API refuses: a message over 9,000 characters (914), a
/// keyboard that breaks VK's rules
/// (911): an inline one over 10 buttons or 6 rows, any over 40 buttons, 10 rows or 5 per
/// row, a label over 40 characters, a payload over 255.
fn check_send(message: &str, keyboard: &str) -> Result<(), (i64, String)> {
    if message.chars().count() > 9000 {
        return Err((914, "Message is too long".into()));
    }
    if keyboard.is_empty() {
        return Ok(());
    }
    let bad = |why: &str| Err((911, format!("Keyboard format is invalid: {why}")));
    let Ok(keyboard) = serde_json::from_str::<Value>(keyboard) else {
        return bad("not JSON");
    };
    let rows = keyboard["buttons"].as_array().cloned().unwrap_or_default();
    let inline = keyboard["inline"].as_bool().unwrap_or(false);
    let buttons: usize = rows.iter().map(|r| r.as_array().map_or(0, Vec::len)).sum();
    let (max_rows, max_buttons) = if inline { (6, 10) } else { (10, 40) };
    if rows.len() > max_rows || buttons > max_buttons {
        return bad("too many buttons");
    }
    for row in &rows {
        let row = row.as_array().cloned().unwrap_or_default();
        if row.len() > 5 {
            return bad("more than 5 buttons in a row");
        }
        for button in row {
            let label = button["action"]["label"].as_str().unwrap_or_default();
            if button["action"]["type"] == "text"
                && (label.is_empty() || label.chars().count() > 40)
            {
                return bad("a label is empty or over 40 characters");
            }
            let payload = match &button["action"]["payload"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            if payload.chars().count() > 255 {
                return bad("a payload over 255 characters");
            }
        }
    }
    Ok(())
}

/// Decodes an `application/x-www-form-urlencoded` body.
fn url_decode(body: &[u8]) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                if let Ok(b) =
                    u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16)
                {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}
