//! Migrations: one set of SQL files for both backends, with the few dialect differences
//! written as placeholders and filled in here. A new migration is a new file in
//! `migrations/` and a line in [`MIGRATIONS`].

use std::{borrow::Cow, future::Future, pin::Pin};

use sqlx::{
    error::BoxDynError,
    migrate::{Migration, MigrationSource, MigrationType, Migrator},
};

use crate::{Dialect, Store, StoreError};

/// (version, description, SQL) in the order they apply.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/0001_foundation.sql"),
    ),
    (
        2,
        "delivery",
        include_str!("../migrations/0002_delivery.sql"),
    ),
    (
        3,
        "attachments",
        include_str!("../migrations/0003_attachments.sql"),
    ),
    (4, "polling", include_str!("../migrations/0004_polling.sql")),
    (5, "timers", include_str!("../migrations/0005_timers.sql")),
    (6, "routing", include_str!("../migrations/0006_routing.sql")),
    (7, "bot", include_str!("../migrations/0007_bot.sql")),
    (
        8,
        "workspace",
        include_str!("../migrations/0008_workspace.sql"),
    ),
    (9, "journal", include_str!("../migrations/0009_journal.sql")),
    (
        10,
        "implied accounts",
        include_str!("../migrations/0010_implied_accounts.sql"),
    ),
    (
        11,
        "uploads",
        include_str!("../migrations/0011_uploads.sql"),
    ),
    (
        12,
        "client abilities",
        include_str!("../migrations/0012_client_abilities.sql"),
    ),
    (
        13,
        "declined",
        include_str!("../migrations/0013_declined.sql"),
    ),
];

/// Fills the placeholders: `{{BLOB}}` and `{{SERIAL_PK}}` are types; a line starting with
/// `{{POSTGRES}}` applies on PostgreSQL only (a comment on SQLite).
fn render(sql: &str, dialect: Dialect) -> String {
    let (blob, serial_pk, postgres) = match dialect {
        Dialect::Sqlite => ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT", "-- "),
        Dialect::Postgres => (
            "BYTEA",
            "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            "",
        ),
    };
    sql.replace("{{BLOB}}", blob)
        .replace("{{SERIAL_PK}}", serial_pk)
        .replace("{{POSTGRES}}", postgres)
}

#[derive(Debug)]
struct Source(Dialect);

impl MigrationSource<'static> for Source {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let migrations = MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Owned(render(sql, self.0)),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

impl Store {
    /// Brings the schema up to date; safe to run on every start and from several nodes.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = Migrator::new(Source(self.dialect)).await?;
        migrator.run(&self.write).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_for_both_dialects() {
        for (_, _, sql) in MIGRATIONS {
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                assert!(
                    !render(sql, dialect).contains("{{"),
                    "unfilled placeholder for {dialect:?}"
                );
            }
        }
    }

    #[test]
    fn a_postgres_line_is_a_comment_on_sqlite() {
        let sql = "{{POSTGRES}}ALTER TABLE t DROP CONSTRAINT t_fkey;\nCREATE TABLE u (id BIGINT);";
        assert_eq!(
            render(sql, Dialect::Sqlite),
            "-- ALTER TABLE t DROP CONSTRAINT t_fkey;\nCREATE TABLE u (id BIGINT);"
        );
        assert_eq!(
            render(sql, Dialect::Postgres),
            "ALTER TABLE t DROP CONSTRAINT t_fkey;\nCREATE TABLE u (id BIGINT);"
        );
    }

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
