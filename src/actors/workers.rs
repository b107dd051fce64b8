//! Each HTTP worker's actors, and the registry of them all (for what
//! concerns every worker: pool gauges, liveness, tests).

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;

use actix::{Actor, Addr, Arbiter, ArbiterHandle, Supervisor};

use super::{AccountActor, ActorKind, BalanceActor, CaptchaActor, LimitActor};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::security::PasswordHasher;
use crate::security::password::HashCaps;

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

/// One worker's supervised actors, running on that worker's arbiter.
#[derive(Clone)]
pub struct Actors {
    pub captcha: Addr<CaptchaActor>,
    pub account: Addr<AccountActor>,
    pub balance: Addr<BalanceActor>,
    pub limits: Addr<LimitActor>,
}

impl Actors {
    /// The actors that are gone for good: stopped, and not restarted by
    /// their supervisor (a restart that panicked).
    pub fn gone(&self) -> Vec<ActorKind> {
        [
            (ActorKind::Captcha, self.captcha.connected()),
            (ActorKind::Account, self.account.connected()),
            (ActorKind::Balance, self.balance.connected()),
            (ActorKind::Limits, self.limits.connected()),
        ]
        .into_iter()
        .filter(|(_, connected)| !connected)
        .map(|(kind, _)| kind)
        .collect()
    }
}

/// A worker's actors, the arbiter they run on and its thread.
struct Started {
    arbiter: ArbiterHandle,
    thread: ThreadId,
    actors: Actors,
}

/// What every worker's actors share (the settings, the metrics, the one
/// password hasher), and every worker's actors once started.
#[derive(Clone)]
pub struct Workers {
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    hasher: PasswordHasher,
    started: Arc<Mutex<Vec<Started>>>,
}

impl Workers {
    /// Builds what the workers share, and each actor once without starting
    /// it: settings that cannot build one fail start-up here, not in a
    /// worker.
    pub fn new(settings: &Settings) -> Result<Workers, StartError> {
        let metrics = Arc::new(Metrics::new()?);
        let security = &settings.security;
        let caps = HashCaps {
            memory_kib: security.max_hash_memory_kib,
            passes: security.max_hash_passes,
            lanes: security.max_hash_lanes,
        };
        let hasher = PasswordHasher::new(
            security.hash_threads,
            security.max_pending_hashes,
            caps,
            Some(metrics.hash_jobs()),
        )?;
        let count = settings.http.worker_count();
        for (pool, size) in [
            ("mysql", settings.mysql.pool_size),
            ("redis", settings.redis.pool_size),
        ] {
            if (size as usize) < count {
                log::warn!(
                    "{pool}.pool_size = {size} is less than the {count} HTTP workers: each worker \
                     gets one connection, {count} in all"
                );
            }
        }
        let workers = Workers {
            settings: Arc::new(settings.clone()),
            metrics,
            hasher,
            started: Arc::default(),
        };
        workers.build(&workers.settings)?;
        Ok(workers)
    }

    fn build(
        &self,
        settings: &Arc<Settings>,
    ) -> Result<(CaptchaActor, AccountActor, BalanceActor, LimitActor), StartError> {
        let metrics = &self.metrics;
        Ok((
            CaptchaActor::new(Arc::clone(settings), Arc::clone(metrics))?,
            AccountActor::new(
                Arc::clone(settings),
                Arc::clone(metrics),
                self.hasher.clone(),
            ),
            BalanceActor::new(Arc::clone(settings), Arc::clone(metrics))?,
            LimitActor::new(Arc::clone(settings), Arc::clone(metrics))?,
        ))
    }

    /// Starts a set of actors, supervised, on the current arbiter (the
    /// worker's own), with this worker's share of the pools, and registers
    /// them. Panics (the worker does not start) if the settings that built
    /// every actor at start-up no longer do, e.g. a TLS file was removed.
    pub fn start_here(&self) -> Actors {
        let thread = std::thread::current().id();
        let index = {
            let mut started = self.lock();
            started.retain(|worker| worker.thread != thread && worker.arbiter.spawn(async {}));
            started.len()
        };
        let settings = Arc::new(self.settings.worker_share(index));
        let (captcha, account, balance, limits) = self
            .build(&settings)
            .unwrap_or_else(|error| panic!("cannot start an HTTP worker's actors: {error}"));
        let actors = Actors {
            captcha: supervise(captcha),
            account: supervise(account),
            balance: supervise(balance),
            limits: supervise(limits),
        };
        self.lock().push(Started {
            arbiter: Arbiter::current(),
            thread,
            actors: actors.clone(),
        });
        actors
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The actors of every worker that still runs (a worker that stopped,
    /// and was perhaps replaced, is forgotten).
    pub fn running(&self) -> Vec<Actors> {
        let mut started = self.lock();
        // `spawn` fails once the arbiter has stopped.
        started.retain(|worker| worker.arbiter.spawn(async {}));
        started.iter().map(|worker| worker.actors.clone()).collect()
    }

    /// The actors, in any running worker, that are gone for good.
    pub fn gone(&self) -> Vec<ActorKind> {
        let mut gone = Vec::new();
        for kind in self.running().iter().flat_map(Actors::gone) {
            if !gone.contains(&kind) {
                gone.push(kind);
            }
        }
        gone
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Started>> {
        // The list stays consistent whatever panicked while holding it.
        self.started.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn supervise<A>(actor: A) -> Addr<A>
where
    A: Actor<Context = actix::Context<A>> + actix::Supervised,
{
    Supervisor::start(move |_| actor)
}
