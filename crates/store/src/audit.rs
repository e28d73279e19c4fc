//! The append-only audit log, written in the same transaction as the change it records.

use sqlx::AnyConnection;
use switchboard_core::{
    audit::{AuditEntry, NewAuditEntry},
    ids::{AccountId, OperatorId},
};

use crate::{
    codec::{now_millis, to_json, RowExt},
    Store, StoreError,
};

/// Appends one entry inside the caller's transaction.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    entry: NewAuditEntry,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (account_id, actor_id, action, object_type, object_id, details, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.account_id.to_string())
    .bind(entry.actor_id.map(|id| id.to_string()))
    .bind(entry.action)
    .bind(entry.object_type)
    .bind(entry.object_id)
    .bind(to_json(&entry.details))
    .bind(now_millis())
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Deletes one object of an account from `table` and records it; `NotFound` when the
    /// account has no such object.
    pub(crate) async fn delete_audited(
        &self,
        table: &'static str,
        object_type: &'static str,
        action: &'static str,
        account: AccountId,
        id: String,
        actor: Option<OperatorId>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let sql = format!("DELETE FROM {table} WHERE account_id = $1 AND id = $2");
        let done = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        record(
            &mut tx,
            NewAuditEntry::new(account, actor, action, object_type, id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest entries of an account, newest first; `before` pages back by entry id.
    pub async fn list_audit(
        &self,
        account: AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, account_id, actor_id, action, object_type, object_id, details, at
             FROM audit_log WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(account.to_string())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        entries(&rows)
    }

    /// Everything the log says about one object, oldest first: a conversation's routing
    /// history (opened, offered, assigned, unanswered, transferred, closed).
    pub async fn object_history(
        &self,
        account: AccountId,
        object_type: &str,
        object_id: &str,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, account_id, actor_id, action, object_type, object_id, details, at
             FROM audit_log WHERE account_id = $1 AND object_type = $2 AND object_id = $3 ORDER BY id",
        )
        .bind(account.to_string())
        .bind(object_type)
        .bind(object_id)
        .fetch_all(&self.read)
        .await?;
        entries(&rows)
    }
}

fn entries(rows: &[sqlx::any::AnyRow]) -> Result<Vec<AuditEntry>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok(AuditEntry {
                id: row.int("id")?,
                account_id: row.parse("account_id")?,
                actor_id: row.opt_parse("actor_id")?,
                action: row.text("action")?,
                object_type: row.text("object_type")?,
                object_id: row.text("object_id")?,
                details: row.json("details")?,
                at: row.time("at")?,
            })
        })
        .collect()
}
