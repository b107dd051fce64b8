//! Password resets waiting for their owner's confirmation (a
//! `/reset_password` without a code). One per account, at
//! `pending_reset:<uuid>`: a hash of the link secret's digest, the new
//! password's argon2 hash, the account's name and address, living
//! `security.reset_link_ttl_secs`; a newer request replaces it (the older
//! link then finds nothing). Confirming takes it away in one step, so a
//! link works once; when the work it authorised fails, it is put back with
//! the life it had left, unless a newer one took its place.
//!
//! The mails are limited per address and name: one per mail cooldown
//! (`verification.resend_cooldown_secs`), at `{<email>}:reset_mail:<name
//! key>`. An address is one account's, so it gets one mail per cooldown;
//! a request for a pair that is no account cannot hold up the owner's.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use redis::Script;
use secrecy::{ExposeSecret, SecretString};

use super::{RedisPool, StoreError, keys, with_connection};

/// Claims the mail cooldown KEYS[1] for ARGV[1] ms: -1 when claimed, else
/// the milliseconds it has left.
static CLAIM_MAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('SET', KEYS[1], '1', 'NX', 'PX', tonumber(ARGV[1])) then return -1 end
        return redis.call('PTTL', KEYS[1])
        ",
    )
});

/// Stores the pending reset KEYS[1] (digest, password hash, name, address,
/// life in ms), replacing the account's earlier one; with ARGV[6] = 'nx'
/// only if there is none (putting a taken one back).
static STORE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if ARGV[6] == 'nx' then
            if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        else
            redis.call('DEL', KEYS[1])
        end
        redis.call('HSET', KEYS[1], 'digest', ARGV[1], 'password', ARGV[2],
            'username', ARGV[3], 'email', ARGV[4])
        redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
        return 1
        ",
    )
});

/// The password hash, name, address and life left (ms) of the pending
/// reset KEYS[1] if its digest is ARGV[1]; false otherwise. With ARGV[2] =
/// 'take' it is also deleted.
static FIND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local digest = redis.call('HGET', KEYS[1], 'digest')
        if digest == false or digest ~= ARGV[1] then return false end
        local found = redis.call('HMGET', KEYS[1], 'password', 'username', 'email')
        local ttl = redis.call('PTTL', KEYS[1])
        if ARGV[2] == 'take' then redis.call('DEL', KEYS[1]) end
        return {found[1] or '', found[2] or '', found[3] or '', ttl}
        ",
    )
});

/// A pending reset, as confirming took it.
#[derive(Debug)]
pub struct TakenReset {
    key: String,
    digest: String,
    pub uuid: i32,
    /// The account's name and address, as stored.
    pub username: String,
    email: String,
    /// The new password's argon2 PHC string.
    pub password_hash: SecretString,
    remaining: Duration,
    taken_at: Instant,
}

/// What a link finds: whose reset it confirms (the account's stored name
/// and address), and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReset {
    pub username: String,
    pub email: String,
    pub remaining: Duration,
}

/// Claims the address's reset-mail cooldown for `cooldown`. `Err(left)`:
/// a reset mail went there within it.
pub async fn claim_mail(
    pool: &RedisPool,
    limit: Duration,
    prefix: &str,
    (email, name_key): (&str, &str),
    cooldown: Duration,
) -> Result<Result<(), Duration>, StoreError> {
    if cooldown.is_zero() {
        return Ok(Ok(()));
    }
    let key = keys::reset_mail_cooldown(prefix, email, name_key);
    let left: i64 = with_connection(pool, limit, |mut connection| async move {
        CLAIM_MAIL
            .key(key)
            .arg(cooldown.as_millis().max(1) as u64)
            .invoke_async(&mut connection)
            .await
    })
    .await?;
    Ok(match u64::try_from(left) {
        Ok(millis) => Err(Duration::from_millis(millis.max(1))),
        Err(_) => Ok(()),
    })
}

/// Frees the reset-mail cooldown of an address and name (the mail was not
/// sent).
pub async fn release_mail(
    pool: &RedisPool,
    limit: Duration,
    prefix: &str,
    (email, name_key): (&str, &str),
) -> Result<(), StoreError> {
    let key = keys::reset_mail_cooldown(prefix, email, name_key);
    super::delete(pool, limit, key).await
}

/// The pending reset of `uuid`: a password hash waiting for the link whose
/// secret has `digest`.
pub struct NewReset<'a> {
    pub uuid: i32,
    pub digest: &'a str,
    pub password_hash: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub lifetime: Duration,
}

/// Stores `reset` at `key`, replacing what is there (`only_if_none`:
/// unless something is).
async fn put(
    pool: &RedisPool,
    limit: Duration,
    key: &str,
    reset: NewReset<'_>,
    only_if_none: bool,
) -> Result<(), StoreError> {
    with_connection(pool, limit, |mut connection| async move {
        STORE
            .key(key)
            .arg(reset.digest)
            .arg(reset.password_hash)
            .arg(reset.username)
            .arg(reset.email)
            .arg(reset.lifetime.as_millis().max(1) as u64)
            .arg(if only_if_none { "nx" } else { "replace" })
            .invoke_async::<i64>(&mut connection)
            .await
            .map(drop)
    })
    .await
}

/// Stores `reset`, replacing the account's earlier one.
pub async fn store(
    pool: &RedisPool,
    limit: Duration,
    prefix: &str,
    reset: NewReset<'_>,
) -> Result<(), StoreError> {
    let key = keys::pending_reset(prefix, reset.uuid);
    put(pool, limit, &key, reset, false).await
}

/// Forgets the pending reset of account `uuid` (its password was set
/// another way: an older link must not undo that).
pub async fn discard(
    pool: &RedisPool,
    limit: Duration,
    prefix: &str,
    uuid: i32,
) -> Result<(), StoreError> {
    super::delete(pool, limit, keys::pending_reset(prefix, uuid)).await
}

/// What FIND answers: password hash, name, address, life left.
type Found = (String, String, String, Duration);

/// Runs FIND on the reset at `key` for `digest`.
async fn find(
    pool: &RedisPool,
    limit: Duration,
    key: &str,
    digest: &str,
    take: bool,
) -> Result<Option<Found>, StoreError> {
    let found: Option<(String, String, String, i64)> =
        with_connection(pool, limit, |mut connection| async move {
            FIND.key(key)
                .arg(digest)
                .arg(if take { "take" } else { "look" })
                .invoke_async(&mut connection)
                .await
        })
        .await?;
    Ok(found.map(|(password, username, email, ttl)| {
        let remaining = Duration::from_millis(u64::try_from(ttl).unwrap_or(0));
        (password, username, email, remaining)
    }))
}

/// Whose reset the link with `digest` confirms, without using it.
pub async fn peek(
    pool: &RedisPool,
    limit: Duration,
    prefix: &str,
    uuid: i32,
    digest: &str,
) -> Result<Option<PendingReset>, StoreError> {
    let key = keys::pending_reset(prefix, uuid);
    Ok(find(pool, limit, &key, digest, false)
        .await?
        .map(|(_, username, email, remaining)| PendingReset {
            username,
            email,
            remaining,
        }))
}

/// Takes the reset the link with `digest` confirms (single use).
pub async fn take(
    pool: &RedisPool,
    limit: Duration,
    prefix: &str,
    uuid: i32,
    digest: &str,
) -> Result<Option<TakenReset>, StoreError> {
    let key = keys::pending_reset(prefix, uuid);
    Ok(find(pool, limit, &key, digest, true).await?.map(
        |(password, username, email, remaining)| TakenReset {
            key,
            digest: digest.to_owned(),
            uuid,
            username,
            email,
            password_hash: password.into(),
            remaining,
            taken_at: Instant::now(),
        },
    ))
}

/// Puts back a reset whose confirmation failed, with the life it had left
/// less the time since it was taken, unless a newer one replaced it.
pub async fn restore(
    pool: &RedisPool,
    limit: Duration,
    taken: TakenReset,
) -> Result<(), StoreError> {
    let left = taken.remaining.saturating_sub(taken.taken_at.elapsed());
    if left.is_zero() {
        return Ok(());
    }
    let reset = NewReset {
        uuid: taken.uuid,
        digest: &taken.digest,
        password_hash: taken.password_hash.expose_secret(),
        username: &taken.username,
        email: &taken.email,
        lifetime: left,
    };
    put(pool, limit, &taken.key, reset, true).await
}
