use std::net::IpAddr;
use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};

use super::{Restart, Restarts, StartError};
use crate::config::Settings;
use crate::domain::Username;
use crate::kv::{self, RedisPool, StoreError, counters, keys};
use crate::status::Status;

/// Owns the Redis pool of the abuse counters (per client address and per
/// account), kept apart from the code store so that a flood of counted
/// requests cannot starve code checks of connections.
pub struct LimitActor {
    settings: Arc<Settings>,
    restarts: Arc<Restarts>,
    redis: RedisPool,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("too many attempts")]
    Refused,
    #[error("attempts cannot be counted: {0}")]
    Store(#[from] StoreError),
}

impl LimitError {
    pub fn status(&self) -> Status {
        match self {
            LimitError::Refused => Status::RateLimited,
            LimitError::Store(_) => Status::RedisUnknownError,
        }
    }
}

impl LimitActor {
    pub fn new(settings: Arc<Settings>, restarts: Arc<Restarts>) -> Result<Self, StartError> {
        let redis = kv::build_pool(&settings.redis)?;
        Ok(Self {
            settings,
            restarts,
            redis,
        })
    }
}

impl Actor for LimitActor {
    type Context = Context<Self>;
}

impl Supervised for LimitActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.restarts.record();
        match kv::build_pool(&self.settings.redis) {
            Ok(redis) => {
                self.redis = redis;
                log::warn!("limit actor restarted with a new Redis pool");
            }
            Err(error) => log::error!("limit actor restarted, keeping its pool: {error}"),
        }
    }
}

impl Handler<Restart> for LimitActor {
    type Result = ();
    fn handle(&mut self, _: Restart, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
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

    fn handle(&mut self, message: AdmitAddress, _: &mut Context<Self>) -> Self::Result {
        let limits = &self.settings.limits;
        let (burst, window) = (u64::from(limits.ip_burst), limits.ip_window());
        let key = keys::address_requests(
            &self.settings.redis.key_prefix,
            &message.endpoint,
            &message.address,
        );
        let (redis, limit) = (self.redis.clone(), self.settings.redis.timeout());
        Box::pin(async move {
            if burst == 0 {
                return true;
            }
            match counters::hit(&redis, limit, key, window).await {
                Ok(count) => count <= burst,
                Err(error) => {
                    log::warn!("request of {} not counted: {error}", message.address);
                    true
                }
            }
        })
    }
}

/// Counts a login attempt of `username` before it is checked; refused once
/// `limits.login_failures` attempts were counted in the window. Counting
/// first is what keeps parallel guesses from racing past the limit. Fails
/// closed: no count, no login.
#[derive(Message)]
#[rtype(result = "Result<(), LimitError>")]
pub struct ReserveLogin {
    pub username: Username,
}

impl Handler<ReserveLogin> for LimitActor {
    type Result = ResponseFuture<Result<(), LimitError>>;

    fn handle(&mut self, message: ReserveLogin, _: &mut Context<Self>) -> Self::Result {
        let limits = &self.settings.limits;
        let (allowed, window) = (u64::from(limits.login_failures), limits.login_window());
        let key = keys::login_attempts(&self.settings.redis.key_prefix, message.username.as_str());
        let (redis, limit) = (self.redis.clone(), self.settings.redis.timeout());
        Box::pin(async move {
            if allowed == 0 {
                return Ok(());
            }
            match counters::hit(&redis, limit, key, window).await? {
                count if count <= allowed => Ok(()),
                _ => Err(LimitError::Refused),
            }
        })
    }
}

/// A successful login: the account's failed attempts are forgotten.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClearLogin {
    pub username: Username,
}

impl Handler<ClearLogin> for LimitActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, message: ClearLogin, _: &mut Context<Self>) -> Self::Result {
        let key = keys::login_attempts(&self.settings.redis.key_prefix, message.username.as_str());
        let (redis, limit) = (self.redis.clone(), self.settings.redis.timeout());
        Box::pin(async move {
            if let Err(error) = counters::clear(&redis, limit, key).await {
                log::warn!(
                    "login attempts of {} not cleared: {error}",
                    message.username.as_str()
                );
            }
        })
    }
}
