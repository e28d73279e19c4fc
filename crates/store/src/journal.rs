//! The inbound journal (SQLite only): webhooks' events appended as they arrive, in a database
//! file of its own beside the main one, so that a webhook can be acknowledged once its events
//! are durable there, without waiting for them to be routed, answered and stored in the main
//! database.
//!
//! Why a file of its own: SQLite has one writer per file. Appending a few hundred bytes per
//! event and committing is cheap (one b-tree, a few pages); storing an event in the main
//! database touches some thirty b-trees. In the main file the appends would wait behind the
//! big batches they are meant to decouple from. Two files commit in parallel.
//!
//! An entry is forgotten once what it holds is stored in the main database. A crash between
//! the two leaves the entry: it is stored again after the restart, and ingest's dedupe (on
//! the channel's event id) makes that a no-op. PostgreSQL writes in parallel and shares the
//! database among nodes, so there events go straight to ingest (no journal to recover from a
//! node that died).

use jiff::Timestamp;
use sqlx::{AnyPool, Executor, Row};
use switchboard_core::ids::ConnectionId;

use crate::{
    codec::millis,
    connect::{checkpoint, sqlite_path, sqlite_pool, Dialect},
    StoreConfig, StoreError,
};

/// The most entries one statement takes (3 parameters each, far below SQLite's limit).
const CHUNK: usize = 256;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY,
    connection_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    events TEXT NOT NULL
)";

/// What one webhook brought, as it is kept until stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub connection_id: ConnectionId,
    pub received_at: Timestamp,
    /// The parsed events as JSON (the server's to read back).
    pub events: String,
}

/// The journal; cheap to clone.
#[derive(Clone, Debug)]
pub struct Journal {
    /// One connection: the journal's one writer.
    write: AnyPool,
    /// Reads (recovery) and checkpoints, off the writer's path.
    read: AnyPool,
}

impl Journal {
    /// Opens (creating) the journal beside the SQLite database `config` names, once
    /// `Store::connect` has made its directory; `None` on PostgreSQL.
    pub async fn open(config: &StoreConfig) -> Result<Option<Journal>, StoreError> {
        sqlx::any::install_default_drivers();
        if Dialect::of_url(&config.url)? != Dialect::Sqlite {
            return Ok(None);
        }
        let url = format!("sqlite://{}?mode=rwc", journal_path(&config.url));
        // Checkpoints are the server's to run from the reader (see `checkpoint`).
        let write = sqlite_pool(
            &url,
            config.synchronous,
            1,
            "PRAGMA wal_autocheckpoint = 16384;",
        )
        .await?;
        write.execute(SCHEMA).await?;
        let read = sqlite_pool(&url, config.synchronous, 1, "").await?;
        Ok(Some(Journal { write, read }))
    }

    /// Appends `entries` and forgets the entries `done` in one transaction; the new entries'
    /// ids, in the order given (ids grow with arrival).
    pub async fn append(
        &self,
        entries: &[JournalEntry],
        done: &[i64],
    ) -> Result<Vec<i64>, StoreError> {
        if entries.is_empty() && done.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write.begin().await?;
        let mut ids = Vec::with_capacity(entries.len());
        for chunk in entries.chunks(CHUNK) {
            let values = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO journal (connection_id, received_at, events) VALUES {values} RETURNING id"
            );
            let mut query = sqlx::query(&sql);
            for entry in chunk {
                query = query
                    .bind(entry.connection_id.to_string())
                    .bind(millis(entry.received_at))
                    .bind(entry.events.as_str());
            }
            let mut chunk_ids: Vec<i64> = query
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get::<i64, _>(0))
                .collect::<Result<_, _>>()?;
            // RETURNING promises no order; rowids are handed out in insertion order.
            chunk_ids.sort_unstable();
            ids.extend(chunk_ids);
        }
        for chunk in done.chunks(CHUNK) {
            let list = vec!["?"; chunk.len()].join(", ");
            let sql = format!("DELETE FROM journal WHERE id IN ({list})");
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Forgets entries whose events are stored.
    pub async fn forget(&self, done: &[i64]) -> Result<(), StoreError> {
        self.append(&[], done).await.map(drop)
    }

    /// Entries still kept with an id above `after`, oldest first, at most `limit`.
    pub async fn pending(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, JournalEntry)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, connection_id, received_at, events FROM journal WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let connection: String = row.try_get("connection_id")?;
                let received: i64 = row.try_get("received_at")?;
                Ok((
                    row.try_get("id")?,
                    JournalEntry {
                        connection_id: connection.parse().map_err(|_| {
                            StoreError::Corrupt(format!(
                                "journal: {connection:?} is not a connection id"
                            ))
                        })?,
                        received_at: Timestamp::from_millisecond(received).map_err(|e| {
                            StoreError::Corrupt(format!("journal: time {received}: {e}"))
                        })?,
                        events: row.try_get("events")?,
                    },
                ))
            })
            .collect()
    }

    /// Copies the journal's write-ahead log into its file from the reader, as
    /// `Store::checkpoint` does for the main database.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        checkpoint(&self.read).await
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// `DIR/NAME.db` -> `DIR/NAME.journal.db`.
fn journal_path(url: &str) -> String {
    let path = sqlite_path(url);
    let stem = path.strip_suffix(".db").unwrap_or(path);
    format!("{stem}.journal.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_lies_beside_the_database() {
        assert_eq!(
            journal_path("sqlite:///data/switchboard.db"),
            "/data/switchboard.journal.db"
        );
        assert_eq!(
            journal_path("sqlite://./x.sqlite?mode=rwc"),
            "./x.sqlite.journal.db"
        );
    }
}
