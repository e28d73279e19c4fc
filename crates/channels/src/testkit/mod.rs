//! Test kits: each channel's fake API lives in its own folder (`telegram/fake.rs`, ...) and
//! is re-exported here, with what they share (the recorded call) and the connector contract
//! suite every channel runs (`contract`).

pub mod contract;
pub mod fixtures;

pub use crate::telegram::fake::{file_bytes, Failure, FakeTelegram};
pub use crate::viber::fake::{check_welcome, post_signed, sign, FakeViber};
pub use crate::vk::fake::FakeVk;

use std::time::{Duration, Instant};

use serde_json::Value;

/// One recorded call.
#[derive(Clone, Debug)]
pub struct Call {
    pub token: String,
    pub method: String,
    pub body: Value,
    /// The raw body as text (lossy), for multipart uploads.
    pub raw: String,
    pub at: Instant,
}

/// Waits until `calls` holds `count` calls of `method`; panics after `timeout`.
pub(crate) async fn wait_for_calls(
    calls: impl Fn() -> Vec<Call>,
    method: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Call> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = calls();
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} {method} calls within {timeout:?}, got {}: {:?}",
            found.len(),
            found.iter().map(|c| &c.body).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
