//! The inbound journal: webhooks' events appended as they arrive, so that a webhook can be
//! acknowledged once its events are durable there, without waiting for them to be routed,
//! answered and stored with the rest.
//!
//! On SQLite the journal is a database file of its own beside the main one
//! (`switchboard.journal.db` beside `switchboard.db`): SQLite has one writer per file.
//! Appending a few hundred bytes per event and committing is cheap (one b-tree, a few
//! pages); storing an event in the main database touches some thirty b-trees. In the main
//! file the appends would wait behind the big batches they are meant to decouple from. Two
//! files commit in parallel. On PostgreSQL it is a table (`inbound_journal`) with a pool of
//! two connections of its own, so an append never waits for the lanes' pool and two appends
//! can be under way at once: there the gain is the batch size, since a commit of many
//! events costs far less per event than one of few (foreign-key checks, planning and round
//! trips are per statement).
//!
//! An entry is forgotten once what it holds is stored. A crash between the two leaves the
//! entry: it is stored again after the restart (on PostgreSQL by whichever node starts or
//! sweeps first), and ingest's dedupe (on the channel's event id) makes a repeat a no-op.

use jiff::Timestamp;
use sqlx::{AnyPool, Executor, Row};
use switchboard_core::ids::ConnectionId;

use crate::{
    codec::millis,
    connect::{checkpoint, sqlite_path, sqlite_pool, Dialect},
    rows::{fetch, Rows},
    StoreConfig, StoreError,
};

/// The journal's own connections on PostgreSQL.
const JOURNAL_CONNECTIONS: u32 = 2;

/// The journal's own table in its own file on SQLite; on PostgreSQL `inbound_journal`
/// (migration 9).
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
    /// On SQLite one connection, the journal's one writer.
    write: AnyPool,
    /// Reads (recovery) and checkpoints, off the writer's path; on PostgreSQL `write`.
    read: AnyPool,
    dialect: Dialect,
}

impl Journal {
    /// Opens the journal of the database `config` names: on SQLite (creating) the file
    /// beside it, once `Store::connect` has made its directory; on PostgreSQL the table of
    /// the migrated database. (`None` is kept for a backend without one.)
    pub async fn open(config: &StoreConfig) -> Result<Option<Journal>, StoreError> {
        sqlx::any::install_default_drivers();
        if Dialect::of_url(&config.url)? == Dialect::Postgres {
            // Its own connections: an append never waits for the lanes' pool.
            let pool = sqlx::any::AnyPoolOptions::new()
                .max_connections(JOURNAL_CONNECTIONS)
                .acquire_timeout(std::time::Duration::from_secs(10))
                .connect(&config.url)
                .await
                .map_err(|e| {
                    StoreError::Config(format!(
                        "cannot open the journal at {}: {e}",
                        crate::connect::redact(&config.url)
                    ))
                })?;
            return Ok(Some(Journal {
                write: pool.clone(),
                read: pool,
                dialect: Dialect::Postgres,
            }));
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
        Ok(Some(Journal {
            write,
            read,
            dialect: Dialect::Sqlite,
        }))
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
        let table = self.table();
        let mut added = Rows::new(3);
        for entry in entries {
            added.push([
                entry.connection_id.to_string().into(),
                millis(entry.received_at).into(),
                entry.events.as_str().into(),
            ]);
        }
        let mut forgotten = Rows::new(1);
        for id in done {
            forgotten.push([(*id).into()]);
        }
        let mut tx = self.write.begin().await?;
        let mut ids: Vec<i64> = fetch(
            &mut tx,
            &format!(
                "INSERT INTO {table} (connection_id, received_at, events) VALUES {{rows}} RETURNING id"
            ),
            &added,
        )
        .await?
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
        // RETURNING promises no order; ids are handed out in insertion order.
        ids.sort_unstable();
        fetch(
            &mut tx,
            &format!("DELETE FROM {table} WHERE id IN (VALUES {{rows}})"),
            &forgotten,
        )
        .await?;
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
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT id, connection_id, received_at, events FROM journal WHERE id > ? ORDER BY id LIMIT ?",
            Dialect::Postgres => "SELECT id, connection_id, received_at, events FROM inbound_journal WHERE id > $1 ORDER BY id LIMIT $2",
        };
        let rows = sqlx::query(sql)
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
    /// `Store::checkpoint` does for the main database (PostgreSQL checkpoints by itself).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Sqlite => checkpoint(&self.read).await,
            Dialect::Postgres => Ok(()),
        }
    }

    /// How many appends may be under way at once: on SQLite one (the file's one writer);
    /// on PostgreSQL two, one per connection of the journal's pool, so that a webhook
    /// arriving during an append's commit is not held for the whole of it.
    pub fn appends_at_once(&self) -> usize {
        match self.dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => JOURNAL_CONNECTIONS as usize,
        }
    }

    fn table(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "journal",
            Dialect::Postgres => "inbound_journal",
        }
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
