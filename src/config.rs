//! Settings: built-in defaults, then `Settings.toml` (or `--config PATH`),
//! then `GATEWAY_<SECTION>__<KEY>` environment variables, later ones winning.
//!
//! Passwords are [`SecretString`]s, so neither `Debug` nor a log line can
//! show them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// The file read when `--config` is not given. Its absence is fine.
pub const DEFAULT_CONFIG_FILE: &str = "Settings.toml";
/// Environment variables with this prefix override the file.
pub const ENV_PREFIX: &str = "GATEWAY_";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub verification: VerificationSettings,
    pub balance: BalanceSettings,
    pub grpc: GrpcSettings,
    pub mysql: MysqlSettings,
    pub redis: RedisSettings,
    pub security: SecuritySettings,
    pub mail: MailSettings,
    pub limits: LimitSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    pub host: String,
    /// 0 asks the OS for a free port (tests use it).
    pub port: u16,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Larger request bodies are refused before they are read whole.
    pub max_body_bytes: usize,
    /// A client must send its request head within this time (slow-loris).
    pub client_request_timeout_ms: u64,
    /// On SIGTERM/SIGINT: how long requests under way may still run.
    pub shutdown_timeout_secs: u64,
    /// How long an idle keep-alive connection is kept open.
    pub keep_alive_secs: u64,
    /// Open connections the process holds at most (shared out between the
    /// workers); more wait in the listen backlog. 0: actix-web's own limit,
    /// 25,000 per worker. Each costs memory (README, "Capacity").
    pub max_connections: usize,
    /// Serve the site for people at `/` (create account, forgot password,
    /// check an account, sign in).
    pub pages: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8080,
            workers: 0,
            max_body_bytes: 16 * 1024,
            client_request_timeout_ms: 5000,
            shutdown_timeout_secs: 30,
            keep_alive_secs: 5,
            max_connections: 0,
            pages: true,
        }
    }
}

impl HttpSettings {
    /// How many HTTP workers run: `workers`, or one per CPU core.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            workers => workers,
        }
    }

    /// Each worker's share of `max_connections` (rounded up), if set.
    pub fn connections_per_worker(&self) -> Option<usize> {
        (self.max_connections > 0).then(|| self.max_connections.div_ceil(self.worker_count()))
    }
}

/// Where the verification service (`message.VerificationService`) listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct VerificationSettings {
    pub host: String,
    pub port: u16,
    /// Lifetime of an issued code (at most 600 s).
    pub code_ttl_secs: u64,
    /// A new code for the same address is refused for this long.
    pub resend_cooldown_secs: u64,
}

impl Default for VerificationSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 65500,
            code_ttl_secs: 180,
            resend_cooldown_secs: 60,
        }
    }
}

impl VerificationSettings {
    /// The service's URI, `https` when `grpc.tls_ca` is set.
    pub fn uri(&self, grpc: &GrpcSettings) -> String {
        grpc.peer_uri(&self.host, self.port)
    }
}

/// Where the balance service (`message.BalancerService`) listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BalanceSettings {
    pub host: String,
    pub port: u16,
    /// Lifetime of a user's chat-server token.
    pub token_ttl_secs: u64,
    /// Chat servers known from the start, for chat servers that do not
    /// register themselves (a server that does would be refused with 7).
    pub chat_servers: Vec<StaticChatServer>,
    /// Every registered server is probed (TCP connect) this often; 0 turns
    /// probing off (every registered server counts as up), for chat servers
    /// whose advertised address the balance service cannot reach.
    pub probe_interval_secs: u64,
    /// Failed probes in a row after which a server is down: kept in the
    /// registry, no longer handed out, up again at its next answer.
    pub probe_failures: u32,
    /// `GET /metrics` of the `balance` role (`balance_server_up`) listens
    /// here, on `host`; 0 turns it off. In `all` the gateway's own
    /// `/metrics` shows the same gauge.
    pub metrics_port: u16,
}

/// One `[[balance.chat_servers]]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct StaticChatServer {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Default for BalanceSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 59900,
            token_ttl_secs: 86400,
            chat_servers: Vec::new(),
            probe_interval_secs: 5,
            probe_failures: 2,
            metrics_port: 59901,
        }
    }
}

impl BalanceSettings {
    pub fn probe_interval(&self) -> Duration {
        Duration::from_secs(self.probe_interval_secs)
    }

    /// The service's URI, `https` when `grpc.tls_ca` is set.
    pub fn uri(&self, grpc: &GrpcSettings) -> String {
        grpc.peer_uri(&self.host, self.port)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct GrpcSettings {
    /// Deadline of one call, connection set-up included.
    pub timeout_ms: u64,
    /// Bound on establishing the TCP/HTTP2 connection to a peer.
    pub connect_timeout_ms: u64,
    /// Shared secret of the gRPC services: when set, both refuse calls
    /// without `authorization: Bearer <token>` (UNAUTHENTICATED), and the
    /// gateway sends it. Empty: off, for old peers that cannot send it.
    #[serde(deserialize_with = "secret_from_scalar")]
    pub auth_token: SecretString,
    /// PEM certificate chain and key of the services (both set: they serve
    /// TLS only).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate the gateway trusts for its peers (set: it speaks
    /// TLS to them).
    pub tls_ca: Option<PathBuf>,
    /// The name the peers' certificates carry, when not their host name.
    pub tls_domain: Option<String>,
}

impl GrpcSettings {
    fn peer_uri(&self, host: &str, port: u16) -> String {
        let scheme = if self.tls_ca.is_some() {
            "https"
        } else {
            "http"
        };
        if host.contains(':') {
            format!("{scheme}://[{host}]:{port}")
        } else {
            format!("{scheme}://{host}:{port}")
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 2000,
            connect_timeout_ms: 1000,
            auth_token: SecretString::default(),
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            tls_domain: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MysqlSettings {
    pub host: String,
    pub port: u16,
    pub username: String,
    #[serde(deserialize_with = "secret_from_scalar")]
    pub password: SecretString,
    pub database: String,
    pub pool_size: u32,
    /// Apply pending migrations when `serve` starts.
    pub run_migrations: bool,
    pub connect_timeout_ms: u64,
    /// How long a request waits for a free pooled connection.
    pub checkout_timeout_ms: u64,
}

impl Default for MysqlSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3306,
            username: "root".into(),
            password: SecretString::default(),
            database: "chatting".into(),
            pool_size: 16,
            run_migrations: true,
            connect_timeout_ms: 3000,
            checkout_timeout_ms: 3000,
        }
    }
}

impl MysqlSettings {
    /// URL of the configured database, credentials percent-encoded. It holds
    /// the password: hand it to the driver, never to a log.
    pub fn database_url(&self) -> SecretString {
        self.url(Some(&self.database))
    }

    /// URL of the server without a default database (to create it).
    pub fn server_url(&self) -> SecretString {
        self.url(None)
    }

    fn url(&self, database: Option<&str>) -> SecretString {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let user = utf8_percent_encode(&self.username, NON_ALPHANUMERIC);
        let password = self.password.expose_secret();
        let credentials = if password.is_empty() {
            user.to_string()
        } else {
            format!("{user}:{}", utf8_percent_encode(password, NON_ALPHANUMERIC))
        };
        let host = &self.host;
        let port = self.port;
        let database = database.unwrap_or_default();
        format!("mysql://{credentials}@{host}:{port}/{database}").into()
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn checkout_timeout(&self) -> Duration {
        Duration::from_millis(self.checkout_timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    pub host: String,
    pub port: u16,
    /// Empty means the server has no `requirepass`.
    #[serde(deserialize_with = "secret_from_scalar")]
    pub password: SecretString,
    /// Logical database index.
    pub db: i64,
    pub pool_size: u32,
    /// Prepended to every key the gateway reads or writes. Default empty, as
    /// the original verification service stores codes at the bare e-mail.
    pub key_prefix: String,
    /// Bound on one Redis command, pool checkout included.
    pub timeout_ms: u64,
    /// Nodes of a Redis Cluster to start from (`host:port`, a list or one
    /// comma-separated string). Empty: the one server at `host`:`port`.
    #[serde(deserialize_with = "listed")]
    pub cluster_nodes: Vec<String>,
    /// Speak TLS to Redis (every node, in cluster mode).
    pub tls: bool,
    /// PEM CA certificate that signed the Redis servers' certificates;
    /// unset: the public roots built into the binary.
    pub tls_ca: Option<PathBuf>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 6379,
            password: SecretString::default(),
            db: 0,
            pool_size: 16,
            key_prefix: String::new(),
            timeout_ms: 2000,
            cluster_nodes: Vec::new(),
            tls: false,
            tls_ca: None,
        }
    }
}

impl RedisSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn is_cluster(&self) -> bool {
        !self.cluster_nodes.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SecuritySettings {
    /// Threads that hash and verify passwords; 0 means one per CPU core.
    /// Bounds how much CPU a login flood can take from other requests.
    pub hash_threads: usize,
    /// New passwords whose zxcvbn score (0-4) is below this are refused.
    pub min_password_score: u8,
    /// Hashing jobs queued or running at most; more answer 27 at once.
    pub max_pending_hashes: usize,
    /// Caps on the argon2 parameters of a *stored* hash: a row asking for
    /// more is treated as a wrong password (13) and logged, so no stored
    /// value can make the gateway allocate or compute without bound.
    pub max_hash_memory_kib: u32,
    pub max_hash_passes: u32,
    pub max_hash_lanes: u32,
    /// How long the link of a reset by confirmation mail (a
    /// `/reset_password` without a code) stays usable.
    pub reset_link_ttl_secs: u64,
}

impl SecuritySettings {
    pub fn reset_link_ttl(&self) -> Duration {
        Duration::from_secs(self.reset_link_ttl_secs)
    }
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            hash_threads: 0,
            min_password_score: 2,
            max_pending_hashes: 64,
            max_hash_memory_kib: 65536,
            max_hash_passes: 10,
            max_hash_lanes: 4,
            reset_link_ttl_secs: 900,
        }
    }
}

/// Abuse limits; their counters live in Redis so that they hold across
/// gateway instances. A limit of 0 switches that limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// Wrong codes accepted for one address before its code is deleted.
    pub code_attempts: u32,
    /// Failed logins of one account within `login_window_secs` before its
    /// logins are refused (27) until the window passes.
    pub login_failures: u32,
    pub login_window_secs: u64,
    /// Requests per client address per endpoint within `ip_window_secs`.
    pub ip_burst: u32,
    pub ip_window_secs: u64,
    /// Peers whose `X-Forwarded-For` is believed: addresses or networks
    /// (`10.0.0.0/8`), as a list or a comma-separated string.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            code_attempts: 5,
            login_failures: 10,
            login_window_secs: 900,
            ip_burst: 1000,
            ip_window_secs: 300,
            trusted_proxies: Vec::new(),
        }
    }
}

impl LimitSettings {
    pub fn login_window(&self) -> Duration {
        Duration::from_secs(self.login_window_secs)
    }
    pub fn ip_window(&self) -> Duration {
        Duration::from_secs(self.ip_window_secs)
    }
}

/// How the verification service delivers codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Through an SMTP server.
    Smtp,
    /// For development: logs that a mail was queued (without the code) and
    /// writes the whole message to `mail.outbox_dir` when that is set.
    Log,
}

/// Transport security towards the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub host: String,
    pub port: u16,
    /// Empty: no SMTP authentication.
    pub username: String,
    #[serde(deserialize_with = "secret_from_scalar")]
    pub password: SecretString,
    /// The sender, e.g. `Chat <no-reply@example.com>`.
    pub from: String,
    pub tls: MailTls,
    /// With the `log` transport: where whole messages are written.
    pub outbox_dir: Option<PathBuf>,
    /// Bound on one SMTP conversation.
    pub timeout_ms: u64,
    /// PEM CA certificates trusted for the SMTP server besides the public
    /// roots (a relay with a private CA).
    pub tls_ca: Option<PathBuf>,
    /// SMTP sessions kept open and reused, at most.
    pub pool_size: u32,
    /// An SMTP session idle this long is closed.
    pub pool_idle_secs: u64,
    /// Replacements for the built-in mail templates: `<dir>/<locale>/`
    /// `subject.txt`, `text.txt`, `html.html` (any of them).
    pub templates_dir: Option<PathBuf>,
    /// The mail's language when the request names none of ours.
    pub default_locale: String,
    /// Where people reach the gateway's pages (`https://chat.example.com`):
    /// the links in account notices point there.
    pub site_url: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            transport: MailTransport::Log,
            host: "127.0.0.1".into(),
            port: 587,
            username: String::new(),
            password: SecretString::default(),
            from: "Chat verification <no-reply@localhost>".into(),
            tls: MailTls::Starttls,
            outbox_dir: None,
            timeout_ms: 10_000,
            tls_ca: None,
            pool_size: 8,
            pool_idle_secs: 60,
            templates_dir: None,
            default_locale: "en".into(),
            site_url: "http://localhost:8080".into(),
        }
    }
}

impl MailSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn pool_idle(&self) -> Duration {
        Duration::from_secs(self.pool_idle_secs)
    }

    /// The address of the page at `path` (`/reset`) on `site_url`.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.site_url.trim_end_matches('/'))
    }
}

/// Settings that cannot be loaded or make no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration is invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Figment(#[from] Box<figment::Error>),
}

impl Settings {
    /// These settings as the actors of HTTP worker `index` use them: each
    /// pool size is the process's total, shared out among the workers (the
    /// first ones get the remainder). A worker needs at least one
    /// connection, so with more workers than `pool_size` each has one.
    pub fn worker_share(&self, index: usize) -> Settings {
        let workers = u32::try_from(self.http.worker_count()).unwrap_or(u32::MAX);
        let index = u32::try_from(index).unwrap_or(0) % workers;
        let share = |total: u32| (total / workers + u32::from(index < total % workers)).max(1);
        let mut settings = self.clone();
        settings.mysql.pool_size = share(self.mysql.pool_size);
        settings.redis.pool_size = share(self.redis.pool_size);
        settings
    }

    /// Loads the settings. `path` is `--config`: when given, the file must
    /// exist; when not, `Settings.toml` is read if present.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let file = match path {
            Some(path) if !path.is_file() => {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            Some(path) => path,
            None => Path::new(DEFAULT_CONFIG_FILE),
        };
        let settings: Settings = Figment::new()
            .merge(Toml::file(file))
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.into()));
        if !is_identifier(&self.mysql.database) {
            return invalid("mysql.database must be 1-64 characters of A-Z, a-z, 0-9, _ or $");
        }
        // Sizes and bounds of 0 would refuse every request, or panic in the
        // pool that takes them.
        let at_least_one = [
            ("mysql.pool_size", u64::from(self.mysql.pool_size)),
            ("redis.pool_size", u64::from(self.redis.pool_size)),
            ("mail.pool_size", u64::from(self.mail.pool_size)),
            ("mail.pool_idle_secs", self.mail.pool_idle_secs),
            ("mail.timeout_ms", self.mail.timeout_ms),
            ("grpc.timeout_ms", self.grpc.timeout_ms),
            ("grpc.connect_timeout_ms", self.grpc.connect_timeout_ms),
            ("redis.timeout_ms", self.redis.timeout_ms),
            ("mysql.connect_timeout_ms", self.mysql.connect_timeout_ms),
            ("mysql.checkout_timeout_ms", self.mysql.checkout_timeout_ms),
            (
                "balance.probe_interval_secs",
                self.balance.probe_interval_secs,
            ),
            (
                "balance.probe_failures",
                u64::from(self.balance.probe_failures),
            ),
        ];
        if let Some((name, _)) = at_least_one.iter().find(|(_, value)| *value == 0) {
            return invalid(&format!("{name} must be at least 1"));
        }
        if self.http.max_body_bytes == 0 {
            return invalid("http.max_body_bytes must be at least 1");
        }
        if !(1..=600).contains(&self.verification.code_ttl_secs) {
            return invalid("verification.code_ttl_secs must be 1 to 600");
        }
        if self
            .balance
            .chat_servers
            .iter()
            .any(|server| server.name.trim().is_empty())
        {
            return invalid("every balance.chat_servers entry needs a name");
        }
        if self.redis.is_cluster() && self.redis.db != 0 {
            return invalid(
                "redis.db must be 0 with redis.cluster_nodes (a cluster has one database)",
            );
        }
        if let Some(node) = self
            .redis
            .cluster_nodes
            .iter()
            .find(|node| split_host_port(node).is_none())
        {
            return invalid(&format!("redis.cluster_nodes: {node:?} is not host:port"));
        }
        if self.redis.tls_ca.is_some() && !self.redis.tls {
            return invalid("redis.tls_ca is set but redis.tls is false");
        }
        if self.redis.key_prefix.contains(['{', '}']) {
            return invalid("redis.key_prefix must not contain { or } (they form hash tags)");
        }
        if self.security.max_pending_hashes == 0 {
            return invalid("security.max_pending_hashes must be at least 1");
        }
        if self.grpc.tls_cert.is_some() != self.grpc.tls_key.is_some() {
            return invalid("grpc.tls_cert and grpc.tls_key must be set together");
        }
        if self.balance.token_ttl_secs == 0 {
            return invalid("balance.token_ttl_secs must be at least 1");
        }
        if crate::domain::Locale::parse(&self.mail.default_locale).is_none() {
            return invalid("mail.default_locale must be en or zh-CN");
        }
        if !(1..=86_400).contains(&self.security.reset_link_ttl_secs) {
            return invalid("security.reset_link_ttl_secs must be 1 to 86400");
        }
        if !is_site_url(&self.mail.site_url) {
            return invalid(
                "mail.site_url must be an http:// or https:// address without ?, # or spaces, \
                 such as https://chat.example.com",
            );
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid("mail.from must be a mailbox such as `Chat <no-reply@example.com>`");
        }
        Ok(())
    }
}

/// An address links can be built on: `http(s)://host[:port][/path]`,
/// printable ASCII, no query or fragment (the links add their own).
fn is_site_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('/')
            && rest
                .bytes()
                .all(|byte| byte.is_ascii_graphic() && !b"?#\"'&<>\\`{}|^".contains(&byte))
    })
}

/// Database names end up inside `CREATE DATABASE`, where they cannot be bound
/// as parameters: allow only plain identifiers.
fn is_identifier(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `host:port` (`[::1]:7000` for an IPv6 address) as host and port.
pub fn split_host_port(node: &str) -> Option<(String, u16)> {
    let (host, port) = node.trim().rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse::<u16>().ok().filter(|port| *port > 0)?;
    // An IPv6 address needs its brackets: `fe80::1` is not fe80: port 1.
    let bare_ipv6 = host.contains(':') && !node.trim().starts_with('[');
    (!host.is_empty() && !bare_ipv6 && !host.contains(char::is_whitespace))
        .then(|| (host.to_owned(), port))
}

/// A list written as a list or as one comma-separated string (what an
/// environment variable can hold), its items trimmed, empty ones dropped.
fn listed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Listed {
        Many(Vec<String>),
        One(String),
    }
    let items = match Listed::deserialize(deserializer)? {
        Listed::Many(items) => items,
        Listed::One(text) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}

/// `["10.0.0.1", "10.1.0.0/16"]` or `"10.0.0.1, 10.1.0.0/16"`; a bare
/// address is a network of one.
fn networks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    listed(deserializer)?
        .iter()
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!("{item:?} is not an address or network"))
                })
        })
        .collect()
}

/// Environment values such as `GATEWAY_REDIS__PASSWORD=123456` arrive as
/// numbers; a password is whatever was written, so accept any scalar.
fn secret_from_scalar<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<SecretString, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Signed(i64),
        Unsigned(u64),
        Float(f64),
        Flag(bool),
    }
    Ok(match Scalar::deserialize(deserializer)? {
        Scalar::Text(text) => text,
        Scalar::Signed(n) => n.to_string(),
        Scalar::Unsigned(n) => n.to_string(),
        Scalar::Float(n) => n.to_string(),
        Scalar::Flag(b) => b.to_string(),
    }
    .into())
}

#[cfg(test)]
// figment's Jail closures return its (large) error type; that is its API.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn defaults_run_against_a_stock_local_setup() {
        Jail::expect_with(|jail| {
            // The shell's own GATEWAY_* variables (scripts/test.sh exports
            // them for private backends) must not leak into these tests.
            jail.clear_env();
            let settings = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(settings.http.port, 8080);
            assert_eq!(
                settings.verification.uri(&settings.grpc),
                "http://127.0.0.1:65500"
            );
            assert_eq!(
                settings.balance.uri(&settings.grpc),
                "http://127.0.0.1:59900"
            );
            assert_eq!(settings.mysql.database, "chatting");
            assert_eq!(
                settings.mysql.database_url().expose_secret(),
                "mysql://root@127.0.0.1:3306/chatting"
            );
            assert_eq!(settings.redis.port, 6379);
            assert_eq!(settings.grpc.timeout_ms, 2000);
            Ok(())
        });
    }

    #[test]
    fn the_shipped_settings_file_says_what_the_defaults_are() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/Settings.toml");
            let from_file = Settings::load(Some(Path::new(shipped))).map_err(|e| e.to_string())?;
            assert_eq!(
                format!("{from_file:?}"),
                format!("{:?}", Settings::default()),
                "Settings.toml and the built-in defaults disagree"
            );
            Ok(())
        });
    }

    /// Every key of `Settings.toml` (flattened to `section.key`), each
    /// value as the README writes it: the text itself, `empty` for an
    /// empty string or list.
    fn shipped_settings() -> std::collections::BTreeMap<String, String> {
        use figment::value::Value;
        let shipped = include_str!("../Settings.toml");
        let sections: figment::value::Dict = Figment::from(Toml::string(shipped))
            .extract()
            .expect("Settings.toml parses");
        let mut flat = std::collections::BTreeMap::new();
        for (section, keys) in sections {
            let Value::Dict(_, keys) = keys else {
                panic!("[{section}] is not a table")
            };
            for (key, value) in keys {
                let text = match value {
                    Value::String(_, text) if text.is_empty() => "empty".to_owned(),
                    Value::String(_, text) => text,
                    Value::Array(_, items) if items.is_empty() => "empty".to_owned(),
                    Value::Num(_, number) => match number.to_i128() {
                        Some(integer) => integer.to_string(),
                        None => format!("{number:?}"),
                    },
                    Value::Bool(_, flag) => flag.to_string(),
                    other => panic!("{section}.{key}: unexpected {other:?}"),
                };
                flat.insert(format!("{section}.{key}"), text);
            }
        }
        flat
    }

    /// The `(key, default)` rows of the README's settings tables: a row
    /// may name several keys (`mysql.host`, `.port`) with as many values
    /// (`127.0.0.1`, `3306`); `empty` stands for each of them.
    fn readme_defaults() -> Vec<(String, String)> {
        let readme = include_str!("../README.md");
        let backticked = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        let mut rows = Vec::new();
        for line in readme.lines().filter(|line| line.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (names, defaults) = (backticked(cells[1]), cells[2]);
            // Only setting rows: `section.key`, not `limits.*` or tables.
            let Some(section) = names
                .first()
                .and_then(|name| name.split_once('.'))
                .map(|(section, _)| section.to_owned())
                .filter(|_| {
                    // `section.key` or `.key`: lower-case words only (not
                    // `limits.*`, `[[…]]`, an image or a file name).
                    names.iter().all(|name| {
                        name.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || "_.".contains(c)
                        })
                    })
                })
            else {
                continue;
            };
            let keys: Vec<String> = names
                .iter()
                .map(|name| match name.strip_prefix('.') {
                    Some(key) => format!("{section}.{key}"),
                    None => name.clone(),
                })
                .collect();
            let values: Vec<String> = match defaults {
                "empty" | "unset" | "none" => vec![defaults.to_owned(); keys.len()],
                _ => defaults
                    .split(',')
                    .map(|value| value.trim().trim_matches('`').to_owned())
                    .collect(),
            };
            assert_eq!(keys.len(), values.len(), "README row: {line}");
            rows.extend(keys.into_iter().zip(values));
        }
        rows
    }

    #[test]
    fn the_readme_states_the_shipped_defaults() {
        let shipped = shipped_settings();
        let documented = readme_defaults();
        assert!(documented.len() > 40, "README tables not found");
        for (key, default) in &documented {
            match (default.as_str(), shipped.get(key)) {
                // Not in the file (commented out): no value by default.
                ("unset" | "none", None) => {}
                (_, Some(value)) => assert_eq!(value, default, "README's default of `{key}`"),
                (_, None) => panic!("README names `{key}`, which Settings.toml lacks"),
            }
        }
        for key in shipped.keys() {
            assert!(
                documented.iter().any(|(name, _)| name == key),
                "`{key}` of Settings.toml is missing from the README's tables"
            );
        }
    }

    #[test]
    fn a_zero_size_or_bound_is_refused_by_name() {
        type Zero = fn(&mut Settings);
        let cases: [(&str, Zero); 4] = [
            ("mail.timeout_ms", |s| s.mail.timeout_ms = 0),
            ("mysql.checkout_timeout_ms", |s| {
                s.mysql.checkout_timeout_ms = 0
            }),
            ("mail.pool_size", |s| s.mail.pool_size = 0),
            ("mysql.connect_timeout_ms", |s| {
                s.mysql.connect_timeout_ms = 0
            }),
        ];
        for (name, zero) in cases {
            let mut settings = Settings::default();
            zero(&mut settings);
            let error = settings.validate().expect_err("refused").to_string();
            assert!(
                error.contains(&format!("{name} must be at least 1")),
                "{error}"
            );
        }
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn the_pools_are_shared_out_among_the_workers() {
        let mut settings = Settings::default();
        settings.http.workers = 6;
        settings.mysql.pool_size = 16;
        settings.redis.pool_size = 4;
        let shares: Vec<(u32, u32)> = (0..6)
            .map(|index| {
                let share = settings.worker_share(index);
                (share.mysql.pool_size, share.redis.pool_size)
            })
            .collect();
        assert_eq!(shares, [(3, 1), (3, 1), (3, 1), (3, 1), (2, 1), (2, 1)]);
        // A worker started again takes the share of the one it replaces.
        assert_eq!(settings.worker_share(7).mysql.pool_size, 3);
    }

    #[test]
    fn the_file_is_read_and_variables_win_over_it() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "[http]\nport = 9000\n[mysql]\ndatabase = \"fromfile\"\n[verification]\nhost = \"10.0.0.5\"\n",
            )?;
            jail.set_env("GATEWAY_MYSQL__DATABASE", "fromenv");
            jail.set_env("GATEWAY_REDIS__PASSWORD", "123456");
            jail.set_env("GATEWAY_GRPC__TIMEOUT_MS", "750");
            jail.set_env(
                "GATEWAY_LIMITS__TRUSTED_PROXIES",
                "10.0.0.1, 192.168.0.0/16",
            );
            let settings = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(settings.http.port, 9000);
            assert_eq!(settings.mysql.database, "fromenv");
            // A section given in part keeps the defaults of its other keys.
            assert_eq!(
                settings.verification.uri(&settings.grpc),
                "http://10.0.0.5:65500"
            );
            // A numeric-looking password stays the text it was.
            assert_eq!(settings.redis.password.expose_secret(), "123456");
            assert_eq!(settings.grpc.timeout_ms, 750);
            let proxies: Vec<String> = settings
                .limits
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(proxies, ["10.0.0.1/32", "192.168.0.0/16"]);
            Ok(())
        });
    }

    #[test]
    fn cluster_nodes_come_as_a_list_or_one_string_and_are_checked() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env(
                "GATEWAY_REDIS__CLUSTER_NODES",
                "10.0.0.1:7000, redis-1.svc:7001,[::1]:7002",
            );
            let settings = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                settings.redis.cluster_nodes,
                ["10.0.0.1:7000", "redis-1.svc:7001", "[::1]:7002"]
            );
            assert_eq!(split_host_port("[::1]:7002"), Some(("::1".into(), 7002)));
            jail.create_file(
                "Settings.toml",
                "[redis]\ncluster_nodes = [\"a:1\", \"b:2\"]\n",
            )?;
            jail.clear_env();
            let settings = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(settings.redis.cluster_nodes, ["a:1", "b:2"]);
            for (key, value) in [
                ("GATEWAY_REDIS__CLUSTER_NODES", "10.0.0.1"),
                ("GATEWAY_REDIS__CLUSTER_NODES", "10.0.0.1:0"),
                ("GATEWAY_REDIS__CLUSTER_NODES", "host:port"),
                ("GATEWAY_REDIS__CLUSTER_NODES", "fe80::1"),
                ("GATEWAY_REDIS__DB", "3"),
                ("GATEWAY_REDIS__TLS_CA", "/etc/ca.pem"),
            ] {
                jail.clear_env();
                jail.set_env(key, value);
                let refused = Settings::load(None).expect_err(value).to_string();
                assert!(refused.contains("redis."), "{value}: {refused}");
            }
            Ok(())
        });
    }

    #[test]
    fn a_named_file_must_exist_and_is_used() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let missing = Settings::load(Some(Path::new("nope.toml")));
            assert!(matches!(missing, Err(ConfigError::MissingFile(_))));
            jail.create_file("other.toml", "[http]\nport = 7000\n")?;
            let settings =
                Settings::load(Some(Path::new("other.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(settings.http.port, 7000);
            Ok(())
        });
    }

    #[test]
    fn passwords_never_show_in_debug_and_are_url_encoded() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("GATEWAY_MYSQL__PASSWORD", "p@ss:w/rd");
            jail.set_env("GATEWAY_REDIS__PASSWORD", "redis-secret");
            jail.set_env("GATEWAY_GRPC__AUTH_TOKEN", "grpc-secret");
            let settings = Settings::load(None).map_err(|e| e.to_string())?;
            let debug = format!("{settings:?}");
            assert!(!debug.contains("p@ss"), "{debug}");
            assert!(!debug.contains("grpc-secret"), "{debug}");
            assert_eq!(settings.grpc.auth_token.expose_secret(), "grpc-secret");
            assert!(!debug.contains("redis-secret"), "{debug}");
            assert_eq!(
                settings.mysql.database_url().expose_secret(),
                "mysql://root:p%40ss%3Aw%2Frd@127.0.0.1:3306/chatting"
            );
            Ok(())
        });
    }

    #[test]
    fn nonsense_is_refused() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("GATEWAY_MYSQL__DATABASE", "chat`; DROP");
            assert!(matches!(Settings::load(None), Err(ConfigError::Invalid(_))));
            jail.set_env("GATEWAY_MYSQL__DATABASE", "chatting");
            jail.set_env("GATEWAY_MYSQL__POOL_SIZE", "0");
            assert!(matches!(Settings::load(None), Err(ConfigError::Invalid(_))));
            jail.set_env("GATEWAY_MYSQL__POOL_SIZE", "4");
            jail.set_env("GATEWAY_VERIFICATION__CODE_TTL_SECS", "601");
            assert!(matches!(Settings::load(None), Err(ConfigError::Invalid(_))));
            jail.set_env("GATEWAY_VERIFICATION__CODE_TTL_SECS", "600");
            jail.set_env("GATEWAY_MAIL__FROM", "not a mailbox");
            assert!(matches!(Settings::load(None), Err(ConfigError::Invalid(_))));
            jail.set_env("GATEWAY_MAIL__FROM", "Chat <no-reply@example.com>");
            for url in [
                "chat.example.com",
                "ftp://chat.example.com",
                "https://",
                "https:///x",
                "https://chat.example.com/?a=1",
                "https://chat.example.com/#x",
                "https://chat.example.com/a b",
                "javascript:alert(1)//",
                "https://chat.example.com/\"><b>",
            ] {
                jail.set_env("GATEWAY_MAIL__SITE_URL", url);
                assert!(
                    matches!(Settings::load(None), Err(ConfigError::Invalid(_))),
                    "{url}"
                );
            }
            jail.set_env(
                "GATEWAY_MAIL__SITE_URL",
                "https://chat.example.com:8443/chat/",
            );
            assert_eq!(
                Settings::load(None).unwrap().mail.link("/reset"),
                "https://chat.example.com:8443/chat/reset"
            );
            jail.set_env("GATEWAY_SECURITY__RESET_LINK_TTL_SECS", "0");
            assert!(matches!(Settings::load(None), Err(ConfigError::Invalid(_))));
            jail.set_env("GATEWAY_SECURITY__RESET_LINK_TTL_SECS", "900");
            jail.set_env("GATEWAY_MAIL__TRANSPORT", "carrier-pigeon");
            assert!(matches!(Settings::load(None), Err(ConfigError::Figment(_))));
            jail.set_env("GATEWAY_MAIL__TRANSPORT", "smtp");
            jail.set_env("GATEWAY_LIMITS__TRUSTED_PROXIES", "10.0.0.1, nonsense");
            assert!(matches!(Settings::load(None), Err(ConfigError::Figment(_))));
            jail.set_env("GATEWAY_LIMITS__TRUSTED_PROXIES", "");
            assert!(Settings::load(None).is_ok());
            jail.set_env("GATEWAY_REDIS__KEY_PREFIX", "{t}:");
            assert!(matches!(Settings::load(None), Err(ConfigError::Invalid(_))));
            jail.set_env("GATEWAY_REDIS__KEY_PREFIX", "t:");
            jail.set_env("GATEWAY_GRPC__TLS_CERT", "/etc/cert.pem");
            assert!(matches!(Settings::load(None), Err(ConfigError::Invalid(_))));
            jail.set_env("GATEWAY_GRPC__TLS_KEY", "/etc/key.pem");
            assert!(Settings::load(None).is_ok());
            jail.set_env("GATEWAY_HTTP__PORT", "not a port");
            assert!(matches!(Settings::load(None), Err(ConfigError::Figment(_))));
            Ok(())
        });
    }
}
