//! VK's kit for the connector contract suite: the fake API with one community, the Callback
//! API events delivered with the connection's secret key.

use std::{future::Future, pin::Pin};

use serde_json::{json, Value};

use super::fake::FakeVk;
use crate::{
    testkit::contract::{Hook, Kit, Trouble},
    ApiContext,
};

const TOKEN: &str = "vk1.a.contract";
const GROUP: i64 = 229876543;

struct VkKit {
    fake: FakeVk,
}

/// Starts the kit.
pub fn start() -> Pin<Box<dyn Future<Output = Box<dyn Kit>> + Send>> {
    Box::pin(async {
        let fake = FakeVk::start().await;
        fake.add_community(TOKEN, GROUP, "Contract Shop", true);
        Box::new(VkKit { fake }) as Box<dyn Kit>
    })
}

/// A fixture as VK delivers it to this community with this secret.
fn delivered(name: String, body: &[u8], secret: &str) -> Hook {
    let mut event: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{name}: {e}"));
    event["group_id"] = GROUP.into();
    event["secret"] = secret.into();
    Hook {
        name,
        headers: Vec::new(),
        body: serde_json::to_vec(&event).unwrap_or_default(),
    }
}

impl Kit for VkKit {
    fn api(&self) -> ApiContext {
        ApiContext {
            http: reqwest::Client::new(),
            api_base_url: Some(self.fake.url.clone()),
            send_key: Some(1),
        }
    }

    fn good_credentials(&self) -> Value {
        json!({"token": TOKEN, "group_id": GROUP})
    }

    fn bad_credentials(&self) -> Option<Value> {
        Some(json!({"token": "vk1.nobody", "group_id": GROUP}))
    }

    fn registered_secret(&self) -> Option<String> {
        self.fake.servers().last().map(|(_, secret)| secret.clone())
    }

    fn hooks(&self, secret: &str) -> Vec<Hook> {
        crate::testkit::fixtures::read("vk", &["groups_getById"])
            .into_iter()
            .map(|(name, body)| delivered(name, &body, secret))
            .collect()
    }

    fn forged(&self, hook: &Hook) -> Hook {
        delivered(hook.name.clone(), &hook.body, "a-guessed-secret")
    }

    fn chat(&self) -> String {
        "1111111".into()
    }

    fn trouble(&self, trouble: Trouble) -> bool {
        let code = match trouble {
            Trouble::RateLimited => 6,
            Trouble::ServerDown => 10,
            Trouble::Blocked => 901,
            Trouble::Revoked => 5,
        };
        self.fake.fail_next("messages.send", code);
        true
    }
}
