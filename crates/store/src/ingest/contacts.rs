//! The contacts of a round's customer messages, set-wise: one lookup of the identities,
//! the new contacts and identities in one statement each (a race lost to another node is
//! resolved by taking its contact), the returning ones marked reachable again, and what
//! their apps show kept where the channel reports it.

use std::collections::{HashMap, HashSet};

use sqlx::{any::AnyRow, AnyConnection};
use switchboard_core::ids::ContactId;

use super::messages::Incoming;
use crate::{
    codec::{to_json, RowExt},
    rows::{single_writer, Rows},
    writes::Writes,
    StoreError,
};

/// The contact of each message, added when new (`true`); a contact who writes is reachable
/// again.
/// `known` holds the stored contacts of the round's chats ([`IDENTITIES`], read with the
/// round's claim).
pub(super) async fn contacts(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    items: &[Incoming<'_>],
    mut known: Known,
    now: i64,
) -> Result<Vec<(ContactId, bool)>, StoreError> {
    let key = |item: &Incoming<'_>| {
        (
            item.input.connection_id.to_string(),
            item.contact_external_id.to_owned(),
        )
    };
    let mut added = Rows::new(4);
    let mut identities_added = Rows::new(3);
    let mut new: HashMap<(String, String), ContactId> = HashMap::new();
    for item in items {
        let k = key(item);
        if known.contains_key(&k) || new.contains_key(&k) {
            continue;
        }
        let contact = ContactId::new();
        added.push([
            contact.to_string().into(),
            item.input.account_id.to_string().into(),
            item.contact_name.into(),
            now.into(),
        ]);
        identities_added.push([
            k.0.clone().into(),
            k.1.clone().into(),
            contact.to_string().into(),
        ]);
        new.insert(k, contact);
    }
    writes.execute(
        "INSERT INTO contacts (id, account_id, name, created_at) VALUES {rows}",
        added,
    );
    let inserted: HashSet<String> = if single_writer(tx) {
        // The round's claim took the write lock: nobody stored these since the lookup (and
        // a conflict would fail the batch loudly, not drop a row).
        writes.execute(
            "INSERT INTO contact_identities (connection_id, external_id, contact_id) VALUES {rows}",
            identities_added,
        );
        new.values().map(ContactId::to_string).collect()
    } else {
        writes
            .fetch(
                tx,
                "INSERT INTO contact_identities (connection_id, external_id, contact_id) VALUES {rows}
                 ON CONFLICT DO NOTHING RETURNING contact_id",
                &identities_added,
            )
            .await?
            .iter()
            .map(|row| row.text("contact_id"))
            .collect::<Result<_, _>>()?
    };
    // Another node stored some of these identities first: use its contacts, drop ours.
    let mut lost = Rows::new(1);
    let mut lost_keys = Rows::new(2);
    new.retain(|(connection, external), contact| {
        let kept = inserted.contains(&contact.to_string());
        if !kept {
            lost.push([contact.to_string().into()]);
            lost_keys.push([connection.clone().into(), external.clone().into()]);
        }
        kept
    });
    if !lost.is_empty() {
        writes.execute("DELETE FROM contacts WHERE id IN (VALUES {rows})", lost);
        known.extend(identities(tx, writes, &lost_keys).await?);
    }
    // Only the chats of these messages: `known` also holds those of the round's repeats,
    // which say nothing new about the contact.
    let mut returning = Rows::new(2);
    let mut marked = HashSet::new();
    for item in items {
        let k = key(item);
        if known.contains_key(&k) && !new.contains_key(&k) && marked.insert(k.clone()) {
            returning.push([k.0.into(), k.1.into()]);
        }
    }
    writes.execute(
        "UPDATE contact_identities SET reachable = 1 FROM (VALUES {rows}) AS v
         WHERE contact_identities.connection_id = v.column1 AND contact_identities.external_id = v.column2
           AND contact_identities.reachable = 0",
        returning,
    );
    // What the customer's app shows, where the channel reports it (VK): written only when it
    // changed, so a chat whose app stays the same costs no row write.
    let mut clients = Rows::new(3);
    for item in items {
        if let Some(client) = item.client {
            let k = key(item);
            clients.push([k.0.into(), k.1.into(), to_json(client).into()]);
        }
    }
    writes.execute(
        "UPDATE contact_identities SET client = v.column3 FROM (VALUES {rows}) AS v
         WHERE contact_identities.connection_id = v.column1 AND contact_identities.external_id = v.column2
           AND (contact_identities.client IS NULL OR contact_identities.client <> v.column3)",
        clients,
    );
    items
        .iter()
        .map(|item| {
            let k = key(item);
            match (new.get(&k), known.get(&k)) {
                (Some(contact), _) => Ok((*contact, true)),
                (None, Some(contact)) => Ok((*contact, false)),
                (None, None) => Err(StoreError::Corrupt(format!(
                    "no contact stored for chat {} of connection {}",
                    k.1, k.0
                ))),
            }
        })
        .collect()
}

/// Stored contacts by (connection, external id).
pub(super) type Known = HashMap<(String, String), ContactId>;

/// The stored contacts of (connection, external id) rows: one row per pair asked, its
/// `contact_id` null when none is stored. A lookup per pair, not a join: joined with the
/// `VALUES` list, PostgreSQL hashed the list and scanned every identity ever stored (9 ms
/// for 256 pairs among 47,000 identities, 0.4 ms looked up one by one), until the table grew
/// large enough for its planner to change its mind.
pub(super) const IDENTITIES: &str = "SELECT v.column1 AS connection_id, v.column2 AS external_id,
         (SELECT i.contact_id FROM contact_identities i
          WHERE i.connection_id = v.column1 AND i.external_id = v.column2) AS contact_id
     FROM (VALUES {rows}) AS v";

/// What [`IDENTITIES`] found.
pub(super) fn known_of(rows: &[AnyRow]) -> Result<Known, StoreError> {
    let mut known = Known::with_capacity(rows.len());
    for row in rows {
        if let Some(contact) = row.opt_parse("contact_id")? {
            known.insert(
                (row.text("connection_id")?, row.text("external_id")?),
                contact,
            );
        }
    }
    Ok(known)
}

/// The stored contacts of these (connection, external id) pairs.
async fn identities(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    keys: &Rows,
) -> Result<Known, StoreError> {
    known_of(&writes.fetch(tx, IDENTITIES, keys).await?)
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;
    use crate::testing::{self, Backend, TestDb};

    /// The lookup of a batch's chats reads the identities by their key on both backends,
    /// whatever the planner knows of the table: never a scan of every identity stored
    /// (joined with the list instead, PostgreSQL hashed it and scanned the table).
    async fn the_chats_of_a_batch_are_looked_up_by_key(backend: Backend) {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let store = db.store().await;
        let (account, _, group) = testing::account_with_group(&store).await;
        let (connection, _) = store
            .create_connection(&testing::telegram_connection(account, group), None)
            .await
            .unwrap();
        let connection = connection.id;
        for (sql, first) in [
            (
                "INSERT INTO contacts (id, account_id, name, created_at) SELECT 'c' || i, $1, 'x', 0 FROM n",
                account.to_string(),
            ),
            (
                "INSERT INTO contact_identities (connection_id, external_id, contact_id) SELECT $1, 'e' || i, 'c' || i FROM n",
                connection.to_string(),
            ),
        ] {
            sqlx::query(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) {sql}"
            ))
            .bind(first)
            .execute(&store.write)
            .await
            .unwrap();
        }
        sqlx::query("ANALYZE").execute(&store.write).await.unwrap();
        let list: Vec<String> = (0..256)
            .map(|i| format!("('{connection}', 'new{i}')"))
            .collect();
        let sql = IDENTITIES.replace("{rows}", &list.join(", "));
        let (explain, column) = match backend {
            Backend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
            Backend::Postgres => ("EXPLAIN", "QUERY PLAN"),
        };
        let plan: Vec<String> = sqlx::query(&format!("{explain} {sql}"))
            .fetch_all(&store.write)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String, _>(column).unwrap())
            .collect();
        let plan = plan.join("\n");
        let by_key = match backend {
            Backend::Sqlite => plan.contains("SEARCH i USING") && !plan.contains("SCAN i"),
            Backend::Postgres => {
                plan.contains("Index Scan using contact_identities_pkey")
                    && !plan.contains("Scan on contact_identities")
            }
        };
        assert!(by_key, "the identities are scanned:\n{plan}");
    }

    crate::backends!(the_chats_of_a_batch_are_looked_up_by_key);
}
