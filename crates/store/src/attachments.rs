//! Which accounts may use which stored files. The bytes live on disk under their SHA-256,
//! shared between accounts; access is not: a file is served to an operator, and may be cited
//! in a reply, only when their account uploaded it or a message of their account holds it.

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

    /// Records that `account` uploaded a file (a second upload of the same bytes renames it).
    pub async fn record_upload(
        &self,
        account: AccountId,
        upload: &StoredAttachment,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO uploads (account_id, sha256, size, file_name, mime_type, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account_id, sha256) DO UPDATE SET
                file_name = excluded.file_name, mime_type = excluded.mime_type",
        )
        .bind(account.to_string())
        .bind(&upload.sha256)
        .bind(i64::try_from(upload.size).unwrap_or(i64::MAX))
        .bind(&upload.file_name)
        .bind(&upload.mime_type)
        .bind(now_millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// A file `account` may cite in a reply: one it uploaded, else one its messages hold
    /// (forwarding a customer's file). Another account's file is `NotFound`, like a file
    /// that does not exist, so the answer tells nothing about other accounts.
    pub async fn usable_file(
        &self,
        account: AccountId,
        sha256: &str,
    ) -> Result<StoredAttachment, StoreError> {
        let row = sqlx::query(
            "SELECT sha256, size, file_name, mime_type FROM uploads WHERE account_id = $1 AND sha256 = $2",
        )
        .bind(account.to_string())
        .bind(sha256)
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(row) => Ok(StoredAttachment {
                sha256: row.text("sha256")?,
                size: u64::try_from(row.int("size")?).unwrap_or_default(),
                file_name: row.opt_text("file_name")?,
                mime_type: row.opt_text("mime_type")?,
            }),
            None => self.attachment(account, sha256).await,
        }
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

#[cfg(test)]
mod tests {
    use crate::{
        testing::{self, Backend, TestDb},
        StoreError, StoredAttachment,
    };

    /// Two accounts upload the same bytes: each sees its own name for it; an account that
    /// never uploaded nor received them gets `NotFound`, as for bytes nobody stored.
    async fn a_file_is_usable_only_by_the_accounts_that_have_it(backend: Backend) {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let store = db.store().await;
        let (a, _) = testing::account(&store).await;
        let (b, _) = testing::account(&store).await;
        let (c, _) = testing::account(&store).await;
        let upload = |name: &str| StoredAttachment {
            sha256: "ab".repeat(32),
            size: 4,
            file_name: Some(name.into()),
            mime_type: Some("image/png".into()),
        };
        store.record_upload(a, &upload("map.png")).await.unwrap();
        store.record_upload(b, &upload("plan.png")).await.unwrap();
        store.record_upload(a, &upload("map-2.png")).await.unwrap();
        let seen = store.usable_file(a, &"ab".repeat(32)).await.unwrap();
        assert_eq!(seen, upload("map-2.png"));
        let seen = store.usable_file(b, &"ab".repeat(32)).await.unwrap();
        assert_eq!(seen.file_name.as_deref(), Some("plan.png"));
        for account in [c] {
            assert!(matches!(
                store.usable_file(account, &"ab".repeat(32)).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                store.attachment(account, &"ab".repeat(32)).await,
                Err(StoreError::NotFound)
            ));
        }
    }

    crate::backends!(a_file_is_usable_only_by_the_accounts_that_have_it);
}
