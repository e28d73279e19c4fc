//! The live feed of the operator workspace: `GET /api/v1/events` (WebSocket). After a
//! `hello`, every change of a conversation the caller may open (a message either way,
//! an offer, an assignment, a transfer, a close) arrives as `{"type": "conversation",
//! "conversation": {...}}`, the same JSON as `GET /conversations/{id}`; `resync` says
//! changes were missed and lists should be read again; `ping` every half minute lets the
//! page notice a connection that died silently. The session is checked again every minute,
//! so a logout or an expired session ends the feed.

use std::time::Duration;

use axum::{
    extract::{
        ws::{Message as Frame, WebSocket},
        State, WebSocketUpgrade,
    },
    http::{header, HeaderMap},
    response::Response,
    routing::get,
    Router,
};
use tokio::sync::broadcast::error::RecvError;

use crate::{
    auth::{secret, Caller},
    error::ApiError,
    state::AppState,
};

const RECHECK: Duration = Duration::from_secs(60);
const PING: Duration = Duration::from_secs(30);

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(events))
}

/// The host part of an `Origin` (`scheme://host[:port]`).
fn origin_host(origin: &str) -> Option<&str> {
    origin.split_once("://").map(|(_, rest)| rest)
}

/// A browser opening the feed from another site's page would carry the cookie of a
/// logged-in operator (cross-site WebSocket hijacking): its Origin must be this server.
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser (scripts with a bearer token send no Origin).
        return true;
    };
    if origin.trim_end_matches('/') == public_url.trim_end_matches('/') {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    matches!((origin_host(origin), host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// The token the request authenticated with, to check it again later.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    crate::auth::caller::bearer_in(headers)
        .map(str::to_string)
        .or_else(|| crate::auth::caller::cookie_in(headers, crate::auth::SESSION_COOKIE))
}

async fn events(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !same_origin(&headers, &state.public_url) {
        return Err(ApiError::forbidden(
            "the event feed is open only to pages of this server",
        ));
    }
    let token = presented_token(&headers).unwrap_or_default();
    Ok(upgrade
        .max_message_size(16 * 1024)
        .on_upgrade(move |ws| run(state, caller, secret::hash(&token), ws)))
}

async fn send(ws: &mut WebSocket, value: &serde_json::Value) -> bool {
    ws.send(Frame::Text(value.to_string().into())).await.is_ok()
}

async fn run(state: AppState, caller: Caller, token_hash: String, mut ws: WebSocket) {
    let mut changes = state.events.subscribe();
    let hello = serde_json::json!({"type": "hello", "operator_id": caller.id()});
    if !send(&mut ws, &hello).await {
        return;
    }
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    // A plain operator sees only some conversations (`Conversation::visible_to`). Their
    // groups are read again when a change seems not theirs (they may have just joined the
    // group). One they saw that leaves their sight makes the page read its lists again.
    let every = caller.role().reads_every_conversation();
    let mut groups = if every {
        Vec::new()
    } else {
        state
            .store
            .groups_of(caller.account(), caller.id())
            .await
            .unwrap_or_default()
    };
    let mut shown = std::collections::HashSet::new();
    let mut ping = tokio::time::interval(PING);
    ping.tick().await;
    loop {
        tokio::select! {
            frame = ws.recv() => match frame {
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return,
                // Nothing to say to the server here; pings are answered by the library.
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if !send(&mut ws, &serde_json::json!({"type": "ping"})).await {
                    return;
                }
            }
            _ = recheck.tick() => {
                let valid = state
                    .store
                    .authenticate(&token_hash, jiff::Timestamp::now())
                    .await
                    .map(|owner| owner.is_some_and(|o| o.operator.id == caller.id()))
                    .unwrap_or(true);
                if !valid {
                    let _ = send(&mut ws, &serde_json::json!({"type": "logged_out"})).await;
                    return;
                }

            }
            change = changes.recv() => {
                let frame = match change {
                    Ok(id) => match state.store.get_conversation(caller.account(), id).await {
                        Ok(c) if every || visible(&state, &caller, &c, &mut groups).await => {
                            if !every {
                                shown.insert(id);
                            }
                            serde_json::json!({"type": "conversation", "conversation": c})
                        }
                        Ok(_) if shown.remove(&id) => serde_json::json!({"type": "resync"}),
                        Ok(_) => continue,
                        // Another account's, or gone.
                        Err(switchboard_store::StoreError::NotFound) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "reading a changed conversation for the event feed");
                            serde_json::json!({"type": "resync"})
                        }
                    },
                    Err(RecvError::Lagged(_)) => serde_json::json!({"type": "resync"}),
                    Err(RecvError::Closed) => return,
                };
                if !send(&mut ws, &frame).await {
                    return;
                }
            }
        }
    }
}

/// Whether a plain operator may see `c`, reading their groups again before saying no.
async fn visible(
    state: &AppState,
    caller: &Caller,
    c: &switchboard_core::conversation::Conversation,
    groups: &mut Vec<switchboard_core::ids::GroupId>,
) -> bool {
    if c.visible_to(caller.id(), caller.role(), groups) {
        return true;
    }
    match state.store.groups_of(caller.account(), caller.id()).await {
        Ok(now) => *groups = now,
        Err(e) => tracing::warn!(error = %e, "reading an operator's groups for the event feed"),
    }
    c.visible_to(caller.id(), caller.role(), groups)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn only_pages_of_this_server_may_open_the_feed() {
        let public = "https://desk.example.com";
        assert!(same_origin(&headers(None, "x"), public));
        assert!(same_origin(
            &headers(Some("https://desk.example.com"), "10.0.0.5:8080"),
            public
        ));
        assert!(same_origin(
            &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
            public
        ));
        assert!(!same_origin(
            &headers(Some("https://evil.example"), "127.0.0.1:8080"),
            public
        ));
        assert!(!same_origin(
            &headers(Some("null"), "127.0.0.1:8080"),
            public
        ));
    }
}
