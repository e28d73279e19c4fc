//! Bot scenarios: the YAML of docs/scenarios.md, checked by the validator before it is stored (an
//! invalid scenario is refused with every problem at its line and column), and a preview of
//! what each step becomes in any channel. Admins change them.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use switchboard_bot::{load, preview::preview, Context, Diagnostics, Scenario};
use switchboard_core::{
    channel::ChannelKind,
    ids::ScenarioId,
    scenario::{self, ScenarioRecord, MAX_SOURCE_BYTES},
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody, Problem},
    extract::{Id, Json, Query},
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(validate))
        .routes(routes!(render))
        .routes(routes!(render_draft))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScenario {
    pub name: String,
    /// The YAML text.
    pub source: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateScenario {
    pub name: Option<String>,
    pub source: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateScenario {
    pub source: String,
}

/// The validator's verdict.
#[derive(Serialize, ToSchema)]
pub struct Verdict {
    pub valid: bool,
    pub problems: Vec<Problem>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RenderQuery {
    /// The channel kind to render for (required).
    #[param(value_type = String)]
    pub channel: Option<ChannelKind>,
}

fn problems(d: &Diagnostics) -> Vec<Problem> {
    d.0.iter()
        .map(|p| Problem {
            line: p.pos.line,
            col: p.pos.col,
            message: p.message.clone(),
        })
        .collect()
}

/// What the validator may check against: the account's groups and operators.
async fn context(state: &AppState, caller: &Caller) -> Result<Context, ApiError> {
    let groups = state.store.list_groups(caller.account()).await?;
    let operators = state.store.list_operators(caller.account()).await?;
    Ok(Context {
        groups: Some(groups.into_iter().map(|g| g.name).collect()),
        operators: Some(operators.into_iter().map(|o| o.email).collect()),
    })
}

/// Refuses a scenario with problems: 422 `invalid_scenario`, every problem listed.
async fn check(state: &AppState, caller: &Caller, source: &str) -> Result<(), ApiError> {
    loaded(state, caller, source).await.map(|_| ())
}

/// The scenario parsed and checked against the caller's account, or 422
/// `invalid_scenario` with every problem listed.
async fn loaded(state: &AppState, caller: &Caller, source: &str) -> Result<Scenario, ApiError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(ApiError::validation(
            "source",
            format!("source: at most {} KB", MAX_SOURCE_BYTES / 1024),
        ));
    }
    let context = context(state, caller).await?;
    load(source, &context).map_err(|d| {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_scenario",
            d.report("source").trim_end().to_string(),
        )
        .with_field("source");
        e.problems = Some(problems(&d));
        e
    })
}

/// The scenarios of the caller's account.
#[utoipa::path(get, path = "/scenarios", tag = "scenarios", responses((status = 200, body = [ScenarioRecord])))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<ScenarioRecord>>, ApiError> {
    Ok(axum::Json(
        state.store.list_scenarios(caller.account()).await?,
    ))
}

/// Creates a scenario (admins); an invalid one is refused with the validator's messages.
#[utoipa::path(post, path = "/scenarios", tag = "scenarios", request_body = CreateScenario,
    responses((status = 201, body = ScenarioRecord), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<CreateScenario>,
) -> Result<(StatusCode, axum::Json<ScenarioRecord>), ApiError> {
    caller.require(caller.role().edits_scenarios(), "create scenarios")?;
    let name = scenario::parse_name(&body.name)?;
    check(&state, &caller, &body.source).await?;
    let record = state
        .store
        .create_scenario(caller.account(), &name, &body.source, Some(caller.id()))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(record)))
}

/// One scenario.
#[utoipa::path(get, path = "/scenarios/{id}", tag = "scenarios", params(("id" = ScenarioId, Path)),
    responses((status = 200, body = ScenarioRecord), (status = 404, body = ErrorBody)))]
async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ScenarioId>,
) -> Result<axum::Json<ScenarioRecord>, ApiError> {
    Ok(axum::Json(
        state.store.get_scenario(caller.account(), id).await?,
    ))
}

/// Changes a scenario (admins). Conversations already talking to it go on from their step in
/// the new version; one whose step is gone is handed to people.
#[utoipa::path(patch, path = "/scenarios/{id}", tag = "scenarios", params(("id" = ScenarioId, Path)), request_body = UpdateScenario,
    responses((status = 200, body = ScenarioRecord), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ScenarioId>,
    Json(body): Json<UpdateScenario>,
) -> Result<axum::Json<ScenarioRecord>, ApiError> {
    state.store.get_scenario(caller.account(), id).await?;
    caller.require(caller.role().edits_scenarios(), "change scenarios")?;
    let name = body.name.as_deref().map(scenario::parse_name).transpose()?;
    if let Some(source) = &body.source {
        check(&state, &caller, source).await?;
    }
    let updated = state
        .store
        .update_scenario(
            caller.account(),
            id,
            name.as_deref(),
            body.source.as_deref(),
            Some(caller.id()),
        )
        .await?;
    state.bots.forget(id);
    Ok(axum::Json(updated))
}

/// Deletes a scenario no channel routes to (admins).
#[utoipa::path(delete, path = "/scenarios/{id}", tag = "scenarios", params(("id" = ScenarioId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ScenarioId>,
) -> Result<StatusCode, ApiError> {
    state.store.get_scenario(caller.account(), id).await?;
    caller.require(caller.role().edits_scenarios(), "delete scenarios")?;
    state
        .store
        .delete_scenario(caller.account(), id, Some(caller.id()))
        .await?;
    state.bots.forget(id);
    Ok(StatusCode::NO_CONTENT)
}

/// Checks a scenario without storing it (the editor's live check).
#[utoipa::path(post, path = "/scenarios/validate", tag = "scenarios", request_body = ValidateScenario,
    responses((status = 200, body = Verdict), (status = 403, body = ErrorBody)))]
async fn validate(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<ValidateScenario>,
) -> Result<axum::Json<Verdict>, ApiError> {
    caller.require(caller.role().edits_scenarios(), "check scenarios")?;
    let context = context(&state, &caller).await?;
    Ok(axum::Json(match load(&body.source, &context) {
        Ok(_) => Verdict {
            valid: true,
            problems: Vec::new(),
        },
        Err(d) => Verdict {
            valid: false,
            problems: problems(&d),
        },
    }))
}

/// What every step of a scenario becomes in one channel: `{"channel", "steps": {STEP:
/// [{text, buttons, keyboard}]}}`, as `switchboard bot render` prints it.
#[utoipa::path(get, path = "/scenarios/{id}/render", tag = "scenarios", params(("id" = ScenarioId, Path), RenderQuery),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn render(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ScenarioId>,
    Query(query): Query<RenderQuery>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let record = state.store.get_scenario(caller.account(), id).await?;
    let kind = query.channel.ok_or_else(|| {
        ApiError::validation("channel", "channel: name the channel kind to render for")
    })?;
    let scenario = load(&record.source, &Context::default()).map_err(|d| {
        ApiError::new(
            StatusCode::CONFLICT,
            "invalid_scenario",
            d.report("source").trim_end().to_string(),
        )
    })?;
    let caps = switchboard_channels::profile::of(kind);
    let shown = preview(&scenario, kind, &caps);
    Ok(axum::Json(
        serde_json::to_value(shown).map_err(|_| ApiError::internal())?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderDraft {
    /// The YAML as it stands in the editor, saved or not.
    pub source: String,
    #[schema(value_type = String)]
    pub channel: ChannelKind,
}

/// What every step of an unsaved scenario becomes in one channel (the editor's preview of
/// what is being typed); 422 `invalid_scenario` with the problems while it does not load.
#[utoipa::path(post, path = "/scenarios/render", tag = "scenarios", request_body = RenderDraft,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn render_draft(
    caller: Caller,
    State(state): State<AppState>,
    Json(body): Json<RenderDraft>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    caller.require(caller.role().edits_scenarios(), "preview scenario drafts")?;
    let scenario = loaded(&state, &caller, &body.source).await?;
    let caps = switchboard_channels::profile::of(body.channel);
    let shown = preview(&scenario, body.channel, &caps);
    Ok(axum::Json(
        serde_json::to_value(shown).map_err(|_| ApiError::internal())?,
    ))
}
