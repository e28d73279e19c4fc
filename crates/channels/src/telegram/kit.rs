//! Telegram's kit for the connector contract suite: the fake Bot API with one bot, the
//! fixtures delivered with the secret token header.

use std::{future::Future, pin::Pin};

use serde_json::{json, Value};

use super::fake::{Failure, FakeTelegram};
use crate::{
    testkit::contract::{Hook, Kit, Trouble},
    ApiContext,
};

const TOKEN: &str = "7000000001:AAH-contract";

struct TelegramKit {
    fake: FakeTelegram,
}

/// Starts the kit.
pub fn start() -> Pin<Box<dyn Future<Output = Box<dyn Kit>> + Send>> {
    Box::pin(async {
        let fake = FakeTelegram::start().await;
        fake.add_bot(TOKEN, 7000000001, "Contract Bot");
        Box::new(TelegramKit { fake }) as Box<dyn Kit>
    })
}

impl Kit for TelegramKit {
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
        Some(json!({"token": "7000000002:AAH-nobody"}))
    }

    fn registered_secret(&self) -> Option<String> {
        let calls = self.fake.calls_of("setWebhook");
        calls.last()?.body["secret_token"]
            .as_str()
            .map(String::from)
    }

    fn hooks(&self, secret: &str) -> Vec<Hook> {
        crate::testkit::fixtures::read("telegram", &[])
            .into_iter()
            .map(|(name, body)| Hook {
                name,
                headers: vec![("X-Telegram-Bot-Api-Secret-Token".into(), secret.into())],
                body,
            })
            .collect()
    }

    fn forged(&self, hook: &Hook) -> Hook {
        Hook {
            name: hook.name.clone(),
            headers: vec![(
                "X-Telegram-Bot-Api-Secret-Token".into(),
                "contract-secret-token_guessed!!!".into(),
            )],
            body: hook.body.clone(),
        }
    }

    fn edit(&self) -> Option<(&'static str, &'static str)> {
        Some(("text_message", "edited_message"))
    }

    fn chat(&self) -> String {
        "1111".into()
    }

    fn trouble(&self, trouble: Trouble) -> bool {
        let failure = match trouble {
            Trouble::RateLimited => Failure::RetryAfter(3),
            Trouble::ServerDown => Failure::ServerError,
            Trouble::Blocked => Failure::Blocked,
            Trouble::Revoked => Failure::Unauthorized,
        };
        self.fake.fail_next("sendMessage", failure);
        true
    }
}
