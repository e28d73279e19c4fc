//! Hearing PostgreSQL notifications (`LISTEN`), for the nodes that share one database to tell
//! each other what changed. Publishing is `Store::notify`.

use sqlx::postgres::PgListener;

use crate::StoreError;

/// A listening connection on one channel.
pub struct Listener {
    inner: PgListener,
}

impl Listener {
    /// Connects to the PostgreSQL database at `url` and listens on `channel`.
    pub async fn connect(url: &str, channel: &str) -> Result<Self, StoreError> {
        let mut inner = PgListener::connect(url).await?;
        inner.listen(channel).await?;
        Ok(Self { inner })
    }

    /// The next notification's payload. An error means the connection was lost: connect
    /// again (notifications sent meanwhile are gone).
    pub async fn recv(&mut self) -> Result<String, StoreError> {
        Ok(self.inner.recv().await?.payload().to_string())
    }
}
