//! Storage for Switchboard on SQLite (embedded default) and PostgreSQL (several nodes), behind
//! one interface: [`Store`].
//!
//! Both backends run the same SQL through sqlx's `Any` driver: ids are UUID text, times are
//! Unix milliseconds, JSON is text and booleans are 0/1, so a query reads the same on both.
//! Where the dialects differ (column types in migrations, locking clauses) [`Dialect`] says so
//! explicitly. Constraints that keep data right under races (inbound dedupe, one open
//! conversation per contact and connection, one assignee) live in the schema, not in code.
//!
//! Architecture invariant: only this crate knows SQL; every query is scoped by account.

mod accounts;
mod attachments;
mod audit;
mod bot;
mod codec;
mod connect;
mod connections;
mod conversations;
mod due;
mod error;
mod groups;
mod ingest;
mod journal;
mod listen;
mod migrate;
mod operators;
mod outbox;
mod routing;
mod rows;
mod scenarios;
mod schedules;
mod stats;
pub mod testing;
mod timers;
mod tokens;
mod writes;

pub use accounts::NewAccount;
pub use attachments::StoredAttachment;
pub use bot::{Answer, Applied, BotApply, BotLoad, BotMessage, BotNext, Unread};
pub use connect::{Dialect, StoreConfig, Synchronous};
pub use connections::{ConnectionRecord, ConnectionUpdate, NewConnection};
pub use conversations::{ConversationFilter, DeliveryTarget, ListCursor, NewReply};
pub use error::StoreError;
pub use groups::GroupInput;
pub use ingest::{FollowUp, HeldWriter, Ingest, IngestEvent, Ingested};
pub use journal::{Journal, JournalEntry};
pub use listen::Listener;
pub use operators::{Credentials, NewOperator, OperatorUpdate};
pub use outbox::Notice;
pub use outbox::{Finish, OutboxItem, Settle};
pub use routing::TransferTarget;
pub use schedules::ScheduleInput;
pub use stats::{LoadNow, QueueNow};
pub use timers::{ActionFor, Closed, DueTimer};
pub use tokens::{NewToken, TokenKind, TokenOwner};

use sqlx::AnyPool;

/// The storage interface: one value per process, cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// Writes go through here. On SQLite it holds one connection: SQLite has one writer at a
    /// time, and queueing in the pool is cheaper and fairer than `SQLITE_BUSY` retries.
    write: AnyPool,
    /// Reads; on PostgreSQL the same pool as `write`.
    read: AnyPool,
    dialect: Dialect,
}

impl Store {
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Answers when the database does; for readiness probes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// The write pool, for tests that must show a constraint holds in the database itself
    /// and for tools; application code goes through the typed methods.
    pub fn raw_pool(&self) -> &AnyPool {
        &self.write
    }

    /// Copies what the SQLite write-ahead log holds into the database file, without waiting
    /// for (or holding up) the writer; the server calls it in the background so the writer
    /// never has to (see `connect.rs`). Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.dialect == Dialect::Sqlite {
            connect::checkpoint(&self.read).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}
