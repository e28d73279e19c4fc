//! Session and API tokens. Only a hash of each secret is stored; looking a token up by the
//! hash of the presented secret is the authentication.

use jiff::Timestamp;
use sqlx::any::AnyRow;
pub use switchboard_core::token::TokenKind;
use switchboard_core::{
    ids::{AccountId, OperatorId, TokenId},
    operator::Operator,
    token::TokenInfo,
};

use crate::{
    codec::{millis, now_millis, RowExt},
    Store, StoreError,
};

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub account_id: AccountId,
    pub operator_id: OperatorId,
    pub kind: TokenKind,
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    pub expires_at: Option<Timestamp>,
}

/// Who a presented token belongs to.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub token: TokenInfo,
    pub operator: Operator,
}

const TOKEN_COLUMNS: &str = "id, kind, name, created_at, expires_at, last_used_at";

fn token_from_row(row: &AnyRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: row.parse("id")?,
        kind: row.parse("kind")?,
        name: row.text("name")?,
        created_at: row.time("created_at")?,
        expires_at: row.opt_time("expires_at")?,
        last_used_at: row.opt_time("last_used_at")?,
    })
}

impl Store {
    pub async fn create_token(&self, new: &NewToken) -> Result<TokenInfo, StoreError> {
        let sql = format!(
            "INSERT INTO tokens (id, account_id, operator_id, kind, name, secret_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {TOKEN_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(TokenId::new().to_string())
            .bind(new.account_id.to_string())
            .bind(new.operator_id.to_string())
            .bind(new.kind.as_str())
            .bind(&new.name)
            .bind(&new.secret_hash)
            .bind(now_millis())
            .bind(new.expires_at.map(millis))
            .fetch_one(&self.write)
            .await?;
        token_from_row(&row)
    }

    /// The live operator a secret hash belongs to, if the token exists and has not expired.
    pub async fn authenticate(
        &self,
        secret_hash: &str,
        now: Timestamp,
    ) -> Result<Option<TokenOwner>, StoreError> {
        let sql = "SELECT t.id, t.kind, t.name, t.created_at, t.expires_at, t.last_used_at,
                    o.id AS operator_id, o.account_id, o.email, o.name AS operator_name,
                    o.role, o.status, o.capacity, o.instance_admin, o.created_at AS operator_created_at,
                    o.updated_at AS operator_updated_at
             FROM tokens t JOIN operators o ON o.id = t.operator_id
             WHERE t.secret_hash = $1 AND o.deleted_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > $2)";
        let Some(row) = sqlx::query(sql)
            .bind(secret_hash)
            .bind(millis(now))
            .fetch_optional(&self.read)
            .await?
        else {
            return Ok(None);
        };
        let operator = Operator {
            id: row.parse("operator_id")?,
            account_id: row.parse("account_id")?,
            email: row.text("email")?,
            name: row.text("operator_name")?,
            role: row.parse("role")?,
            status: row.parse("status")?,
            capacity: row.opt_int("capacity")?.and_then(|c| u32::try_from(c).ok()),
            instance_admin: row.flag("instance_admin")?,
            created_at: row.time("operator_created_at")?,
            updated_at: row.time("operator_updated_at")?,
        };
        Ok(Some(TokenOwner {
            token: token_from_row(&row)?,
            operator,
        }))
    }

    /// Records use of a token and, for sessions, moves the expiry `idle` past now.
    pub async fn touch_token(
        &self,
        id: TokenId,
        now: Timestamp,
        session_expiry: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE tokens SET last_used_at = $2, expires_at = COALESCE($3, expires_at) WHERE id = $1")
            .bind(id.to_string())
            .bind(millis(now))
            .bind(session_expiry.map(millis))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn list_tokens(
        &self,
        account: AccountId,
        operator: OperatorId,
    ) -> Result<Vec<TokenInfo>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE account_id = $1 AND operator_id = $2 ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(operator.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes one of an operator's own tokens.
    pub async fn delete_token(
        &self,
        account: AccountId,
        operator: OperatorId,
        id: TokenId,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "DELETE FROM tokens WHERE account_id = $1 AND operator_id = $2 AND id = $3",
        )
        .bind(account.to_string())
        .bind(operator.to_string())
        .bind(id.to_string())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes expired tokens; run now and then so the table does not grow without bound.
    pub async fn delete_expired_tokens(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= $1")
                .bind(millis(now))
                .execute(&self.write)
                .await?;
        Ok(done.rows_affected())
    }
}
