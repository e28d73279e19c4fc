//! Reading the portable column representation back into domain types.

use std::str::FromStr;

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use sqlx::{any::AnyRow, Row};

use crate::StoreError;

/// Unix milliseconds, the stored form of every time.
pub fn millis(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

pub fn now_millis() -> i64 {
    millis(Timestamp::now())
}

pub fn to_timestamp(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|e| StoreError::Corrupt(format!("time {ms}: {e}")))
}

/// Typed access to the columns of an `Any` row.
pub trait RowExt {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;

    /// A value stored as its text form: ids, enums.
    fn parse<T: FromStr>(&self, column: &str) -> Result<T, StoreError>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(column)?;
        text.parse()
            .map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
    }

    fn opt_parse<T: FromStr>(&self, column: &str) -> Result<Option<T>, StoreError>
    where
        T::Err: std::fmt::Display,
    {
        self.opt_text(column)?
            .map(|text| {
                text.parse()
                    .map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
            })
            .transpose()
    }

    fn time(&self, column: &str) -> Result<Timestamp, StoreError> {
        to_timestamp(self.int(column)?)
    }

    fn opt_time(&self, column: &str) -> Result<Option<Timestamp>, StoreError> {
        self.opt_int(column)?.map(to_timestamp).transpose()
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        Ok(self.int(column)? != 0)
    }

    fn json<T: DeserializeOwned>(&self, column: &str) -> Result<T, StoreError> {
        let text = self.text(column)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    }
}

fn column_error(column: &str, e: sqlx::Error) -> StoreError {
    StoreError::Corrupt(format!("{column}: {e}"))
}

impl RowExt for AnyRow {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.try_get(column).map_err(|e| column_error(column, e))
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.try_get(column).map_err(|e| column_error(column, e))
    }
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.try_get(column).map_err(|e| column_error(column, e))
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(column).map_err(|e| column_error(column, e))
    }
}

/// Serialises a value for a JSON text column.
pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising our own plain data types cannot fail (no maps with non-string keys).
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}
