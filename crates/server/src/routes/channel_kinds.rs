//! `GET /channel-kinds`: the channel kinds this build can connect, each with the form the
//! admin fills in (from the kind's own folder in the channels crate), so the admin interface
//! builds its channel forms without naming a kind. `?all=true` adds the kinds a scenario can
//! be previewed in but no connector serves yet.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_channels::{
    form::{self, Field, Words},
    registry,
};
use switchboard_core::channel::{ChannelKind, Receive};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Caller, error::ApiError, extract::Query, state::AppState};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KindsQuery {
    /// Also list the kinds that cannot be connected yet (for scenario previews).
    pub all: Option<bool>,
}

/// A channel kind and how it is connected.
#[derive(Serialize, ToSchema)]
pub struct ChannelKindInfo {
    pub kind: ChannelKind,
    pub title: Words,
    /// Whether this build can connect it; the rest can only be previewed.
    pub connectable: bool,
    /// The keys of `credentials`, in the order the form shows them.
    pub fields: Vec<Field>,
    /// The kind can be connected through the channel's OAuth (the admin authorizes in the
    /// channel and picks the account) instead of filling in `fields`.
    pub oauth: bool,
    /// OAuth is set up on this server (its app is configured).
    pub oauth_ready: bool,
    /// The credentials are checked with the channel before saving.
    pub verifies: bool,
    /// How the connection may hear from the channel: `webhook`, and `polling` where the
    /// channel can be polled (for servers without a public address).
    pub receive: Vec<Receive>,
}

/// The channel kinds this build can connect, with their forms.
#[utoipa::path(get, path = "/channel-kinds", tag = "channels", params(KindsQuery),
    responses((status = 200, body = [ChannelKindInfo])))]
async fn list(
    _caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<KindsQuery>,
) -> Result<axum::Json<Vec<ChannelKindInfo>>, ApiError> {
    let all = query.all.unwrap_or(false);
    let kinds = ChannelKind::ALL
        .iter()
        .filter_map(|&kind| match registry::connector(kind) {
            Some(connector) => {
                let form = connector.form();
                let mut receive = vec![Receive::Webhook];
                if connector.polls() {
                    receive.push(Receive::Polling);
                }
                Some(ChannelKindInfo {
                    kind,
                    title: form.title,
                    connectable: true,
                    fields: form.fields.to_vec(),
                    oauth: connector.oauth().is_some(),
                    oauth_ready: connector.oauth().is_some() && state.oauth_configured(kind),
                    verifies: form.verifies,
                    receive,
                })
            }
            None if all => Some(ChannelKindInfo {
                kind,
                title: form::title(kind),
                connectable: false,
                fields: Vec::new(),
                oauth: false,
                oauth_ready: false,
                verifies: false,
                receive: Vec::new(),
            }),
            None => None,
        })
        .collect();
    Ok(axum::Json(kinds))
}
