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
    common_responses(&mut doc);
    doc
}

/// The answers every operation can give whatever it does, documented once here rather than
/// on each handler: 400 for a body or query that cannot be read, 401 without a valid token
/// (where one is needed), 413, 415 and 422 for a body too large, of another type or with a
/// refused value; all in the error shape.
fn common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{path::Operation, ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
    let error = |description: &str| -> RefOr<Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
            .into()
    };
    let add = |operation: &mut Operation, code: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(code.to_string())
            .or_insert_with(|| error(description));
    };
    for item in doc.paths.paths.values_mut() {
        for (operation, has_body) in [
            (&mut item.get, false),
            (&mut item.delete, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
        ] {
            let Some(operation) = operation.as_mut() else {
                continue;
            };
            add(
                operation,
                "400",
                "The request could not be read (malformed body, query or header)",
            );
            let public = operation.security.as_ref().is_some_and(|s| {
                s.iter()
                    .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
            });
            if !public {
                add(operation, "401", "No valid token or session");
            }
            if has_body {
                add(operation, "413", "The body is too large");
                add(
                    operation,
                    "415",
                    "The body is not of a type the operation reads",
                );
                add(
                    operation,
                    "422",
                    "A field of the body has a value the operation refuses",
                );
            }
        }
    }
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
