//! argon2id hashing on a fixed pool of `security.hash_threads` threads.
//!
//! Hashing costs ~19 MiB and tens of milliseconds of CPU: it never runs on an
//! async worker (it would stall every other request on that thread), and at
//! most `security.hash_threads` hashes run at once, so a login flood cannot
//! take all the CPU from cheap requests. Each thread keeps its 19 MiB of
//! argon2 memory for the next hash: allocating it per hash either leaves
//! the allocator holding hundreds of MiB or, returned to the OS every time,
//! costs a fifth of the throughput in page faults.
//!
//! Hashing is bounded three ways, so no client and no stored row can make it
//! unbounded:
//!
//! * at most `security.max_pending_hashes` jobs are queued or running; more
//!   are refused at once ([`HashError::Busy`], answered 27);
//! * a job whose request has gone away (its [`RequestGuard`] dropped: the
//!   client disconnected) is dropped before it hashes;
//! * a stored hash whose parameters exceed the caps
//!   (`security.max_hash_*`) is not computed at all ([`Verdict::OverCaps`]).

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use prometheus::IntCounterVec;
use subtle::ConstantTimeEq;

use super::strength::is_strong_enough;
use crate::domain::Password;

/// ASVS 6.5 / OWASP minimum for argon2id: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("constant argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("hashing task failed: {0}")]
    Task(String),
    #[error("too many password hashes waiting")]
    Busy,
    #[error("the request went away before its hash was computed")]
    Abandoned,
}

/// Held by a request for as long as it waits for a hash; dropping it (the
/// client went away and actix-web dropped the handler) cancels the job.
#[derive(Debug, Default)]
pub struct RequestGuard(Arc<()>);

impl RequestGuard {
    pub fn interest(&self) -> Interest {
        Interest(Arc::downgrade(&self.0))
    }
}

/// Whether anyone still waits for a job: a weak handle on a [`RequestGuard`].
#[derive(Debug, Clone)]
pub struct Interest(Weak<()>);

impl Interest {
    fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }

    /// For tests: work nobody cancels.
    #[cfg(test)]
    pub fn forever() -> Interest {
        static FOREVER: std::sync::LazyLock<Arc<()>> = std::sync::LazyLock::new(|| Arc::new(()));
        Interest(Arc::downgrade(&FOREVER))
    }
}

/// The largest argon2 parameters a stored hash may ask for.
#[derive(Debug, Clone, Copy)]
pub struct HashCaps {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl HashCaps {
    fn admit(&self, params: &Params) -> bool {
        params.m_cost() <= self.memory_kib
            && params.t_cost() <= self.passes
            && params.p_cost() <= self.lanes
    }
}

/// Why a new password was not hashed.
#[derive(Debug, thiserror::Error)]
pub enum NewPasswordError {
    #[error("the password is too easy to guess")]
    Guessable,
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Result of checking a password against what an account stores.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    /// The stored hash asks for more than the caps allow: not computed, a
    /// wrong password for the client, an error for the operator.
    OverCaps,
    /// The password is right. `rehash` holds a new PHC string to store when
    /// the stored one is legacy plaintext or uses weaker parameters.
    Match {
        rehash: Option<String>,
    },
}

#[derive(Clone)]
pub struct PasswordHasher {
    threads: Arc<rayon::ThreadPool>,
    /// Verified when an account does not exist, so that an unknown name
    /// costs the same as a wrong password.
    decoy: Arc<str>,
    caps: HashCaps,
    /// Jobs queued or running, at most `max_pending`.
    pending: Arc<AtomicUsize>,
    max_pending: usize,
    /// Jobs by outcome (`hashed`, `busy`, `abandoned`), for `/metrics`.
    jobs: Option<IntCounterVec>,
}

/// Counts one job as pending from enqueueing until it is dropped, whether it
/// ran, was skipped or panicked.
struct PendingSlot(Arc<AtomicUsize>);

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// `threads` = 0 means one per CPU core; `jobs` counts what became of
    /// each job, by outcome.
    pub fn new(
        threads: usize,
        max_pending: usize,
        caps: HashCaps,
        jobs: Option<IntCounterVec>,
    ) -> Result<Self, HashError> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("argon2-{index}"))
            // Without a handler a panic would abort the process; with it the
            // waiting request gets an error (10).
            .panic_handler(|_| log::error!("a password hashing task panicked"))
            .build()
            .map_err(|error| HashError::Task(error.to_string()))?;
        // On a hashing thread, whose memory is kept anyway.
        let decoy = pool.install(|| hash_now("decoy password, never stored"))?;
        Ok(Self {
            threads: Arc::new(pool),
            decoy: decoy.into(),
            caps,
            pending: Arc::new(AtomicUsize::new(0)),
            max_pending: max_pending.max(1),
            jobs,
        })
    }

    /// A fresh PHC string (random salt) for a new `password`, unless its
    /// zxcvbn score, with `user_inputs` (name, e-mail) as known words, is
    /// below `min_score`. Both run on the hashing threads: scoring a long
    /// password is CPU work too.
    pub async fn hash_new(
        &self,
        password: Password,
        user_inputs: Vec<String>,
        min_score: u8,
        interest: Interest,
    ) -> Result<String, NewPasswordError> {
        self.run(interest, move || {
            let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
            if !is_strong_enough(password.expose(), &inputs, min_score) {
                return Ok(Err(NewPasswordError::Guessable));
            }
            Ok(hash_now(password.expose()).map_err(NewPasswordError::from))
        })
        .await?
    }

    /// Checks `password` against `stored` (`None`: no such account, which
    /// costs the same work and always answers `Mismatch`).
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
        interest: Interest,
    ) -> Result<Verdict, HashError> {
        let (decoy, caps) = (Arc::clone(&self.decoy), self.caps);
        self.run(interest, move || match stored {
            Some(stored) => verify_now(password.expose(), &stored, &decoy, &caps),
            None => spend_decoy(password.expose(), &decoy),
        })
        .await
    }

    /// Queues `work` on the hashing threads, unless `max_pending` jobs are
    /// waiting already, and waits for it without blocking the async worker.
    /// The job is skipped if nobody is interested any more when its turn
    /// comes.
    async fn run<T: Send + 'static>(
        &self,
        interest: Interest,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let admitted = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                (pending < self.max_pending).then_some(pending + 1)
            });
        let count = |jobs: &Option<IntCounterVec>, outcome: &str| {
            if let Some(jobs) = jobs {
                jobs.with_label_values(&[outcome]).inc();
            }
        };
        if admitted.is_err() {
            count(&self.jobs, "busy");
            return Err(HashError::Busy);
        }
        let slot = PendingSlot(Arc::clone(&self.pending));
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let jobs = self.jobs.clone();
        self.threads.spawn(move || {
            let _slot = slot;
            if interest.is_gone() || reply.is_closed() {
                count(&jobs, "abandoned");
                let _ = reply.send(Err(HashError::Abandoned));
                return;
            }
            let _ = reply.send(work());
            count(&jobs, "hashed");
        });
        outcome
            .await
            .map_err(|_| HashError::Task("hashing thread failed".into()))?
    }
}

thread_local! {
    /// This hashing thread's argon2 working memory, kept between hashes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with this thread's kept memory (grown when `params` need more).
fn hash_into(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < params.block_count() {
            memory.resize(params.block_count(), Block::default());
        }
        let hashed = argon2
            .hash_password_into_with_memory(
                password,
                salt,
                out,
                &mut memory[..params.block_count()],
            )
            .map_err(|error| HashError::Argon2(error.to_string()));
        // A stored hash with more memory than today's (within the caps)
        // must not leave every hashing thread holding that much for good.
        let kept = MEMORY_KIB as usize;
        if memory.len() > kept {
            memory.truncate(kept);
            memory.shrink_to_fit();
        }
        hashed
    })
}

fn argon2_error(error: impl std::fmt::Display) -> HashError {
    HashError::Argon2(error.to_string())
}

/// A PHC string of `password` with a fresh random salt and today's
/// parameters (what `PasswordHasher::hash_password` builds, without its
/// allocation of the working memory).
fn hash_now(password: &str) -> Result<String, HashError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(argon2_error)?;
    let salt = Salt::generate();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hash_into(&argon2(), &params, password.as_bytes(), &salt, &mut out)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(argon2_error)?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(argon2_error)?),
    };
    Ok(hash.to_string())
}

/// `Ok(true)` when `password` matches the PHC string `stored`, computed
/// with the parameters the string carries; compared in constant time.
fn verify_phc(password: &str, stored: &PasswordHash) -> Result<bool, HashError> {
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(argon2_error)?;
    let version = match stored.version {
        Some(version) => Version::try_from(version).map_err(argon2_error)?,
        None => Version::V0x10,
    };
    let params = Params::try_from(stored).map_err(argon2_error)?;
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(HashError::Argon2(
            "the stored hash has no salt or no output".into(),
        ));
    };
    let mut out = vec![0u8; expected.as_bytes().len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    hash_into(&argon2, &params, password.as_bytes(), salt, &mut out)?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

fn verify_now(
    password: &str,
    stored: &str,
    decoy: &str,
    caps: &HashCaps,
) -> Result<Verdict, HashError> {
    match PasswordHash::new(stored) {
        Ok(phc) if phc.algorithm.as_str().starts_with("argon2") => {
            match Params::try_from(&phc) {
                Ok(params) if caps.admit(&params) => {}
                // Unreadable parameters fail in verify_phc with an error.
                Err(_) => {}
                Ok(_) => {
                    // The usual work, so the answer time does not tell
                    // such a row apart.
                    spend_decoy(password, decoy)?;
                    return Ok(Verdict::OverCaps);
                }
            }
            if !verify_phc(password, &phc)? {
                return Ok(Verdict::Mismatch);
            }
            let rehash = if is_current(&phc) {
                None
            } else {
                Some(hash_now(password)?)
            };
            Ok(Verdict::Match { rehash })
        }
        // A row written by the old gateway holds the plaintext. Compare in
        // constant time, and spend the same argon2 work either way so the
        // answer time does not tell legacy accounts apart.
        _ => {
            if bool::from(password.as_bytes().ct_eq(stored.as_bytes())) {
                Ok(Verdict::Match {
                    rehash: Some(hash_now(password)?),
                })
            } else {
                spend_decoy(password, decoy)
            }
        }
    }
}

/// The work of one verification, for a check that must fail anyway.
fn spend_decoy(password: &str, decoy: &str) -> Result<Verdict, HashError> {
    let decoy = PasswordHash::new(decoy).map_err(|error| HashError::Argon2(error.to_string()))?;
    verify_phc(password, &decoy)?;
    Ok(Verdict::Mismatch)
}

/// True when `phc` is argon2id with at least today's parameters.
fn is_current(phc: &PasswordHash) -> bool {
    let Ok(params) = Params::try_from(phc) else {
        return false;
    };
    phc.algorithm.as_str() == "argon2id"
        && params.m_cost() >= MEMORY_KIB
        && params.t_cost() >= PASSES
        && params.p_cost() >= LANES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(text: &str) -> Password {
        Password::parse(text.into()).unwrap()
    }

    const CAPS: HashCaps = HashCaps {
        memory_kib: 65536,
        passes: 10,
        lanes: 4,
    };

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(1, 64, CAPS, None).unwrap()
    }

    fn any() -> Interest {
        Interest::forever()
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_with_asvs_parameters_and_verifies() {
        let hasher = hasher();
        let hash = hasher
            .hash_new(password("correct horse"), vec![], 2, any())
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let right = hasher
            .verify(password("correct horse"), Some(hash.clone()), any())
            .await;
        assert_eq!(right.unwrap(), Verdict::Match { rehash: None });
        let wrong = hasher
            .verify(password("wrong horse"), Some(hash), any())
            .await;
        assert_eq!(wrong.unwrap(), Verdict::Mismatch);
    }

    #[tokio::test]
    async fn a_guessable_new_password_is_not_hashed() {
        let hasher = hasher();
        let weak = hasher
            .hash_new(password("Password123"), vec![], 2, any())
            .await;
        assert!(matches!(weak, Err(NewPasswordError::Guessable)));
        let own_name = hasher
            .hash_new(
                password("walter.white"),
                vec!["walter.white".into()],
                2,
                any(),
            )
            .await;
        assert!(matches!(own_name, Err(NewPasswordError::Guessable)));
    }

    #[tokio::test]
    async fn legacy_plaintext_matches_once_and_asks_for_a_rehash() {
        let hasher = hasher();
        let verdict = hasher
            .verify(password("Legacy123"), Some("Legacy123".into()), any())
            .await
            .unwrap();
        let Verdict::Match { rehash: Some(new) } = verdict else {
            panic!("expected a match with a rehash, got {verdict:?}");
        };
        assert!(new.starts_with("$argon2id$"));
        let wrong = hasher
            .verify(password("Legacy1234"), Some("Legacy123".into()), any())
            .await;
        assert_eq!(wrong.unwrap(), Verdict::Mismatch);
    }

    #[test]
    fn hashes_interoperate_with_the_argon2_crates_own_api() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let ours = hash_now("both ways").unwrap();
        let theirs: PasswordHash = argon2().hash_password(b"both ways").unwrap();
        assert!(
            argon2()
                .verify_password(b"both ways", &PasswordHash::new(&ours).unwrap())
                .is_ok()
        );
        assert!(verify_phc("both ways", &theirs).unwrap());
        assert!(!verify_phc("other way", &theirs).unwrap());
    }

    #[tokio::test]
    async fn weaker_parameters_ask_for_a_rehash() {
        use argon2::password_hash::PasswordHasher as _;
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        );
        let stored: PasswordHash = weak.hash_password(b"old params").unwrap();
        let hasher = hasher();
        let verdict = hasher
            .verify(password("old params"), Some(stored.to_string()), any())
            .await
            .unwrap();
        assert!(matches!(verdict, Verdict::Match { rehash: Some(_) }));
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches() {
        let hasher = hasher();
        let verdict = hasher
            .verify(password("anything at all"), None, any())
            .await
            .unwrap();
        assert_eq!(verdict, Verdict::Mismatch);
    }

    #[tokio::test]
    async fn a_stored_hash_over_the_caps_is_not_computed() {
        let hasher = hasher();
        for params in [
            "m=4294967295,t=2,p=1",
            "m=19456,t=4294967295,p=1",
            "m=19456,t=2,p=255",
        ] {
            let stored = format!(
                "$argon2id$v=19${params}$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
            );
            let verdict = hasher.verify(password("anything at all"), Some(stored), any());
            assert_eq!(verdict.await.unwrap(), Verdict::OverCaps, "{params}");
        }
    }

    #[tokio::test]
    async fn a_job_whose_requester_left_is_skipped() {
        let hasher = hasher();
        let guard = RequestGuard::default();
        let interest = guard.interest();
        drop(guard);
        let verdict = hasher.verify(password("anything at all"), None, interest);
        assert!(matches!(verdict.await, Err(HashError::Abandoned)));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let hasher = PasswordHasher::new(1, 2, CAPS, None).unwrap();
        let jobs: Vec<_> = (0..6)
            .map(|_| hasher.verify(password("anything at all"), None, any()))
            .collect();
        let outcomes = futures_util::future::join_all(jobs).await;
        let busy = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Err(HashError::Busy)))
            .count();
        assert_eq!(busy, 4, "{outcomes:?}");
        // The slots are free again.
        let again = hasher.verify(password("anything at all"), None, any());
        assert_eq!(again.await.unwrap(), Verdict::Mismatch);
    }
}
