//! The audit log of the caller's account, for admins and supervisors.

use axum::extract::State;
use serde::Deserialize;
use switchboard_core::audit::AuditEntry;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::Query,
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Entries older than this entry id (for paging back).
    pub before: Option<i64>,
    /// At most this many entries (default 100; more than 1000 reads as 1000).
    #[param(minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
}

/// The newest audit entries first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(Page),
    responses((status = 200, body = [AuditEntry]), (status = 403, body = ErrorBody)))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<axum::Json<Vec<AuditEntry>>, ApiError> {
    caller.require(caller.role().manages_routing(), "read the audit log")?;
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    Ok(axum::Json(
        state
            .store
            .list_audit(caller.account(), page.before, limit)
            .await?,
    ))
}
