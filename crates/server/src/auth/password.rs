//! Password hashing with Argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane). A hash
//! made with other parameters still verifies, and is replaced on the next login.
//!
//! Every hash costs 19 MiB and tens of milliseconds of a core, so at most [`SLOTS`] run at
//! once (on blocking threads); a burst of logins waits for a slot instead of taking a
//! gigabyte. Login throttling admits attempts before they get here (`auth::throttle`).

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    /// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Why a password operation failed (never because the password was wrong: that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(argon2::Error),
    #[error("hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("the hashing thread stopped")]
    Busy,
}

/// The outcome of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    Wrong,
    /// Right, and the stored hash uses the current parameters.
    Right,
    /// Right; store this new hash, made with the current parameters.
    RightRehashed(String),
}

/// Argon2 computations at once.
pub const SLOTS: usize = 4;

/// Hashes and verifies passwords with one set of parameters.
#[derive(Clone, Debug)]
pub struct Passwords {
    params: PasswordParams,
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// A hash of a random password, verified against when a login names no operator, so a
    /// wrong e-mail costs as much time as a wrong password and reveals nothing.
    dummy: String,
}

impl Passwords {
    pub fn new(params: PasswordParams) -> Result<Self, PasswordError> {
        let mut this = Self {
            params,
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(SLOTS)),
            dummy: String::new(),
        };
        this.dummy = this.hash(&crate::auth::secret::generate())?;
        Ok(this)
    }

    fn argon2(&self) -> Result<Argon2<'static>, PasswordError> {
        let params = Params::new(
            self.params.memory_kib,
            self.params.iterations,
            self.params.parallelism,
            None,
        )
        .map_err(PasswordError::Params)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut OsRng);
        let hash = self
            .argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map_err(PasswordError::Hash)?;
        Ok(hash.to_string())
    }

    /// Checks `password` against `stored` (the dummy hash when `stored` is `None`).
    pub fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified, PasswordError> {
        let Ok(parsed) = PasswordHash::new(stored.unwrap_or(&self.dummy)) else {
            return Ok(Verified::Wrong);
        };
        // Verification uses the parameters recorded in the hash itself.
        if Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
            || stored.is_none()
        {
            return Ok(Verified::Wrong);
        }
        if self.is_current(&parsed) {
            Ok(Verified::Right)
        } else {
            Ok(Verified::RightRehashed(self.hash(password)?))
        }
    }

    /// [`Passwords::hash`] on a blocking thread, once a slot is free.
    pub async fn hash_in_slot(&self, password: String) -> Result<String, PasswordError> {
        let this = self.clone();
        self.in_slot(move || this.hash(&password)).await
    }

    /// [`Passwords::verify`] on a blocking thread, once a slot is free.
    pub async fn verify_in_slot(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verified, PasswordError> {
        let this = self.clone();
        self.in_slot(move || this.verify(&password, stored.as_deref()))
            .await
    }

    async fn in_slot<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| PasswordError::Busy)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| PasswordError::Busy)?
    }

    /// Slots free now (for tests).
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    fn is_current(&self, hash: &PasswordHash<'_>) -> bool {
        let Ok(params) = Params::try_from(hash) else {
            return false;
        };
        hash.algorithm == Algorithm::Argon2id.ident()
            && hash.version == Some(Version::V0x13.into())
            && params.m_cost() == self.params.memory_kib
            && params.t_cost() == self.params.iterations
            && params.p_cost() == self.params.parallelism
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn light(iterations: u32) -> Passwords {
        Passwords::new(PasswordParams {
            memory_kib: 1024,
            iterations,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn right_and_wrong_passwords() {
        let p = light(1);
        let hash = p.hash("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert_eq!(
            p.verify("correct horse", Some(&hash)).unwrap(),
            Verified::Right
        );
        assert_eq!(
            p.verify("wrong horse", Some(&hash)).unwrap(),
            Verified::Wrong
        );
        assert_eq!(p.verify("correct horse", None).unwrap(), Verified::Wrong);
        assert_eq!(p.verify("x", Some("not a hash")).unwrap(), Verified::Wrong);
    }

    #[test]
    fn changed_parameters_rehash_on_success_only() {
        let old = light(1).hash("correct horse").unwrap();
        let new = light(2);
        let Verified::RightRehashed(rehashed) = new.verify("correct horse", Some(&old)).unwrap()
        else {
            panic!("expected a rehash")
        };
        assert!(rehashed.contains("t=2"), "{rehashed}");
        assert_eq!(
            new.verify("correct horse", Some(&rehashed)).unwrap(),
            Verified::Right
        );
        assert_eq!(new.verify("wrong", Some(&old)).unwrap(), Verified::Wrong);
    }

    /// Sixteen at once: never more than the slots run together.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_run_a_few_at_a_time() {
        let p = light(1);
        let running = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (p, running, most) = (p.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                p.in_slot(move || {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, SeqCst);
                    Ok(())
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=SLOTS).contains(&most), "{most} ran at once");
        assert_eq!(p.free_slots(), SLOTS);
    }

    #[test]
    fn defaults_are_owasps() {
        assert_eq!(
            PasswordParams::default(),
            PasswordParams {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
    }
}
