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

use actix::{Actor, Addr, Supervisor};

pub use account::AccountActor;
pub use balance::BalanceActor;
pub use captcha::CaptchaActor;
pub use limits::LimitActor;

use crate::config::Settings;
use crate::metrics::{Metrics, PoolUsage};

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

/// Asks an actor how busy its connection pool is, for `/metrics`.
#[derive(actix::Message)]
#[rtype(result = "PoolUsage")]
pub struct ReportPool;

/// Addresses of the running, supervised actors.
#[derive(Clone)]
pub struct Actors {
    pub captcha: Addr<CaptchaActor>,
    pub account: Addr<AccountActor>,
    pub balance: Addr<BalanceActor>,
    pub limits: Addr<LimitActor>,
    pub metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("gRPC peer: {0}")]
    Peer(#[from] crate::grpc::PeerError),
    #[error("invalid Redis settings: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("password hasher: {0}")]
    Hasher(#[from] crate::security::password::HashError),
}

impl Actors {
    /// Builds every resource (without connecting: backends may be down) and
    /// starts each actor under a supervisor on the current arbiter.
    pub fn start(settings: &Settings) -> Result<Actors, StartError> {
        let metrics = Arc::new(Metrics::new()?);
        let settings = Arc::new(settings.clone());
        let captcha = CaptchaActor::new(Arc::clone(&settings), Arc::clone(&metrics))?;
        let account = AccountActor::new(Arc::clone(&settings), Arc::clone(&metrics))?;
        let balance = BalanceActor::new(Arc::clone(&settings), Arc::clone(&metrics))?;
        let limits = LimitActor::new(settings, Arc::clone(&metrics))?;
        Ok(Actors {
            captcha: supervise(captcha),
            account: supervise(account),
            balance: supervise(balance),
            limits: supervise(limits),
            metrics,
        })
    }
}

fn supervise<A>(actor: A) -> Addr<A>
where
    A: Actor<Context = actix::Context<A>> + actix::Supervised,
{
    Supervisor::start(move |_| actor)
}
