use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use std::collections::{HashMap, HashSet};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseFuture,
    Supervised, WrapFuture,
};
use futures_util::FutureExt;
use tokio::sync::oneshot;

use super::fault::{Faults, accepts_injected_faults};
use super::guard::{Guarded, Panicked, guarded};
use super::{ActorKind, ReportPool, StartError, restarts_on_request};
use crate::config::Settings;
use crate::domain::Username;
use crate::kv::{self, RedisPool, StoreError, counters, keys};
use crate::metrics::{Metrics, PoolUsage};

/// Owns the Redis pool of the abuse counters (per client address and per
/// account), kept apart from the code store so that a flood of counted
/// requests cannot starve code checks of connections.
///
/// Hits on one address's counter coalesce: while one INCRBY for a key is
/// under way, the hits that arrive wait and go together in the next one,
/// each still getting its own exact count. Under load from one address (a
/// flood, or a proxy we trust) that is one Redis round trip per batch, not
/// per request.
pub struct LimitActor {
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    redis: RedisPool,
    /// Per counter key: the hits waiting for the next INCRBY.
    waiting: HashMap<String, Vec<oneshot::Sender<Option<u64>>>>,
    /// Keys whose INCRBY is under way.
    in_flight: HashSet<String>,
    faults: Faults,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("too many attempts")]
    Refused,
    #[error("attempts cannot be counted: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Panicked(#[from] Panicked),
}

impl LimitActor {
    pub fn new(settings: Arc<Settings>, metrics: Arc<Metrics>) -> Result<Self, StartError> {
        let redis = kv::build_pool(&settings.redis)?;
        Ok(Self {
            settings,
            metrics,
            redis,
            waiting: HashMap::new(),
            in_flight: HashSet::new(),
            faults: Faults::default(),
        })
    }

    /// Sends one INCRBY for all hits waiting on `key`, hands each its count
    /// (`None`: Redis failed), then does the same for hits that arrived
    /// meanwhile.
    fn flush(&mut self, key: String, ctx: &mut Context<Self>) {
        let Some(waiters) = self
            .waiting
            .remove(&key)
            .filter(|waiters| !waiters.is_empty())
        else {
            self.in_flight.remove(&key);
            return;
        };
        self.in_flight.insert(key.clone());
        let limits = &self.settings.limits;
        let (window, allowed) = (limits.ip_window(), u64::from(limits.ip_burst));
        let (redis, limit) = (self.redis.clone(), self.settings.redis.timeout());
        let events = waiters.len() as u64;
        // Polled in the actor's own context, not through `guarded`: a panic
        // here is caught too, its hits let through, and the actor restarted.
        let counting = AssertUnwindSafe(counters::hit(
            redis,
            limit,
            key.clone(),
            window,
            events,
            allowed,
        ))
        .catch_unwind();
        ctx.spawn(counting.into_actor(self).map(move |counted, actor, ctx| {
            match counted {
                Ok(Ok(last)) => {
                    // The counter may hold less than our hits (a key someone
                    // else reset): never below 1.
                    let first = (last + 1).saturating_sub(events).max(1);
                    for (offset, waiter) in waiters.into_iter().enumerate() {
                        let _ = waiter.send(Some(first.saturating_add(offset as u64)));
                    }
                }
                Ok(Err(error)) => {
                    log::warn!("requests not counted: {error}");
                    for waiter in waiters {
                        let _ = waiter.send(None);
                    }
                }
                Err(_) => {
                    log::error!("limits actor panicked while counting; restarting it");
                    // The waiters, dropped, let their requests through.
                    actor.in_flight.remove(&key);
                    ctx.stop();
                    return;
                }
            }
            actor.flush(key, ctx);
        }));
    }
}

impl Actor for LimitActor {
    type Context = Context<Self>;
}

impl Guarded for LimitActor {
    const KIND: ActorKind = ActorKind::Limits;
    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

accepts_injected_faults!(LimitActor);
restarts_on_request!(LimitActor);

impl Supervised for LimitActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.faults.check_restart();
        self.metrics.actor_restarted("limits");
        // The stop cancelled the INCRBYs under way: their waiters were let
        // through, and no key may stay marked as in flight.
        self.waiting.clear();
        self.in_flight.clear();
        match kv::build_pool(&self.settings.redis) {
            Ok(redis) => {
                self.redis = redis;
                log::warn!("limit actor restarted with a new Redis pool");
            }
            Err(error) => log::error!("limit actor restarted, keeping its pool: {error}"),
        }
    }
}

impl Handler<ReportPool> for LimitActor {
    type Result = ResponseFuture<PoolUsage>;
    fn handle(&mut self, _: ReportPool, ctx: &mut Context<Self>) -> Self::Result {
        let unknown = |_| PoolUsage::unknown("redis_limits");
        guarded(self, ctx, unknown, |actor, _| {
            let usage = PoolUsage::of("redis_limits", actor.redis.state());
            Box::pin(async move { usage })
        })
    }
}

/// Counts a request of `address` to `endpoint`; answers whether it is within
/// `limits.ip_burst`. When Redis cannot count, the request is let through:
/// endpoints whose work needs Redis fail on their own, the others should not.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct AdmitAddress {
    /// The route pattern, e.g. `/trylogin_server`.
    pub endpoint: String,
    pub address: IpAddr,
}

impl Handler<AdmitAddress> for LimitActor {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, message: AdmitAddress, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |_| true,
            |actor, ctx| {
                let burst = u64::from(actor.settings.limits.ip_burst);
                if burst == 0 {
                    return Box::pin(async { true });
                }
                let key = keys::address_requests(
                    &actor.settings.redis.key_prefix,
                    &message.endpoint,
                    message.address,
                );
                let (counted, count) = oneshot::channel();
                actor.waiting.entry(key.clone()).or_default().push(counted);
                if !actor.in_flight.contains(&key) {
                    actor.flush(key, ctx);
                }
                // No count (Redis failed, or the actor restarted): let it through.
                Box::pin(async move {
                    count
                        .await
                        .ok()
                        .flatten()
                        .is_none_or(|count| count <= burst)
                })
            },
        )
    }
}

/// Counts a login attempt of `username` before it is checked; refused once
/// `limits.login_failures` attempts were counted in the window. Counting
/// first is what keeps parallel guesses from racing past the limit. Fails
/// closed: no count, no login.
#[derive(Message)]
#[rtype(result = "Result<LoginAttempt, LimitError>")]
pub struct ReserveLogin {
    pub username: Username,
}

/// An attempt the limit let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginAttempt {
    /// The window's last allowed attempt: if it fails, the account's lock
    /// starts. Exactly one attempt per window is it (the count is atomic),
    /// so whatever it starts happens once per window.
    pub last_allowed: bool,
}

impl Handler<ReserveLogin> for LimitActor {
    type Result = ResponseFuture<Result<LoginAttempt, LimitError>>;

    fn handle(&mut self, message: ReserveLogin, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let limits = &actor.settings.limits;
                let (allowed, window) = (u64::from(limits.login_failures), limits.login_window());
                let key =
                    keys::login_attempts(&actor.settings.redis.key_prefix, &message.username.key());
                let (redis, limit) = (actor.redis.clone(), actor.settings.redis.timeout());
                Box::pin(async move {
                    if allowed == 0 {
                        return Ok(LoginAttempt {
                            last_allowed: false,
                        });
                    }
                    match counters::hit(redis, limit, key, window, 1, allowed).await? {
                        count if count <= allowed => Ok(LoginAttempt {
                            last_allowed: count == allowed,
                        }),
                        _ => Err(LimitError::Refused),
                    }
                })
            },
        )
    }
}

/// A successful login or password reset: the account's failed attempts
/// are forgotten (a reset proves the mailbox, so it lifts a lock).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClearLogin {
    pub username: Username,
}

impl Handler<ClearLogin> for LimitActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, message: ClearLogin, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |_| (),
            |actor, _| {
                let key =
                    keys::login_attempts(&actor.settings.redis.key_prefix, &message.username.key());
                let (redis, limit) = (actor.redis.clone(), actor.settings.redis.timeout());
                Box::pin(async move {
                    if let Err(error) = kv::delete(&redis, limit, key).await {
                        log::warn!("login attempts of an account not cleared: {error}");
                    }
                })
            },
        )
    }
}
