//! argon2id hashing on a fixed pool of `security.hash_threads` threads.
//!
//! Hashing costs ~19 MiB and tens of milliseconds of CPU: it never runs on an
//! async worker (it would stall every other request on that thread), and at
//! most `security.hash_threads` hashes run at once, so a login flood cannot
//! take all the CPU from cheap requests. Each thread keeps its 19 MiB of
//! argon2 memory for the next hash: allocating it per hash either leaves
//! the allocator holding hundreds of MiB or, returned to the OS every time,
//! costs a fifth of the throughput in page faults.

use std::sync::Arc;

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
}

impl PasswordHasher {
    /// `threads` = 0 means one per CPU core.
    pub fn new(threads: usize) -> Result<Self, HashError> {
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
    ) -> Result<String, NewPasswordError> {
        self.run(move || {
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
    ) -> Result<Verdict, HashError> {
        let decoy = Arc::clone(&self.decoy);
        self.run(move || match stored {
            Some(stored) => verify_now(password.expose(), &stored, &decoy),
            None => spend_decoy(password.expose(), &decoy),
        })
        .await
    }

    /// Queues `work` on the hashing threads and waits for it without
    /// blocking the async worker.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        self.threads.spawn(move || {
            let _ = reply.send(work());
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
        argon2
            .hash_password_into_with_memory(
                password,
                salt,
                out,
                &mut memory[..params.block_count()],
            )
            .map_err(|error| HashError::Argon2(error.to_string()))
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

fn verify_now(password: &str, stored: &str, decoy: &str) -> Result<Verdict, HashError> {
    match PasswordHash::new(stored) {
        Ok(phc) if phc.algorithm.as_str().starts_with("argon2") => {
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

    #[tokio::test]
    async fn a_hash_is_argon2id_with_asvs_parameters_and_verifies() {
        let hasher = PasswordHasher::new(1).unwrap();
        let hash = hasher
            .hash_new(password("correct horse"), vec![], 2)
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let right = hasher
            .verify(password("correct horse"), Some(hash.clone()))
            .await;
        assert_eq!(right.unwrap(), Verdict::Match { rehash: None });
        let wrong = hasher.verify(password("wrong horse"), Some(hash)).await;
        assert_eq!(wrong.unwrap(), Verdict::Mismatch);
    }

    #[tokio::test]
    async fn a_guessable_new_password_is_not_hashed() {
        let hasher = PasswordHasher::new(1).unwrap();
        let weak = hasher.hash_new(password("Password123"), vec![], 2).await;
        assert!(matches!(weak, Err(NewPasswordError::Guessable)));
        let own_name = hasher
            .hash_new(password("walter.white"), vec!["walter.white".into()], 2)
            .await;
        assert!(matches!(own_name, Err(NewPasswordError::Guessable)));
    }

    #[tokio::test]
    async fn legacy_plaintext_matches_once_and_asks_for_a_rehash() {
        let hasher = PasswordHasher::new(1).unwrap();
        let verdict = hasher
            .verify(password("Legacy123"), Some("Legacy123".into()))
            .await
            .unwrap();
        let Verdict::Match { rehash: Some(new) } = verdict else {
            panic!("expected a match with a rehash, got {verdict:?}");
        };
        assert!(new.starts_with("$argon2id$"));
        let wrong = hasher
            .verify(password("Legacy1234"), Some("Legacy123".into()))
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
        let hasher = PasswordHasher::new(1).unwrap();
        let verdict = hasher
            .verify(password("old params"), Some(stored.to_string()))
            .await
            .unwrap();
        assert!(matches!(verdict, Verdict::Match { rehash: Some(_) }));
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches() {
        let hasher = PasswordHasher::new(1).unwrap();
        let verdict = hasher
            .verify(password("anything at all"), None)
            .await
            .unwrap();
        assert_eq!(verdict, Verdict::Mismatch);
    }
}
