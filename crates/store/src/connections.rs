//! Channel connections. Credentials arrive sealed (encrypted by the server) and leave only
//! through [`Store::connection_record`], for the webhook handler and the delivery worker.

use sqlx::{any::AnyRow, AnyConnection};
use switchboard_core::{
    audit::NewAuditEntry,
    capabilities::CapabilityOverrides,
    channel::{ChannelConnection, ChannelKind, RateLimits, Receive, Routing},
    ids::{AccountId, ConnectionId, OperatorId, ScheduleId},
    routing::OutOfHours,
    DurationSpec,
};

use crate::{
    audit,
    codec::{now_millis, to_json, RowExt},
    Store, StoreError,
};

/// A connection to create, after the channel confirmed its credentials.
#[derive(Debug, Clone)]
pub struct NewConnection {
    /// Chosen by the caller: the webhook URL contains it before the row exists.
    pub id: ConnectionId,
    pub account_id: AccountId,
    pub kind: ChannelKind,
    pub name: String,
    pub account_name: String,
    pub external_account_id: String,
    pub sealed_credentials: Vec<u8>,
    pub routing: Routing,
    pub schedule_id: Option<ScheduleId>,
    pub auto_close_after: DurationSpec,
    pub auto_close_message: Option<String>,
    pub out_of_hours: Option<OutOfHours>,
    pub enabled: bool,
    pub receive: Receive,
    pub api_base_url: Option<String>,
    pub rate_limits: Option<Option<RateLimits>>,
    pub capabilities: Option<CapabilityOverrides>,
}

/// Changes to a connection; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ConnectionUpdate {
    pub name: Option<String>,
    pub routing: Option<Routing>,
    pub schedule_id: Option<Option<ScheduleId>>,
    pub auto_close_after: Option<DurationSpec>,
    pub auto_close_message: Option<Option<String>>,
    pub out_of_hours: Option<Option<OutOfHours>>,
    pub api_base_url: Option<Option<String>>,
    pub rate_limits: Option<Option<Option<RateLimits>>>,
    pub capabilities: Option<Option<CapabilityOverrides>>,
    /// New credentials, sealed, confirmed by the channel for the same account, with the
    /// account's name as the channel reports it now: the connection is healthy again.
    pub credentials: Option<(Vec<u8>, String)>,
}

/// A connection with its sealed credentials.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub connection: ChannelConnection,
    pub sealed_credentials: Vec<u8>,
}

const COLUMNS: &str =
    "id, account_id, kind, name, account_name, external_account_id, routing, schedule_id,
    auto_close_after_secs, auto_close_message, out_of_hours, enabled, receive, api_base_url, rate_limits, broken_reason,
    created_at, updated_at, capabilities";

fn connection_from_row(row: &AnyRow) -> Result<ChannelConnection, StoreError> {
    let secs = row.int("auto_close_after_secs")?;
    let rate_limits = match row.opt_text("rate_limits")? {
        None => None,
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("rate_limits: {e}")))?,
        ),
    };
    Ok(ChannelConnection {
        id: row.parse("id")?,
        account_id: row.parse("account_id")?,
        kind: row.parse("kind")?,
        name: row.text("name")?,
        account_name: row.text("account_name")?,
        external_account_id: row.text("external_account_id")?,
        routing: row.json("routing")?,
        schedule_id: row.opt_parse("schedule_id")?,
        auto_close_after: u64::try_from(secs)
            .ok()
            .and_then(|s| DurationSpec::from_secs(s).ok())
            .ok_or_else(|| StoreError::Corrupt("auto_close_after_secs".into()))?,
        auto_close_message: row.opt_text("auto_close_message")?,
        out_of_hours: match row.opt_text("out_of_hours")? {
            None => None,
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("out_of_hours: {e}")))?,
            ),
        },
        enabled: row.flag("enabled")?,
        receive: row.parse("receive")?,
        api_base_url: row.opt_text("api_base_url")?,
        rate_limits,
        capabilities: match row.opt_text("capabilities")? {
            None => None,
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("capabilities: {e}")))?,
            ),
        },
        broken_reason: row.opt_text("broken_reason")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// Checks that routing, out-of-hours routing and schedule point into the same account.
async fn check_references(
    conn: &mut AnyConnection,
    account: AccountId,
    routing: &Routing,
    out_of_hours: Option<&OutOfHours>,
    schedule: Option<ScheduleId>,
) -> Result<(), StoreError> {
    check_routing(conn, account, routing, "routing").await?;
    if let Some(night) = out_of_hours.and_then(|o| o.routing.as_ref()) {
        check_routing(conn, account, night, "out_of_hours.routing").await?;
    }
    if let Some(schedule) = schedule {
        let found = sqlx::query("SELECT 1 AS one FROM schedules WHERE account_id = $1 AND id = $2")
            .bind(account.to_string())
            .bind(schedule.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(StoreError::InvalidReference {
                what: "schedule_id".into(),
            });
        }
    }
    Ok(())
}

async fn check_routing(
    conn: &mut AnyConnection,
    account: AccountId,
    routing: &Routing,
    at: &str,
) -> Result<(), StoreError> {
    let (table, id, field) = match routing {
        Routing::Operator { operator_id } => ("operators", operator_id.to_string(), "operator_id"),
        Routing::Group { group_id } => ("groups", group_id.to_string(), "group_id"),
        Routing::Bot { scenario_id } => ("scenarios", scenario_id.to_string(), "scenario_id"),
    };
    let extra = if table == "operators" {
        " AND deleted_at IS NULL"
    } else {
        ""
    };
    let sql = format!("SELECT 1 AS one FROM {table} WHERE account_id = $1 AND id = $2{extra}");
    if sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .is_none()
    {
        return Err(StoreError::InvalidReference {
            what: format!("{at}.{field}"),
        });
    }
    Ok(())
}

/// Disables every other enabled connection of the same channel account and returns them:
/// the newest connection of a bot owns its webhook.
async fn displace(
    conn: &mut AnyConnection,
    keep: ConnectionId,
    kind: ChannelKind,
    external_account_id: &str,
    actor: Option<OperatorId>,
    now: i64,
) -> Result<Vec<ChannelConnection>, StoreError> {
    let sql = format!(
        "UPDATE channel_connections SET enabled = 0, updated_at = $4
         WHERE kind = $1 AND external_account_id = $2 AND enabled = 1 AND id <> $3 RETURNING {COLUMNS}"
    );
    let rows = sqlx::query(&sql)
        .bind(kind.as_str())
        .bind(external_account_id)
        .bind(keep.to_string())
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
    let displaced = rows
        .iter()
        .map(connection_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    for old in &displaced {
        audit::record(
            conn,
            NewAuditEntry::new(old.account_id, actor, "channel.displace", "channel", old.id).details(serde_json::json!({"replaced_by": keep, "reason": "the same channel account was connected again"})),
        )
        .await?;
    }
    Ok(displaced)
}

fn rate_limits_json(limits: &Option<Option<RateLimits>>) -> Option<String> {
    limits.as_ref().map(to_json)
}

impl Store {
    /// Creates a connection. If it is enabled, any older enabled connection of the same
    /// channel account is disabled and returned.
    pub async fn create_connection(
        &self,
        new: &NewConnection,
        actor: Option<OperatorId>,
    ) -> Result<(ChannelConnection, Vec<ChannelConnection>), StoreError> {
        let id = new.id;
        let now = now_millis();
        let mut tx = self.write.begin().await?;
        check_references(
            &mut tx,
            new.account_id,
            &new.routing,
            new.out_of_hours.as_ref(),
            new.schedule_id,
        )
        .await?;
        let displaced = if new.enabled {
            displace(&mut tx, id, new.kind, &new.external_account_id, actor, now).await?
        } else {
            Vec::new()
        };
        let sql = format!(
            "INSERT INTO channel_connections (id, account_id, kind, name, account_name, external_account_id, credentials,
                 routing, schedule_id, auto_close_after_secs, enabled, api_base_url, rate_limits, created_at, updated_at, receive,
                 auto_close_message, out_of_hours, capabilities)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, $17, $18) RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(new.account_id.to_string())
            .bind(new.kind.as_str())
            .bind(&new.name)
            .bind(&new.account_name)
            .bind(&new.external_account_id)
            .bind(new.sealed_credentials.clone())
            .bind(to_json(&new.routing))
            .bind(new.schedule_id.map(|s| s.to_string()))
            .bind(new.auto_close_after.as_secs() as i64)
            .bind(i64::from(new.enabled))
            .bind(new.api_base_url.as_deref())
            .bind(rate_limits_json(&new.rate_limits))
            .bind(now)
            .bind(new.receive.as_str())
            .bind(new.auto_close_message.as_deref())
            .bind(new.out_of_hours.as_ref().map(to_json))
            .bind(new.capabilities.as_ref().map(to_json))
            .fetch_one(&mut *tx)
            .await?;
        let connection = connection_from_row(&row)?;
        audit::record(
            &mut tx,
            NewAuditEntry::new(new.account_id, actor, "channel.create", "channel", id).details(
                serde_json::json!({
                    "kind": new.kind, "name": new.name, "account_name": new.account_name,
                    "displaced": displaced.iter().map(|c| c.id).collect::<Vec<_>>(),
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok((connection, displaced))
    }

    pub async fn get_connection(
        &self,
        account: AccountId,
        id: ConnectionId,
    ) -> Result<ChannelConnection, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM channel_connections WHERE account_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        connection_from_row(&row)
    }

    pub async fn list_connections(
        &self,
        account: AccountId,
    ) -> Result<Vec<ChannelConnection>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM channel_connections WHERE account_id = $1 ORDER BY name, id"
        );
        let rows = sqlx::query(&sql)
            .bind(account.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(connection_from_row).collect()
    }

    /// A connection by id alone, with its sealed credentials: for webhooks (whose URL names
    /// the connection) and workers. Never for API callers.
    pub async fn connection_record(
        &self,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS}, credentials FROM channel_connections WHERE id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
        else {
            return Ok(None);
        };
        let sealed_credentials: Vec<u8> = sqlx::Row::try_get(&row, "credentials")
            .map_err(|e| StoreError::Corrupt(format!("credentials: {e}")))?;
        Ok(Some(ConnectionRecord {
            connection: connection_from_row(&row)?,
            sealed_credentials,
        }))
    }

    pub async fn update_connection(
        &self,
        account: AccountId,
        id: ConnectionId,
        update: &ConnectionUpdate,
        actor: Option<OperatorId>,
    ) -> Result<ChannelConnection, StoreError> {
        let mut tx = self.write.begin().await?;
        let current_sql =
            format!("SELECT {COLUMNS} FROM channel_connections WHERE account_id = $1 AND id = $2");
        let current = sqlx::query(&current_sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut c = connection_from_row(&current)?;
        c.name = update.name.clone().unwrap_or(c.name);
        c.routing = update.routing.clone().unwrap_or(c.routing);
        c.schedule_id = update.schedule_id.unwrap_or(c.schedule_id);
        c.auto_close_after = update.auto_close_after.unwrap_or(c.auto_close_after);
        c.api_base_url = update.api_base_url.clone().unwrap_or(c.api_base_url);
        c.rate_limits = update.rate_limits.unwrap_or(c.rate_limits);
        c.capabilities = update.capabilities.clone().unwrap_or(c.capabilities);
        c.auto_close_message = update
            .auto_close_message
            .clone()
            .unwrap_or(c.auto_close_message);
        c.out_of_hours = update.out_of_hours.clone().unwrap_or(c.out_of_hours);
        check_references(
            &mut tx,
            account,
            &c.routing,
            c.out_of_hours.as_ref(),
            c.schedule_id,
        )
        .await?;
        let sql = format!(
            "UPDATE channel_connections SET name = $3, routing = $4, schedule_id = $5, auto_close_after_secs = $6,
                 api_base_url = $7, rate_limits = $8, updated_at = $9, auto_close_message = $10, out_of_hours = $11,
                 capabilities = $12
             WHERE account_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        if let Some((sealed, account_name)) = &update.credentials {
            sqlx::query(
                "UPDATE channel_connections SET credentials = $3, account_name = $4, broken_reason = NULL
                 WHERE account_id = $1 AND id = $2",
            )
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(sealed.clone())
            .bind(account_name)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(&c.name)
            .bind(to_json(&c.routing))
            .bind(c.schedule_id.map(|s| s.to_string()))
            .bind(c.auto_close_after.as_secs() as i64)
            .bind(c.api_base_url.as_deref())
            .bind(rate_limits_json(&c.rate_limits))
            .bind(now_millis())
            .bind(c.auto_close_message.as_deref())
            .bind(c.out_of_hours.as_ref().map(to_json))
            .bind(c.capabilities.as_ref().map(to_json))
            .fetch_one(&mut *tx)
            .await?;
        let updated = connection_from_row(&row)?;
        if update.auto_close_after.is_some() {
            // Open conversations follow the new setting: their timers fire now and are
            // re-decided against it (moved on, or closed if already quiet long enough).
            sqlx::query(
                "UPDATE timers SET due_at = $2, lease_until = NULL
                 WHERE kind = 'auto_close' AND conversation_id IN
                     (SELECT v.id FROM conversations v WHERE v.connection_id = $1 AND v.closed_at IS NULL)",
            )
            .bind(id.to_string())
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        audit::record(
            &mut tx,
            NewAuditEntry::new(account, actor, "channel.update", "channel", id).details(serde_json::json!({"name": updated.name, "routing": updated.routing,
                    "schedule_id": updated.schedule_id, "auto_close_after": updated.auto_close_after,
                    "auto_close_message": updated.auto_close_message, "out_of_hours": updated.out_of_hours,
                    "credentials_changed": update.credentials.is_some()})),
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Removes a connection that never carried a conversation (a failed connect); one with
    /// history is only disabled, so the history stays.
    pub async fn remove_new_connection(
        &self,
        account: AccountId,
        id: ConnectionId,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM channel_connections WHERE account_id = $1 AND id = $2
               AND NOT EXISTS (SELECT 1 FROM conversations WHERE connection_id = $2)",
        )
        .bind(account.to_string())
        .bind(id.to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Enables or disables a connection; enabling displaces other connections of the same
    /// channel account. History is kept either way.
    pub async fn set_connection_enabled(
        &self,
        account: AccountId,
        id: ConnectionId,
        enabled: bool,
        actor: Option<OperatorId>,
    ) -> Result<(ChannelConnection, Vec<ChannelConnection>), StoreError> {
        let now = now_millis();
        let mut tx = self.write.begin().await?;
        let current_sql =
            format!("SELECT {COLUMNS} FROM channel_connections WHERE account_id = $1 AND id = $2");
        let current = sqlx::query(&current_sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let current = connection_from_row(&current)?;
        // The newest enabled connection of a channel account owns its webhook.
        let displaced = if enabled {
            displace(
                &mut tx,
                id,
                current.kind,
                &current.external_account_id,
                actor,
                now,
            )
            .await?
        } else {
            Vec::new()
        };
        let sql = format!(
            "UPDATE channel_connections SET enabled = $3, updated_at = $4 WHERE account_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(account.to_string())
            .bind(id.to_string())
            .bind(i64::from(enabled))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let connection = connection_from_row(&row)?;
        audit::record(
            &mut tx,
            NewAuditEntry {
                account_id: account,
                actor_id: actor,
                action: if enabled {
                    "channel.enable"
                } else {
                    "channel.disable"
                },
                object_type: "channel",
                object_id: id.to_string(),
                details: serde_json::json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((connection, displaced))
    }
}

impl Store {
    /// Enabled connections that are read by long polling.
    pub async fn polling_connections(&self) -> Result<Vec<ChannelConnection>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM channel_connections WHERE enabled = 1 AND receive = 'polling' ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.read).await?;
        rows.iter().map(connection_from_row).collect()
    }

    /// Takes or renews the right to poll `connection` until `until`; false while another node
    /// holds an unexpired lease. Returns the stored cursor with the lease.
    pub async fn claim_poller(
        &self,
        connection: ConnectionId,
        node: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<Option<String>>, StoreError> {
        sqlx::query("INSERT INTO pollers (connection_id, node, lease_until) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING")
            .bind(connection.to_string())
            .bind(node)
            .execute(&self.write)
            .await?;
        let row = sqlx::query(
            "UPDATE pollers SET node = $2, lease_until = $4 WHERE connection_id = $1 AND (node = $2 OR lease_until < $3) RETURNING cursor",
        )
        .bind(connection.to_string())
        .bind(node)
        .bind(now)
        .bind(until)
        .fetch_optional(&self.write)
        .await?;
        row.map(|r| r.opt_text("cursor")).transpose()
    }

    /// Records how far polling got, after the events up to there are stored.
    pub async fn save_poll_cursor(
        &self,
        connection: ConnectionId,
        node: &str,
        cursor: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE pollers SET cursor = $3 WHERE connection_id = $1 AND node = $2")
            .bind(connection.to_string())
            .bind(node)
            .bind(cursor)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
