//! Login throttling state: failures per login and client address, and per address alone,
//! judged by the pure policy in `switchboard_core::throttle`. Kept in memory: each node
//! throttles what it sees, which bounds guessing at (policy x nodes).
//!
//! An attempt is admitted (and counted) under one lock before its password is checked, so
//! concurrent guesses cannot slip past the policy between the check and the record. A login
//! that succeeded from an address lately is not held by that address's lockout: someone
//! spraying wrong passwords from a shared address (an office, a proxy) does not lock out the
//! people who work there, only logins that have not proven themselves from it.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use axum::http::HeaderMap;
use jiff::{SignedDuration, Timestamp};
use switchboard_core::throttle::{Failures, Policy};

use switchboard_engine::bot::AllowList;

/// How long a login that succeeded from an address stays exempt from that address's lockout.
const KNOWN_FOR: SignedDuration = SignedDuration::from_hours(30 * 24);
/// Entries kept before a sweep drops the stale ones, bounding memory under a spray.
const SWEEP_AT: usize = 10_000;

#[derive(Default, Debug)]
pub struct LoginThrottle {
    inner: Mutex<Inner>,
}

#[derive(Default, Debug)]
struct Inner {
    per_login: HashMap<(String, IpAddr), Failures>,
    per_address: HashMap<IpAddr, Failures>,
    /// When each login last succeeded from each address.
    known: HashMap<(String, IpAddr), Timestamp>,
}

impl Inner {
    fn is_known(&self, key: &(String, IpAddr), now: Timestamp) -> bool {
        self.known
            .get(key)
            .is_some_and(|t| now.duration_since(*t) < KNOWN_FOR)
    }

    fn sweep(&mut self, now: Timestamp) {
        if self.per_login.len() > SWEEP_AT {
            self.per_login.retain(|_, f| !f.is_stale(now));
        }
        if self.per_address.len() > SWEEP_AT {
            self.per_address.retain(|_, f| !f.is_stale(now));
        }
        if self.known.len() > SWEEP_AT {
            self.known.retain(|_, t| now.duration_since(*t) < KNOWN_FOR);
        }
    }
}

/// An admitted login attempt: counted as a failure until it is decided. Dropped undecided
/// (the check itself failed), it counts as nothing.
#[must_use]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    key: (String, IpAddr),
    by_address: bool,
    decided: bool,
}

impl Attempt<'_> {
    /// The password was right: the login's failures from this address are forgotten, and
    /// the address's lockout no longer holds this login.
    pub fn succeeded(mut self, now: Timestamp) {
        self.finish(false, now);
    }

    pub fn failed(mut self, now: Timestamp) {
        self.finish(true, now);
    }

    fn finish(&mut self, failed: bool, now: Timestamp) {
        self.decided = true;
        let mut inner = self.throttle.lock();
        if failed {
            if let Some(f) = inner.per_login.get_mut(&self.key) {
                f.finish(Policy::PER_LOGIN, true, now);
            }
        } else {
            inner.per_login.remove(&self.key);
            inner.known.insert(self.key.clone(), now);
        }
        if self.by_address {
            if let Some(f) = inner.per_address.get_mut(&self.key.1) {
                f.finish(Policy::PER_ADDRESS, failed, now);
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.decided {
            let mut inner = self.throttle.lock();
            if let Some(f) = inner.per_login.get_mut(&self.key) {
                f.finish(Policy::PER_LOGIN, false, Timestamp::now());
            }
            if self.by_address {
                if let Some(f) = inner.per_address.get_mut(&self.key.1) {
                    f.finish(Policy::PER_ADDRESS, false, Timestamp::now());
                }
            }
        }
    }
}

impl LoginThrottle {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind; they are still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits an attempt to log in as `login` from `address`, or says how long to wait.
    pub fn admit(
        &self,
        login: &str,
        address: IpAddr,
        now: Timestamp,
    ) -> Result<Attempt<'_>, Duration> {
        let key = (login.to_string(), address);
        let mut inner = self.lock();
        inner.sweep(now);
        let by_address = !inner.is_known(&key, now);
        let by_login = inner
            .per_login
            .entry(key.clone())
            .or_default()
            .blocked(Policy::PER_LOGIN, now);
        let from_address = if by_address {
            inner
                .per_address
                .entry(address)
                .or_default()
                .blocked(Policy::PER_ADDRESS, now)
        } else {
            None
        };
        if let Some(wait) = by_login.max(from_address) {
            return Err(wait);
        }
        inner.per_login.entry(key.clone()).or_default().begin();
        if by_address {
            inner.per_address.entry(address).or_default().begin();
        }
        drop(inner);
        Ok(Attempt {
            throttle: self,
            key,
            by_address,
            decided: false,
        })
    }
}

/// The client's address: the peer's, unless the peer is a trusted reverse proxy, in which
/// case the right-most address of `X-Forwarded-For` that is not itself a trusted proxy
/// (the left part of the header is whatever the client chose to send).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &AllowList) -> IpAddr {
    if !trusted.allows_ip(peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|a| a.parse::<IpAddr>().ok())
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    forwarded
        .into_iter()
        .rev()
        .find(|a| !trusted.allows_ip(*a))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A hundred guesses at once: only as many reach the password check as the policy
    /// allows failures, and those that do count.
    #[test]
    fn concurrent_attempts_are_admitted_within_the_policy() {
        let throttle = LoginThrottle::default();
        let now = Timestamp::now();
        let admitted: Vec<_> = (0..100)
            .filter_map(|_| throttle.admit("anna@x.ru", ip("203.0.113.5"), now).ok())
            .collect();
        assert_eq!(admitted.len(), Policy::PER_LOGIN.max_failures);
        for attempt in admitted {
            attempt.failed(now);
        }
        let wait = throttle
            .admit("anna@x.ru", ip("203.0.113.5"), now)
            .err()
            .unwrap();
        assert!(wait >= Duration::from_secs(14 * 60), "{wait:?}");
        // Another address is another key.
        assert!(throttle.admit("anna@x.ru", ip("203.0.113.6"), now).is_ok());
    }

    /// A spray of wrong logins from a shared address locks out unknown logins from it, but
    /// not a login that has succeeded from it.
    #[test]
    fn a_spray_does_not_lock_out_known_logins() {
        let throttle = LoginThrottle::default();
        let now = Timestamp::now();
        let office = ip("198.51.100.7");
        throttle
            .admit("admin@x.ru", office, now)
            .unwrap()
            .succeeded(now);
        for i in 0..35 {
            if let Ok(attempt) = throttle.admit(&format!("guess{i}@x.ru"), office, now) {
                attempt.failed(now);
            }
        }
        assert!(throttle.admit("someone@x.ru", office, now).is_err());
        let admin = throttle.admit("admin@x.ru", office, now);
        assert!(admin.is_ok(), "the admin is locked out by a spray");
    }

    #[test]
    fn undecided_attempts_count_for_nothing() {
        let throttle = LoginThrottle::default();
        let now = Timestamp::now();
        for _ in 0..20 {
            drop(throttle.admit("anna@x.ru", ip("203.0.113.5"), now).unwrap());
        }
    }

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
        let trusted = AllowList::parse(&["10.0.0.0/8", "::1"]).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "1.2.3.4, 203.0.113.9, 10.0.0.3".parse().unwrap(),
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers, &trusted),
            ip("203.0.113.9"),
            "the right-most untrusted hop"
        );
        assert_eq!(
            client_address(ip("198.51.100.1"), &headers, &trusted),
            ip("198.51.100.1"),
            "an untrusted peer's header is ignored"
        );
        headers.insert("x-forwarded-for", "nonsense".parse().unwrap());
        assert_eq!(client_address(ip("::1"), &headers, &trusted), ip("::1"));
        assert_eq!(
            client_address(ip("::1"), &HeaderMap::new(), &trusted),
            ip("::1")
        );
    }
}
