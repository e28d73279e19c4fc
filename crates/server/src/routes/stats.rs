//! The supervisor view's figures (`GET /stats`): queues and waiting times now, operators and
//! their load now, and since a moment (today, by default) the figures per channel and group
//! and the conversations per hour by channel. Admins and supervisors only.

use axum::extract::State;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use switchboard_core::{
    channel::ChannelKind,
    ids::{ConnectionId, GroupId, OperatorId},
    operator::OperatorStatus,
    report::{figures_by, hourly, Figures, HourCount},
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::Query,
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// The start of the period (RFC 3339), e.g. the supervisor's local midnight; default the
    /// start of the UTC day; at most 31 days back.
    pub since: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Queue {
    pub group_id: GroupId,
    pub name: String,
    pub waiting: u64,
    /// How long the oldest waiting conversation has waited.
    pub longest_wait_secs: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Load {
    pub operator_id: OperatorId,
    pub name: String,
    pub status: OperatorStatus,
    /// Conversations they hold now.
    pub open: u64,
    pub capacity: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ChannelFigures {
    pub channel_id: ConnectionId,
    pub name: String,
    pub kind: ChannelKind,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Serialize, ToSchema)]
pub struct GroupFigures {
    pub group_id: GroupId,
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Serialize, ToSchema)]
pub struct Stats {
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    pub queues: Vec<Queue>,
    pub operators: Vec<Load>,
    /// Every channel, with zeros where nothing happened.
    pub channels: Vec<ChannelFigures>,
    pub groups: Vec<GroupFigures>,
    pub hourly: Vec<HourCount>,
}

const MAX_PERIOD: SignedDuration = SignedDuration::from_hours(31 * 24);

fn since(period: &Period, now: Timestamp) -> Result<Timestamp, ApiError> {
    let since = match period.since.as_deref() {
        Some(raw) => raw.parse::<Timestamp>().map_err(|e| {
            ApiError::validation("since", format!("since: not an RFC 3339 time ({e})"))
        })?,
        None => {
            let day = now.as_second().div_euclid(86_400) * 86_400;
            Timestamp::from_second(day).unwrap_or(now)
        }
    };
    if since > now || now.duration_since(since) > MAX_PERIOD {
        return Err(ApiError::validation(
            "since",
            "since: within the last 31 days",
        ));
    }
    Ok(since)
}

/// The supervisor's figures.
#[utoipa::path(get, path = "/stats", tag = "stats", params(Period),
    responses((status = 200, body = Stats), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn stats(
    caller: Caller,
    State(state): State<AppState>,
    Query(period): Query<Period>,
) -> Result<axum::Json<Stats>, ApiError> {
    caller.require(
        caller.role().manages_routing(),
        "see the supervisor's figures",
    )?;
    let now = Timestamp::now();
    let since = since(&period, now)?;
    let account = caller.account();
    let facts = state.store.conversation_facts(account, since).await?;
    let by_channel = figures_by(&facts, |f| Some(f.channel_id));
    let by_group = figures_by(&facts, |f| f.group_id);
    let default_capacity = switchboard_core::group::Distribution::default().capacity;
    let queues = state.store.queues_now(account).await?;
    let groups = queues
        .iter()
        .map(|q| GroupFigures {
            group_id: q.group_id,
            name: q.name.clone(),
            figures: by_group.get(&q.group_id).copied().unwrap_or_default(),
        })
        .collect();
    let channels = state
        .store
        .list_connections(account)
        .await?
        .into_iter()
        .map(|c| ChannelFigures {
            figures: by_channel.get(&c.id).copied().unwrap_or_default(),
            channel_id: c.id,
            name: c.name,
            kind: c.kind,
        })
        .collect();
    Ok(axum::Json(Stats {
        since,
        queues: queues
            .into_iter()
            .map(|q| Queue {
                group_id: q.group_id,
                name: q.name,
                waiting: q.waiting,
                longest_wait_secs: q.oldest.map(|t| now.duration_since(t).as_secs().max(0)),
            })
            .collect(),
        operators: state
            .store
            .loads_now(account)
            .await?
            .into_iter()
            .map(|l| Load {
                operator_id: l.operator_id,
                name: l.name,
                status: l.status,
                open: l.open,
                capacity: l.capacity.unwrap_or(default_capacity),
            })
            .collect(),
        channels,
        groups,
        hourly: hourly(&facts, since, now),
    }))
}
