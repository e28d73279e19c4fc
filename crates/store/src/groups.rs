//! Groups and their members, in priority order.

use std::collections::HashMap;

use sqlx::{any::AnyRow, AnyConnection};
use switchboard_core::{
    audit::NewAuditEntry,
    group::{Distribution, Group},
    ids::{AccountId, GroupId, OperatorId},
    DurationSpec,
};

use crate::{
    audit,
    codec::{now_millis, RowExt},
    routing, Store, StoreError,
};

/// A group as written by the API: the whole definition, for create and update alike.
#[derive(Debug, Clone)]
pub struct GroupInput {
    pub name: String,
    pub operator_ids: Vec<OperatorId>,
    pub distribution: Distribution,
}

const COLUMNS: &str = "id, account_id, name, strategy, capacity, answer_timeout_secs, max_offers, fallback_group_id, created_at, updated_at";

fn group_from_row(row: &AnyRow, operator_ids: Vec<OperatorId>) -> Result<Group, StoreError> {
    let capacity = row.int("capacity")?;
    let max_offers = row.int("max_offers")?;
    let timeout = row.int("answer_timeout_secs")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("groups.{what}"));
    Ok(Group {
        id: row.parse("id")?,
        account_id: row.parse("account_id")?,
        name: row.text("name")?,
        operator_ids,
        distribution: Distribution {
            strategy: row.parse("strategy")?,
            capacity: u32::try_from(capacity).map_err(|_| corrupt("capacity"))?,
            answer_timeout: u64::try_from(timeout)
                .ok()
                .and_then(|s| DurationSpec::from_secs(s).ok())
                .ok_or_else(|| corrupt("answer_timeout_secs"))?,
            max_offers: u32::try_from(max_offers).map_err(|_| corrupt("max_offers"))?,
            fallback_group_id: row.opt_parse("fallback_group_id")?,
        },
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

/// Checks that every reference of a group points into the same account.
async fn check_references(
    conn: &mut AnyConnection,
    account: AccountId,
    input: &GroupInput,
) -> Result<(), StoreError> {
    for (i, operator) in input.operator_ids.iter().enumerate() {
        let found = sqlx::query("SELECT 1 AS one FROM operators WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL")
            .bind(account.to_string())
            .bind(operator.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(StoreError::InvalidReference {
                what: format!("operator_ids[{i}]"),
            });
        }
    }
    if let Some(fallback) = input.distribution.fallback_group_id {
        let found = sqlx::query("SELECT 1 AS one FROM groups WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(fallback.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(StoreError::InvalidReference {
                what: "distribution.fallback_group_id".into(),
            });
        }
    }
    Ok(())
}

async fn write_members(
    conn: &mut AnyConnection,
    group: GroupId,
    members: &[OperatorId],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM group_members WHERE group_id = $1")
        .bind(group.to_string())
        .execute(&mut *conn)
        .await?;
    for (position, operator) in members.iter().enumerate() {
        sqlx::query(
            "INSERT INTO group_members (group_id, operator_id, position) VALUES ($1, $2, $3)",
        )
        .bind(group.to_string())
        .bind(operator.to_string())
        .bind(position as i64)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    pub async fn create_group(
        &self,
        account: AccountId,
        input: &GroupInput,
        actor: Option<OperatorId>,
    ) -> Result<Group, StoreError> {
        self.save_group(account, None, input, actor).await
    }

    /// Replaces a group's definition.
    pub async fn update_group(
        &self,
        account: AccountId,
        id: GroupId,
        input: &GroupInput,
        actor: Option<OperatorId>,
    ) -> Result<Group, StoreError> {
        self.save_group(account, Some(id), input, actor).await
    }

    async fn save_group(
        &self,
        account: AccountId,
        existing: Option<GroupId>,
        input: &GroupInput,
        actor: Option<OperatorId>,
    ) -> Result<Group, StoreError> {
        let mut tx = self.write.begin().await?;
        if let Some(id) = existing {
            // Existence first: a foreign group id is "not found", whatever the body says.
            sqlx::query("SELECT 1 AS one FROM groups WHERE account_id = $1 AND id = $2")
                .bind(account.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        }
        check_references(&mut tx, account, input).await?;
        let d = &input.distribution;
        let now = now_millis();
        let (id, action) = match existing {
            Some(id) => (id, "group.update"),
            None => (GroupId::new(), "group.create"),
        };
        let sql = if existing.is_some() {
            format!(
                "UPDATE groups SET name = $3, strategy = $4, capacity = $5, answer_timeout_secs = $6,
                     max_offers = $7, fallback_group_id = $8, updated_at = $9
                 WHERE account_id = $1 AND id = $2 RETURNING {COLUMNS}"
            )
        } else {
            format!(
                "INSERT INTO groups ({COLUMNS}) VALUES ($2, $1, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {COLUMNS}"
            )
        };
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(&input.name)
            .bind(d.strategy.as_str())
            .bind(i64::from(d.capacity))
            .bind(d.answer_timeout.as_secs() as i64)
            .bind(i64::from(d.max_offers))
            .bind(d.fallback_group_id.map(|g| g.to_string()))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| name_taken(e.into()))?
            .ok_or(StoreError::NotFound)?;
        write_members(&mut tx, id, &input.operator_ids).await?;
        let group = group_from_row(&row, input.operator_ids.clone())?;
        // New members or a larger capacity may let waiting conversations through.
        routing::lock(&mut tx, self.dialect, account).await?;
        routing::distribute_group(&mut tx, account, id, jiff::Timestamp::now()).await?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(account, actor, action, "group", id).details(serde_json::json!({
                    "name": group.name, "operator_ids": group.operator_ids, "distribution": group.distribution,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(group)
    }

    pub async fn get_group(&self, account: AccountId, id: GroupId) -> Result<Group, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM groups WHERE account_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        let members = sqlx::query(
            "SELECT operator_id FROM group_members WHERE group_id = $1 ORDER BY position",
        )
        .bind(id.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| r.parse("operator_id"))
        .collect::<Result<Vec<_>, _>>()?;
        group_from_row(&row, members)
    }

    /// The groups `operator` is a member of.
    pub async fn groups_of(
        &self,
        account: AccountId,
        operator: OperatorId,
    ) -> Result<Vec<GroupId>, StoreError> {
        sqlx::query(
            "SELECT m.group_id FROM group_members m JOIN groups g ON g.id = m.group_id
             WHERE g.account_id = $1 AND m.operator_id = $2",
        )
        .bind(account.to_string())
        .bind(operator.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| r.parse("group_id"))
        .collect()
    }

    pub async fn list_groups(&self, account: AccountId) -> Result<Vec<Group>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM groups WHERE account_id = $1 ORDER BY name, id");
        let rows = sqlx::query(&sql)
            .bind(account.to_string())
            .fetch_all(&self.read)
            .await?;
        let member_rows = sqlx::query(
            "SELECT m.group_id, m.operator_id FROM group_members m JOIN groups g ON g.id = m.group_id
             WHERE g.account_id = $1 ORDER BY m.group_id, m.position",
        )
        .bind(account.to_string())
        .fetch_all(&self.read)
        .await?;
        let mut members: HashMap<GroupId, Vec<OperatorId>> = HashMap::new();
        for row in &member_rows {
            members
                .entry(row.parse("group_id")?)
                .or_default()
                .push(row.parse("operator_id")?);
        }
        rows.iter()
            .map(|row| {
                let id: GroupId = row.parse("id")?;
                group_from_row(row, members.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    pub async fn delete_group(
        &self,
        account: AccountId,
        id: GroupId,
        actor: Option<OperatorId>,
    ) -> Result<(), StoreError> {
        // A connection routed here would open conversations nobody can take.
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
                code: "group_in_use",
                message: "a channel routes conversations to this group; route it elsewhere first"
                    .into(),
            });
        }
        // Its queue has nowhere to go: flag it for a supervisor.
        sqlx::query(
            "UPDATE conversations SET needs_attention = 1 WHERE account_id = $1 AND group_id = $2 AND status = 'queued'",
        )
        .bind(account.to_string())
        .bind(id.to_string())
        .execute(&self.write)
        .await?;
        self.delete_audited(
            "groups",
            "group",
            "group.delete",
            account,
            id.to_string(),
            actor,
        )
        .await
    }
}
