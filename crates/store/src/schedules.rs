//! Schedules: working hours stored as one JSON document per schedule.

use sqlx::any::AnyRow;
use switchboard_core::{
    audit::NewAuditEntry,
    ids::{AccountId, OperatorId, ScheduleId},
    schedule::{Hours, Schedule},
};

use crate::{
    audit,
    codec::{now_millis, to_json, RowExt},
    Store, StoreError,
};

/// A schedule as written by the API.
#[derive(Debug, Clone)]
pub struct ScheduleInput {
    pub name: String,
    pub hours: Hours,
}

const COLUMNS: &str = "id, account_id, name, hours, created_at, updated_at";

fn schedule_from_row(row: &AnyRow) -> Result<Schedule, StoreError> {
    Ok(Schedule {
        id: row.parse("id")?,
        account_id: row.parse("account_id")?,
        name: row.text("name")?,
        hours: row.json("hours")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

impl Store {
    pub async fn create_schedule(
        &self,
        account: AccountId,
        input: &ScheduleInput,
        actor: Option<OperatorId>,
    ) -> Result<Schedule, StoreError> {
        let id = ScheduleId::new();
        let sql = format!(
            "INSERT INTO schedules ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
        );
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account.to_string())
            .bind(&input.name)
            .bind(to_json(&input.hours))
            .bind(now_millis())
            .fetch_one(&mut *tx)
            .await?;
        self.audit_schedule(&mut tx, account, id, "schedule.create", input, actor)
            .await?;
        tx.commit().await?;
        schedule_from_row(&row)
    }

    pub async fn update_schedule(
        &self,
        account: AccountId,
        id: ScheduleId,
        input: &ScheduleInput,
        actor: Option<OperatorId>,
    ) -> Result<Schedule, StoreError> {
        let sql = format!(
            "UPDATE schedules SET name = $3, hours = $4, updated_at = $5 WHERE account_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(&input.name)
            .bind(to_json(&input.hours))
            .bind(now_millis())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.audit_schedule(&mut tx, account, id, "schedule.update", input, actor)
            .await?;
        tx.commit().await?;
        schedule_from_row(&row)
    }

    async fn audit_schedule(
        &self,
        conn: &mut sqlx::AnyConnection,
        account: AccountId,
        id: ScheduleId,
        action: &'static str,
        input: &ScheduleInput,
        actor: Option<OperatorId>,
    ) -> Result<(), StoreError> {
        audit::record(
            conn,
            NewAuditEntry::new(account, actor, action, "schedule", id)
                .details(serde_json::json!({"name": input.name, "hours": input.hours})),
        )
        .await
    }

    pub async fn get_schedule(
        &self,
        account: AccountId,
        id: ScheduleId,
    ) -> Result<Schedule, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE account_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        schedule_from_row(&row)
    }

    pub async fn list_schedules(&self, account: AccountId) -> Result<Vec<Schedule>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM schedules WHERE account_id = $1 ORDER BY name, id");
        let rows = sqlx::query(&sql)
            .bind(account.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(schedule_from_row).collect()
    }

    pub async fn delete_schedule(
        &self,
        account: AccountId,
        id: ScheduleId,
        actor: Option<OperatorId>,
    ) -> Result<(), StoreError> {
        self.delete_audited(
            "schedules",
            "schedule",
            "schedule.delete",
            account,
            id.to_string(),
            actor,
        )
        .await
    }
}
