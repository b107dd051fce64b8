//! Single use of verification codes. A registration or reset *claims* the
//! code (compare and delete in one step, so two requests cannot both use it)
//! and *restores* it when the work it authorised failed, so a user whose
//! registration hit a taken name or a database outage can retry with the same
//! code until it expires.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::{RedisPool, StoreError, keys, with_connection};

/// Returns the remaining lifetime in milliseconds (-1: none) when the stored
/// code (KEYS[1]) equals ARGV[1], and deletes it; returns false otherwise.
/// A wrong code counts one attempt (KEYS[2], living as long as the code);
/// at ARGV[2] attempts (0: no limit) the code itself is deleted, so a short
/// code cannot be guessed by trying them all.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local stored = redis.call('GET', KEYS[1])
        if stored == false then return false end
        if stored ~= ARGV[1] then
            local limit = tonumber(ARGV[2])
            if limit > 0 then
                local attempts = redis.call('INCR', KEYS[2])
                local ttl = redis.call('PTTL', KEYS[1])
                if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
                if attempts >= limit then redis.call('DEL', KEYS[1], KEYS[2]) end
            end
            return false
        end
        local ttl = redis.call('PTTL', KEYS[1])
        redis.call('DEL', KEYS[1], KEYS[2])
        return ttl
        ",
    )
});

/// What a successful claim took away, to put back if the work fails.
#[derive(Debug)]
pub struct ClaimedCode {
    key: String,
    // Kept only to put it back; a SecretString, so Debug never shows it.
    value: secrecy::SecretString,
    remaining: Option<Duration>,
    /// When it was claimed: the time the work took counts against the
    /// code's life, so claiming and failing over and over cannot keep a
    /// code alive.
    claimed_at: std::time::Instant,
}

/// Claims the code of `slot` if it equals `code`. `Ok(None)`: no such code
/// (missing, expired or different). `max_attempts` wrong codes delete it.
pub async fn claim(
    pool: &RedisPool,
    limit: Duration,
    slot: &CodeSlot,
    code: &str,
    max_attempts: u32,
) -> Result<Option<ClaimedCode>, StoreError> {
    let remaining: Option<i64> = with_connection(pool, limit, |mut connection| async move {
        CLAIM
            .key(&slot.code_key)
            .key(&slot.attempts_key)
            .arg(code)
            .arg(max_attempts)
            .invoke_async(&mut connection)
            .await
    })
    .await?;
    Ok(remaining.map(|millis| ClaimedCode {
        key: slot.code_key.clone(),
        value: code.to_owned().into(),
        remaining: u64::try_from(millis).ok().map(Duration::from_millis),
        claimed_at: std::time::Instant::now(),
    }))
}

/// Puts a claimed code back with the lifetime it had left, less the time
/// since it was claimed, unless a new code was issued for the address in
/// the meantime (NX).
pub async fn restore(
    pool: &RedisPool,
    limit: Duration,
    claimed: ClaimedCode,
) -> Result<(), StoreError> {
    use secrecy::ExposeSecret;
    with_connection(pool, limit, |mut connection| async move {
        let mut command = redis::cmd("SET");
        command
            .arg(&claimed.key)
            .arg(claimed.value.expose_secret())
            .arg("NX");
        let left = claimed
            .remaining
            .map(|remaining| remaining.saturating_sub(claimed.claimed_at.elapsed()));
        match left {
            Some(remaining) if remaining.is_zero() => return Ok(()),
            Some(remaining) => {
                command.arg("PX").arg(remaining.as_millis() as u64);
            }
            None => {}
        }
        command.query_async::<()>(&mut connection).await
    })
    .await
}

/// Stores a new code unless one was issued for the address within the
/// cooldown (ARGV[3] seconds; 0 = none), and starts its count of wrong
/// attempts afresh. Returns 1 when stored, 0 when the cooldown refused it
/// (the existing code stays as it is).
static ISSUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local cooldown = tonumber(ARGV[3])
        if cooldown > 0 then
            if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', cooldown) then return 0 end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
        redis.call('DEL', KEYS[3])
        return 1
        ",
    )
});

/// Deletes the code if it is still ARGV[1], and the cooldown with it.
static WITHDRAW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
        redis.call('DEL', KEYS[2])
        return 1
        ",
    )
});

/// Where an address's code, its resend cooldown and its count of wrong
/// attempts live.
#[derive(Debug, Clone)]
pub struct CodeSlot {
    pub code_key: String,
    pub cooldown_key: String,
    pub attempts_key: String,
}

impl CodeSlot {
    pub fn of(prefix: &str, email: &str) -> CodeSlot {
        CodeSlot {
            code_key: keys::verification_code(prefix, email),
            cooldown_key: keys::verification_cooldown(prefix, email),
            attempts_key: keys::verification_attempts(prefix, email),
        }
    }
}

/// Stores `code` for `lifetime`; `Ok(false)` when the cooldown refused it.
pub async fn issue(
    pool: &RedisPool,
    limit: Duration,
    slot: &CodeSlot,
    code: &str,
    lifetime: Duration,
    cooldown: Duration,
) -> Result<bool, StoreError> {
    let stored: i64 = with_connection(pool, limit, |mut connection| async move {
        ISSUE
            .key(&slot.code_key)
            .key(&slot.cooldown_key)
            .key(&slot.attempts_key)
            .arg(code)
            .arg(lifetime.as_secs())
            .arg(cooldown.as_secs())
            .invoke_async(&mut connection)
            .await
    })
    .await?;
    Ok(stored == 1)
}

/// How long the address's resend cooldown has left (`None`: none runs).
pub async fn cooldown_left(
    pool: &RedisPool,
    limit: Duration,
    slot: &CodeSlot,
) -> Result<Option<Duration>, StoreError> {
    super::time_left(pool, limit, &slot.cooldown_key).await
}

/// Takes back a code that could not be delivered, so it cannot be used and
/// the user may ask again at once.
pub async fn withdraw(
    pool: &RedisPool,
    limit: Duration,
    slot: &CodeSlot,
    code: &str,
) -> Result<(), StoreError> {
    with_connection(pool, limit, |mut connection| async move {
        WITHDRAW
            .key(&slot.code_key)
            .key(&slot.cooldown_key)
            .arg(code)
            .invoke_async::<i64>(&mut connection)
            .await
            .map(drop)
    })
    .await
}
