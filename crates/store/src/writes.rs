//! Writes whose answers nobody reads, queued until the next read needs them done
//! ([`Writes`]). They then run one statement after another, each with its rows padded so
//! that its text recurs and stays compiled on SQLite, prepared on PostgreSQL
//! (`rows::padded`).

use std::borrow::Cow;

use sqlx::{any::AnyRow, AnyConnection};

use crate::{
    rows::{bind, fetch, numbered, Arg, Rows},
    StoreError,
};

/// Writes queued on one connection (see the module documentation). Every read on that
/// connection goes through [`Writes::fetch`] or follows a [`Writes::flush`], so it sees
/// them; the owner flushes before the transaction commits (after an error the transaction
/// rolls back, and what is still queued goes with it).
#[derive(Debug, Default)]
pub(crate) struct Writes {
    queued: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    /// A set-wise statement and its rows.
    Set(Cow<'static, str>, Rows),
    /// A statement without values: `BEGIN`, `COMMIT`.
    Plain(&'static str),
}

impl Writes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `sql` for `rows` (nothing when there are none). It must return nothing: its
    /// rows would be taken for those of the read it goes with.
    pub fn execute(&mut self, sql: impl Into<Cow<'static, str>>, rows: Rows) {
        let sql = sql.into();
        debug_assert!(!sql.contains("RETURNING"), "a queued write returns nothing");
        if !rows.is_empty() {
            self.queued.push(Part::Set(sql, rows));
        }
    }

    /// Queues a statement without values (`BEGIN`, `COMMIT`).
    pub fn statement(&mut self, sql: &'static str) {
        self.queued.push(Part::Plain(sql));
    }

    /// Runs what is queued.
    pub async fn flush(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        self.run(conn, Read::Nothing, None).await.map(drop)
    }

    /// Runs what is queued, then `sql` for `rows`; every row that returns. Without rows
    /// there is nothing to read, and what is queued stays queued.
    pub async fn fetch(
        &mut self,
        conn: &mut AnyConnection,
        sql: &str,
        rows: &Rows,
    ) -> Result<Vec<AnyRow>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.run(conn, Read::Set(sql, rows), None).await
    }

    /// Runs what is queued, then `sql` with plain `?` placeholders for `args` (numbered on
    /// PostgreSQL), then the statement `then` if any (a `COMMIT`); every row that returns.
    pub async fn fetch_plain(
        &mut self,
        conn: &mut AnyConnection,
        sql: &str,
        args: &[Arg],
        then: Option<&'static str>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        self.run(conn, Read::Plain(sql, args), then).await
    }

    async fn run(
        &mut self,
        conn: &mut AnyConnection,
        read: Read<'_>,
        then: Option<&'static str>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let queued = std::mem::take(&mut self.queued);
        // Each statement goes on its own, its rows padded so that its text recurs and stays
        // compiled or prepared (`rows::padded`). One script (SQLite) or one statement of
        // `WITH` parts (PostgreSQL) for all saved hand-offs or round trips, but its text was
        // new for nearly every batch, and compiling, or parsing and planning, it cost more.
        for part in &queued {
            match part {
                Part::Set(sql, rows) => {
                    fetch(conn, sql, rows).await?;
                }
                Part::Plain(sql) => {
                    sqlx::query(sql).execute(&mut *conn).await?;
                }
            }
        }
        let rows = match read {
            Read::Nothing => Vec::new(),
            Read::Set(sql, rows) => fetch(conn, sql, rows).await?,
            Read::Plain(sql, args) if numbered(conn) => {
                bind(sqlx::query(&number_placeholders(sql)), args)
                    .fetch_all(&mut *conn)
                    .await?
            }
            Read::Plain(sql, args) => bind(sqlx::query(sql), args).fetch_all(&mut *conn).await?,
        };
        if let Some(then) = then {
            sqlx::query(then).execute(&mut *conn).await?;
        }
        Ok(rows)
    }
}

/// The read that goes with queued writes.
#[derive(Clone, Copy)]
enum Read<'a> {
    Nothing,
    Set(&'a str, &'a Rows),
    Plain(&'a str, &'a [Arg]),
}

/// `sql` with each plain `?` numbered in turn (`$1`, `$2`, ...), for PostgreSQL.
fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_placeholders_are_numbered_in_turn() {
        assert_eq!(
            number_placeholders("UPDATE t SET a = ? WHERE b <= ? LIMIT ?"),
            "UPDATE t SET a = $1 WHERE b <= $2 LIMIT $3"
        );
    }
}
