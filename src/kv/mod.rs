//! Redis, shared with the verification service, the balance service and the
//! chat servers: the pool, the key names (docs/PROTOCOL.md §4), and the scripts
//! that keep multi-step operations atomic.

pub mod codes;
pub mod connection;
pub mod counters;
pub mod keys;
pub mod resets;

use std::future::Future;
use std::time::Duration;

use bb8::Pool;
use redis::RedisError;

pub use self::connection::Connection;
use crate::backend::GuardedPool;
use crate::config::RedisSettings;

/// Connections to one Redis server or to a Redis Cluster
/// (`redis.cluster_nodes`).
pub type RedisPool = GuardedPool<connection::Manager>;

/// Why a Redis operation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis did not answer within {0:?}")]
    TimedOut(Duration),
    /// A connection attempt failed within the last seconds (its cause is
    /// logged once, as a warning): the request failed at once.
    #[error("redis does not accept connections")]
    Down,
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
}

/// Builds the pool without connecting: the gateway starts while Redis is
/// down, and each request finds out for itself within `redis.timeout_ms`.
pub fn build_pool(settings: &RedisSettings) -> Result<RedisPool, RedisError> {
    let manager = connection::Manager::new(settings)?;
    let builder = Pool::builder()
        .max_size(settings.pool_size)
        // A multiplexed connection notices a dead socket on its next command;
        // a PING on every checkout would double the round trips for nothing.
        .test_on_check_out(false)
        .retry_connection(false);
    Ok(GuardedPool::build(
        "Redis",
        builder,
        manager,
        settings.timeout(),
    ))
}

/// Runs `operation` on a pooled connection, the checkout and the command
/// together bounded by `limit`, so a hung Redis cannot hang a request.
pub async fn with_connection<T, F, Fut>(
    pool: &RedisPool,
    limit: Duration,
    operation: F,
) -> Result<T, StoreError>
where
    F: FnOnce(Connection) -> Fut,
    Fut: Future<Output = Result<T, RedisError>>,
{
    let attempt = async {
        let mut pooled = match pool.get().await {
            Ok(pooled) => pooled,
            Err(bb8::RunError::User(error)) => return Err(StoreError::Redis(error)),
            Err(bb8::RunError::TimedOut) if pool.is_down() => return Err(StoreError::Down),
            Err(bb8::RunError::TimedOut) => return Err(StoreError::TimedOut(limit)),
        };
        // The multiplexed connection is cheap to clone; the pooled one is
        // held until the answer, so a connection error can retire it.
        let result = operation(Connection::clone(&pooled)).await;
        if let Err(error) = &result
            && !pooled.heals_itself()
            && (error.is_io_error()
                || error.is_connection_dropped()
                || error.is_unrecoverable_error())
        {
            pooled.mark_broken();
        }
        Ok(result?)
    };
    tokio::time::timeout(limit, attempt)
        .await
        .unwrap_or(Err(StoreError::TimedOut(limit)))
}

/// Deletes `key` (a counter to forget, a token to revoke).
pub async fn delete(pool: &RedisPool, limit: Duration, key: String) -> Result<(), StoreError> {
    with_connection(pool, limit, |mut connection| async move {
        redis::cmd("DEL")
            .arg(key)
            .query_async(&mut connection)
            .await
    })
    .await
}

/// How long `key` has left to live (`None`: no such key, or no expiry).
pub async fn time_left(
    pool: &RedisPool,
    limit: Duration,
    key: &str,
) -> Result<Option<Duration>, StoreError> {
    let left_ms: i64 = with_connection(pool, limit, |mut connection| async move {
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut connection)
            .await
    })
    .await?;
    Ok(u64::try_from(left_ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis))
}
