//! Viber's kit for the connector contract suite: the fake REST Bot API with one bot, the
//! callbacks signed with the bot's token as Viber signs them.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicU64, Ordering},
};

use serde_json::{json, Value};

use super::fake::{check_welcome, sign, FakeViber};
use crate::{
    testkit::contract::{Hook, Kit, Trouble},
    ApiContext,
};

const TOKEN: &str = "4453b6ac12345678-e02c5f12174805f9-contract";

struct ViberKit {
    fake: FakeViber,
    /// The next fresh opening's message token: unique, so none is taken for a redelivery.
    started: AtomicU64,
}

/// Starts the kit.
pub fn start() -> Pin<Box<dyn Future<Output = Box<dyn Kit>> + Send>> {
    Box::pin(async {
        let fake = FakeViber::start().await;
        fake.add_account(TOKEN, "pa:contract", "Contract Shop");
        Box::new(ViberKit {
            fake,
            started: AtomicU64::new(7_000_000_000_000_000_000),
        }) as Box<dyn Kit>
    })
}

fn signed(name: String, body: Vec<u8>, token: &str) -> Hook {
    Hook {
        name,
        headers: vec![("X-Viber-Content-Signature".into(), sign(token, &body))],
        body,
    }
}

impl Kit for ViberKit {
    fn api(&self) -> ApiContext {
        ApiContext {
            http: reqwest::Client::new(),
            api_base_url: Some(self.fake.url.clone()),
            send_key: Some(1),
        }
    }

    fn good_credentials(&self) -> Value {
        json!({"token": TOKEN})
    }

    fn bad_credentials(&self) -> Option<Value> {
        Some(json!({"token": "4453b6ac12345678-e02c5f12174805f9-nobody"}))
    }

    /// Viber signs with the bot's token; the generated secret plays no part.
    fn registered_secret(&self) -> Option<String> {
        self.fake.webhook().map(|_| String::new())
    }

    fn hooks(&self, _secret: &str) -> Vec<Hook> {
        crate::testkit::fixtures::read("viber", &["get_account_info"])
            .into_iter()
            .map(|(name, body)| signed(name, body, TOKEN))
            .collect()
    }

    fn forged(&self, hook: &Hook) -> Hook {
        signed(hook.name.clone(), hook.body.clone(), "a-guessed-token")
    }

    fn started(&self, _secret: &str, user: &str) -> Option<Hook> {
        let token = self.started.fetch_add(1, Ordering::Relaxed);
        let event = json!({"event": "conversation_started", "timestamp": 1_457_764_197_627_u64,
            "message_token": token, "type": "open", "context": "",
            "user": {"id": user, "name": "Ирина", "language": "ru", "api_version": 10},
            "subscribed": false});
        self.fake.note_subscription(&event);
        Some(signed(
            "conversation_started (fresh)".into(),
            serde_json::to_vec(&event).unwrap(),
            TOKEN,
        ))
    }

    fn check_welcome(&self, body: &str) -> Result<String, String> {
        let welcome = check_welcome(body)?;
        Ok(welcome["text"].as_str().unwrap_or_default().to_string())
    }

    fn sends_to(&self, chat: &str) -> Option<Vec<(String, usize)>> {
        Some(
            self.fake
                .calls_of("send_message")
                .iter()
                .filter(|c| c.body["receiver"] == chat)
                .map(|c| {
                    let buttons = c.body["keyboard"]["Buttons"].as_array().map_or(0, Vec::len);
                    (c.body["text"].as_str().unwrap_or_default().to_string(), buttons)
                })
                .collect(),
        )
    }

    fn chat(&self) -> String {
        "01234567890A=".into()
    }

    fn trouble(&self, trouble: Trouble) -> bool {
        let status = match trouble {
            Trouble::RateLimited => 12,
            Trouble::ServerDown => 500,
            Trouble::Blocked => 6,
            Trouble::Revoked => 2,
        };
        self.fake.fail_next("send_message", status);
        true
    }
}
