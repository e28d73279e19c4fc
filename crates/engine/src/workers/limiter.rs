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
    /// Reserves a slot on every `(key, per_second)` and returns when the latest one starts,
    /// if that is within `max_wait`; otherwise reserves nothing and says how long the wait
    /// would be.
    pub fn reserve_within(
        &self,
        keys: &[(String, f64)],
        max_wait: Duration,
    ) -> Result<Instant, Duration> {
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
        let wait = start.duration_since(now);
        if wait > max_wait {
            return Err(wait);
        }
        for (key, per_second) in keys {
            let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
            next_free.insert(key.clone(), start + interval);
        }
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_too_far_away_is_not_taken() {
        let limiter = Limiter::default();
        let key = [("connection".to_string(), 1.0)];
        assert!(limiter.reserve_within(&key, Duration::from_secs(1)).is_ok());
        assert!(limiter.reserve_within(&key, Duration::from_secs(5)).is_ok());
        // The next slot is about two seconds away: refused, and nothing is reserved.
        let wait = limiter
            .reserve_within(&key, Duration::from_millis(1500))
            .unwrap_err();
        assert!(wait > Duration::from_millis(1500), "{wait:?}");
        let again = limiter
            .reserve_within(&key, Duration::from_millis(1500))
            .unwrap_err();
        assert!(
            again <= wait,
            "a refusal takes no slot: {again:?} vs {wait:?}"
        );
    }

    #[test]
    fn slots_are_spaced_per_key() {
        let limiter = Limiter::default();
        let first = limiter
            .reserve_within(&[("chat".into(), 1.0)], Duration::MAX)
            .unwrap();
        let second = limiter
            .reserve_within(&[("chat".into(), 1.0)], Duration::MAX)
            .unwrap();
        assert!(second.duration_since(first) >= Duration::from_millis(999));
        let other = limiter
            .reserve_within(&[("other".into(), 1.0)], Duration::MAX)
            .unwrap();
        assert!(other < second, "another chat does not wait");
    }
}
