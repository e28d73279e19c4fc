//! Operators: admins manage them; everyone may list colleagues (to transfer to them), edit
//! their own name and password, and switch their own status.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use switchboard_core::{
    ids::OperatorId,
    operator::{self, Operator, OperatorStatus, Role},
    token::TokenKind,
};
use switchboard_store::{NewOperator, OperatorUpdate};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{Id, Json},
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(set_status))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperator {
    pub email: String,
    pub name: String,
    /// Defaults to `operator`.
    #[serde(default = "default_role")]
    pub role: Role,
    pub password: String,
}

fn default_role() -> Role {
    Role::Operator
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateOperator {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password: Option<String>,
    /// Their own limit of open conversations (1 to 1000); `null` takes each group's capacity.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<u32>)]
    pub capacity: Option<Option<u32>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    pub status: OperatorStatus,
}

/// Hashes on a blocking thread, a few at a time: Argon2 is deliberately slow and big.
pub(crate) async fn hash_password(state: &AppState, password: String) -> Result<String, ApiError> {
    state
        .auth
        .passwords
        .hash_in_slot(password)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::internal()
        })
}

/// The operators of the caller's account.
#[utoipa::path(get, path = "/operators", tag = "operators", responses((status = 200, body = [Operator])))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<Operator>>, ApiError> {
    Ok(axum::Json(
        state.store.list_operators(caller.account()).await?,
    ))
}

/// Adds an operator (admins only).
#[utoipa::path(post, path = "/operators", tag = "operators", request_body = CreateOperator,
    responses((status = 201, body = Operator), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateOperator>,
) -> Result<(StatusCode, axum::Json<Operator>), ApiError> {
    caller.require(caller.role().manages_operators(), "add operators")?;
    let email = operator::parse_email("email", &body.email)?;
    let name = operator::parse_name(&body.name)?;
    operator::check_password("password", &body.password, &[&email, &name])?;
    let password_hash = hash_password(&state, body.password).await?;
    let new = NewOperator {
        account_id: caller.account(),
        email,
        name,
        role: body.role,
        password_hash,
        instance_admin: false,
    };
    let created = state.store.create_operator(&new, Some(caller.id())).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// One operator of the caller's account.
#[utoipa::path(get, path = "/operators/{id}", tag = "operators", params(("id" = OperatorId, Path)),
    responses((status = 200, body = Operator), (status = 404, body = ErrorBody)))]
async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<OperatorId>,
) -> Result<axum::Json<Operator>, ApiError> {
    Ok(axum::Json(
        state.store.get_operator(caller.account(), id).await?,
    ))
}

/// Changes an operator. Admins change anyone; others only their own name and password.
#[utoipa::path(patch, path = "/operators/{id}", tag = "operators", params(("id" = OperatorId, Path)), request_body = UpdateOperator,
    responses((status = 200, body = Operator), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<OperatorId>,
    Json(body): Json<UpdateOperator>,
) -> Result<axum::Json<Operator>, ApiError> {
    let current = state.store.get_operator(caller.account(), id).await?;
    let own_profile =
        id == caller.id() && body.role.is_none() && body.email.is_none() && body.capacity.is_none();
    if let Some(Some(capacity)) = body.capacity {
        if capacity == 0 || capacity > switchboard_core::group::MAX_CAPACITY {
            return Err(ApiError::validation(
                "capacity",
                format!(
                    "capacity: must be between 1 and {}",
                    switchboard_core::group::MAX_CAPACITY
                ),
            ));
        }
    }
    caller.require(
        caller.role().manages_operators() || own_profile,
        "change other operators, e-mails or roles",
    )?;
    let password_hash = match body.password {
        Some(password) => {
            let email = body.email.as_deref().unwrap_or(&current.email);
            let name = body.name.as_deref().unwrap_or(&current.name);
            operator::check_password("password", &password, &[email, name])?;
            Some(hash_password(&state, password).await?)
        }
        None => None,
    };
    let update = OperatorUpdate {
        email: body
            .email
            .map(|e| operator::parse_email("email", &e))
            .transpose()?,
        name: body.name.map(|n| operator::parse_name(&n)).transpose()?,
        role: body.role,
        password_hash,
        capacity: body.capacity,
        keep_session: (id == caller.id() && caller.token.kind == TokenKind::Session)
            .then_some(caller.token.id),
    };
    Ok(axum::Json(
        state
            .store
            .update_operator(caller.account(), id, &update, Some(caller.id()))
            .await?,
    ))
}

/// Retires an operator (admins only): they can no longer log in; their history stays.
#[utoipa::path(delete, path = "/operators/{id}", tag = "operators", params(("id" = OperatorId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<OperatorId>,
) -> Result<StatusCode, ApiError> {
    state.store.get_operator(caller.account(), id).await?;
    caller.require(caller.role().manages_operators(), "remove operators")?;
    state
        .store
        .delete_operator(caller.account(), id, Some(caller.id()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets an operator's status: their own, or anyone's for supervisors and admins.
#[utoipa::path(post, path = "/operators/{id}/status", tag = "operators", params(("id" = OperatorId, Path)), request_body = SetStatus,
    responses((status = 200, body = Operator), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_status(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<OperatorId>,
    Json(body): Json<SetStatus>,
) -> Result<axum::Json<Operator>, ApiError> {
    state.store.get_operator(caller.account(), id).await?;
    caller.require(
        id == caller.id() || caller.role().manages_routing(),
        "change other operators' status",
    )?;
    let (operator, changed) = state
        .store
        .set_operator_status(caller.account(), id, body.status, Some(caller.id()))
        .await?;
    state.conversations_changed(&changed);
    Ok(axum::Json(operator))
}
