//! Accounts (tenants) and the bootstrap of the first one.

use sqlx::any::AnyRow;
use switchboard_core::{
    account::Account,
    audit::NewAuditEntry,
    ids::{AccountId, OperatorId},
    operator::Operator,
};

use crate::{
    audit,
    codec::{now_millis, to_timestamp, RowExt},
    operators::{insert_operator, NewOperator},
    Store, StoreError,
};

/// An account to create together with its first admin.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    /// The account's first admin; its `account_id` is ignored and set to the new account.
    pub admin: NewOperator,
}

fn account_from_row(row: &AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.parse("id")?,
        name: row.text("name")?,
        created_at: row.time("created_at")?,
    })
}

impl Store {
    /// Creates an account and its first admin in one transaction.
    pub async fn create_account(
        &self,
        new: NewAccount,
        actor: Option<OperatorId>,
    ) -> Result<(Account, Operator), StoreError> {
        let id = AccountId::new();
        let now = now_millis();
        let mut tx = self.write.begin().await?;
        sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id.to_string())
            .bind(&new.name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let admin = NewOperator {
            account_id: id,
            ..new.admin
        };
        let operator = insert_operator(&mut tx, &admin, now).await?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(id, actor, "account.create", "account", id)
                .details(serde_json::json!({"name": new.name, "admin_id": operator.id})),
        )
        .await?;
        tx.commit().await?;
        Ok((
            Account {
                id,
                name: new.name,
                created_at: to_timestamp(now)?,
            },
            operator,
        ))
    }

    pub async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM accounts ORDER BY created_at, id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    pub async fn get_account(&self, id: AccountId) -> Result<Account, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM accounts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        account_from_row(&row)
    }

    /// How many operators exist on the whole install (zero means: bootstrap the first admin).
    pub async fn count_operators(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM operators")
            .fetch_one(&self.read)
            .await?;
        row.int("n")
    }
}
