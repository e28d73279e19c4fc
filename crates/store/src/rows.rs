//! Set-wise statements: many rows in one statement (`INSERT ... VALUES (..), (..)`, joins
//! against `(VALUES ...) AS v`), so a batch costs one statement per table instead of one per
//! row. On SQLite every statement is a hand-off to the connection's own thread and back, on
//! PostgreSQL a round trip: either costs more than writing the rows.
//!
//! A statement names the place of its rows with `{rows}` and takes no other bound values.
//! Both dialects call the columns of a `VALUES` list `column1, column2, ...`. Joins are
//! written against the list, never `(a, b) IN (VALUES ...)`: SQLite scans the whole table
//! for that form. On SQLite the placeholders are plain `?`: for numbered ones sqlx asks
//! SQLite each one's name, a walk of the list of names every time, which made binding
//! hundreds of values cost more than running the statement.
//!
//! [`Writes`] queues statements whose answers nobody reads until the next read needs them
//! done: on SQLite they then go to the connection's thread together with that read, as one
//! multi-statement query (one hand-off instead of one per statement).

use std::borrow::Cow;

use sqlx::{
    any::{AnyArguments, AnyRow},
    query::Query,
    Any, AnyConnection, Row,
};

use crate::StoreError;

/// One value to bind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(Some(value))
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(Some(value.to_owned()))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Arg::Text(value)
    }
}

impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Self {
        Arg::Text(value.map(str::to_owned))
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Self {
        Arg::Int(value)
    }
}

/// Rows of the same width, to fill a statement's `{rows}`.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    width: usize,
    args: Vec<Arg>,
}

impl Rows {
    pub fn new(width: usize) -> Self {
        assert!(width > 0, "a row has at least one value");
        Self {
            width,
            args: Vec::new(),
        }
    }

    pub fn push<const N: usize>(&mut self, row: [Arg; N]) {
        assert_eq!(N, self.width, "every row has the width of the first");
        self.args.extend(row);
    }

    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Adds the rows of another set of the same width.
    pub fn extend(&mut self, other: Rows) {
        assert_eq!(
            other.width, self.width,
            "rows of one statement have one width"
        );
        self.args.extend(other.args);
    }

    /// The rows in chunks small enough for one statement on either backend.
    fn chunks(&self) -> impl Iterator<Item = &[Arg]> {
        self.args.chunks(CHUNK * self.width)
    }
}

/// Rows per statement: far below the bound-value limits of both backends (32,766 on
/// SQLite, 65,535 on PostgreSQL) for the widest row written.
const CHUNK: usize = 256;

/// The placeholders for `rows` rows of `width` values: `($1, $2), ($3, $4)`, or on SQLite
/// (`numbered` false) `(?, ?), (?, ?)`.
fn placeholders(rows: usize, width: usize, numbered: bool) -> String {
    let mut out = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for col in 0..width {
            if col > 0 {
                out.push_str(", ");
            }
            if numbered {
                out.push('$');
                out.push_str(&(1 + row * width + col).to_string());
            } else {
                out.push('?');
            }
        }
        out.push(')');
    }
    out
}

fn bind<'q>(
    mut query: Query<'q, Any, AnyArguments<'q>>,
    args: impl IntoIterator<Item = &'q Arg>,
) -> Query<'q, Any, AnyArguments<'q>> {
    for arg in args {
        query = match arg {
            Arg::Text(value) => query.bind(value.as_deref()),
            Arg::Int(value) => query.bind(*value),
        };
    }
    query
}

fn statements<'a>(
    sql: &'a str,
    rows: &'a Rows,
    numbered: bool,
) -> impl Iterator<Item = (String, &'a [Arg])> + 'a {
    debug_assert!(
        sql.contains("{rows}") && !sql.contains('$'),
        "a set-wise statement binds its rows and nothing else"
    );
    rows.chunks().map(move |chunk| {
        let slot = placeholders(chunk.len() / rows.width, rows.width, numbered);
        (sql.replace("{rows}", &slot), chunk)
    })
}

fn numbered(conn: &AnyConnection) -> bool {
    conn.backend_name() != "SQLite"
}

/// Whether `conn`'s database has one writer at a time (SQLite). A transaction there holds
/// the write lock from its first write to its commit, so what it read after that first
/// write cannot change under it: an insert of rows it looked up and did not find cannot
/// conflict, and need not say which rows went in.
pub(crate) fn single_writer(conn: &AnyConnection) -> bool {
    !numbered(conn)
}

/// Runs `sql` for all `rows` (nothing when there are none); the rows affected.
pub(crate) async fn execute(
    conn: &mut AnyConnection,
    sql: &str,
    rows: &Rows,
) -> Result<u64, StoreError> {
    let mut affected = 0;
    let numbered = numbered(conn);
    for (statement, chunk) in statements(sql, rows, numbered) {
        let query = bind(sqlx::query(&statement), chunk);
        affected += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(affected)
}

/// Runs `sql` for all `rows` (nothing when there are none); every row it returns.
pub(crate) async fn fetch(
    conn: &mut AnyConnection,
    sql: &str,
    rows: &Rows,
) -> Result<Vec<AnyRow>, StoreError> {
    let mut out = Vec::new();
    let numbered = numbered(conn);
    for (statement, chunk) in statements(sql, rows, numbered) {
        let query = bind(sqlx::query(&statement), chunk);
        out.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

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

    /// Runs what is queued, then two reads; the rows of each. On SQLite it all goes in one
    /// script, and a row belongs to the second read when it has the column `second_has`
    /// (which the first read's rows must not have).
    pub async fn fetch_two(
        &mut self,
        conn: &mut AnyConnection,
        first: (&'static str, &Rows),
        second: (&'static str, &Rows),
        second_has: &str,
    ) -> Result<(Vec<AnyRow>, Vec<AnyRow>), StoreError> {
        if numbered(conn) || first.1.is_empty() || second.1.is_empty() {
            let a = self.fetch(conn, first.0, first.1).await?;
            let b = self.fetch(conn, second.0, second.1).await?;
            return Ok((a, b));
        }
        self.queued.push(Part::Set(first.0.into(), first.1.clone()));
        let (b, a) = self
            .run(conn, Read::Set(second.0, second.1), None)
            .await?
            .into_iter()
            .partition(|row| row.try_column(second_has).is_ok());
        Ok((a, b))
    }

    /// Runs what is queued, then `sql` with plain `?` placeholders for `args` (numbered on
    /// PostgreSQL); every row that returns.
    pub async fn fetch_plain(
        &mut self,
        conn: &mut AnyConnection,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<AnyRow>, StoreError> {
        self.run(conn, Read::Plain(sql, args), None).await
    }

    /// [`Writes::fetch_plain`], then the statement `then` (a `COMMIT`) in the same go.
    pub async fn fetch_plain_then(
        &mut self,
        conn: &mut AnyConnection,
        sql: &str,
        args: &[Arg],
        then: &'static str,
    ) -> Result<Vec<AnyRow>, StoreError> {
        self.run(conn, Read::Plain(sql, args), Some(then)).await
    }

    async fn run(
        &mut self,
        conn: &mut AnyConnection,
        read: Read<'_>,
        then: Option<&'static str>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let queued = std::mem::take(&mut self.queued);
        if numbered(conn) {
            // Each statement is a round trip there anyway.
            for part in &queued {
                match part {
                    Part::Set(write, rows) => execute(conn, write, rows).await.map(drop)?,
                    Part::Plain(sql) => sqlx::query(sql).execute(&mut *conn).await.map(drop)?,
                }
            }
            let rows = match read {
                Read::Nothing => Vec::new(),
                Read::Set(sql, rows) => fetch(conn, sql, rows).await?,
                Read::Plain(sql, args) => {
                    let sql = number_placeholders(sql);
                    bind(sqlx::query(&sql), args).fetch_all(&mut *conn).await?
                }
            };
            if let Some(then) = then {
                sqlx::query(then).execute(&mut *conn).await?;
            }
            return Ok(rows);
        }
        let mut script = String::new();
        let mut bound: Vec<&Arg> = Vec::new();
        let set = match read {
            Read::Set(sql, rows) => Some((sql, rows)),
            _ => None,
        };
        let parts = queued.iter().map(|part| match part {
            Part::Set(sql, rows) => (sql.as_ref(), Some(rows)),
            Part::Plain(sql) => (*sql, None),
        });
        for (part, rows) in parts.chain(set.map(|(sql, rows)| (sql, Some(rows)))) {
            match rows {
                Some(rows) => {
                    for (statement, chunk) in statements(part, rows, false) {
                        script.push_str(&statement);
                        script.push_str(";\n");
                        bound.extend(chunk);
                    }
                }
                None => {
                    script.push_str(part);
                    script.push_str(";\n");
                }
            }
        }
        if let Read::Plain(sql, args) = read {
            script.push_str(sql);
            script.push_str(";\n");
            bound.extend(args);
        }
        if let Some(then) = then {
            script.push_str(then);
        }
        if script.is_empty() {
            return Ok(Vec::new());
        }
        // Not kept prepared: a script is one of countless combinations of row counts, so
        // the cache would rarely hit and would hold megabytes of compiled statements.
        Ok(bind(sqlx::query(&script), bound)
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?)
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
    fn placeholders_are_numbered_for_postgres_and_plain_for_sqlite() {
        assert_eq!(placeholders(2, 2, true), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(1, 3, false), "(?, ?, ?)");
    }

    #[test]
    fn plain_placeholders_are_numbered_in_turn() {
        assert_eq!(
            number_placeholders("UPDATE t SET a = ? WHERE b <= ? LIMIT ?"),
            "UPDATE t SET a = $1 WHERE b <= $2 LIMIT $3"
        );
    }

    #[test]
    fn large_sets_are_cut_into_statements_of_whole_rows() {
        let mut rows = Rows::new(2);
        for i in 0..(CHUNK as i64 * 2 + 1) {
            rows.push([Arg::from(i), Arg::from("x")]);
        }
        let parts: Vec<_> = statements("INSERT INTO t VALUES {rows}", &rows, true).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].1.len(), CHUNK * 2);
        assert_eq!(parts[2].1.len(), 2);
        assert_eq!(parts[2].0, "INSERT INTO t VALUES ($1, $2)");
        assert_eq!(rows.args.len(), (CHUNK * 2 + 1) * 2);
    }
}
