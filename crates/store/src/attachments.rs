//! Which messages hold which stored files. The bytes live on disk under their SHA-256; a file
//! is served to an operator only when a message of their account holds it.

use switchboard_core::{
    ids::{AccountId, MessageId},
    message::Content,
};

use crate::{
    codec::{now_millis, to_json, RowExt},
    Store, StoreError,
};

/// A stored file as an account sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub sha256: String,
    pub size: u64,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
}

impl Store {
    /// Records that the `position`-th attachment of a message is stored as `sha256`, and
    /// notes the hash in the message's content.
    pub async fn attach_file(
        &self,
        message: MessageId,
        position: usize,
        sha256: &str,
        size: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT account_id, content FROM messages WHERE id = $1")
            .bind(message.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let account = row.text("account_id")?;
        let mut content: Content = row.json("content")?;
        let Some(attachment) = content.attachments.get_mut(position) else {
            return Err(StoreError::NotFound);
        };
        attachment.sha256 = Some(sha256.to_string());
        attachment.size = Some(size);
        let (file_name, mime_type) = (attachment.file_name.clone(), attachment.mime_type.clone());
        sqlx::query("UPDATE messages SET content = $2 WHERE id = $1")
            .bind(message.to_string())
            .bind(to_json(&content))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO attachments (message_id, position, account_id, sha256, size, file_name, mime_type, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(message.to_string())
        .bind(position as i64)
        .bind(account)
        .bind(sha256)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(file_name)
        .bind(mime_type)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A stored file, if a message of `account` holds it.
    pub async fn attachment(
        &self,
        account: AccountId,
        sha256: &str,
    ) -> Result<StoredAttachment, StoreError> {
        let row = sqlx::query(
            "SELECT sha256, size, file_name, mime_type FROM attachments WHERE account_id = $1 AND sha256 = $2 LIMIT 1",
        )
        .bind(account.to_string())
        .bind(sha256)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(StoredAttachment {
            sha256: row.text("sha256")?,
            size: u64::try_from(row.int("size")?).unwrap_or_default(),
            file_name: row.opt_text("file_name")?,
            mime_type: row.opt_text("mime_type")?,
        })
    }
}
