//! Argon2id password hashing on a bounded pool of dedicated threads.
//!
//! A hash costs tens of milliseconds of CPU. Running it on the async workers would stall every
//! other request, so hashes run on `hash_threads` OS threads fed by a queue. Those threads run at a
//! lower scheduling priority (nice 10): when a sign-in storm meets session checks, the kernel gives
//! the cheap session checks the CPU first and the hashes soak up whatever is left.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

use super::settings::HashingSettings;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the hashing pool has stopped")]
    PoolStopped,
}

type Job = Box<dyn FnOnce() + Send>;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or an unreadable hash).
    No,
    /// Right password, and the hash uses the current parameters.
    Yes,
    /// Right password, but the hash should be recomputed with the current parameters.
    YesRehash,
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: mpsc::Sender<Job>,
    params: Params,
    /// A hash of a random password: unknown accounts are checked against it, so that signing in
    /// as nobody costs exactly as much as signing in with a wrong password.
    decoy_hash: String,
    /// Jobs submitted so far: unchanged between two looks means the pool was idle.
    submitted: AtomicU64,
    /// Jobs waiting for a thread (submitted, not yet started): the queue depth metric.
    waiting: Arc<AtomicU64>,
    /// Threads holding Argon2 memory: releases are sent until none does.
    holding: Arc<AtomicUsize>,
}

impl PasswordHasher {
    pub fn start(config: &HashingSettings) -> Result<Self, HashError> {
        Self::start_releasing(config, IDLE_RELEASE)
    }

    fn start_releasing(config: &HashingSettings, release: IdleRelease) -> Result<Self, HashError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| HashError::Argon2(e.to_string()))?;
        let threads = match config.hash_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (jobs, queue) = mpsc::channel::<Job>(4096);
        let queue = Arc::new(Mutex::new(queue));
        let holding = Arc::new(AtomicUsize::new(0));
        for index in 0..threads {
            let queue = Arc::clone(&queue);
            let holding = Arc::clone(&holding);
            std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || run_worker(&queue, holding))
                .expect("spawning a hashing thread");
        }
        // On a thread of its own, which ends with it: a hash leaves its Argon2 memory (m_cost
        // KiB) with the thread that computed it, and the caller's thread lives for ever.
        let decoy_hash = std::thread::scope(|scope| {
            scope
                .spawn(|| hash_blocking(&params, &crate::crypto::tokens::random_secret()))
                .join()
                .expect("hashing the decoy password")
        })?;
        let inner = Arc::new(Inner {
            jobs,
            params,
            decoy_hash,
            submitted: AtomicU64::new(0),
            waiting: Arc::new(AtomicU64::new(0)),
            holding,
        });
        // Outside a runtime (a one-off command) memory is simply kept until the process ends.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(release_memory_when_idle(
                Arc::downgrade(&inner),
                threads,
                release,
            ));
        }
        Ok(Self { inner })
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let params = self.inner.params.clone();
        let password = password.to_owned();
        self.run(move || hash_blocking(&params, &password)).await?
    }

    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified, HashError> {
        let params = self.inner.params.clone();
        let password = password.to_owned();
        let stored = stored.to_owned();
        self.run(move || verify_blocking(&params, &password, &stored))
            .await
    }

    /// Hashes several short secrets (backup codes) with one fresh salt and the current parameters,
    /// in parallel on the pool. Sharing the salt lets a typed secret be hashed once and then looked
    /// up by equality among its siblings (see `hash_like`).
    pub async fn hash_with_shared_salt(
        &self,
        secrets: &[String],
    ) -> Result<Vec<String>, HashError> {
        let salt = new_salt();
        let jobs = secrets.iter().map(|secret| {
            let (params, secret) = (self.inner.params.clone(), secret.clone());
            self.run(move || hash_with_salt(&params, &secret, &salt))
        });
        futures::future::try_join_all(jobs)
            .await?
            .into_iter()
            .collect()
    }

    /// Hashes `secret` with the algorithm parameters and salt of `reference` (a PHC string from
    /// `hash_with_shared_salt`): equal to a sibling of `reference` exactly when the secrets match.
    pub async fn hash_like(&self, secret: &str, reference: &str) -> Result<String, HashError> {
        let (secret, reference) = (secret.to_owned(), reference.to_owned());
        self.run(move || {
            let parsed =
                PasswordHash::new(&reference).map_err(|e| HashError::Argon2(e.to_string()))?;
            let params = Params::try_from(&parsed).map_err(|e| HashError::Argon2(e.to_string()))?;
            let salt = parsed
                .salt
                .ok_or_else(|| HashError::Argon2("reference hash has no salt".into()))?;
            hash_with_salt(&params, &secret, &salt)
        })
        .await?
    }

    /// Spends one verification on the decoy hash and answers `No`.
    pub async fn verify_decoy(&self, password: &str) -> Result<Verified, HashError> {
        let decoy = self.inner.decoy_hash.clone();
        self.verify(password, &decoy).await?;
        Ok(Verified::No)
    }

    /// Jobs waiting for a hashing thread now.
    pub fn queue_depth(&self) -> u64 {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// Runs `work` on the pool, timing its wait and its work (`password_hash_*_seconds`: a few
    /// tens of nanoseconds beside a hash of tens of milliseconds).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        self.inner.submitted.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting::enter(&self.inner.waiting);
        let queued_at = Instant::now();
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            drop(waiting);
            let started = Instant::now();
            metrics::histogram!("password_hash_queue_wait_seconds")
                .record((started - queued_at).as_secs_f64());
            let result = work();
            metrics::histogram!("password_hash_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            let _ = reply.send(result);
        });
        self.inner
            .jobs
            .send(job)
            .await
            .map_err(|_| HashError::PoolStopped)?;
        answer.await.map_err(|_| HashError::PoolStopped)
    }
}

/// One job counted as waiting until it starts, or until it is dropped unrun (its caller went
/// away while the queue was full, or the pool stopped): the count never leaks.
struct Waiting(Arc<AtomicU64>);

impl Waiting {
    fn enter(count: &Arc<AtomicU64>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn run_worker(queue: &Mutex<mpsc::Receiver<Job>>, holding: Arc<AtomicUsize>) {
    lower_thread_priority();
    HOLDING.with(|count| *count.borrow_mut() = Some(holding));
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let job = match queue.lock() {
            Ok(mut receiver) => receiver.blocking_recv(),
            Err(_) => return,
        };
        match job {
            Some(job) => job(),
            None => return,
        }
    }
}

/// When the pool's threads give their Argon2 memory back.
#[derive(Clone, Copy)]
struct IdleRelease {
    /// How long the pool must go without a job first: memory follows load.
    after: Duration,
    /// How often the pool is looked at: memory goes back between `after` and `after + every`
    /// after the last job.
    every: Duration,
}

/// Back within 40 s of a sign-in storm's last hash, well inside the minute bench/ allows.
const IDLE_RELEASE: IdleRelease = IdleRelease {
    after: Duration::from_secs(30),
    every: Duration::from_secs(10),
};

/// Once the pool has gone `release.after` without a job, queues one release per thread at every
/// look while any thread still holds memory. Idle threads take one each; a thread that happens
/// to take two frees nothing the second time, and the next look reaches the one it left out.
/// Ends with the pool.
async fn release_memory_when_idle(
    inner: std::sync::Weak<Inner>,
    threads: usize,
    release: IdleRelease,
) {
    let mut seen = u64::MAX;
    let mut idle_since = Instant::now();
    loop {
        tokio::time::sleep(release.every).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let submitted = inner.submitted.load(Ordering::Relaxed);
        if submitted != seen {
            seen = submitted;
            idle_since = Instant::now();
        } else if idle_since.elapsed() >= release.after && inner.holding.load(Ordering::Relaxed) > 0
        {
            for _ in 0..threads {
                let _ = inner.jobs.try_send(Box::new(release_memory));
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_thread_priority() {
    // On Linux, PRIO_PROCESS with id 0 applies to the calling thread only.
    // SAFETY: setpriority has no memory-safety preconditions.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if result != 0 {
        tracing::debug!("could not lower the hashing thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_thread_priority() {}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

thread_local! {
    /// Each hashing thread's Argon2 working memory (`m_cost` KiB), allocated at its first hash
    /// and reused while jobs keep coming: a storm of sign-ins then costs no allocation, and
    /// memory stays at `hash_threads × m_cost` instead of growing with every concurrent hash the
    /// allocator keeps. Freed once the pool is idle (`IDLE_RELEASE`).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    /// On a pool's threads, the pool's count of threads whose `BLOCKS` hold memory.
    static HOLDING: RefCell<Option<Arc<AtomicUsize>>> = const { RefCell::new(None) };
}

/// Frees this thread's Argon2 memory (the next hash allocates it again).
fn release_memory() {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if !blocks.is_empty() {
            *blocks = Vec::new();
            count_holding(false);
        }
    });
}

/// Counts this thread in (or out of) its pool's threads holding memory, before the job's answer
/// goes out.
fn count_holding(holds: bool) {
    HOLDING.with(|count| {
        if let Some(count) = count.borrow().as_ref() {
            if holds {
                count.fetch_add(1, Ordering::Relaxed);
            } else {
                count.fetch_sub(1, Ordering::Relaxed);
            }
        }
    });
}

/// The raw Argon2 output of `password` under `argon` into `out`, in this thread's memory.
fn hash_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        let needed = argon.params().block_count();
        if blocks.len() < needed {
            if blocks.is_empty() {
                count_holding(true);
            }
            blocks.resize(needed, Block::new());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
            .map_err(|e| HashError::Argon2(e.to_string()))
    })
}

/// 16 bytes from the OS CSPRNG (getrandom), the PHC format's recommended salt length.
fn new_salt() -> Salt {
    Salt::generate()
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, HashError> {
    hash_with_salt(params, password, &new_salt())
}

/// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), as `PasswordHasher` writes it.
fn hash_with_salt(params: &Params, password: &str, salt: &Salt) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Argon2(e.to_string());
    let argon = argon2(params);
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    hash_into(&argon, password.as_bytes(), salt.as_ref(), &mut output)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(*salt),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

fn verify_blocking(params: &Params, password: &str, stored: &str) -> Verified {
    let Ok(parsed) = PasswordHash::new(stored) else {
        tracing::error!("a stored password hash is not a PHC string");
        return Verified::No;
    };
    if !matches_stored(&parsed, password) {
        return Verified::No;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed).is_ok_and(|stored_params| {
            stored_params.m_cost() == params.m_cost()
                && stored_params.t_cost() == params.t_cost()
                && stored_params.p_cost() == params.p_cost()
        });
    if current {
        Verified::Yes
    } else {
        Verified::YesRehash
    }
}

/// Recomputes the hash with the stored algorithm, version, costs and salt, and compares the
/// outputs in constant time.
fn matches_stored(stored: &PasswordHash, password: &str) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(algorithm) = stored.algorithm.as_str().parse::<Algorithm>() else {
        return false;
    };
    let version = stored
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .unwrap_or(Version::V0x13);
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let mut computed = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if hash_into(&argon, password.as_bytes(), salt.as_ref(), &mut computed).is_err() {
        return false;
    }
    bool::from(computed.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floor_config() -> HashingSettings {
        HashingSettings {
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_threads: 2,
        }
    }

    /// Our hashes (computed in reused memory) are what the argon2 crate's own PasswordHasher
    /// writes and verifies, and theirs verify here: stored hashes stay valid either way.
    #[test]
    fn hashes_in_reused_memory_match_the_standard_phc_implementation() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(19456, 2, 1, None).unwrap();
        let salt = new_salt();
        let ours = hash_with_salt(&params, "correct horse battery", &salt).unwrap();
        let theirs = argon2(&params)
            .hash_password_with_salt(b"correct horse battery", salt.as_ref())
            .unwrap()
            .to_string();
        assert_eq!(ours, theirs);
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2(&params)
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        // An argon2i hash with other costs, made by the crate, verifies here (and asks for a rehash).
        let old = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(8192, 3, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"old password", new_salt().as_ref())
        .unwrap()
        .to_string();
        assert_eq!(
            verify_blocking(&params, "old password", &old),
            Verified::YesRehash
        );
        assert_eq!(verify_blocking(&params, "old passwore", &old), Verified::No);
        // The same thread, a bigger then a smaller memory: the buffer is reused safely.
        let big = Params::new(65536, 2, 1, None).unwrap();
        let again = hash_with_salt(&big, "x", &salt).unwrap();
        assert_eq!(verify_blocking(&big, "x", &again), Verified::Yes);
        assert_eq!(
            hash_with_salt(&params, "correct horse battery", &salt).unwrap(),
            theirs
        );
    }

    /// RFC 9106 §5.3: Argon2id v0x13 with secret and associated data.
    #[test]
    fn rfc9106_argon2id_vector() {
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .output_len(32)
            .data(argon2::AssociatedData::new(&[0x04; 12]).unwrap())
            .build()
            .unwrap();
        let secret = [0x03u8; 8];
        let argon =
            Argon2::new_with_secret(&secret, Algorithm::Argon2id, Version::V0x13, params).unwrap();
        let mut tag = [0u8; 32];
        argon
            .hash_password_into(&[0x01; 32], &[0x02; 16], &mut tag)
            .unwrap();
        assert_eq!(
            hex::encode(tag),
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }

    /// Hashing threads keep their Argon2 memory while jobs come, and all of them give it back once
    /// the pool is idle (here after 200 ms of quiet instead of 30 s).
    #[tokio::test]
    async fn idle_threads_give_their_memory_back() {
        let hasher = PasswordHasher::start_releasing(
            &floor_config(),
            IdleRelease {
                after: Duration::from_millis(200),
                every: Duration::from_millis(50),
            },
        )
        .unwrap();
        let holding = || hasher.inner.holding.load(Ordering::Relaxed);
        let (first, second) = tokio::join!(hasher.hash("one password"), hasher.hash("another"));
        let hash = first.unwrap();
        second.unwrap();
        assert!(holding() >= 1, "a thread that hashed keeps its memory");
        // The minute is a guard against hanging, not a performance bound.
        let released = async {
            while holding() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), released)
            .await
            .expect("every thread gives its memory back once the pool is idle");
        // And a hash after the release allocates again and is still right.
        assert_eq!(
            hasher.verify("one password", &hash).await.unwrap(),
            Verified::Yes
        );
        assert!(holding() >= 1);
    }

    #[tokio::test]
    async fn hashes_verify_and_flag_old_parameters() {
        let hasher = PasswordHasher::start(&floor_config()).unwrap();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            hasher.verify("correct horse battery", &hash).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(
            hasher.verify("correct horse batterx", &hash).await.unwrap(),
            Verified::No
        );

        let stronger = PasswordHasher::start(&HashingSettings {
            argon2_iterations: 3,
            ..floor_config()
        })
        .unwrap();
        assert_eq!(
            stronger
                .verify("correct horse battery", &hash)
                .await
                .unwrap(),
            Verified::YesRehash
        );
        assert_eq!(
            stronger.verify_decoy("anything").await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn a_shared_salt_makes_equal_secrets_hash_equal_even_after_a_parameter_change() {
        let hasher = PasswordHasher::start(&floor_config()).unwrap();
        let codes = ["aaaaa11111".to_owned(), "bbbbb22222".to_owned()];
        let hashes = hasher.hash_with_shared_salt(&codes).await.unwrap();
        assert_ne!(hashes[0], hashes[1]);
        assert_eq!(
            hashes[0].rsplit_once('$').unwrap().0,
            hashes[1].rsplit_once('$').unwrap().0
        );
        let stronger = PasswordHasher::start(&HashingSettings {
            argon2_iterations: 3,
            ..floor_config()
        })
        .unwrap();
        // Parameters come from the reference, not from the current configuration.
        assert_eq!(
            stronger.hash_like("bbbbb22222", &hashes[0]).await.unwrap(),
            hashes[1]
        );
        assert!(!hashes.contains(&hasher.hash_like("ccccc33333", &hashes[0]).await.unwrap()));
        let other_salt = hasher.hash_with_shared_salt(&codes).await.unwrap();
        assert_ne!(other_salt[0], hashes[0]);
    }
}
