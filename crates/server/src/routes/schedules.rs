//! Schedules (working hours); admins and supervisors change them.

use std::collections::BTreeMap;

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_core::{
    ids::ScheduleId,
    schedule::{self, Hours, Interval, Schedule, ScheduleException},
};
use switchboard_store::ScheduleInput;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{Id, Json, Query},
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(status))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    pub name: String,
    /// An IANA time zone such as `Europe/Moscow`.
    pub time_zone: String,
    /// Intervals per weekday (`mon` ... `sun`); a day left out is closed.
    #[serde(default)]
    pub weekly: BTreeMap<String, Vec<Interval>>,
    /// Holidays and short days.
    #[serde(default)]
    pub exceptions: Vec<ScheduleException>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSchedule {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub weekly: Option<BTreeMap<String, Vec<Interval>>>,
    pub exceptions: Option<Vec<ScheduleException>>,
}

fn checked(name: &str, hours: Hours) -> Result<ScheduleInput, ApiError> {
    let name = schedule::parse_name(name)?;
    hours.check()?;
    Ok(ScheduleInput { name, hours })
}

/// The schedules of the caller's account.
#[utoipa::path(get, path = "/schedules", tag = "schedules", responses((status = 200, body = [Schedule])))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<Schedule>>, ApiError> {
    Ok(axum::Json(
        state.store.list_schedules(caller.account()).await?,
    ))
}

/// Creates a schedule (admins and supervisors).
#[utoipa::path(post, path = "/schedules", tag = "schedules", request_body = CreateSchedule,
    responses((status = 201, body = Schedule), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateSchedule>,
) -> Result<(StatusCode, axum::Json<Schedule>), ApiError> {
    caller.require(caller.role().manages_routing(), "create schedules")?;
    let hours = Hours {
        time_zone: body.time_zone,
        weekly: schedule::parse_weekly(body.weekly)?,
        exceptions: body.exceptions,
    };
    let input = checked(&body.name, hours)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(
            state
                .store
                .create_schedule(caller.account(), &input, Some(caller.id()))
                .await?,
        ),
    ))
}

/// One schedule.
#[utoipa::path(get, path = "/schedules/{id}", tag = "schedules", params(("id" = ScheduleId, Path)),
    responses((status = 200, body = Schedule), (status = 404, body = ErrorBody)))]
async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ScheduleId>,
) -> Result<axum::Json<Schedule>, ApiError> {
    Ok(axum::Json(
        state.store.get_schedule(caller.account(), id).await?,
    ))
}

/// Changes a schedule; fields left out keep their values (admins and supervisors).
#[utoipa::path(patch, path = "/schedules/{id}", tag = "schedules", params(("id" = ScheduleId, Path)), request_body = UpdateSchedule,
    responses((status = 200, body = Schedule), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ScheduleId>,
    Json(body): Json<UpdateSchedule>,
) -> Result<axum::Json<Schedule>, ApiError> {
    let current = state.store.get_schedule(caller.account(), id).await?;
    caller.require(caller.role().manages_routing(), "change schedules")?;
    let hours = Hours {
        time_zone: body.time_zone.unwrap_or(current.hours.time_zone),
        weekly: match body.weekly {
            Some(weekly) => schedule::parse_weekly(weekly)?,
            None => current.hours.weekly,
        },
        exceptions: body.exceptions.unwrap_or(current.hours.exceptions),
    };
    let input = checked(body.name.as_deref().unwrap_or(&current.name), hours)?;
    let updated = state
        .store
        .update_schedule(caller.account(), id, &input, Some(caller.id()))
        .await?;
    // Conversations held out of hours are checked against the new hours at once.
    state
        .store
        .recheck_holds(caller.account(), jiff::Timestamp::now())
        .await?;
    Ok(axum::Json(updated))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct At {
    /// The moment to ask about (RFC 3339); now when left out.
    pub at: Option<String>,
}

/// Whether working hours are on at a moment, and when they next begin.
#[derive(Serialize, ToSchema)]
pub struct ScheduleStatus {
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    pub open: bool,
    /// The next opening after `at` when closed; `null` when open, or when the schedule does
    /// not open within a year.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_open: Option<jiff::Timestamp>,
}

/// Asks a schedule whether it is open at a moment (now by default) and when it opens next,
/// in its own time zone with daylight saving applied.
#[utoipa::path(get, path = "/schedules/{id}/status", tag = "schedules", params(("id" = ScheduleId, Path), At),
    responses((status = 200, body = ScheduleStatus), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn status(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ScheduleId>,
    Query(query): Query<At>,
) -> Result<axum::Json<ScheduleStatus>, ApiError> {
    let schedule = state.store.get_schedule(caller.account(), id).await?;
    let at = match query.at {
        Some(text) => text.parse::<jiff::Timestamp>().map_err(|_| {
            ApiError::validation(
                "at",
                format!("at: {text:?} is not a moment such as 2026-03-29T01:30:00Z"),
            )
        })?,
        None => jiff::Timestamp::now(),
    };
    let open = schedule.hours.is_open(at);
    Ok(axum::Json(ScheduleStatus {
        at,
        open,
        next_open: if open {
            None
        } else {
            schedule.hours.next_open(at)
        },
    }))
}

/// Deletes a schedule (admins and supervisors).
#[utoipa::path(delete, path = "/schedules/{id}", tag = "schedules", params(("id" = ScheduleId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ScheduleId>,
) -> Result<StatusCode, ApiError> {
    state.store.get_schedule(caller.account(), id).await?;
    caller.require(caller.role().manages_routing(), "delete schedules")?;
    state
        .store
        .delete_schedule(caller.account(), id, Some(caller.id()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
