//! The OpenAPI document. Paths come from the handlers' `#[utoipa::path]` annotations as the
//! router is built, so the document cannot drift from the routes.

use utoipa::{
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Self-hosted omnichannel contact-center hub: the REST API."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "auth", description = "Login, sessions and API tokens"),
        (name = "accounts", description = "Tenants of the install (instance administrators)"),
        (name = "operators", description = "People who answer"),
        (name = "groups", description = "Groups and their distribution settings"),
        (name = "schedules", description = "Working hours"),
        (name = "channels", description = "Connected channel accounts"),
        (name = "conversations", description = "Conversations, their messages and replies"),
        (name = "audit", description = "Who changed what"),
    )
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The whole document, as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    crate::routes::api_router().split_for_parts().1
}
