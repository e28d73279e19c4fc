//! Groups and their distribution settings; admins and supervisors change them.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use switchboard_core::{
    group::{self, Distribution, Group, Strategy},
    ids::{GroupId, OperatorId},
    DurationSpec,
};
use switchboard_store::GroupInput;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{double_option, Id, Json},
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// Distribution settings to set; anything left out keeps its current (or default) value.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DistributionInput {
    pub strategy: Option<Strategy>,
    pub capacity: Option<u32>,
    pub answer_timeout: Option<DurationSpec>,
    pub max_offers: Option<u32>,
    /// `null` removes the fallback.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<GroupId>)]
    pub fallback_group_id: Option<Option<GroupId>>,
}

impl DistributionInput {
    fn apply(self, mut base: Distribution) -> Distribution {
        base.strategy = self.strategy.unwrap_or(base.strategy);
        base.capacity = self.capacity.unwrap_or(base.capacity);
        base.answer_timeout = self.answer_timeout.unwrap_or(base.answer_timeout);
        base.max_offers = self.max_offers.unwrap_or(base.max_offers);
        base.fallback_group_id = self.fallback_group_id.unwrap_or(base.fallback_group_id);
        base
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
    /// Members in priority order.
    #[serde(default)]
    pub operator_ids: Vec<OperatorId>,
    #[serde(default)]
    pub distribution: DistributionInput,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    pub name: Option<String>,
    pub operator_ids: Option<Vec<OperatorId>>,
    pub distribution: Option<DistributionInput>,
}

fn checked(
    name: &str,
    operator_ids: Vec<OperatorId>,
    distribution: Distribution,
    own: Option<GroupId>,
) -> Result<GroupInput, ApiError> {
    let name = group::parse_name(name)?;
    group::check_members(&operator_ids)?;
    distribution
        .check(own)
        .map_err(|e| e.within("distribution"))?;
    Ok(GroupInput {
        name,
        operator_ids,
        distribution,
    })
}

/// The groups of the caller's account.
#[utoipa::path(get, path = "/groups", tag = "groups", responses((status = 200, body = [Group])))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<Group>>, ApiError> {
    Ok(axum::Json(state.store.list_groups(caller.account()).await?))
}

/// Creates a group (admins and supervisors).
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 201, body = Group), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateGroup>,
) -> Result<(StatusCode, axum::Json<Group>), ApiError> {
    caller.require(caller.role().manages_routing(), "create groups")?;
    let input = checked(
        &body.name,
        body.operator_ids,
        body.distribution.apply(Distribution::default()),
        None,
    )?;
    let group = state
        .store
        .create_group(caller.account(), &input, Some(caller.id()))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(group)))
}

/// One group.
#[utoipa::path(get, path = "/groups/{id}", tag = "groups", params(("id" = GroupId, Path)),
    responses((status = 200, body = Group), (status = 404, body = ErrorBody)))]
async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<GroupId>,
) -> Result<axum::Json<Group>, ApiError> {
    Ok(axum::Json(
        state.store.get_group(caller.account(), id).await?,
    ))
}

/// Changes a group; fields left out keep their values (admins and supervisors).
#[utoipa::path(patch, path = "/groups/{id}", tag = "groups", params(("id" = GroupId, Path)), request_body = UpdateGroup,
    responses((status = 200, body = Group), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<GroupId>,
    Json(body): Json<UpdateGroup>,
) -> Result<axum::Json<Group>, ApiError> {
    let current = state.store.get_group(caller.account(), id).await?;
    caller.require(caller.role().manages_routing(), "change groups")?;
    let distribution = body
        .distribution
        .unwrap_or_default()
        .apply(current.distribution);
    let input = checked(
        body.name.as_deref().unwrap_or(&current.name),
        body.operator_ids.unwrap_or(current.operator_ids),
        distribution,
        Some(id),
    )?;
    Ok(axum::Json(
        state
            .store
            .update_group(caller.account(), id, &input, Some(caller.id()))
            .await?,
    ))
}

/// Deletes a group (admins and supervisors).
#[utoipa::path(delete, path = "/groups/{id}", tag = "groups", params(("id" = GroupId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<GroupId>,
) -> Result<StatusCode, ApiError> {
    state.store.get_group(caller.account(), id).await?;
    caller.require(caller.role().manages_routing(), "delete groups")?;
    state
        .store
        .delete_group(caller.account(), id, Some(caller.id()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
