//! Set-wise statements: many rows in one statement (`INSERT ... VALUES (..), (..)`, joins
//! against `(VALUES ...) AS v`), so a batch costs one statement per table instead of one per
//! row. On SQLite every statement is a hand-off to the connection's own thread and back, on
//! PostgreSQL a round trip: either costs more than writing the rows.
//!
//! A statement names the place of its rows with `{rows}` and takes no other bound values.
//! Both dialects call the columns of a `VALUES` list `column1, column2, ...`. Joins are
//! written against the list, never `(a, b) IN (VALUES ...)`: SQLite scans the whole table
//! for that form. On SQLite the placeholders are plain `?` (for numbered ones sqlx asks
//! SQLite each one's name, a walk of the list of names every time, which made binding
//! hundreds of values cost more than running the statement), and the rows are padded to a
//! power of two so that a statement's text recurs and stays compiled ([`padded`]).

use sqlx::{
    any::{AnyArguments, AnyRow},
    query::Query,
    Any, AnyConnection,
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
        debug_assert!(
            !matches!(row.first(), Some(Arg::Text(None) | Arg::Int(None))),
            "a row's first value is never NULL: rows of NULL pad statements on SQLite"
        );
        self.args.extend(row);
    }

    pub fn width(&self) -> usize {
        self.width
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
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &[Arg]> {
        self.args.chunks(CHUNK * self.width)
    }
}

/// A value for rows that pad a statement to its row count (see [`padded`]).
static NULL: Arg = Arg::Int(None);

/// Rows per statement on SQLite (see [`padded`]).
const PADDED_CHUNK: usize = 64;

/// `sql`'s statements for `rows` on SQLite: at most [`PADDED_CHUNK`] rows each, padded to
/// a power of two rows with rows of `NULL`, which the statement skips (`WHERE column1 IS
/// NOT NULL`: a real row's first value is never `NULL`). A statement's text then depends on
/// the power, not the exact count: seven texts at most, kept compiled, where a text per row
/// count was compiled for every batch (compiling cost half as much as running).
pub(crate) fn padded<'a>(
    sql: &'a str,
    rows: &'a Rows,
) -> impl Iterator<Item = (String, Vec<&'a Arg>)> + 'a {
    debug_assert!(
        sql.contains("VALUES {rows}"),
        "a set-wise statement reads its rows as `VALUES {{rows}}`: {sql}"
    );
    let sql = sql.replace(
        "VALUES {rows}",
        "SELECT * FROM (VALUES {rows}) WHERE column1 IS NOT NULL",
    );
    rows.args
        .chunks(PADDED_CHUNK * rows.width)
        .map(move |chunk| {
            let count = chunk.len() / rows.width;
            let padded = count.next_power_of_two();
            let slot = placeholders(padded, rows.width, None);
            let nulls = std::iter::repeat_n(&NULL, (padded - count) * rows.width);
            (
                sql.replace("{rows}", &slot),
                chunk.iter().chain(nulls).collect(),
            )
        })
}

/// Rows per statement: far below the bound-value limits of both backends (32,766 on
/// SQLite, 65,535 on PostgreSQL) for the widest row written.
const CHUNK: usize = 256;

/// The placeholders for `rows` rows of `width` values: `($1, $2), ($3, $4)` numbered from
/// `first`, or on SQLite (`None`) `(?, ?), (?, ?)`.
pub(crate) fn placeholders(rows: usize, width: usize, first: Option<usize>) -> String {
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
            match first {
                Some(first) => {
                    out.push('$');
                    out.push_str(&(first + row * width + col).to_string());
                }
                None => out.push('?'),
            }
        }
        out.push(')');
    }
    out
}

pub(crate) fn bind<'q>(
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

/// `sql`'s statements for `rows` on PostgreSQL: placeholders numbered from `$1`, at most
/// [`CHUNK`] rows each.
pub(crate) fn statements<'a>(
    sql: &'a str,
    rows: &'a Rows,
) -> impl Iterator<Item = (String, &'a [Arg])> + 'a {
    debug_assert!(
        sql.contains("{rows}") && !sql.contains('$'),
        "a set-wise statement binds its rows and nothing else"
    );
    rows.chunks().map(move |chunk| {
        let slot = placeholders(chunk.len() / rows.width, rows.width, Some(1));
        (sql.replace("{rows}", &slot), chunk)
    })
}

/// Whether a statement binding `values` values is worth keeping prepared (on PostgreSQL,
/// where sqlx keeps up to 100 per connection): its text depends on its row counts, so one
/// of a few rows recurs (a lone event's) and one of many hardly ever does, and each kept
/// one holds its text and the types of all its parameters. Kept, the statements of
/// batches of dozens of events took the server from ~65 MB to ~180 MB.
pub(crate) fn worth_keeping(values: usize) -> bool {
    values <= 64
}

pub(crate) fn numbered(conn: &AnyConnection) -> bool {
    conn.backend_name() != "SQLite"
}

/// Whether `conn`'s database has one writer at a time (SQLite). A transaction there holds
/// the write lock from its first write to its commit, so what it read after that first
/// write cannot change under it: an insert of rows it looked up and did not find cannot
/// conflict, and need not say which rows went in.
pub(crate) fn single_writer(conn: &AnyConnection) -> bool {
    !numbered(conn)
}

/// Runs `sql` for all `rows` (nothing when there are none); every row it returns.
pub(crate) async fn fetch(
    conn: &mut AnyConnection,
    sql: &str,
    rows: &Rows,
) -> Result<Vec<AnyRow>, StoreError> {
    let mut out = Vec::new();
    if !numbered(conn) {
        for (statement, args) in padded(sql, rows) {
            out.extend(
                bind(sqlx::query(&statement), args)
                    .fetch_all(&mut *conn)
                    .await?,
            );
        }
        return Ok(out);
    }
    for (statement, chunk) in statements(sql, rows) {
        let query = bind(sqlx::query(&statement), chunk).persistent(worth_keeping(chunk.len()));
        out.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_and_plain_for_sqlite() {
        assert_eq!(placeholders(2, 2, Some(1)), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(1, 2, Some(7)), "($7, $8)");
        assert_eq!(placeholders(1, 3, None), "(?, ?, ?)");
    }

    #[test]
    fn large_sets_are_cut_into_statements_of_whole_rows() {
        let mut rows = Rows::new(2);
        for i in 0..(CHUNK as i64 * 2 + 1) {
            rows.push([Arg::from(i), Arg::from("x")]);
        }
        let parts: Vec<_> = statements("INSERT INTO t VALUES {rows}", &rows).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].1.len(), CHUNK * 2);
        assert_eq!(parts[2].1.len(), 2);
        assert_eq!(parts[2].0, "INSERT INTO t VALUES ($1, $2)");
        assert_eq!(rows.args.len(), (CHUNK * 2 + 1) * 2);
    }

    #[test]
    fn sqlite_statements_are_padded_to_a_power_of_two_rows_that_skip_the_padding() {
        let mut rows = Rows::new(2);
        for i in 0..(PADDED_CHUNK as i64 + 3) {
            rows.push([Arg::from(i), Arg::from("x")]);
        }
        let parts: Vec<_> = padded("INSERT INTO t (a, b) VALUES {rows}", &rows).collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0].1.len(),
            PADDED_CHUNK * 2,
            "a full chunk needs no padding"
        );
        // 3 rows go as 4: the fourth is all NULL, and skipped.
        assert_eq!(
            parts[1].0,
            "INSERT INTO t (a, b) SELECT * FROM (VALUES (?, ?), (?, ?), (?, ?), (?, ?)) WHERE column1 IS NOT NULL"
        );
        assert_eq!(parts[1].1.len(), 8);
        assert_eq!(parts[1].1[5], &Arg::Text(Some("x".into())));
        assert_eq!(parts[1].1[6..], [&Arg::Int(None), &Arg::Int(None)]);
    }
}
