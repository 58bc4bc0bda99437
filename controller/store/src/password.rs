//! Password hashing for staff and portal accounts: argon2id (OWASP minimum:
//! 19 MiB, 2 passes, 1 lane), and **bounded**: every hash runs on one of
//! [`CONCURRENT`] dedicated threads. A login flood then costs at most
//! `CONCURRENT × 19 MiB` of memory and never stalls the async workers that
//! serve every other request (a health check stays fast); attempts beyond
//! the bound wait their turn (and the login throttle counts them before they
//! wait). Dedicated threads, not tokio's blocking pool: the allocator keeps
//! a freed 19 MiB block in the arena of the thread that used it, so hashes
//! spread over many pool threads would keep many such blocks for good (a
//! 200-login flood kept ~350 MB that way; two threads keep two).
//!
//! Verification does the same work whether the account exists or not
//! (an unknown account is checked against a dummy hash), so timing does
//! not tell which accounts exist.

use crate::error::StoreError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

/// Password hashes computed at once, at most (the hashing threads).
pub const CONCURRENT: usize = 2;

type Job = Box<dyn FnOnce() + Send>;

/// The queue the hashing threads take their work from.
fn hashers() -> &'static Mutex<mpsc::Sender<Job>> {
    static TX: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..CONCURRENT {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("mast-argon2-{i}")).spawn(move || {
                loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        Mutex::new(tx)
    })
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid params"))
}

fn hash_now(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| StoreError::invalid("password", format!("cannot hash: {e}")))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::invalid("password", format!("cannot hash: {e}")))
}

fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the account does not exist.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_now("not a real password").expect("hashing works"))
}

/// Runs `f` on a hashing thread and waits for it without blocking the
/// async workers.
async fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    hashers()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(job)
        .map_err(|_| StoreError::Corrupt("the password-hashing threads stopped".into()))?;
    rx.await.map_err(|_| StoreError::Corrupt("a password hash was abandoned".into()))
}

/// The argon2id hash of `password`.
pub async fn hash(password: &str) -> Result<String, StoreError> {
    let password = password.to_string();
    bounded(move || hash_now(&password)).await?
}

/// Whether `password` matches `hash`; `None` (no such account) verifies
/// against a dummy hash and is always false, after the same work.
pub async fn verify(password: &str, hash: Option<String>) -> bool {
    let password = password.to_string();
    bounded(move || {
        let ok = verify_now(&password, hash.as_deref().unwrap_or_else(|| dummy_hash()));
        ok && hash.is_some()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_verify_and_the_unknown_never_does() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(verify("correct horse battery", Some(h.clone())).await);
        assert!(!verify("wrong horse battery", Some(h)).await);
        assert!(!verify("x", Some("not a hash".into())).await);
        assert!(!verify("not a real password", None).await, "the dummy never signs anyone in");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_bound_hash_at_once() {
        static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                tokio::spawn(bounded(|| {
                    use std::sync::atomic::Ordering::SeqCst;
                    let n = RUNNING.fetch_add(1, SeqCst) + 1;
                    PEAK.fetch_max(n, SeqCst);
                    let _ = verify_now("x", dummy_hash());
                    RUNNING.fetch_sub(1, SeqCst);
                }))
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(PEAK.load(std::sync::atomic::Ordering::SeqCst) <= CONCURRENT);
    }
}
