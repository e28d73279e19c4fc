//! The web chat: `/widget.js` for any site, a visitor session (`POST /webchat/{id}/session`),
//! and the visitor's WebSocket (`GET /webchat/{id}/ws`). A visitor keeps their id and token in
//! the browser, so history survives page loads; every frame a visitor sends carries an id and
//! is stored once (a resend after a reconnect is recognised); after each (re)connect the
//! server sends the conversation so far, so nothing missed while offline is lost.
//!
//! Anyone on the internet can reach these endpoints, so both are rate limited
//! (`core::rate`): new sessions per client address, messages per visitor connection. What
//! goes over a limit is refused with a clear answer and stores nothing.

use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
};

use axum::{
    extract::{
        ws::{Message as Frame, WebSocket, WebSocketUpgrade},
        ConnectInfo, Path, State,
    },
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
    Router,
};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use switchboard_channels::webchat::{origin_of, Settings};
use switchboard_core::{
    channel::ChannelKind,
    ids::{ConnectionId, ConversationId, MessageId},
    message::{Content, Message},
    rate::{Bucket, Rate},
};
use switchboard_store::{Ingest, IngestEvent};

use switchboard_engine::channels::{self, Opened};

use crate::{auth::throttle::client_address, error::ApiError, extract::Query, state::AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/widget.js", get(widget))
        .route("/demo", get(demo))
        .route("/webchat/{id}/session", post(session))
        .route("/webchat/{id}/ws", get(socket))
}

const MAX_TEXT: usize = 4000;
const HISTORY: usize = 200;

async fn widget() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("widget.js"),
    )
}

async fn demo(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let id = state.web.demo_chat.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "start the server with --demo",
        )
    })?;
    Ok(Html(
        include_str!("demo.html").replace("{{CONNECTION_ID}}", &id.to_string()),
    ))
}

/// Opens an enabled web chat connection and checks the page's origin against its allow-list.
async fn open(
    state: &AppState,
    raw: &str,
    headers: &HeaderMap,
) -> Result<(Opened, Settings), ApiError> {
    let id: ConnectionId = raw.parse().map_err(|_| ApiError::not_found())?;
    let record = state
        .store
        .connection_record(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if record.connection.kind != ChannelKind::Webchat || !record.connection.enabled {
        return Err(ApiError::not_found());
    }
    let opened = channels::open(record, &state.sealer, &state.http).map_err(|e| {
        tracing::error!(error = %e, "cannot open the web chat connection");
        ApiError::internal()
    })?;
    let settings = Settings::parse(&opened.secrets.credentials).unwrap_or_default();
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if !settings.allows(origin, &origin_of(&state.public_url)) {
            return Err(ApiError::forbidden(format!(
                "{origin} may not embed this chat; add it to allowed_origins"
            )));
        }
    }
    Ok((opened, settings))
}

/// The token that proves a visitor id was issued by us for this connection.
fn visitor_token(secret: &str, visitor: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(visitor.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn token_matches(secret: &str, visitor: &str, token: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(visitor.as_bytes());
    let Ok(bytes) = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(())
        })
        .collect::<Result<Vec<u8>, ()>>()
    else {
        return false;
    };
    mac.verify_slice(&bytes).is_ok()
}

#[derive(Serialize)]
struct Session {
    visitor_id: String,
    token: String,
}

/// New sessions per client address, kept in memory (each node limits what it sees).
#[derive(Default, Debug)]
pub struct SessionLimits(std::sync::Mutex<std::collections::HashMap<IpAddr, Bucket>>);

impl SessionLimits {
    fn take(&self, address: IpAddr, now: jiff::Timestamp) -> Result<(), std::time::Duration> {
        let mut buckets = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| !b.is_full(Rate::WEBCHAT_SESSIONS, now));
        }
        buckets
            .entry(address)
            .or_default()
            .take(Rate::WEBCHAT_SESSIONS, now)
    }
}

fn too_many(what: &str, wait: std::time::Duration) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!("too many {what}; try again in {} s", wait.as_secs().max(1)),
    );
    e.retry_after = Some(wait.as_secs().max(1));
    e
}

async fn session(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<axum::Json<Session>, ApiError> {
    let address = client_address(peer.ip(), &headers, &state.auth.trusted_proxies);
    state
        .web
        .webchat_sessions
        .take(address, jiff::Timestamp::now())
        .map_err(|wait| too_many("new chat sessions from this address", wait))?;
    let (opened, _) = open(&state, &raw, &headers).await?;
    let visitor_id = format!("v-{}", uuid::Uuid::new_v4().simple());
    let token = visitor_token(&opened.secrets.webhook_secret, &visitor_id);
    Ok(axum::Json(Session { visitor_id, token }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Join {
    visitor: String,
    token: String,
    name: Option<String>,
}

async fn socket(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(join): Query<Join>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let (opened, _) = open(&state, &raw, &headers).await?;
    if !token_matches(&opened.secrets.webhook_secret, &join.visitor, &join.token) {
        return Err(ApiError::unauthorized(
            "unknown visitor; start a new session",
        ));
    }
    let name = join
        .name
        .map(|n| n.chars().take(100).collect::<String>())
        .filter(|n| !n.trim().is_empty());
    let visitor = Visitor {
        state,
        opened,
        id: join.visitor,
        name: name.unwrap_or_else(|| "Посетитель сайта".into()),
    };
    Ok(upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |ws| visitor.run(ws)))
}

/// What a visitor sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Incoming {
    /// Text typed by the visitor; `id` is chosen by the widget and repeated on a resend.
    Message { id: String, text: String },
    /// A pressed choice button.
    Choice {
        id: String,
        payload: String,
        label: String,
    },
}

/// What the visitor is shown of a message.
#[derive(Serialize)]
struct Shown<'a> {
    id: MessageId,
    direction: &'a str,
    author_kind: &'a str,
    content: &'a Content,
    created_at: String,
}

impl<'a> From<&'a Message> for Shown<'a> {
    fn from(m: &'a Message) -> Self {
        Shown {
            id: m.id,
            direction: m.direction.as_str(),
            author_kind: m.author_kind.as_str(),
            content: &m.content,
            created_at: m.created_at.to_string(),
        }
    }
}

struct Visitor {
    state: AppState,
    opened: Opened,
    id: String,
    name: String,
}

impl Visitor {
    async fn send_json(ws: &mut WebSocket, value: &serde_json::Value) -> bool {
        ws.send(Frame::Text(value.to_string().into())).await.is_ok()
    }

    /// Pushes the messages of the visitor's conversation not yet shown.
    async fn push_new(
        &self,
        ws: &mut WebSocket,
        conversation: Option<ConversationId>,
        shown: &mut HashSet<MessageId>,
    ) -> bool {
        let Some(conversation) = conversation else {
            return true;
        };
        let Ok(messages) = self
            .state
            .store
            .list_messages(self.opened.connection.account_id, conversation)
            .await
        else {
            return true;
        };
        let start = messages.len().saturating_sub(HISTORY);
        for message in &messages[start..] {
            if shown.insert(message.id) {
                let frame = serde_json::json!({"type": "message", "message": Shown::from(message)});
                if !Self::send_json(ws, &frame).await {
                    return false;
                }
            }
        }
        true
    }

    async fn conversation(&self) -> Option<ConversationId> {
        self.state
            .store
            .latest_conversation(self.opened.connection.id, &self.id)
            .await
            .ok()
            .flatten()
    }

    async fn receive(&self, incoming: Incoming) -> Result<String, String> {
        let (client_id, content) = match incoming {
            Incoming::Message { id, text } => {
                if text.trim().is_empty() || text.chars().count() > MAX_TEXT {
                    return Err(format!("a message has 1 to {MAX_TEXT} characters"));
                }
                (id, Content::text(text))
            }
            Incoming::Choice { id, payload, label } => (
                id,
                Content {
                    pressed: Some(payload),
                    ..Content::text(label.chars().take(200).collect::<String>())
                },
            ),
        };
        if client_id.is_empty() || client_id.len() > 64 {
            return Err("a message id has 1 to 64 characters".into());
        }
        let connection = &self.opened.connection;
        let routed = switchboard_engine::ingest::routed(
            &self.state.engine,
            connection,
            jiff::Timestamp::now(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "routing a web chat message failed");
            "the message was not stored; it will be sent again".to_string()
        })?;
        let out_of_hours =
            switchboard_engine::ingest::out_of_hours_notice(connection, &routed, &self.id);
        let ingest = Ingest {
            account_id: self.opened.connection.account_id,
            connection_id: self.opened.connection.id,
            external_event_id: format!("{}:{client_id}", self.id),
            event: IngestEvent::Message {
                contact_external_id: self.id.clone(),
                contact_name: self.name.clone(),
                external_message_id: Some(client_id.clone()),
                content,
                client: None,
            },
            start: routed.start,
            out_of_hours,
            follow_ups: Vec::new(),
        };
        match self.state.store.ingest(&ingest).await {
            Ok(_) => {
                self.state.outbox_ready.notify_one();
                Ok(client_id)
            }
            Err(e) => {
                tracing::error!(error = %e, "storing a web chat message failed");
                Err("the message was not stored; it will be sent again".into())
            }
        }
    }

    async fn run(self, mut ws: WebSocket) {
        let mut events = self.state.events.subscribe();
        let mut shown = HashSet::new();
        let mut conversation = self.conversation().await;
        if !self.push_new(&mut ws, conversation, &mut shown).await {
            return;
        }
        let mut messages = Bucket::default();
        loop {
            tokio::select! {
                frame = ws.recv() => {
                    let Some(Ok(frame)) = frame else { return };
                    let text = match frame {
                        Frame::Text(text) => text,
                        Frame::Close(_) => return,
                        _ => continue,
                    };
                    let allowed = messages.take(Rate::VISITOR_MESSAGES, jiff::Timestamp::now());
                    let reply = match serde_json::from_str::<Incoming>(&text) {
                        Ok(_) if allowed.is_err() => serde_json::json!({"type": "error",
                            "message": "too many messages at once; wait a moment and send again"}),
                        Ok(incoming) => match self.receive(incoming).await {
                            Ok(id) => serde_json::json!({"type": "ack", "id": id}),
                            Err(message) => serde_json::json!({"type": "error", "message": message}),
                        },
                        Err(e) => serde_json::json!({"type": "error", "message": format!("unreadable frame: {e}")}),
                    };
                    if !Self::send_json(&mut ws, &reply).await {
                        return;
                    }
                    conversation = self.conversation().await;
                    if let Some(c) = conversation {
                        self.state.conversations_changed(&[c]);
                    }
                    if !self.push_new(&mut ws, conversation, &mut shown).await {
                        return;
                    }
                }
                event = events.recv() => {
                    let changed = match event {
                        Ok(c) => Some(c),
                        // Fell behind: re-read rather than guess what was missed.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => conversation,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    };
                    if changed.is_some() && (changed == conversation || conversation.is_none()) {
                        conversation = self.conversation().await;
                        if !self.push_new(&mut ws, conversation, &mut shown).await {
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_tokens_bind_the_visitor_to_the_connection() {
        let token = visitor_token("secret-a", "v-1");
        assert!(token_matches("secret-a", "v-1", &token));
        assert!(!token_matches("secret-a", "v-2", &token));
        assert!(!token_matches("secret-b", "v-1", &token));
        assert!(!token_matches("secret-a", "v-1", "zz"));
        assert!(!token_matches("secret-a", "v-1", ""));
    }
}
