//! VK's kit for the connector contract suite: the fake API with one community, the Callback
//! API events delivered with the connection's secret key.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicU64, Ordering},
};

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
    /// Makes each fresh event's id and message id unique.
    fresh: AtomicU64,
}

/// Starts the kit.
pub fn start() -> Pin<Box<dyn Future<Output = Box<dyn Kit>> + Send>> {
    Box::pin(async {
        let fake = FakeVk::start().await;
        fake.add_community(TOKEN, GROUP, "Contract Shop", true);
        Box::new(VkKit {
            fake,
            fresh: AtomicU64::new(1),
        }) as Box<dyn Kit>
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

    fn plain_client(&self, secret: &str, chat: &str) -> Option<Hook> {
        let n = self.fresh.fetch_add(1, Ordering::Relaxed);
        let body = crate::testkit::fixtures::read("vk", &[])
            .into_iter()
            .find(|(name, _)| name == "message_new_old_client")?
            .1;
        let mut event: Value = serde_json::from_slice(&body).ok()?;
        event["event_id"] = format!("fresh-old-client-{n}").into();
        let message = &mut event["object"]["message"];
        message["id"] = (90_000 + n).into();
        let peer: i64 = chat.parse().ok()?;
        message["peer_id"] = peer.into();
        message["from_id"] = peer.into();
        Some(delivered(
            "message_new_old_client (fresh)".into(),
            &serde_json::to_vec(&event).ok()?,
            secret,
        ))
    }

    fn sends_to(&self, chat: &str) -> Option<Vec<(String, usize)>> {
        Some(
            self.fake
                .calls_of("messages.send")
                .iter()
                .filter(|c| c.body["peer_id"] == chat)
                .map(|c| {
                    let keyboard: Value = c.body["keyboard"]
                        .as_str()
                        .and_then(|k| serde_json::from_str(k).ok())
                        .unwrap_or(Value::Null);
                    let buttons = keyboard["buttons"]
                        .as_array()
                        .map_or(0, |rows| rows.iter().filter_map(Value::as_array).map(Vec::len).sum());
                    (c.body["message"].as_str().unwrap_or_default().to_string(), buttons)
                })
                .collect(),
        )
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
