//! The web chat's kit for the connector contract suite. It has no vendor API and no webhook
//! (visitors talk over the server's own WebSocket): credentials are its settings, sends are
//! stored for the visitor, and there is nothing that fails.

use std::{future::Future, pin::Pin};

use serde_json::{json, Value};

use crate::{
    testkit::contract::{Hook, Kit, Trouble},
    ApiContext,
};

struct WebchatKit;

/// Starts the kit.
pub fn start() -> Pin<Box<dyn Future<Output = Box<dyn Kit>> + Send>> {
    Box::pin(async { Box::new(WebchatKit) as Box<dyn Kit> })
}

impl Kit for WebchatKit {
    fn api(&self) -> ApiContext {
        ApiContext::default()
    }

    fn good_credentials(&self) -> Value {
        json!({"allowed_origins": ["https://shop.example"]})
    }

    fn bad_credentials(&self) -> Option<Value> {
        None
    }

    fn registered_secret(&self) -> Option<String> {
        None
    }

    fn hooks(&self, _secret: &str) -> Vec<Hook> {
        Vec::new()
    }

    fn forged(&self, hook: &Hook) -> Hook {
        hook.clone()
    }

    fn chat(&self) -> String {
        "v-contract".into()
    }

    fn trouble(&self, _trouble: Trouble) -> bool {
        false
    }
}
