//! Liveness of the registered servers: a TCP connect to each, every
//! `balance.probe_interval_secs`. The replicas share the work through a
//! lease in Redis: the one that takes it probes every server this interval
//! and stores what it found, where every replica reads it. Every replica
//! refreshes its `balance_server_up` gauge from those shared results.

use std::time::Duration;

use futures_util::{StreamExt, stream};
use prometheus::{IntGaugeVec, Opts};
use tokio::net::TcpStream;

use super::registry::{Registration, Registry, Server, ServerAddress};
use crate::kv::{RedisPool, StoreError, keys, with_connection};

pub struct Prober {
    /// Chat servers first: the listed ones go there.
    registries: Vec<Registry>,
    /// Chat servers from `balance.chat_servers`.
    listed: Vec<(String, ServerAddress)>,
    redis: RedisPool,
    lease_key: String,
    /// Tells this replica's lease from another's (in the logs and in Redis).
    replica: String,
    interval: Duration,
    timeout: Duration,
    up: IntGaugeVec,
}

/// The gauge every replica shows: 1 up, 0 down, by registry and name.
pub fn up_gauge() -> Result<IntGaugeVec, prometheus::Error> {
    IntGaugeVec::new(
        Opts::new(
            "balance_server_up",
            "Whether a registered server answers its probes (1) or is down (0), by kind and name",
        ),
        &["kind", "server"],
    )
}

impl Prober {
    pub fn new(
        registries: Vec<Registry>,
        listed: Vec<(String, ServerAddress)>,
        redis: RedisPool,
        key_prefix: &str,
        interval: Duration,
        up: IntGaugeVec,
    ) -> Prober {
        Prober {
            registries,
            listed,
            redis,
            lease_key: keys::prober_lease(key_prefix),
            replica: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            interval,
            // A probe that has not connected by then failed: a round ends
            // before the next one starts.
            timeout: interval.mul_f64(0.8),
            up,
        }
    }

    /// Probes forever, one round per interval.
    pub async fn run(self) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.round().await;
        }
    }

    async fn round(&self) {
        match self.take_lease().await {
            Ok(true) => {
                // Redis lost the registry (a restart without persistence):
                // the listed servers come back; removed ones otherwise stay
                // removed.
                if let Some(chat) = self.registries.first() {
                    match chat.is_empty().await {
                        Ok(true) => self.register_listed().await,
                        Ok(false) => {}
                        Err(error) => log::debug!("chat registry unreadable: {error}"),
                    }
                }
                self.probe_all().await;
            }
            Ok(false) => {}
            Err(error) => log::warn!("server probes skipped: {error}"),
        }
        for registry in &self.registries {
            match registry.servers().await {
                Ok(servers) => self.show(registry.kind().label(), &servers),
                Err(error) => {
                    // Unknown, not "up as last seen": the series go away.
                    log::debug!("server states not refreshed: {error}");
                    self.forget(registry.kind().label());
                }
            }
        }
    }

    /// Probes every server of every registry at once (at most
    /// [`PROBES_IN_FLIGHT`] connects at a time), all within one deadline
    /// that ends before the next round; a probe cut off by it failed.
    async fn probe_all(&self) {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut probes = Vec::new();
        for (index, registry) in self.registries.iter().enumerate() {
            match registry.servers().await {
                Ok(servers) => probes.extend(servers.into_iter().map(|server| (index, server))),
                Err(error) => {
                    log::warn!("{} servers not probed: {error}", registry.kind().label())
                }
            }
        }
        let results: Vec<(usize, Server, bool)> = stream::iter(probes)
            .map(|(index, server)| async move {
                let answered = connects(&server, deadline).await;
                if answered != server.up {
                    let state = if answered {
                        "answers again"
                    } else {
                        "does not answer"
                    };
                    log::info!(
                        "{} server {:?} at {}:{} {state}",
                        self.registries[index].kind().label(),
                        server.name,
                        server.address.host,
                        server.address.port
                    );
                }
                (index, server, answered)
            })
            .buffer_unordered(PROBES_IN_FLIGHT)
            .collect()
            .await;
        for (index, registry) in self.registries.iter().enumerate() {
            let found = results
                .iter()
                .filter(|(of, ..)| *of == index)
                .map(|(_, server, answered)| (server.clone(), *answered))
                .collect();
            if let Err(error) = registry.record(found).await {
                log::warn!(
                    "{} probe results not stored: {error}",
                    registry.kind().label()
                );
            }
        }
    }

    /// Registers each listed chat server that is not registered. A name
    /// held by another address keeps it (with a warning).
    pub async fn register_listed(&self) {
        let Some(chat) = self.registries.first() else {
            return;
        };
        let registered = match chat.servers().await {
            Ok(servers) => servers,
            Err(error) => {
                log::warn!("listed chat servers not registered: {error}");
                return;
            }
        };
        for (name, address) in &self.listed {
            match registered.iter().find(|server| &server.name == name) {
                Some(server) if &server.address != address => log::warn!(
                    "chat server {name:?} is registered at {}:{}, not at the listed {}:{}",
                    server.address.host,
                    server.address.port,
                    address.host,
                    address.port
                ),
                Some(_) => {}
                None => match chat.register(name, address).await {
                    Ok(Registration::Added) => log::info!("listed chat server {name:?} registered"),
                    Ok(Registration::Taken) => {}
                    Ok(Registration::Full) => {
                        log::warn!("chat server registry full; listed {name:?} not added")
                    }
                    Err(error) => log::warn!("listed chat server {name:?} not registered: {error}"),
                },
            }
        }
    }

    /// Takes this interval's lease unless another replica holds it. It
    /// lapses a little before the next tick, so the replica that holds it
    /// keeps probing on time, and another takes over when it stops.
    async fn take_lease(&self) -> Result<bool, StoreError> {
        let (key, replica) = (self.lease_key.clone(), self.replica.clone());
        let lease_ms = self.interval.mul_f64(0.9).as_millis().max(1) as u64;
        let taken: Option<String> =
            with_connection(&self.redis, self.timeout, |mut connection| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(replica)
                    .arg("NX")
                    .arg("PX")
                    .arg(lease_ms)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(taken.is_some())
    }

    fn show(&self, kind: &str, servers: &[Server]) {
        // Servers removed since the last round disappear from the gauge.
        for name in self.shown(kind) {
            if !servers.iter().any(|server| server.name == name) {
                let _ = self.up.remove_label_values(&[kind, &name]);
            }
        }
        for server in servers {
            self.up
                .with_label_values(&[kind, &server.name])
                .set(i64::from(server.up));
        }
    }

    fn forget(&self, kind: &str) {
        for name in self.shown(kind) {
            let _ = self.up.remove_label_values(&[kind, &name]);
        }
    }

    /// The server names of `kind` the gauge shows now.
    fn shown(&self, kind: &str) -> Vec<String> {
        let mut names = Vec::new();
        for family in prometheus::core::Collector::collect(&self.up) {
            for metric in family.get_metric() {
                let label = |wanted: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|label| label.name() == wanted)
                        .map(|label| label.value().to_owned())
                };
                if label("kind").as_deref() == Some(kind)
                    && let Some(name) = label("server")
                {
                    names.push(name);
                }
            }
        }
        names
    }
}

/// Connects made at once by one round at most: a registry full of slow
/// host names cannot open thousands of sockets or lookups at a time.
const PROBES_IN_FLIGHT: usize = 64;

/// Whether `server` accepts a TCP connection before `deadline`.
async fn connects(server: &Server, deadline: tokio::time::Instant) -> bool {
    let Ok(port) = server.address.port.parse::<u16>() else {
        return false;
    };
    let connect = TcpStream::connect((server.address.host.as_str(), port));
    matches!(tokio::time::timeout_at(deadline, connect).await, Ok(Ok(_)))
}
