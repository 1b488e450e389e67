//! Password hashing: Argon2id (RFC 9106) in PHC string format, on a bounded
//! pool with a bounded queue.
//!
//! Hashing is deliberately slow, so it runs on threads of its own (by
//! default half the cores, at least one) at a lower scheduling priority, so
//! the reactor serving refreshes wins whenever both want a core; and at most
//! `queue` more hashes may wait for them. A login beyond that is refused at once ([`PasswordError::Busy`],
//! a 503 with `Retry-After`) instead of queueing without bound: a login
//! flood cannot starve the reactor, and with it every refresh.
//! Verifying against an unknown user hashes against a dummy PHC string with
//! the same parameters, so both paths cost the same time.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use holdfast_crypto::secret::{SecretString, random_bytes};

use tokio::sync::Semaphore;

use crate::config::PasswordParams;

/// Minimum password length (NIST SP 800-63B §5.1.1.2: at least 8).
pub const MIN_PASSWORD_LEN: usize = 8;
/// Maximum password length, so hashing cost stays bounded.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Why hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password is too short or too long.
    #[error("password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters")]
    Policy,
    /// The parameters are invalid.
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    /// The hashing queue is full: try again shortly.
    #[error("password hashing queue is full")]
    Busy,
    /// The pool is gone (shutting down).
    #[error("password hashing pool unavailable")]
    Pool,
}

/// Hashes and verifies passwords on a bounded pool.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    params: PasswordParams,
    /// The hashing threads' job queue.
    jobs: std::sync::mpsc::Sender<Job>,
    /// One per hash that may run or wait: taken without waiting, so a full
    /// queue refuses at once.
    places: Arc<Semaphore>,
    dummy_hash: Arc<std::sync::OnceLock<String>>,
}

/// How many hashes run at once and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Hashes at once; `None`: half the cores, at least one.
    pub workers: Option<usize>,
    /// Hashes that may wait for a worker.
    pub queue: usize,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self {
            workers: None,
            queue: 16,
        }
    }
}

impl PoolLimits {
    /// The number of workers in force.
    pub fn workers(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2);
            (cores / 2).max(1)
        })
    }
}

impl PasswordHasher {
    /// A hasher with `params` on a pool of the default size.
    pub fn new(params: PasswordParams) -> Self {
        Self::with_limits(params, PoolLimits::default())
    }

    /// A hasher with `params` on a pool of `limits`.
    pub fn with_limits(params: PasswordParams, limits: PoolLimits) -> Self {
        let workers = limits.workers().max(1);
        Self {
            params,
            jobs: spawn_hashing_threads(workers),
            places: Arc::new(Semaphore::new(workers + limits.queue)),
            dummy_hash: Arc::default(),
        }
    }

    fn argon2(params: PasswordParams) -> Result<Argon2<'static>, PasswordError> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError::Params(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
    }

    /// Checks the parameters once, at start-up.
    pub fn check_params(&self) -> Result<(), PasswordError> {
        Self::argon2(self.params).map(|_| ())
    }

    /// Hashes a new password to a PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let len = password.expose().chars().count();
        if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len) {
            return Err(PasswordError::Policy);
        }
        let params = self.params;
        self.on_pool(move || hash_blocking(params, password.expose()))
            .await?
    }

    /// Verifies `password` against `phc`, or against a dummy hash when the
    /// user does not exist (`phc` is `None`), which always fails but costs
    /// the same.
    pub async fn verify(
        &self,
        password: SecretString,
        phc: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.admit()?.verify(password, phc).await
    }

    /// Takes a place in the hashing queue without waiting:
    /// [`PasswordError::Busy`] when it is full. A login takes its place
    /// before anything else, so a refused login costs nothing more (no
    /// store write, no hash).
    pub fn admit(&self) -> Result<Admission, PasswordError> {
        let place = self
            .places
            .clone()
            .try_acquire_owned()
            .map_err(|e| match e {
                tokio::sync::TryAcquireError::NoPermits => PasswordError::Busy,
                tokio::sync::TryAcquireError::Closed => PasswordError::Pool,
            })?;
        Ok(Admission {
            _place: place,
            hasher: self.clone(),
        })
    }

    async fn dummy(&self) -> Result<String, PasswordError> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let params = self.params;
        let hash = self
            .on_worker(move || hash_blocking(params, "holdfast-dummy-password"))
            .await??;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }

    async fn on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _admission = self.admit()?;
        self.on_worker(work).await
    }

    /// Runs `work` on a hashing thread once one is free (the caller holds
    /// a queue place, so at most `workers + queue` jobs are ever queued).
    async fn on_worker<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = reply.send(work());
            }))
            .map_err(|_| PasswordError::Pool)?;
        answer.await.map_err(|_| PasswordError::Pool)
    }
}

/// A hash to run on a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Starts `workers` hashing threads at the lowest normal scheduling
/// priority (nice 19): when the cores are busy, the reactor threads serving refreshes
/// win, and a login flood slows logins rather than refreshes; on idle cores
/// hashing runs at full speed. The threads end when the last hasher clone
/// is dropped. Should no thread start (the OS refused), jobs fail with
/// [`PasswordError::Pool`] (a 503) instead of waiting forever.
fn spawn_hashing_threads(workers: usize) -> std::sync::mpsc::Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let mut started = 0;
    for i in 0..workers {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("holdfast-argon2-{i}"))
            .spawn(move || {
                lower_priority();
                loop {
                    let job = match rx.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
        match spawned {
            Ok(_) => started += 1,
            Err(e) => tracing::error!(error = %e, "cannot start a password hashing thread"),
        }
    }
    if started == 0 {
        // Every job is dropped unrun: its caller's reply channel closes.
        drop(rx);
    }
    tx
}

/// Lowers the calling thread's scheduling priority (a niceness on Linux);
/// where the OS refuses, hashing keeps the normal priority.
fn lower_priority() {
    use thread_priority::{ThreadPriority, set_current_thread_priority};
    // The lowest normal priority: niceness 19 on Linux.
    if let Err(e) = set_current_thread_priority(ThreadPriority::Min) {
        tracing::debug!(error = ?e, "password hashing threads keep the normal priority");
    }
}

/// A place in the hashing queue ([`PasswordHasher::admit`]); dropping it
/// gives the place back.
#[derive(Debug)]
pub struct Admission {
    _place: tokio::sync::OwnedSemaphorePermit,
    hasher: PasswordHasher,
}

impl Admission {
    /// Verifies `password` against `phc` (against a dummy hash when `None`,
    /// which always fails but costs the same), in the place taken.
    pub async fn verify(
        self,
        password: SecretString,
        phc: Option<String>,
    ) -> Result<bool, PasswordError> {
        if password.expose().chars().count() > MAX_PASSWORD_LEN {
            return Ok(false);
        }
        let exists = phc.is_some();
        let target = match phc {
            Some(phc) => phc,
            None => self.hasher.dummy().await?,
        };
        let params = self.hasher.params;
        let ok = self
            .hasher
            .on_worker(move || {
                let Ok(parsed) = PasswordHash::new(&target) else {
                    return false;
                };
                PasswordHasher::argon2(params)
                    .map(|a| {
                        a.verify_password(password.expose().as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await?;
        Ok(ok && exists)
    }
}

fn hash_blocking(params: PasswordParams, password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt).map_err(|e| PasswordError::Params(e.to_string()))?;
    PasswordHasher::argon2(params)?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Params(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(PasswordParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_that_verify() {
        let h = fast();
        let phc = h.hash(SecretString::new("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(
            h.verify(SecretString::new("correct horse"), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify(SecretString::new("wrong horse"), Some(phc))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let h = fast();
        assert!(
            !h.verify(SecretString::new("holdfast-dummy-password"), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn short_passwords_are_refused() {
        assert!(matches!(
            fast().hash(SecretString::new("short")).await,
            Err(PasswordError::Policy)
        ));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_waiting() {
        let h = PasswordHasher::with_limits(
            PasswordParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            PoolLimits {
                workers: Some(1),
                queue: 1,
            },
        );
        // Hold the one worker and the one queue place.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = {
            let h = h.clone();
            tokio::spawn(async move {
                h.on_pool(move || {
                    let _ = hold.recv();
                })
                .await
            })
        };
        while h.places.available_permits() > 1 {
            tokio::task::yield_now().await;
        }
        let waiting = {
            let h = h.clone();
            tokio::spawn(async move { h.on_pool(|| ()).await })
        };
        while h.places.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            h.verify(SecretString::new("whatever"), None).await,
            Err(PasswordError::Busy)
        ));
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        waiting.await.unwrap().unwrap();
        // With the queue drained, hashing works again.
        assert!(h.hash(SecretString::new("correct horse")).await.is_ok());
    }

    #[test]
    fn default_parameters_are_the_owasp_minimum() {
        let p = PasswordParams::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19_456, 2, 1));
    }
}
