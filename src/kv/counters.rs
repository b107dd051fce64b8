//! Fixed-window counters for abuse limits. INCR and the window's expiry run
//! as one script, so parallel requests (on any number of gateway instances)
//! cannot slip past a limit, and no counter is left without an expiry.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::{RedisPool, StoreError, with_connection};

static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return count
        ",
    )
});

/// Counts one more event in the window of `key`; answers the count so far,
/// this one included.
pub async fn hit(
    pool: &RedisPool,
    limit: Duration,
    key: String,
    window: Duration,
) -> Result<u64, StoreError> {
    let window_ms = window.as_millis().max(1) as u64;
    with_connection(pool, limit, |mut connection| async move {
        HIT.key(key)
            .arg(window_ms)
            .invoke_async(&mut connection)
            .await
    })
    .await
}

/// Forgets the events counted at `key`.
pub async fn clear(pool: &RedisPool, limit: Duration, key: String) -> Result<(), StoreError> {
    with_connection(pool, limit, |mut connection| async move {
        redis::cmd("DEL")
            .arg(key)
            .query_async(&mut connection)
            .await
    })
    .await
}
