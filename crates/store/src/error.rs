//! What can go wrong in storage, sorted by what the caller does about it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// No such object in the caller's account (also for objects of other accounts).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write; `what` names the rule for the message.
    #[error("conflict: {what}")]
    Conflict { what: String },
    /// A reference points at something that does not exist in this account.
    #[error("invalid reference: {what}")]
    InvalidReference { what: String },
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A routing rule refused the change (the operator is not online, at capacity, the
    /// conversation was taken by someone else); `code` is stable for API clients.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("invalid database configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The storage path is shutting down or stopped (an ingest lane gone).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) => {
                let what = db
                    .constraint()
                    .map_or_else(|| db.message().to_string(), str::to_string);
                match db.kind() {
                    sqlx::error::ErrorKind::UniqueViolation => StoreError::Conflict { what },
                    sqlx::error::ErrorKind::ForeignKeyViolation => {
                        StoreError::InvalidReference { what }
                    }
                    _ => StoreError::Database(error),
                }
            }
            _ => StoreError::Database(error),
        }
    }
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}
