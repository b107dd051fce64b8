//! One Redis connection type for both deployments: a single server (one
//! multiplexed connection) or a Redis Cluster (redis-rs' cluster client,
//! which routes each command to the node that owns its key's hash slot and
//! follows MOVED/ASK redirections and failovers). Everything above this file
//! is written once, against [`Connection`].

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::TcpSettings;
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo,
    Pipeline, RedisConnectionInfo, RedisError, RedisFuture, TlsCertificates, Value,
};
use secrecy::ExposeSecret;

use crate::config::{RedisSettings, split_host_port};

/// Opens connections to Redis, in either mode.
pub enum Manager {
    /// The client and the bound on connecting and on each answer.
    Single(Client, Duration),
    Cluster(ClusterClient),
}

/// A connection to a Redis server or to a whole Redis Cluster; cheap to
/// clone (both are multiplexed).
#[derive(Clone)]
pub enum Connection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Manager {
    /// Reads the settings; connects to nothing yet. Fails on settings the
    /// client refuses or a CA file that cannot be read.
    pub fn new(settings: &RedisSettings) -> Result<Manager, RedisError> {
        let certificates = match &settings.tls_ca {
            Some(path) => Some(TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(path).map_err(|error| {
                    RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "redis.tls_ca cannot be read",
                        format!("{}: {error}", path.display()),
                    ))
                })?),
            }),
            None => None,
        };
        if settings.is_cluster() {
            return cluster_client(settings, certificates).map(Manager::Cluster);
        }
        let info = node_info(settings, &settings.host, settings.port)?
            .set_redis_settings(redis_settings(settings).set_db(settings.db));
        let client = match certificates {
            Some(certificates) => Client::build_with_tls(info, certificates)?,
            None => Client::open(info)?,
        };
        Ok(Manager::Single(client, settings.timeout()))
    }
}

/// What every connection sends when it opens: the password, if any.
fn redis_settings(settings: &RedisSettings) -> RedisConnectionInfo {
    let password = settings.password.expose_secret();
    let info = RedisConnectionInfo::default();
    if password.is_empty() {
        info
    } else {
        info.set_password(password)
    }
}

/// One server's address, plain or TLS, with Nagle's algorithm off: redis-rs
/// leaves it on, and commands of concurrent requests on one multiplexed
/// connection would wait for each other's ACKs.
fn node_info(
    settings: &RedisSettings,
    host: &str,
    port: u16,
) -> Result<ConnectionInfo, RedisError> {
    let address = if settings.tls {
        ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host.to_owned(), port)
    };
    Ok(address.into_connection_info()?.set_tcp_settings(nodelay()))
}

fn nodelay() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

/// The cluster client. Its own retries are few and short: while a failed
/// master's replica is being promoted, a request should fail fast (the
/// caller answers 8) rather than wait out the promotion; the next request
/// finds the new master.
fn cluster_client(
    settings: &RedisSettings,
    certificates: Option<TlsCertificates>,
) -> Result<ClusterClient, RedisError> {
    let nodes = settings
        .cluster_nodes
        .iter()
        .map(|node| {
            let (host, port) = split_host_port(node).ok_or_else(|| {
                RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "redis.cluster_nodes holds an entry that is not host:port",
                ))
            })?;
            Ok(node_info(settings, &host, port)?.set_redis_settings(redis_settings(settings)))
        })
        .collect::<Result<Vec<_>, RedisError>>()?;
    let timeout = settings.timeout();
    let mut builder = ClusterClient::builder(nodes)
        .tcp_settings(nodelay())
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(CLUSTER_RETRIES)
        .min_retry_wait(CLUSTER_RETRY_WAIT.as_millis() as u64)
        .max_retry_wait(CLUSTER_RETRY_WAIT.as_millis() as u64 * 4);
    if let Some(certificates) = certificates {
        builder = builder.certs(certificates);
    }
    builder.build()
}

/// Redirections (MOVED after a failover, ASK during a resharding) are
/// retries too: a few are enough, more only delay the answer.
const CLUSTER_RETRIES: u32 = 3;
const CLUSTER_RETRY_WAIT: Duration = Duration::from_millis(50);

impl bb8::ManageConnection for Manager {
    type Connection = Connection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Connection, RedisError> {
        Ok(match self {
            Manager::Single(client, timeout) => {
                // redis.timeout_ms, as in cluster mode, not redis-rs' own
                // defaults.
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(*timeout))
                    .set_response_timeout(Some(*timeout));
                Connection::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                )
            }
            Manager::Cluster(client) => Connection::Cluster(client.get_async_connection().await?),
        })
    }

    async fn is_valid(&self, connection: &mut Connection) -> Result<(), RedisError> {
        Cmd::ping().query_async::<()>(connection).await
    }

    fn has_broken(&self, _: &mut Connection) -> bool {
        false
    }
}

impl Connection {
    /// A cluster connection replaces a failed node's link itself (and
    /// keeps what it knows of the cluster); a single server's connection
    /// that failed is dropped from the pool.
    pub fn heals_itself(&self) -> bool {
        matches!(self, Connection::Cluster(_))
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            Connection::Cluster(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}
