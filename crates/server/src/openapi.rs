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
        (name = "scenarios", description = "Bot scenarios: YAML, validation, rendering per channel"),
        (name = "channels", description = "Connected channel accounts"),
        (name = "conversations", description = "Conversations, their messages and replies"),
        (name = "audit", description = "Who changed what"),
        (name = "stats", description = "The supervisor's figures"),
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
    let mut doc = crate::routes::api_router().split_for_parts().1;
    unique_operation_ids(&mut doc);
    doc
}

/// Handlers are named after what they do (`get`, `list`, ...) inside their resource's
/// module; clients need ids unique over the document, so the resource is added:
/// `get` on `/api/v1/groups/{id}` becomes `get_groups`.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let resource = path
            .trim_start_matches("/api/v1/")
            .split('/')
            .next()
            .unwrap_or_default()
            .replace('-', "_");
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let name = operation.operation_id.clone().unwrap_or_default();
            operation.operation_id = Some(format!("{name}_{resource}"));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn operation_ids_are_unique() {
        let doc = super::openapi();
        let mut seen = std::collections::HashSet::new();
        for item in doc.paths.paths.values() {
            for operation in [&item.get, &item.post, &item.put, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                let id = operation.operation_id.clone().unwrap();
                assert!(seen.insert(id.clone()), "{id} is used twice");
            }
        }
    }

    /// Enums are documented as the API spells them: a client generated from the document
    /// sends `{"status": "away"}`, which the API reads.
    #[test]
    fn enums_are_documented_as_the_wire_spells_them() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        for (name, first) in [
            ("Role", "admin"),
            ("OperatorStatus", "online"),
            ("ConversationStatus", "bot"),
            ("Strategy", "round_robin"),
        ] {
            assert_eq!(schemas[name]["enum"][0], first, "{name}: {}", schemas[name]);
        }
        let text = doc.to_string();
        for wrong in ["\"Admin\"", "\"RoundRobin\"", "\"Online\""] {
            assert!(!text.contains(wrong), "the document says {wrong}");
        }
    }
}
