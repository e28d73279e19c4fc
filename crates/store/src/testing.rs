//! Fresh databases for tests, on both backends.
//!
//! Every storage test runs on SQLite and on PostgreSQL. PostgreSQL is found at
//! `SWITCHBOARD_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! each test gets a database of its own, created from that server. When no PostgreSQL
//! answers, the PostgreSQL half of a test is skipped with a message on a developer machine
//! and fails under CI (`CI` set), so CI can never pass without having run it.

use std::path::PathBuf;

use sqlx::{any::AnyPoolOptions, Executor};
use switchboard_core::{
    channel::{ChannelKind, Receive, Routing},
    group::Distribution,
    ids::{AccountId, ConnectionId, GroupId, OperatorId},
    operator::Role,
};

use crate::{GroupInput, NewAccount, NewConnection, NewOperator, Store, StoreConfig};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Test databases older than this are leftovers of killed runs and are dropped.
const STALE_AFTER_SECS: u64 = 3600;

/// The backends a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database made for one test. SQLite files are removed on drop; PostgreSQL databases are
/// dropped by a later run once stale (dropping needs a connection, which `Drop` cannot await).
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    dir: Option<PathBuf>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn postgres_admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_string())
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

impl TestDb {
    /// A fresh database on `backend`, or `None` when PostgreSQL is not available outside CI.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("switchboard-test-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", dir.join("test.db").display());
        TestDb {
            url,
            dir: Some(dir),
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        sqlx::any::install_default_drivers();
        let admin_url = postgres_admin_url();
        let admin = match AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(&admin_url)
            .await
        {
            Ok(pool) => pool,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!(
                    "SKIPPED the PostgreSQL half: no PostgreSQL at {admin_url} ({e}); CI runs it"
                );
                return None;
            }
            Err(e) => {
                panic!("PostgreSQL tests must run in CI, but {admin_url} does not answer: {e}")
            }
        };
        let now = unix_now();
        drop_stale(&admin, now).await;
        let name = format!("sbtest_{now}_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        admin.close().await;
        Some(TestDb {
            url: with_database(&admin_url, &name),
            dir: None,
        })
    }

    /// Opens and migrates the database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&StoreConfig::new(&self.url))
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }
}

/// A Telegram connection of `account_id` routed to `group_id`, taking webhooks, without
/// rate limits; tests change what they need with `..telegram_connection(...)`.
pub fn telegram_connection(account_id: AccountId, group_id: GroupId) -> NewConnection {
    let id = ConnectionId::new();
    NewConnection {
        id,
        account_id,
        kind: ChannelKind::Telegram,
        name: "Shop bot".into(),
        account_name: "Shop Bot".into(),
        external_account_id: id.to_string(),
        sealed_credentials: vec![1],
        routing: Routing::Group { group_id },
        schedule_id: None,
        auto_close_after: "12h".parse().expect("a valid duration"),
        auto_close_message: None,
        out_of_hours: None,
        enabled: true,
        receive: Receive::Webhook,
        api_base_url: None,
        rate_limits: Some(None),
        capabilities: None,
    }
}

/// A new account with an admin; returns both.
pub async fn account(store: &Store) -> (AccountId, OperatorId) {
    let admin = NewOperator {
        account_id: AccountId::new(),
        email: format!("{}@x.ru", uuid::Uuid::new_v4()),
        name: "Admin".into(),
        role: Role::Admin,
        password_hash: "h".into(),
        instance_admin: false,
    };
    let (account, admin) = store
        .create_account(
            NewAccount {
                name: "A".into(),
                admin,
            },
            None,
        )
        .await
        .expect("create an account");
    (account.id, admin.id)
}

/// A new account with an admin ([`account`]), and a group "Support" without operators: what
/// most tests start from. Returns the account, its admin and the group.
pub async fn account_with_group(store: &Store) -> (AccountId, OperatorId, GroupId) {
    let (account, admin) = self::account(store).await;
    let group = store
        .create_group(
            account,
            &GroupInput {
                name: "Support".into(),
                operator_ids: Vec::new(),
                distribution: Distribution::default(),
            },
            None,
        )
        .await
        .expect("create a group");
    (account, admin, group.id)
}

async fn drop_stale(admin: &sqlx::AnyPool, now: u64) {
    let Ok(rows) = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'sbtest_%'")
        .fetch_all(admin)
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = sqlx::Row::try_get::<String, _>(&row, "datname") else {
            continue;
        };
        let created: u64 = name
            .split('_')
            .nth(1)
            .and_then(|t| t.parse().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > STALE_AFTER_SECS {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}

/// Runs each named async test function (taking a [`Backend`]) once per backend:
/// `backends!(creates_and_reads, refuses_duplicates);` makes `sqlite::creates_and_reads`,
/// `postgres::creates_and_reads` and so on.
#[macro_export]
macro_rules! backends {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::testing::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::testing::Backend::Postgres).await
                }
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
