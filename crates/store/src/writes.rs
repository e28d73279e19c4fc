//! Writes whose answers nobody reads, queued until the next read needs them done
//! ([`Writes`]). On SQLite they then run one statement after another, each with its rows
//! padded so that its text recurs and stays compiled (`rows::padded`). On PostgreSQL,
//! where every statement is a round trip, consecutive writes go as one statement of
//! data-modifying `WITH` parts as long as that changes nothing (see [`grouped`]).

use std::{borrow::Cow, collections::HashSet};

use sqlx::{any::AnyRow, AnyConnection};

use crate::{
    rows::{bind, fetch, numbered, placeholders, Arg, Rows},
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
        let set = match read {
            Read::Set(sql, rows) => Some((sql, rows)),
            _ => None,
        };
        if numbered(conn) {
            let rows = match (grouped(conn, &queued, set).await?, read) {
                (Some(rows), _) => rows,
                (None, Read::Nothing) => Vec::new(),
                (None, Read::Set(sql, rows)) => fetch(conn, sql, rows).await?,
                (None, Read::Plain(sql, args)) => {
                    let sql = number_placeholders(sql);
                    bind(sqlx::query(&sql), args).fetch_all(&mut *conn).await?
                }
            };
            if let Some(then) = then {
                sqlx::query(then).execute(&mut *conn).await?;
            }
            return Ok(rows);
        }
        // On SQLite each statement goes on its own, its rows padded so that its text
        // recurs and stays compiled (`rows::padded`). One script for all was one hand-off
        // to SQLite's thread, but its text was new for nearly every batch and compiling it
        // cost more than the hand-offs it saved.
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
            Read::Plain(sql, args) => bind(sqlx::query(sql), args).fetch_all(&mut *conn).await?,
        };
        if let Some(then) = then {
            sqlx::query(then).execute(&mut *conn).await?;
        }
        Ok(rows)
    }
}

/// Runs `queued` on PostgreSQL, where every statement is a round trip: consecutive writes
/// go as one statement of data-modifying `WITH` parts. Such parts all see the database as it
/// was before the statement, and a row changed twice in one statement keeps only one of the
/// changes; so a group never writes a table twice, and no part reads a table an earlier
/// part of its group wrote. Then the group does what the writes one after the other would
/// have done. (Foreign keys are checked at the end of the statement: a row may refer to
/// one another part inserts.) The `read` that follows goes in the last group's statement
/// too when the same rules allow; then its rows are returned.
async fn grouped(
    conn: &mut AnyConnection,
    queued: &[Part],
    read: Option<(&str, &Rows)>,
) -> Result<Option<Vec<AnyRow>>, StoreError> {
    let mut group = Group::default();
    for part in queued {
        match part {
            Part::Plain(sql) => {
                group.run(conn).await?;
                sqlx::query(sql).execute(&mut *conn).await?;
            }
            Part::Set(sql, rows) => {
                let (target, reads) = tables(sql);
                debug_assert!(!target.is_empty(), "a queued write names its table: {sql}");
                for chunk in rows.chunks() {
                    if !group.admits(target, &reads, chunk.len()) {
                        group.run(conn).await?;
                    }
                    group.push(sql, rows.width(), chunk, target);
                }
            }
        }
    }
    if let Some((sql, rows)) = read {
        let (target, reads) = tables(sql);
        let mut chunks = rows.chunks();
        if let (Some(chunk), None) = (chunks.next(), chunks.next()) {
            if !group.parts.is_empty() && group.admits(target, &reads, chunk.len()) {
                group.push(sql, rows.width(), chunk, target);
                return group.fetch(conn).await.map(Some);
            }
        }
    }
    group.run(conn).await?;
    Ok(None)
}

/// Values bound in one grouped statement at most: well below PostgreSQL's 65,535.
const MAX_GROUP_ARGS: usize = 30_000;

/// Writes gathered into one statement.
#[derive(Default)]
struct Group<'a> {
    parts: Vec<String>,
    args: Vec<&'a Arg>,
    written: HashSet<String>,
}

impl<'a> Group<'a> {
    /// Whether a statement changing `target`, reading `reads` and binding `values` more
    /// values may join: see [`grouped`].
    fn admits(&self, target: &str, reads: &[&str], values: usize) -> bool {
        !self.written.contains(target)
            && !reads.iter().any(|t| self.written.contains(*t))
            && self.args.len() + values <= MAX_GROUP_ARGS
    }

    /// Adds `sql` for the rows of `chunk`, numbered after the values already bound.
    fn push(&mut self, sql: &str, width: usize, chunk: &'a [Arg], target: &str) {
        let slot = placeholders(chunk.len() / width, width, Some(self.args.len() + 1));
        self.parts.push(sql.replace("{rows}", &slot));
        self.args.extend(chunk);
        if !target.is_empty() {
            self.written.insert(target.to_owned());
        }
    }

    async fn run(&mut self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        self.fetch(conn).await.map(drop)
    }

    /// Runs the group; the rows its last part returns.
    async fn fetch(&mut self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>, StoreError> {
        let Some(last) = self.parts.pop() else {
            return Ok(Vec::new());
        };
        let mut sql = String::new();
        for (i, part) in self.parts.iter().enumerate() {
            sql.push_str(if i == 0 { "WITH " } else { ", " });
            sql.push_str(&format!("w{i} AS ({part})"));
        }
        sql.push(' ');
        sql.push_str(&last);
        let rows = bind(sqlx::query(&sql), self.args.iter().copied())
            .persistent(crate::rows::worth_keeping(self.args.len()))
            .fetch_all(&mut *conn)
            .await?;
        self.parts.clear();
        self.args.clear();
        self.written.clear();
        Ok(rows)
    }
}

/// The table a statement changes (none for a `SELECT`), and the tables it reads (`FROM`
/// and `JOIN`, lists of values aside).
fn tables(sql: &str) -> (&str, Vec<&str>) {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let mut target = "";
    let mut reads = Vec::new();
    for (i, pair) in words.windows(2).enumerate() {
        let next = pair[1].trim_end_matches(',');
        match pair[0] {
            "INTO" | "UPDATE" if target.is_empty() => target = next,
            "FROM" if i > 0 && words[i - 1] == "DELETE" && target.is_empty() => target = next,
            "FROM" | "JOIN" if !next.starts_with('(') => reads.push(next),
            _ => {}
        }
    }
    (target, reads)
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
    fn a_write_names_the_table_it_changes_and_those_it_reads() {
        assert_eq!(
            tables("INSERT INTO timers (kind) SELECT 'x' FROM (VALUES {rows}) AS v JOIN channel_connections c ON c.id = v.column1"),
            ("timers", vec!["channel_connections"])
        );
        assert_eq!(
            tables("UPDATE messages SET a = v.column2 FROM (VALUES {rows}) AS v JOIN outbox o ON o.id = v.column1"),
            ("messages", vec!["outbox"])
        );
        assert_eq!(
            tables("DELETE FROM timers WHERE kind = 'bot' AND conversation_id IN (VALUES {rows})"),
            ("timers", vec![])
        );
        assert_eq!(
            tables("INSERT INTO contacts (id) VALUES {rows}"),
            ("contacts", vec![])
        );
    }

    #[test]
    fn plain_placeholders_are_numbered_in_turn() {
        assert_eq!(
            number_placeholders("UPDATE t SET a = ? WHERE b <= ? LIMIT ?"),
            "UPDATE t SET a = $1 WHERE b <= $2 LIMIT $3"
        );
    }
}
