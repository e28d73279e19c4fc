//! Glue between stored connections and their connectors: sealing credentials, opening them
//! for a webhook or a send, and the HTTP client every connector shares.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_channels::{registry, ApiContext, Connector};
use switchboard_core::{channel::ChannelConnection, ids::ConnectionId};
use switchboard_store::ConnectionRecord;

use crate::secrets::{Sealer, SecretsError};

/// What is sealed in a connection's `credentials` column.
#[derive(Serialize, Deserialize)]
pub struct Secrets {
    /// What the admin entered (bot token, ...).
    pub credentials: Value,
    /// What the channel presents on every webhook request.
    pub webhook_secret: String,
}

impl Secrets {
    /// Sealed for the connection `id`: the value opens only as that connection's.
    pub fn seal(&self, sealer: &Sealer, id: ConnectionId) -> Result<Vec<u8>, SecretsError> {
        let json = serde_json::to_vec(self).map_err(|_| SecretsError::Seal)?;
        sealer.seal(&json, &context(id))
    }

    pub fn open(sealed: &[u8], sealer: &Sealer, id: ConnectionId) -> Result<Self, SecretsError> {
        serde_json::from_slice(&sealer.open(sealed, &context(id))?).map_err(|_| SecretsError::Open)
    }
}

/// The associated data of a connection's sealed credentials.
fn context(id: ConnectionId) -> Vec<u8> {
    format!("connection credentials {id}").into_bytes()
}

/// A webhook secret: 32 characters from the set every channel accepts (`A-Za-z0-9_-`).
pub fn new_webhook_secret() -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An HTTP client for channel APIs: pooled and kept alive, with bounded waits.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .unwrap_or_default()
}

/// A connection ready to talk to its channel.
pub struct Opened {
    pub connection: ChannelConnection,
    pub connector: Arc<dyn Connector>,
    pub secrets: Secrets,
    pub api: ApiContext,
}

/// Why a stored connection cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no connector for {0}")]
    Unsupported(String),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

pub fn open(
    record: ConnectionRecord,
    sealer: &Sealer,
    http: &reqwest::Client,
) -> Result<Opened, OpenError> {
    let connector = registry::connector(record.connection.kind)
        .ok_or_else(|| OpenError::Unsupported(record.connection.kind.to_string()))?;
    let secrets = Secrets::open(&record.sealed_credentials, sealer, record.connection.id)?;
    let api = ApiContext {
        http: http.clone(),
        api_base_url: record.connection.api_base_url.clone(),
        send_key: None,
    };
    Ok(Opened {
        connection: record.connection,
        connector,
        secrets,
        api,
    })
}

/// Where a connection's webhook lives.
pub fn webhook_url(public_url: &str, id: ConnectionId) -> String {
    format!("{}/hooks/{id}", public_url.trim_end_matches('/'))
}

/// How long an opened connection is used before it is read again. Changes made through
/// this node drop it at once; changes made through another node show within this.
const FRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// Opened connections kept for a moment. Every webhook, bot turn and send needs its
/// connection with the credentials unsealed; reading and unsealing them each time cost more
/// than the rest of handling a webhook.
#[derive(Default)]
pub struct ConnectionCache {
    entries: std::sync::Mutex<
        std::collections::HashMap<ConnectionId, (std::time::Instant, Arc<Opened>)>,
    >,
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CachedError {
    #[error(transparent)]
    Store(#[from] switchboard_store::StoreError),
    #[error(transparent)]
    Open(#[from] OpenError),
}

impl ConnectionCache {
    /// The connection (enabled or not), opened; `None` when there is no such connection.
    pub async fn get(
        &self,
        store: &switchboard_store::Store,
        sealer: &Sealer,
        http: &reqwest::Client,
        id: ConnectionId,
    ) -> Result<Option<Arc<Opened>>, CachedError> {
        let now = std::time::Instant::now();
        if let Ok(entries) = self.entries.lock() {
            if let Some((at, opened)) = entries.get(&id) {
                if now.duration_since(*at) < FRESH {
                    return Ok(Some(opened.clone()));
                }
            }
        }
        let Some(record) = store.connection_record(id).await? else {
            self.forget(id);
            return Ok(None);
        };
        let opened = Arc::new(open(record, sealer, http)?);
        if let Ok(mut entries) = self.entries.lock() {
            // Connections come and go rarely; a sweep of the stale keeps the map small.
            if entries.len() > 10_000 {
                entries.retain(|_, (at, _)| now.duration_since(*at) < FRESH);
            }
            entries.insert(id, (now, opened.clone()));
        }
        Ok(Some(opened))
    }

    /// Drops what is kept of a connection this node just changed.
    pub fn forget(&self, id: ConnectionId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&id);
        }
    }
}
