//! Accounts: instance administrators (an integrator's own staff) create the client companies
//! hosted on the install, each with its first admin. Everyone else sees only their own.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_core::{
    account::{self, Account},
    ids::AccountId,
    operator::{self, Operator, Role},
};
use switchboard_store::{NewAccount, NewOperator};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{Id, Json},
    routes::operators::hash_password,
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    pub name: String,
    pub admin: AccountAdmin,
}

/// The new account's first admin.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountAdmin {
    pub email: String,
    pub name: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAccount {
    pub account: Account,
    pub admin: Operator,
}

fn require_instance_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.operator.instance_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only instance administrators manage accounts",
        ))
    }
}

/// Every account on the install (instance administrators only).
#[utoipa::path(get, path = "/accounts", tag = "accounts", responses((status = 200, body = [Account]), (status = 403, body = ErrorBody)))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<Account>>, ApiError> {
    require_instance_admin(&caller)?;
    Ok(axum::Json(state.store.list_accounts().await?))
}

/// Creates an account with its first admin (instance administrators only).
#[utoipa::path(post, path = "/accounts", tag = "accounts", request_body = CreateAccount,
    responses((status = 201, body = CreatedAccount), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateAccount>,
) -> Result<(StatusCode, axum::Json<CreatedAccount>), ApiError> {
    require_instance_admin(&caller)?;
    let name = account::parse_name(&body.name)?;
    let email = operator::parse_email("admin.email", &body.admin.email)?;
    let admin_name = operator::parse_name(&body.admin.name).map_err(|e| e.within("admin"))?;
    operator::check_password(
        "admin.password",
        &body.admin.password,
        &[&email, &admin_name, &name],
    )?;
    let password_hash = hash_password(&state, body.admin.password).await?;
    let admin = NewOperator {
        account_id: AccountId::new(),
        email,
        name: admin_name,
        role: Role::Admin,
        password_hash,
        instance_admin: false,
    };
    let (account, admin) = state
        .store
        .create_account(NewAccount { name, admin }, Some(caller.id()))
        .await
        .map_err(|e| match ApiError::from(e) {
            conflict if conflict.code == "conflict" => conflict.with_field("admin.email"),
            other => other,
        })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedAccount { account, admin }),
    ))
}

/// One account: the caller's own, or any for instance administrators.
#[utoipa::path(get, path = "/accounts/{id}", tag = "accounts", params(("id" = AccountId, Path)),
    responses((status = 200, body = Account), (status = 404, body = ErrorBody)))]
async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<AccountId>,
) -> Result<axum::Json<Account>, ApiError> {
    if id != caller.account() && !caller.operator.instance_admin {
        return Err(ApiError::not_found());
    }
    Ok(axum::Json(state.store.get_account(id).await?))
}
