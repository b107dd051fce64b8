//! The only way to the gateway's resources. Each actor owns one kind of
//! resource and rebuilds it when its supervisor restarts it:
//!
//! * [`CaptchaActor`]: the verification service's gRPC channel and the Redis
//!   pool (issues codes, claims and restores them);
//! * [`AccountActor`]: the MySQL pool and the password hasher;
//! * [`BalanceActor`]: the balance service's gRPC channel;
//! * [`LimitActor`]: the Redis pool of the abuse counters.
//!
//! Handlers reply with a `ResponseFuture`: the actor only starts the work, so
//! requests run concurrently instead of queueing behind the slowest one.

pub mod account;
pub mod balance;
pub mod captcha;
pub mod limits;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::{Actor, Addr, Supervisor};

pub use account::AccountActor;
pub use balance::BalanceActor;
pub use captcha::CaptchaActor;
pub use limits::LimitActor;

use crate::config::Settings;

/// Stops an actor so that its supervisor restarts it with freshly built
/// resources. Requests already under way finish on the old ones.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Restart;

/// Asks an actor whether the resources it owns answer.
#[derive(actix::Message)]
#[rtype(result = "Vec<Health>")]
pub struct Probe;

/// Whether one backend answered a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub component: &'static str,
    pub up: bool,
}

/// Counts supervisor restarts, for operators and tests.
#[derive(Debug, Default)]
pub struct Restarts(AtomicU64);

impl Restarts {
    pub fn record(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Addresses of the running, supervised actors.
#[derive(Clone)]
pub struct Actors {
    pub captcha: Addr<CaptchaActor>,
    pub account: Addr<AccountActor>,
    pub balance: Addr<BalanceActor>,
    pub limits: Addr<LimitActor>,
    pub restarts: Arc<Restarts>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid peer address: {0}")]
    Peer(#[from] tonic::transport::Error),
    #[error("invalid Redis settings: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("password hasher: {0}")]
    Hasher(#[from] crate::security::password::HashError),
}

impl Actors {
    /// Builds every resource (without connecting: backends may be down) and
    /// starts each actor under a supervisor on the current arbiter.
    pub fn start(settings: &Settings) -> Result<Actors, StartError> {
        let restarts = Arc::new(Restarts::default());
        let settings = Arc::new(settings.clone());
        let captcha = CaptchaActor::new(Arc::clone(&settings), Arc::clone(&restarts))?;
        let account = AccountActor::new(Arc::clone(&settings), Arc::clone(&restarts))?;
        let balance = BalanceActor::new(Arc::clone(&settings), Arc::clone(&restarts))?;
        let limits = LimitActor::new(settings, Arc::clone(&restarts))?;
        Ok(Actors {
            captcha: supervise(captcha),
            account: supervise(account),
            balance: supervise(balance),
            limits: supervise(limits),
            restarts,
        })
    }
}

fn supervise<A>(actor: A) -> Addr<A>
where
    A: Actor<Context = actix::Context<A>> + actix::Supervised,
{
    Supervisor::start(move |_| actor)
}
