//! Fixed-window counters for abuse limits, on the path of every request, so
//! as cheap as they can be while exact: one INCR (atomic, so parallel
//! requests on any number of gateway instances cannot slip past a limit).
//! The hit that opens a window sets its expiry; so does every hit over the
//! limit, with `PEXPIRE … NX` (Redis 7), which repairs a counter whose
//! opening hit died between its two commands, so none lives forever.

use std::time::Duration;

use redis::AsyncCommands;

use super::{RedisPool, StoreError, with_connection};

/// Counts `events` more events in the window of `key`; answers the count
/// so far, these included. `allowed` is the limit the caller applies.
/// The pool handle is taken by value (a cheap clone) so that the future is
/// `'static`.
pub async fn hit(
    pool: RedisPool,
    limit: Duration,
    key: String,
    window: Duration,
    events: u64,
    allowed: u64,
) -> Result<u64, StoreError> {
    let window_ms = window.as_millis().max(1) as u64;
    with_connection(&pool, limit, |mut connection| async move {
        let count: u64 = connection.incr(&key, events).await?;
        if count == events || count > allowed {
            redis::cmd("PEXPIRE")
                .arg(&key)
                .arg(window_ms)
                .arg("NX")
                .query_async::<()>(&mut connection)
                .await?;
        }
        Ok(count)
    })
    .await
}
