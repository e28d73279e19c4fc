//! Channel connections: one connected account of one channel kind, and who receives the
//! conversations that arrive through it ("кто будет принимать обращение").

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    ids::{AccountId, ConnectionId, GroupId, OperatorId, ScenarioId, ScheduleId},
    routing::OutOfHours,
    string_enum, DurationSpec,
};

string_enum! {
    /// The kinds of channel Switchboard connects.
    pub enum ChannelKind {
        Telegram = "telegram",
        Vk = "vk",
        Viber = "viber",
        Whatsapp = "whatsapp",
        Messenger = "messenger",
        Instagram = "instagram",
        Ok = "ok",
        Avito = "avito",
        Yandex = "yandex",
        Email = "email",
        Webchat = "webchat",
        Jivo = "jivo",
        Webim = "webim",
        Umnico = "umnico",
        Bitrix24 = "bitrix24",
        Livetex = "livetex",
    }
}

string_enum! {
    /// How a connection hears from its channel.
    pub enum Receive {
        /// The channel calls `POST /hooks/{id}` (needs a public URL).
        Webhook = "webhook",
        /// Switchboard asks the channel (long polling), for servers without a public URL.
        Polling = "polling",
    }
}

/// Who receives new conversations of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "target", rename_all = "snake_case", deny_unknown_fields)]
pub enum Routing {
    Operator { operator_id: OperatorId },
    Group { group_id: GroupId },
    Bot { scenario_id: ScenarioId },
}

/// Send limits of a connection; the channel's defaults unless overridden.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Messages per second over the whole connection.
    pub per_second: Option<f64>,
    /// Messages per second to one chat.
    pub per_chat_per_second: Option<f64>,
}

/// One connected account of one channel kind.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChannelConnection {
    pub id: ConnectionId,
    pub account_id: AccountId,
    pub kind: ChannelKind,
    pub name: String,
    /// The bot, page or mailbox name the channel reported when the credentials were checked.
    pub account_name: String,
    /// The channel's own id of the connected account (bot id, group id); two connections of
    /// one external account cannot both be enabled.
    pub external_account_id: String,
    pub routing: Routing,
    pub schedule_id: Option<ScheduleId>,
    pub auto_close_after: DurationSpec,
    /// Sent to the customer when auto-close ends a conversation; none sends nothing.
    pub auto_close_message: Option<String>,
    /// What happens out of the schedule's hours; none treats them like working hours.
    pub out_of_hours: Option<OutOfHours>,
    pub enabled: bool,
    pub receive: Receive,
    pub api_base_url: Option<String>,
    /// `None`: the channel's defaults; `Some(None)`: no limit; `Some(Some(_))`: overridden.
    #[schema(value_type = Option<RateLimits>)]
    pub rate_limits: Option<Option<RateLimits>>,
    /// Changes to the channel kind's capability profile (buttons, text length, the
    /// messenger behind a platform); none uses the defaults.
    pub capabilities: Option<crate::capabilities::CapabilityOverrides>,
    /// Why the channel stopped accepting our sends (credentials revoked); none while healthy.
    pub broken_reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_reads_the_contract_shape() {
        let id = GroupId::new();
        let json = serde_json::json!({"target": "group", "group_id": id});
        assert_eq!(
            serde_json::from_value::<Routing>(json).unwrap(),
            Routing::Group { group_id: id }
        );
        let wrong = serde_json::json!({"target": "group", "operator_id": id});
        assert!(serde_json::from_value::<Routing>(wrong).is_err());
    }

    #[test]
    fn kinds_cover_the_glossary() {
        assert_eq!(ChannelKind::ALL.len(), 16);
        assert_eq!(
            "bitrix24".parse::<ChannelKind>().unwrap(),
            ChannelKind::Bitrix24
        );
    }
}
