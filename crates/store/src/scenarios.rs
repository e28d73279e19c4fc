//! Bot scenarios: their YAML source, by account. Parsing and validating is the caller's
//! (the bot crate); here they are stored, versioned and protected from deletion while a
//! channel runs them.

use sqlx::any::AnyRow;
use switchboard_core::{
    audit::NewAuditEntry,
    ids::{AccountId, OperatorId, ScenarioId},
    scenario::ScenarioRecord,
};

use crate::{
    audit,
    codec::{now_millis, RowExt},
    Store, StoreError,
};

const COLUMNS: &str = "id, account_id, name, source, version, created_at, updated_at";

fn scenario_from_row(row: &AnyRow) -> Result<ScenarioRecord, StoreError> {
    Ok(ScenarioRecord {
        id: row.parse("id")?,
        account_id: row.parse("account_id")?,
        name: row.text("name")?,
        source: row.text("source")?,
        version: row.int("version")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

fn name_taken(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict { .. } => StoreError::Conflict {
            what: "name".into(),
        },
        other => other,
    }
}

impl Store {
    pub async fn create_scenario(
        &self,
        account: AccountId,
        name: &str,
        source: &str,
        actor: Option<OperatorId>,
    ) -> Result<ScenarioRecord, StoreError> {
        let now = now_millis();
        let id = ScenarioId::new();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO scenarios ({COLUMNS}) VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING {COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(account.to_string())
        .bind(name)
        .bind(source)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| name_taken(e.into()))?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(account, actor, "scenario.create", "scenario", id)
                .details(serde_json::json!({"name": name})),
        )
        .await?;
        tx.commit().await?;
        scenario_from_row(&row)
    }

    /// Changes a scenario's name and/or source; the version goes up by one.
    pub async fn update_scenario(
        &self,
        account: AccountId,
        id: ScenarioId,
        name: Option<&str>,
        source: Option<&str>,
        actor: Option<OperatorId>,
    ) -> Result<ScenarioRecord, StoreError> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE scenarios SET name = COALESCE($3, name), source = COALESCE($4, source),
                 version = version + 1, updated_at = $5
             WHERE account_id = $1 AND id = $2 RETURNING {COLUMNS}"
        ))
        .bind(account.to_string())
        .bind(id.to_string())
        .bind(name)
        .bind(source)
        .bind(now_millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| name_taken(e.into()))?
        .ok_or(StoreError::NotFound)?;
        let record = scenario_from_row(&row)?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(account, actor, "scenario.update", "scenario", id).details(
                serde_json::json!({"name": record.name, "version": record.version,
                    "source_changed": source.is_some()}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn get_scenario(
        &self,
        account: AccountId,
        id: ScenarioId,
    ) -> Result<ScenarioRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM scenarios WHERE account_id = $1 AND id = $2"
        ))
        .bind(account.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        scenario_from_row(&row)
    }

    /// Publishes `payload` on a PostgreSQL notification channel (for the other nodes); a
    /// no-op on SQLite, which has one node.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if self.dialect == crate::Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    /// How many messages are stored in all (for `switchboard bench`).
    pub async fn count_messages(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM messages")
            .fetch_one(&self.read)
            .await?;
        row.int("n")
    }

    /// The version of a scenario, to check a cached parse is current.
    pub async fn scenario_version(&self, id: ScenarioId) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT version FROM scenarios WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| r.int("version")).transpose()
    }

    pub async fn list_scenarios(
        &self,
        account: AccountId,
    ) -> Result<Vec<ScenarioRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM scenarios WHERE account_id = $1 ORDER BY name, id"
        ))
        .bind(account.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(scenario_from_row).collect()
    }

    /// Deletes a scenario no channel routes to and no conversation is still in.
    pub async fn delete_scenario(
        &self,
        account: AccountId,
        id: ScenarioId,
        actor: Option<OperatorId>,
    ) -> Result<(), StoreError> {
        self.get_scenario(account, id).await?;
        let pattern = format!("%{id}%");
        let used = sqlx::query(
            "SELECT 1 AS one FROM channel_connections WHERE account_id = $1 AND (routing LIKE $2 OR out_of_hours LIKE $2)",
        )
        .bind(account.to_string())
        .bind(&pattern)
        .fetch_optional(&self.read)
        .await?;
        if used.is_some() {
            return Err(StoreError::Refused {
                code: "scenario_in_use",
                message:
                    "a channel routes conversations to this scenario; route it elsewhere first"
                        .into(),
            });
        }
        let running = sqlx::query(
            "SELECT 1 AS one FROM bot_states b JOIN conversations c ON c.id = b.conversation_id
             WHERE b.scenario_id = $1 AND c.status = 'bot'",
        )
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?;
        if running.is_some() {
            return Err(StoreError::Refused {
                code: "scenario_in_use",
                message: "conversations are still talking to this scenario".into(),
            });
        }
        // Finished conversations keep their history; their bot rows go with the scenario.
        sqlx::query("DELETE FROM bot_states WHERE scenario_id = $1")
            .bind(id.to_string())
            .execute(&self.write)
            .await?;
        self.delete_audited(
            "scenarios",
            "scenario",
            "scenario.delete",
            account,
            id.to_string(),
            actor,
        )
        .await
    }
}
