//! The rarer events, stored one by one: a customer who blocked or unblocked the channel, a
//! chat opened without a message (the bot may greet), a customer's edit of a message, a
//! delivery report. Customer messages go set-wise through `messages.rs`.

use sqlx::AnyConnection;
use switchboard_core::{conversation::ConversationStatus, message::DeliveryStatus};

use super::{open_or_continue, upsert_contact, Ingest, IngestEvent, Ingested};
use crate::{
    codec::{to_json, RowExt},
    Dialect, StoreError,
};

/// Stores a fresh event that is not a customer message, on its own.
pub(super) async fn store_other(
    tx: &mut AnyConnection,
    dialect: Dialect,
    input: &Ingest,
    now: i64,
) -> Result<Ingested, StoreError> {
    let nothing = Ingested::Stored {
        conversation_id: None,
        message_id: None,
        opened: false,
        bot: false,
        answered: false,
    };
    Ok(match &input.event {
        IngestEvent::Ignored | IngestEvent::Message { .. } => nothing,
        IngestEvent::Reachability {
            contact_external_id,
            contact_name,
            reachable,
        } => {
            upsert_contact(
                &mut *tx,
                input.account_id,
                input.connection_id,
                contact_external_id,
                contact_name,
                now,
            )
            .await?;
            sqlx::query("UPDATE contact_identities SET reachable = $3 WHERE connection_id = $1 AND external_id = $2")
                .bind(input.connection_id.to_string())
                .bind(contact_external_id)
                .bind(i64::from(*reachable))
                .execute(&mut *tx)
                .await?;
            nothing
        }
        IngestEvent::Started {
            contact_external_id,
            contact_name,
        } => {
            let contact = upsert_contact(
                &mut *tx,
                input.account_id,
                input.connection_id,
                contact_external_id,
                contact_name,
                now,
            )
            .await?;
            if input.start.status != ConversationStatus::Bot {
                return Ok(nothing);
            }
            let (conversation, opened, _) = open_or_continue(
                &mut *tx,
                dialect,
                input.account_id,
                input.connection_id,
                contact,
                input.start,
                now,
            )
            .await?;
            if opened {
                sqlx::query(
                    "INSERT INTO timers (kind, conversation_id, due_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(switchboard_core::timer::TimerKind::Bot.as_str())
                .bind(conversation.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Ingested::Stored {
                conversation_id: Some(conversation),
                message_id: None,
                opened,
                bot: opened,
                answered: false,
            }
        }
        IngestEvent::Edited {
            external_message_id,
            content,
            ..
        } => {
            // Only the customer's own message in this channel; an edit of one we never
            // stored (sent before the channel was connected) changes nothing.
            let row = sqlx::query(
                "UPDATE messages SET content = $1
                 WHERE external_id = $2 AND direction = 'inbound'
                   AND conversation_id IN (SELECT id FROM conversations WHERE connection_id = $3)
                 RETURNING id, conversation_id",
            )
            .bind(to_json(content))
            .bind(external_message_id)
            .bind(input.connection_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            Ingested::Stored {
                conversation_id: row
                    .as_ref()
                    .map(|r| r.parse("conversation_id"))
                    .transpose()?,
                message_id: row.as_ref().map(|r| r.parse("id")).transpose()?,
                opened: false,
                bot: false,
                answered: false,
            }
        }
        IngestEvent::Delivery {
            external_message_id,
            status,
            reason,
        } => {
            // Reports arrive in any order: a message never goes back from read to
            // delivered, nor from failed to anything.
            let earlier: &[&str] = match status {
                DeliveryStatus::Delivered => &["pending", "sent", "unknown"],
                DeliveryStatus::Read => &["pending", "sent", "unknown", "delivered"],
                _ => &["pending", "sent", "unknown", "delivered"],
            };
            let list = earlier
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ");
            let row = sqlx::query(&format!(
                "UPDATE messages SET delivery_status = $1, failure_reason = COALESCE($2, failure_reason)
                 WHERE external_id = $3 AND direction = 'outbound' AND delivery_status IN ({list})
                   AND conversation_id IN (SELECT id FROM conversations WHERE connection_id = $4)
                 RETURNING conversation_id"
            ))
            .bind(status.as_str())
            .bind(reason.as_deref())
            .bind(external_message_id)
            .bind(input.connection_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            Ingested::Stored {
                conversation_id: row.map(|r| r.parse("conversation_id")).transpose()?,
                message_id: None,
                opened: false,
                bot: false,
                answered: false,
            }
        }
    })
}
