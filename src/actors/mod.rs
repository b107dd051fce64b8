//! The only way to the gateway's resources. Each actor owns one kind of
//! resource and rebuilds it when its supervisor restarts it:
//!
//! * [`CaptchaActor`]: the verification service's gRPC channel and the Redis
//!   pool (issues codes, claims and restores them);
//! * [`AccountActor`]: the MySQL pool (and a handle on the process's one
//!   password hasher);
//! * [`BalanceActor`]: the balance service's gRPC channel;
//! * [`LimitActor`]: the Redis pool of the abuse counters.
//!
//! Every HTTP worker starts its own four actors on its own arbiter
//! ([`Workers::start_here`]), with its share of the pools: a request's
//! backend I/O then runs on the thread that took the request, and no one
//! thread carries every worker's backend work. (Pools are not shared
//! between workers: a tokio connection is driven by the runtime that opened
//! it, so a shared pool would wake other workers' threads for every reply,
//! and its connections would die with the worker that opened them.)
//!
//! Handlers reply with a `ResponseFuture`: the actor only starts the work, so
//! requests run concurrently instead of queueing behind the slowest one.
//! What an actor does one message at a time is what concerns its own
//! state: building, probing, reporting and rebuilding its pools and
//! channels. Every handler runs through [`guard::guarded`]: a panic is
//! answered and followed by a real restart.

pub mod account;
pub mod balance;
pub mod captcha;
pub mod fault;
pub mod guard;
pub mod limits;
pub mod resets;
mod workers;

pub use account::AccountActor;
pub use balance::BalanceActor;
pub use captcha::CaptchaActor;
pub use guard::Panicked;
pub use limits::LimitActor;
pub use workers::{Actors, StartError, Workers};

use std::time::Duration;

use crate::metrics::PoolUsage;

/// The four kinds of actor, as named in logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    Captcha,
    Account,
    Balance,
    Limits,
}

impl ActorKind {
    pub fn name(self) -> &'static str {
        match self {
            ActorKind::Captcha => "captcha",
            ActorKind::Account => "account",
            ActorKind::Balance => "balance",
            ActorKind::Limits => "limits",
        }
    }
}

/// How long a probe waits for one backend: readiness gives each actor 1 s,
/// and an actor probing two backends must answer for both in time.
pub const BACKEND_PROBE_WAIT: Duration = Duration::from_millis(800);

/// Stops an actor so that its supervisor restarts it with freshly built
/// resources. Requests already under way finish on the old ones.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct Restart;

/// Asks an actor whether the resources it owns answer.
#[derive(actix::Message)]
#[rtype(result = "Vec<Health>")]
pub struct Probe;

/// How one backend answered a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub component: &'static str,
    pub state: BackendState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendState {
    Up,
    /// Does not answer (or answers too slowly).
    Down,
    /// Answers, but refuses this gateway's credentials (e.g. a wrong
    /// `grpc.auth_token`): this instance's configuration is wrong.
    RefusesUs,
}

impl BackendState {
    pub fn label(self) -> &'static str {
        match self {
            BackendState::Up => "up",
            BackendState::Down => "down",
            BackendState::RefusesUs => "refuses-us",
        }
    }
}

impl Health {
    pub fn new(component: &'static str, up: bool) -> Health {
        let state = if up {
            BackendState::Up
        } else {
            BackendState::Down
        };
        Health { component, state }
    }

    /// Each of `components` down (its actor could not tell).
    pub fn all_down(components: &[&'static str]) -> Vec<Health> {
        components
            .iter()
            .map(|&component| Health::new(component, false))
            .collect()
    }
}

/// Asks an actor how busy its connection pool is, for `/metrics`.
#[derive(actix::Message)]
#[rtype(result = "PoolUsage")]
pub struct ReportPool;

/// `Handler<Restart>` for a supervised actor: stopping it is what makes
/// its supervisor restart it.
macro_rules! restarts_on_request {
    ($actor:ty) => {
        impl actix::Handler<$crate::actors::Restart> for $actor {
            type Result = ();
            fn handle(&mut self, _: $crate::actors::Restart, ctx: &mut actix::Context<Self>) {
                actix::ActorContext::stop(ctx);
            }
        }
    };
}
pub(crate) use restarts_on_request;
