//! Opening the database: the URL picks the backend, SQLite gets its durability pragmas.
//!
//! On SQLite the store has two pools: a write pool of one connection (SQLite has one
//! writer; queueing in the pool beats `SQLITE_BUSY`) and a pool of readers, in WAL mode with
//! `synchronous = FULL` (or `NORMAL` when configured). The writer checkpoints the WAL itself
//! only once it has grown far; the server checkpoints from a reader instead
//! (`workers/checkpoint.rs`). On PostgreSQL one pool serves reads and writes.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{any::AnyPoolOptions, AnyPool, Executor};

use crate::{Store, StoreError};

/// Which SQL dialect the store speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// SQLite's `synchronous` setting. `Full` survives a power cut with every acknowledged
/// write; `Normal` may lose the last ones (never corrupts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    #[default]
    Full,
    Normal,
}

impl FromStr for Synchronous {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "normal" => Ok(Self::Normal),
            other => Err(format!("unknown value {other:?}, expected full or normal")),
        }
    }
}

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://...`.
    pub url: String,
    pub synchronous: Synchronous,
    /// Connections per pool (PostgreSQL) or readers (SQLite).
    pub max_connections: u32,
}

impl StoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            synchronous: Synchronous::Full,
            max_connections: 16,
        }
    }
}

impl Dialect {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Config(format!(
                "database URL must start with sqlite:// or postgres://, got {:?}",
                redact(url)
            )))
        }
    }
}

/// A URL fit for logs: the password replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn sqlite_path(url: &str) -> &str {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.split('?').next().unwrap_or(rest)
}

impl Store {
    /// Opens (and for SQLite creates) the database. Does not migrate.
    pub async fn connect(config: &StoreConfig) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(&config.url)?;
        match dialect {
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(config.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&config.url)
                    .await
                    .map_err(|e| connect_error(&config.url, e))?;
                Ok(Store {
                    write: pool.clone(),
                    read: pool,
                    dialect,
                })
            }
            Dialect::Sqlite => {
                let path = sqlite_path(&config.url);
                if path.is_empty() || path.starts_with(":memory:") {
                    return Err(StoreError::Config(
                        "an in-memory SQLite database would lose everything on restart; give a file path".into(),
                    ));
                }
                if let Some(parent) = Path::new(path)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::Config(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
                let url = if config.url.contains('?') {
                    config.url.clone()
                } else {
                    format!("sqlite://{path}?mode=rwc")
                };
                let write = sqlite_pool(&url, config.synchronous, 1, WRITER_PRAGMAS).await?;
                let read = sqlite_pool(&url, config.synchronous, config.max_connections.max(1), "")
                    .await?;
                Ok(Store {
                    write,
                    read,
                    dialect,
                })
            }
        }
    }
}

fn connect_error(url: &str, e: sqlx::Error) -> StoreError {
    StoreError::Config(format!("cannot open {}: {e}", redact(url)))
}

/// The writer checkpoints the WAL into the database only when it has grown far: a
/// checkpoint copies pages and fsyncs the database file, tens of milliseconds that every
/// event waiting on the writer would wait too. The server checkpoints from a reader in the
/// background instead ([`Store::checkpoint`]); this bound is for when nothing does (a CLI
/// command; SQLite also checkpoints when the last connection closes).
const WRITER_PRAGMAS: &str = "PRAGMA wal_autocheckpoint = 16384;";

/// Every SQLite connection's settings. Temporary storage in memory: a statement that
/// changes many rows keeps a journal of the pages it touched (to undo just that statement),
/// and past 64 KB SQLite spilled it to a file of its own in `/var/tmp`, created, written and
/// deleted again: ~one such file every three batches under load (`strace`).
const CONNECTION_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA temp_store = MEMORY;";

pub(crate) async fn sqlite_pool(
    url: &str,
    synchronous: Synchronous,
    size: u32,
    extra: &'static str,
) -> Result<AnyPool, StoreError> {
    let pragmas = match synchronous {
        Synchronous::Full => "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
        Synchronous::Normal => "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
    };
    AnyPoolOptions::new()
        .max_connections(size)
        .min_connections(1)
        // A local file does not drop connections: pinging before every use only cost a
        // round trip to SQLite's worker thread per statement or transaction.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(pragmas).await?;
                conn.execute(CONNECTION_PRAGMAS).await?;
                if !extra.is_empty() {
                    conn.execute(extra).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(|e| connect_error(url, e))
}

/// A passive checkpoint of a SQLite file's write-ahead log, from `reader`: it copies what
/// no reader still needs and never waits for (or holds up) the writer.
pub(crate) async fn checkpoint(reader: &AnyPool) -> Result<(), StoreError> {
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(reader)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_dialect() {
        assert_eq!(
            Dialect::of_url("sqlite://./data/x.db").unwrap(),
            Dialect::Sqlite
        );
        assert_eq!(
            Dialect::of_url("postgres://u@h/db").unwrap(),
            Dialect::Postgres
        );
        let err = Dialect::of_url("mysql://root:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sqlite:// or postgres://"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }

    /// SQLite-only settings (PostgreSQL has neither a bundled build nor `temp_store`): the
    /// build flags of `.cargo/config.toml` reached the bundled SQLite, and every connection,
    /// writer and readers, keeps temporary storage in memory.
    #[tokio::test]
    async fn sqlite_runs_without_global_mutexes_and_keeps_temporary_storage_in_memory() {
        use sqlx::Row;
        let db = crate::testing::TestDb::sqlite();
        let store = db.store().await;
        let options: Vec<String> = sqlx::query("PRAGMA compile_options")
            .fetch_all(&store.read)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "memory statistics are off: {options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "no page cache shared behind a mutex: {options:?}"
        );
        for pool in [&store.write, &store.read] {
            let mode: i64 = sqlx::query("PRAGMA temp_store")
                .fetch_one(pool)
                .await
                .unwrap()
                .get(0);
            assert_eq!(mode, 2, "temporary storage in memory");
        }
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(sqlite_path("sqlite://./data/x.db"), "./data/x.db");
        assert_eq!(sqlite_path("sqlite:///tmp/x.db?mode=rwc"), "/tmp/x.db");
        assert_eq!(sqlite_path("sqlite:data.db"), "data.db");
    }
}
