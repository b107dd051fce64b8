//! Registered servers, in Redis, so that any number of balance replicas
//! see the same servers and a restart loses none (the original service kept
//! them in memory). Each server also has a probe record: failed TCP probes
//! in a row; at `balance.probe_failures` of them it is down, which keeps it
//! registered (operators see it) but no longer hands it out.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use serde::Deserialize;

use crate::kv::{RedisPool, StoreError, keys, with_connection};

/// The two registries the protocol has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Grpc,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Grpc => "grpc",
        }
    }
}

/// Where a registered server listens; stored as JSON (with `since`, when
/// it registered, in ms).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerAddress {
    pub host: String,
    pub port: String,
}

/// One registered server as the replicas see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub address: ServerAddress,
    pub up: bool,
    /// The stored entry, as read: a probe result is recorded only while it
    /// is unchanged.
    pub entry: String,
}

/// At most this many servers per registry: whoever can call the service
/// cannot grow Redis without bound.
pub const MAX_SERVERS: usize = 1024;

/// What became of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Added,
    /// The name is registered already, by a server that is up.
    Taken,
    /// [`MAX_SERVERS`] are registered.
    Full,
}

/// Registers ARGV[1] at host ARGV[2], port ARGV[3] in registry KEYS[1]
/// (failed probes in KEYS[2]), atomically: of two replicas registering one
/// name at once exactly one adds it. A name already held answers `taken`,
/// unless its holder is down (ARGV[5] failed probes or more: a chat server
/// that crashed and comes back under its name replaces its dead entry) or
/// it is the same address registering again at least ARGV[6] ms after it
/// last did (a restarted chat server that never said goodbye; the original
/// service, having forgotten it on its own restart, took it back too). A
/// full registry (ARGV[4] servers) forgets the server that has been down
/// longest to make room, else answers `full`. A fresh entry starts up.
static REGISTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        local down_after = tonumber(ARGV[5])
        local entry = redis.call('HGET', KEYS[1], ARGV[1])
        if entry then
            local failures = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
            local ok, held = pcall(cjson.decode, entry)
            local same = ok and type(held) == 'table' and held.host == ARGV[2] and held.port == ARGV[3]
            local settled = same and now - (tonumber(held.since) or 0) >= tonumber(ARGV[6])
            if failures < down_after and not settled then return 'taken' end
        elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
            local longest, most = nil, down_after - 1
            local failed = redis.call('HGETALL', KEYS[2])
            for i = 1, #failed, 2 do
                local count = tonumber(failed[i + 1]) or 0
                if count > most and redis.call('HEXISTS', KEYS[1], failed[i]) == 1 then
                    longest, most = failed[i], count
                end
            end
            if not longest then return 'full' end
            redis.call('HDEL', KEYS[1], longest)
            redis.call('HDEL', KEYS[2], longest)
        end
        redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({host = ARGV[2], port = ARGV[3], since = now}))
        redis.call('HDEL', KEYS[2], ARGV[1])
        return 'added'
        ",
    )
});

/// Removes ARGV[1] from registry KEYS[1] and its probe record KEYS[2].
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        redis.call('HDEL', KEYS[2], ARGV[1])
        return redis.call('HDEL', KEYS[1], ARGV[1])
        ",
    )
});

/// Records probe results, ARGV as triples of name, the entry that was
/// probed, and `1` (answered) or `0`: an answer clears the count, a failure
/// adds one. A server removed or registered anew while it was being probed
/// (its entry changed) gets no record: the result was about another one.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        for i = 1, #ARGV, 3 do
            if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
                if ARGV[i + 2] == '1' then
                    redis.call('HDEL', KEYS[2], ARGV[i])
                else
                    redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
                end
            end
        end
        return 0
        ",
    )
});

/// One registry, by kind, in the Redis all replicas share.
#[derive(Clone)]
pub struct Registry {
    kind: Kind,
    redis: RedisPool,
    key_prefix: String,
    timeout: Duration,
    /// Failed probes in a row that make a server down.
    down_after: u32,
    /// The same address may register its name again this long after it
    /// last did (a restarted server); sooner, it is a second claimant.
    settle: Duration,
}

impl Registry {
    pub fn new(
        kind: Kind,
        redis: RedisPool,
        key_prefix: &str,
        timeout: Duration,
        down_after: u32,
        settle: Duration,
    ) -> Registry {
        Registry {
            kind,
            redis,
            key_prefix: key_prefix.to_owned(),
            timeout,
            down_after,
            settle,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    fn registry_key(&self) -> String {
        keys::server_registry(&self.key_prefix, self.kind.label())
    }

    fn failures_key(&self) -> String {
        keys::server_failures(&self.key_prefix, self.kind.label())
    }

    pub async fn register(
        &self,
        name: &str,
        address: &ServerAddress,
    ) -> Result<Registration, StoreError> {
        let (registry, failures) = (self.registry_key(), self.failures_key());
        let (down_after, settle_ms) = (self.down_after, self.settle.as_millis() as u64);
        let outcome: String =
            with_connection(&self.redis, self.timeout, |mut connection| async move {
                REGISTER
                    .key(registry)
                    .key(failures)
                    .arg(name)
                    .arg(&address.host)
                    .arg(&address.port)
                    .arg(MAX_SERVERS)
                    .arg(down_after)
                    .arg(settle_ms)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        Ok(match outcome.as_str() {
            "added" => Registration::Added,
            "full" => Registration::Full,
            _ => Registration::Taken,
        })
    }

    /// `false` when no server has this name.
    pub async fn remove(&self, name: &str) -> Result<bool, StoreError> {
        let (registry, failures) = (self.registry_key(), self.failures_key());
        let removed: u32 =
            with_connection(&self.redis, self.timeout, |mut connection| async move {
                REMOVE
                    .key(registry)
                    .key(failures)
                    .arg(name)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        Ok(removed > 0)
    }

    /// Every registered server, up ones first, each group in name order.
    pub async fn servers(&self) -> Result<Vec<Server>, StoreError> {
        Ok(self.read(false).await?.0)
    }

    /// The servers and, read in the same transaction, the login counts the
    /// chat servers keep in `redis_server` (which shares the registry's slot).
    pub async fn servers_and_login_counts(
        &self,
    ) -> Result<(Vec<Server>, HashMap<String, String>), StoreError> {
        self.read(true).await
    }

    async fn read(
        &self,
        with_counts: bool,
    ) -> Result<(Vec<Server>, HashMap<String, String>), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hgetall(self.registry_key())
            .hgetall(self.failures_key());
        if with_counts {
            pipe.hgetall(keys::login_counts(&self.key_prefix));
        }
        let replies: Vec<HashMap<String, String>> =
            with_connection(&self.redis, self.timeout, |mut connection| async move {
                pipe.query_async(&mut connection).await
            })
            .await?;
        let mut replies = replies.into_iter();
        let (entries, failed) = (
            replies.next().unwrap_or_default(),
            replies.next().unwrap_or_default(),
        );
        let failures_of = |name: &str| failed.get(name).and_then(|count| count.parse::<u32>().ok());
        let mut servers: Vec<Server> = entries
            .into_iter()
            .filter_map(|(name, value)| match serde_json::from_str(&value) {
                Ok(address) => Some(Server {
                    up: failures_of(&name).is_none_or(|count| count < self.down_after),
                    name,
                    address,
                    entry: value,
                }),
                Err(_) => {
                    log::warn!(
                        "{} server {name:?}: unreadable entry {value:?} skipped",
                        self.kind.label()
                    );
                    None
                }
            })
            .collect();
        servers.sort_by(|a, b| (!a.up, &a.name).cmp(&(!b.up, &b.name)));
        Ok((servers, replies.next().unwrap_or_default()))
    }

    /// True when the registry holds no server at all (or Redis lost it).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let registry = self.registry_key();
        let exists: bool =
            with_connection(&self.redis, self.timeout, |mut connection| async move {
                redis::cmd("EXISTS")
                    .arg(registry)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(!exists)
    }

    /// Stores what a round of probes found (the server as read, answered).
    pub async fn record(&self, results: Vec<(Server, bool)>) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let (registry, failures) = (self.registry_key(), self.failures_key());
        with_connection(&self.redis, self.timeout, |mut connection| async move {
            let mut invocation = RECORD.key(registry);
            invocation.key(failures);
            for (server, answered) in &results {
                invocation
                    .arg(&server.name)
                    .arg(&server.entry)
                    .arg(if *answered { "1" } else { "0" });
            }
            invocation.invoke_async::<()>(&mut connection).await
        })
        .await
    }
}

/// The server with the lowest known login count; a server whose count is
/// unknown (missing or unreadable) ranks after every known one; ties go to
/// the first name.
pub fn least_loaded<'a>(
    servers: impl IntoIterator<Item = &'a Server>,
    count_of: impl Fn(&str) -> Option<u64>,
) -> Option<&'a Server> {
    servers.into_iter().min_by_key(|server| {
        (
            count_of(&server.name).map_or((1, 0), |count| (0, count)),
            &server.name,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str) -> Server {
        Server {
            name: name.into(),
            address: ServerAddress {
                host: "127.0.0.1".into(),
                port: "1".into(),
            },
            up: true,
            entry: String::new(),
        }
    }

    #[test]
    fn the_lowest_known_count_wins_unknown_ranks_last_and_ties_go_by_name() {
        let servers = vec![server("alpha"), server("beta"), server("gamma")];
        let counts = |map: &'static [(&str, u64)]| {
            move |name: &str| map.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
        };
        let pick = |map| least_loaded(&servers, counts(map)).unwrap().name.as_str();
        assert_eq!(pick(&[("alpha", 5), ("beta", 2), ("gamma", 9)]), "beta");
        assert_eq!(pick(&[("alpha", 5)]), "alpha");
        assert_eq!(pick(&[("beta", 3), ("gamma", 3)]), "beta");
        assert_eq!(pick(&[]), "alpha");
        assert!(least_loaded(&[], counts(&[])).is_none());
    }
}
