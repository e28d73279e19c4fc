//! Groups of operators and how a group's conversations reach them ("распределение обращений").

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    ids::{AccountId, GroupId, OperatorId},
    string_enum,
    validation::{self, FieldError, Validated},
    DurationSpec,
};

string_enum! {
    /// How a group's conversations are spread over its operators.
    pub enum Strategy {
        /// Evenly: the operator idle longest since their last assignment first.
        RoundRobin = "round_robin",
        /// The operator with the fewest open conversations.
        LeastBusy = "least_busy",
        /// Operators in the configured priority order.
        InOrder = "in_order",
        /// Offered to every available operator; the first to accept takes it.
        AllAtOnce = "all_at_once",
    }
}

/// A group's distribution settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Distribution {
    pub strategy: Strategy,
    /// The most open conversations one operator of this group holds at once.
    pub capacity: u32,
    /// After this long without an answer, the conversation is offered to the next operator.
    pub answer_timeout: DurationSpec,
    /// How many operators a conversation is offered to before it goes to the fallback group.
    pub max_offers: u32,
    /// Where conversations go after `max_offers` unanswered offers; none keeps them queued
    /// and flagged to supervisors.
    pub fallback_group_id: Option<GroupId>,
}

pub const MAX_CAPACITY: u32 = 1000;
pub const MAX_OFFERS: u32 = 100;
pub const MAX_NAME: usize = 200;

impl Default for Distribution {
    fn default() -> Self {
        Self {
            strategy: Strategy::RoundRobin,
            capacity: 5,
            answer_timeout: DurationSpec::from_secs(120).unwrap_or_else(|_| unreachable!()),
            max_offers: 3,
            fallback_group_id: None,
        }
    }
}

impl Distribution {
    /// Checks the values a form or API client can get wrong. Whether the fallback group
    /// exists is the store's question; here only that a group does not fall back to itself.
    pub fn check(&self, own_id: Option<GroupId>) -> Validated<()> {
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(FieldError::new(
                "capacity",
                format!("must be between 1 and {MAX_CAPACITY}"),
            ));
        }
        if self.max_offers == 0 || self.max_offers > MAX_OFFERS {
            return Err(FieldError::new(
                "max_offers",
                format!("must be between 1 and {MAX_OFFERS}"),
            ));
        }
        if own_id.is_some() && self.fallback_group_id == own_id {
            return Err(FieldError::new(
                "fallback_group_id",
                "a group cannot fall back to itself",
            ));
        }
        Ok(())
    }
}

/// Operators sharing a queue.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Group {
    pub id: GroupId,
    pub account_id: AccountId,
    pub name: String,
    /// Members in priority order (the order `in_order` offers in).
    pub operator_ids: Vec<OperatorId>,
    pub distribution: Distribution,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Parses a group name.
pub fn parse_name(value: &str) -> Validated<String> {
    validation::name("name", value, MAX_NAME)
}

/// Refuses an operator listed twice: the priority order would be ambiguous.
pub fn check_members(ids: &[OperatorId]) -> Validated<()> {
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(FieldError::new(
                format!("operator_ids[{i}]"),
                "is listed twice",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Distribution::default().check(None), Ok(()));
    }

    #[test]
    fn bad_values_name_their_field() {
        let zero = Distribution {
            capacity: 0,
            ..Distribution::default()
        };
        assert_eq!(zero.check(None).unwrap_err().field, "capacity");
        let offers = Distribution {
            max_offers: 0,
            ..Distribution::default()
        };
        assert_eq!(offers.check(None).unwrap_err().field, "max_offers");
        let id = GroupId::new();
        let own = Distribution {
            fallback_group_id: Some(id),
            ..Distribution::default()
        };
        assert_eq!(own.check(Some(id)).unwrap_err().field, "fallback_group_id");
        assert_eq!(own.check(Some(GroupId::new())), Ok(()));
    }

    #[test]
    fn members_are_unique() {
        let a = OperatorId::new();
        let b = OperatorId::new();
        assert!(check_members(&[a, b]).is_ok());
        assert_eq!(
            check_members(&[a, b, a]).unwrap_err().field,
            "operator_ids[2]"
        );
    }
}
