//! Send pacing per connection and per chat: each key has the next moment a send may start;
//! a send takes the next free slot and waits for it.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Default)]
pub struct Limiter {
    next_free: Mutex<HashMap<String, Instant>>,
}

impl Limiter {
    /// Reserves a slot on every `(key, per_second)` and returns when the latest one starts.
    pub fn reserve(&self, keys: &[(String, f64)]) -> Instant {
        let now = Instant::now();
        let mut next_free = self
            .next_free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if next_free.len() > 100_000 {
            next_free.retain(|_, at| *at > now);
        }
        let start = keys
            .iter()
            .filter_map(|(key, _)| next_free.get(key).copied())
            .fold(now, Instant::max);
        for (key, per_second) in keys {
            let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
            next_free.insert(key.clone(), start + interval);
        }
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_per_key() {
        let limiter = Limiter::default();
        let first = limiter.reserve(&[("chat".into(), 1.0)]);
        let second = limiter.reserve(&[("chat".into(), 1.0)]);
        assert!(second.duration_since(first) >= Duration::from_millis(999));
        let other = limiter.reserve(&[("other".into(), 1.0)]);
        assert!(other < second, "another chat does not wait");
    }
}
