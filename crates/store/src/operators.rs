//! Operators: create, read, update, retire, status, and the login lookup.

use jiff::Timestamp;
use sqlx::{any::AnyRow, AnyConnection};
use switchboard_core::{
    audit::NewAuditEntry,
    ids::{AccountId, ConversationId, OperatorId},
    operator::{Operator, OperatorStatus, Role},
};

use crate::{
    audit,
    codec::{now_millis, RowExt},
    routing, Dialect, Store, StoreError,
};

/// An operator to create. The password arrives already hashed: hashing is the server's job.
#[derive(Debug, Clone)]
pub struct NewOperator {
    pub account_id: AccountId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub instance_admin: bool,
}

/// Changes to an operator; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OperatorUpdate {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    /// `Some(None)` clears the operator's own limit (the group's applies).
    pub capacity: Option<Option<u32>>,
    /// With a new password, every session of the operator ends but this one (the session
    /// that changed its own password stays logged in).
    pub keep_session: Option<switchboard_core::ids::TokenId>,
}

/// What a login checks a password against.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub operator: Operator,
    pub password_hash: String,
}

const COLUMNS: &str =
    "id, account_id, email, name, role, status, capacity, instance_admin, created_at, updated_at";

pub(crate) fn operator_from_row(row: &AnyRow) -> Result<Operator, StoreError> {
    Ok(Operator {
        id: row.parse("id")?,
        account_id: row.parse("account_id")?,
        email: row.text("email")?,
        name: row.text("name")?,
        role: row.parse("role")?,
        status: row.parse("status")?,
        capacity: row.opt_int("capacity")?.and_then(|c| u32::try_from(c).ok()),
        instance_admin: row.flag("instance_admin")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

fn email_taken(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict { .. } => StoreError::Conflict {
            what: "email".into(),
        },
        other => other,
    }
}

pub(crate) async fn insert_operator(
    conn: &mut AnyConnection,
    new: &NewOperator,
    now: i64,
) -> Result<Operator, StoreError> {
    let id = OperatorId::new();
    let sql = format!(
        "INSERT INTO operators (id, account_id, email, name, role, status, password_hash, instance_admin, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'offline', $6, $7, $8, $8) RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .bind(new.account_id.to_string())
        .bind(&new.email)
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(&new.password_hash)
        .bind(i64::from(new.instance_admin))
        .bind(now)
        .fetch_one(conn)
        .await
        .map_err(|e| email_taken(e.into()))?;
    operator_from_row(&row)
}

impl Store {
    /// Serialises changes to an account's set of admins on PostgreSQL (SQLite has one writer
    /// already), so two concurrent demotions cannot leave an account without an admin.
    async fn lock_account(
        &self,
        conn: &mut AnyConnection,
        account: AccountId,
    ) -> Result<(), StoreError> {
        if self.dialect == Dialect::Postgres {
            // NO KEY UPDATE: rows that merely reference the account (messages, audit) are
            // not blocked, so this lock cannot deadlock with routing.
            sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR NO KEY UPDATE")
                .bind(account.to_string())
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    pub async fn create_operator(
        &self,
        new: &NewOperator,
        actor: Option<OperatorId>,
    ) -> Result<Operator, StoreError> {
        let mut tx = self.write.begin().await?;
        let operator = insert_operator(&mut tx, new, now_millis()).await?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(
                new.account_id,
                actor,
                "operator.create",
                "operator",
                operator.id,
            )
            .details(serde_json::json!({"email": operator.email, "role": operator.role})),
        )
        .await?;
        tx.commit().await?;
        Ok(operator)
    }

    pub async fn get_operator(
        &self,
        account: AccountId,
        id: OperatorId,
    ) -> Result<Operator, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM operators WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        operator_from_row(&row)
    }

    pub async fn list_operators(&self, account: AccountId) -> Result<Vec<Operator>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM operators WHERE account_id = $1 AND deleted_at IS NULL ORDER BY name, id"
        );
        let rows = sqlx::query(&sql)
            .bind(account.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(operator_from_row).collect()
    }

    /// Applies `update`; refuses to take the admin role from the account's last admin.
    pub async fn update_operator(
        &self,
        account: AccountId,
        id: OperatorId,
        update: &OperatorUpdate,
        actor: Option<OperatorId>,
    ) -> Result<Operator, StoreError> {
        let mut tx = self.write.begin().await?;
        self.lock_account(&mut tx, account).await?;
        let current = fetch_live(&mut tx, account, id).await?;
        if current.role == Role::Admin && update.role.is_some_and(|r| r != Role::Admin) {
            ensure_other_admin(&mut tx, account, id).await?;
        }
        let sql = format!(
            "UPDATE operators SET email = COALESCE($3, email), name = COALESCE($4, name),
                 role = COALESCE($5, role), password_hash = COALESCE($6, password_hash), updated_at = $7,
                 capacity = CASE WHEN $8 = 1 THEN $9 ELSE capacity END
             WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(update.email.as_deref())
            .bind(update.name.as_deref())
            .bind(update.role.map(Role::as_str))
            .bind(update.password_hash.as_deref())
            .bind(now_millis())
            .bind(i64::from(update.capacity.is_some()))
            .bind(update.capacity.flatten().map(i64::from))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| email_taken(e.into()))?;
        let updated = operator_from_row(&row)?;
        let mut changed = serde_json::Map::new();
        if update.email.is_some() {
            changed.insert("email".into(), updated.email.clone().into());
        }
        if update.name.is_some() {
            changed.insert("name".into(), updated.name.clone().into());
        }
        if let Some(role) = update.role {
            changed.insert("role".into(), role.as_str().into());
        }
        if update.password_hash.is_some() {
            changed.insert("password".into(), "changed".into());
            // Whoever knew the old password may be logged in: their sessions end with it.
            let keep = update
                .keep_session
                .map(|t| t.to_string())
                .unwrap_or_default();
            sqlx::query(
                "DELETE FROM tokens WHERE account_id = $1 AND operator_id = $2 AND kind = 'session' AND id <> $3",
            )
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(capacity) = update.capacity {
            changed.insert("capacity".into(), capacity.into());
            // A larger limit may let waiting conversations through.
            routing::lock(&mut tx, self.dialect, account).await?;
            routing::distribute_operator(&mut tx, account, id, Timestamp::now()).await?;
        }
        audit::record(
            &mut tx,
            NewAuditEntry::new(account, actor, "operator.update", "operator", id)
                .details(serde_json::Value::Object(changed)),
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Retires an operator: they can no longer log in, their tokens die, they leave their
    /// groups; their name stays on the history they wrote. The last admin cannot be retired.
    pub async fn delete_operator(
        &self,
        account: AccountId,
        id: OperatorId,
        actor: Option<OperatorId>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        self.lock_account(&mut tx, account).await?;
        let current = fetch_live(&mut tx, account, id).await?;
        if current.role == Role::Admin {
            ensure_other_admin(&mut tx, account, id).await?;
        }
        let now = now_millis();
        sqlx::query("UPDATE operators SET deleted_at = $3, status = 'offline', updated_at = $3 WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM tokens WHERE operator_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM group_members WHERE operator_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        // Nobody can answer for a retired operator: all their conversations go back.
        routing::lock(&mut tx, self.dialect, account).await?;
        routing::return_conversations(
            &mut tx,
            account,
            id,
            false,
            "the operator was retired",
            Timestamp::now(),
        )
        .await?;
        sqlx::query("DELETE FROM offers WHERE operator_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE conversations SET wanted_operator_id = NULL, needs_attention = 1 WHERE wanted_operator_id = $1 AND status = 'queued'")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(account, actor, "operator.delete", "operator", id)
                .details(serde_json::json!({"email": current.email})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets an operator's status and routes what follows: online takes waiting
    /// conversations, away and offline withdraw `all_at_once` offers, and offline returns
    /// the conversations they have not answered to the queue. Returns the operator and the
    /// conversations that moved.
    pub async fn set_operator_status(
        &self,
        account: AccountId,
        id: OperatorId,
        status: OperatorStatus,
        actor: Option<OperatorId>,
    ) -> Result<(Operator, Vec<ConversationId>), StoreError> {
        let mut tx = self.write.begin().await?;
        routing::lock(&mut tx, self.dialect, account).await?;
        let sql = format!(
            "UPDATE operators SET status = $3, updated_at = $4
             WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(status.as_str())
            .bind(now_millis())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let operator = operator_from_row(&row)?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(account, actor, "operator.status", "operator", id)
                .details(serde_json::json!({"status": status})),
        )
        .await?;
        let now = Timestamp::now();
        let mut changed = Vec::new();
        if status == OperatorStatus::Offline {
            changed.extend(
                routing::return_conversations(
                    &mut tx,
                    account,
                    id,
                    true,
                    "the operator went offline",
                    now,
                )
                .await?,
            );
        }
        changed.extend(routing::distribute_operator(&mut tx, account, id, now).await?);
        tx.commit().await?;
        Ok((operator, changed))
    }

    /// The login lookup: by e-mail over the whole install (logins are unique install-wide).
    pub async fn credentials_by_email(
        &self,
        email: &str,
    ) -> Result<Option<Credentials>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS}, password_hash FROM operators WHERE email = $1 AND deleted_at IS NULL"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.read)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            operator: operator_from_row(&row)?,
            password_hash: row.text("password_hash")?,
        }))
    }

    /// Replaces a password hash after a login upgraded it to the current parameters.
    pub async fn set_password_hash(&self, id: OperatorId, hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE operators SET password_hash = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

async fn fetch_live(
    conn: &mut AnyConnection,
    account: AccountId,
    id: OperatorId,
) -> Result<Operator, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM operators WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    operator_from_row(&row)
}

async fn ensure_other_admin(
    conn: &mut AnyConnection,
    account: AccountId,
    id: OperatorId,
) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM operators
         WHERE account_id = $1 AND id <> $2 AND role = 'admin' AND deleted_at IS NULL",
    )
    .bind(account.to_string())
    .bind(id.to_string())
    .fetch_one(conn)
    .await?;
    if row.int("n")? == 0 {
        return Err(StoreError::Conflict {
            what: "last_admin".into(),
        });
    }
    Ok(())
}
