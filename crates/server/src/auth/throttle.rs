//! Login throttling state: failures per login and client address, and per address alone,
//! judged by the pure policy in `switchboard_core::throttle`. Kept in memory: each node
//! throttles what it sees, which bounds guessing at (policy x nodes).

use std::{collections::HashMap, net::IpAddr, sync::Mutex, time::Duration};

use jiff::Timestamp;
use switchboard_core::throttle::{Failures, Policy};

#[derive(Default, Debug)]
pub struct LoginThrottle {
    per_login: Mutex<HashMap<(String, IpAddr), Failures>>,
    per_address: Mutex<HashMap<IpAddr, Failures>>,
}

/// Entries kept before a sweep drops the empty ones, bounding memory under a spray.
const SWEEP_AT: usize = 10_000;

impl LoginThrottle {
    /// How long to wait before another attempt is allowed, if it must wait.
    pub fn blocked(&self, login: &str, address: IpAddr, now: Timestamp) -> Option<Duration> {
        let by_login = lock(&self.per_login)
            .get_mut(&(login.to_string(), address))
            .and_then(|f| f.blocked(Policy::PER_LOGIN, now));
        let by_address = lock(&self.per_address)
            .get_mut(&address)
            .and_then(|f| f.blocked(Policy::PER_ADDRESS, now));
        by_login.max(by_address)
    }

    pub fn record_failure(&self, login: &str, address: IpAddr, now: Timestamp) {
        let mut per_login = lock(&self.per_login);
        if per_login.len() > SWEEP_AT {
            per_login.retain(|_, f| f.blocked(Policy::PER_LOGIN, now).is_some() || !f.is_empty());
        }
        per_login
            .entry((login.to_string(), address))
            .or_default()
            .record(Policy::PER_LOGIN, now);
        drop(per_login);
        let mut per_address = lock(&self.per_address);
        if per_address.len() > SWEEP_AT {
            per_address
                .retain(|_, f| f.blocked(Policy::PER_ADDRESS, now).is_some() || !f.is_empty());
        }
        per_address
            .entry(address)
            .or_default()
            .record(Policy::PER_ADDRESS, now);
    }

    /// A successful login forgets that login's failures from that address.
    pub fn record_success(&self, login: &str, address: IpAddr) {
        lock(&self.per_login).remove(&(login.to_string(), address));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters behind; they are still usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
