use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_query;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use gateway_server::actors::{Actors, Workers};
use gateway_server::config::Settings;
use gateway_server::startup::Application;
use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::peers::{FakeBalancer, FakeVerification};

pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn mysql_url() -> url::Url {
    let raw = std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.into());
    url::Url::parse(&raw).expect("TEST_MYSQL_URL is a URL")
}

pub fn redis_url() -> url::Url {
    let raw = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.into());
    url::Url::parse(&raw).expect("TEST_REDIS_URL is a URL")
}

/// The five endpoints of docs/PROTOCOL.md §1, and the two of the reset
/// confirmation page.
pub const ENDPOINTS: [&str; 7] = [
    "/get_verification",
    "/post_registration",
    "/check_accountexists",
    "/reset_password",
    "/trylogin_server",
    "/pending_reset",
    "/confirm_reset",
];

/// POSTs `body` as JSON to `url`; checks the answer is HTTP 200 and answers
/// its JSON.
pub async fn post_ok(client: &reqwest::Client, url: String, body: &Value) -> Value {
    let response = client.post(url).json(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// For tests that run the binary: settings pointing at running fake peers,
/// with a database and a Redis key prefix dropped at the end.
pub struct BinaryFixture {
    pub settings: Settings,
    pub balance: FakeBalancer,
    _verification: FakeVerification,
    _database: TestDatabase,
    _keys: TestKeys,
}

impl BinaryFixture {
    pub async fn start() -> BinaryFixture {
        let mut settings = test_settings();
        let verification = FakeVerification::start(&settings).await;
        let balance = FakeBalancer::start().await;
        settings.verification.port = verification.port;
        settings.balance.port = balance.port;
        BinaryFixture {
            _database: TestDatabase::new(&settings),
            _keys: TestKeys::new(&settings),
            settings,
            balance,
            _verification: verification,
        }
    }
}

/// The body of a registration or a reset.
pub fn account_body(username: &str, email: &str, password: &str, code: &str) -> Value {
    json!({"username": username, "email": email, "password": password, "cpatcha": code})
}

/// A connection to the test Redis.
pub async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url().as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers")
}

/// A name no other test (in this or a parallel run) uses.
pub fn unique_name(kind: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "gwtest_{kind}_{}_{n}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// The status of an error answer, which carries exactly `error` and a
/// `message` for people.
pub fn failed(answer: &Value) -> i64 {
    let object = answer.as_object().expect("a JSON object");
    assert!(
        object.keys().all(|key| key == "error" || key == "message"),
        "{answer}"
    );
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "no message: {answer}");
    answer["error"].as_i64().expect("an integer error")
}

/// Settings for a test: local backends from the URLs above, a fresh database
/// name, a fresh Redis key prefix, HTTP on a free port.
pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.http.host = "127.0.0.1".into();
    settings.http.port = 0;
    settings.http.workers = 1;
    let mysql = mysql_url();
    settings.mysql.host = mysql.host_str().unwrap_or("127.0.0.1").into();
    settings.mysql.port = mysql.port().unwrap_or(3306);
    settings.mysql.username = match mysql.username() {
        "" => "root".into(),
        user => decode(user),
    };
    settings.mysql.password = decode(mysql.password().unwrap_or_default()).into();
    settings.mysql.database = unique_name("db");
    settings.mysql.pool_size = 8;
    let redis = redis_url();
    settings.redis.host = redis.host_str().unwrap_or("127.0.0.1").into();
    settings.redis.port = redis.port().unwrap_or(6379);
    settings.redis.password = decode(redis.password().unwrap_or_default()).into();
    settings.redis.key_prefix = format!("{}:", unique_name("kv"));
    settings.security.hash_threads = 2;
    // Tests register chat servers at addresses nothing listens on: no probe
    // after the first round marks them down. The liveness tests set their
    // own interval, and real listeners.
    settings.balance.probe_interval_secs = 3600;
    settings.balance.metrics_port = 0;
    // Tests from one address send far more than the default burst; the
    // limit tests set their own.
    settings.limits.ip_burst = 100_000;
    settings
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// A running gateway with its peers and its own database and key space.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// The one HTTP worker's actors.
    pub actors: Actors,
    /// Every worker's actors, and the metrics.
    pub workers: Workers,
    pub verification: FakeVerification,
    pub balance: FakeBalancer,
    _database: TestDatabase,
    _keys: TestKeys,
}

impl TestApp {
    /// Starts the fake peers and the gateway. Must run inside an actix system
    /// (`#[actix_web::test]`).
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Like `spawn`, with settings adjusted by `adjust` after the peers and
    /// backends were filled in.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = test_settings();
        let verification = FakeVerification::start(&settings).await;
        let balance = FakeBalancer::start().await;
        settings.verification.port = verification.port;
        settings.balance.port = balance.port;
        adjust(&mut settings);
        let database = TestDatabase::new(&settings);
        let keys = TestKeys::new(&settings);
        let application = Application::build(settings.clone())
            .await
            .expect("gateway starts");
        let address = format!("http://127.0.0.1:{}", application.port());
        let workers = application.workers().clone();
        actix_web::rt::spawn(application.run_until_stopped());
        // The worker starts its actors when the server first runs.
        let deadline = Instant::now() + Duration::from_secs(10);
        let actors = loop {
            if let Some(actors) = workers.running().pop() {
                break actors;
            }
            assert!(Instant::now() < deadline, "no HTTP worker started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        TestApp {
            address,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            settings,
            actors,
            workers,
            verification,
            balance,
            _database: database,
            _keys: keys,
        }
    }

    /// Sends `method` to `path` without a body.
    pub async fn request(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.client
            .request(method, format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// POSTs `body` as JSON to `path`; answers the HTTP status and the JSON.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let json = response.json().await.expect("JSON answer");
        (status, json)
    }

    /// POSTs and checks the answer is HTTP 200 with an `error` field; answers
    /// the JSON.
    pub async fn call(&self, path: &str, body: Value) -> Value {
        let (status, json) = self.post(path, &body).await;
        assert_eq!(status, 200, "{path} answered HTTP {status}: {json}");
        assert!(
            json["error"].is_i64(),
            "{path} answered without error: {json}"
        );
        json
    }

    /// The status of a login attempt.
    pub async fn login_status(&self, username: &str, password: &str) -> i64 {
        let body = json!({"username": username, "password": password});
        self.call("/trylogin_server", body).await["error"]
            .as_i64()
            .unwrap()
    }

    pub fn code_key(&self, email: &str) -> String {
        format!("{}{email}", self.settings.redis.key_prefix)
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis_connection().await
    }

    /// The code the verification service stored for `email`.
    pub async fn stored_code(&self, email: &str) -> Option<String> {
        self.redis().await.get(self.code_key(email)).await.unwrap()
    }

    /// Asks the gateway for a code and reads it where the service stored it.
    pub async fn request_code(&self, email: &str) -> String {
        let answer = self
            .call("/get_verification", json!({ "email": email }))
            .await;
        assert_eq!(answer["error"], 0, "{answer}");
        let canonical = gateway_server::domain::Email::parse(email).expect("a valid address");
        self.stored_code(canonical.as_str())
            .await
            .expect("the verification service stored a code")
    }

    /// Registers an account through the API; answers its uuid.
    pub async fn register(&self, username: &str, email: &str, password: &str) -> i32 {
        let code = self.request_code(email).await;
        let answer = self
            .call(
                "/post_registration",
                account_body(username, email, password, &code),
            )
            .await;
        assert_eq!(answer["error"], 0, "{answer}");
        answer["uuid"].as_str().unwrap().parse().unwrap()
    }

    pub async fn db(&self) -> AsyncMysqlConnection {
        let url = self.settings.mysql.database_url();
        AsyncMysqlConnection::establish(secrecy::ExposeSecret::expose_secret(&url))
            .await
            .expect("test database reachable")
    }

    /// The stored password column of `username`.
    pub async fn stored_password(&self, username: &str) -> Option<String> {
        use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
        use gateway_server::db::schema::Authentication::dsl;
        dsl::Authentication
            .filter(dsl::username.eq(username))
            .select(dsl::password)
            .first(&mut self.db().await)
            .await
            .optional()
            .unwrap()
    }
}

/// Drops the test's database when the test ends, pass or fail.
pub struct TestDatabase {
    server_url: String,
    name: String,
}

impl TestDatabase {
    pub fn new(settings: &Settings) -> Self {
        Self {
            server_url: secrecy::ExposeSecret::expose_secret(&settings.mysql.server_url()).into(),
            name: settings.mysql.database.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.server_url.clone(), self.name.clone());
        run_to_completion(async move {
            if let Ok(mut conn) = AsyncMysqlConnection::establish(&url).await {
                let _ = sql_query(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .execute(&mut conn)
                    .await;
            }
        });
    }
}

/// Runs `work` to its end from a `Drop`, which runs inside the test's
/// runtime and cannot block on it: on a thread with a runtime of its own.
fn run_to_completion(work: impl Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work);
    })
    .join();
}

/// Deletes the test's Redis keys when the test ends.
pub struct TestKeys {
    prefix: String,
}

impl TestKeys {
    pub fn new(settings: &Settings) -> Self {
        Self {
            prefix: settings.redis.key_prefix.clone(),
        }
    }
}

impl Drop for TestKeys {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(redis_url().as_str()) else {
            return;
        };
        let Ok(mut connection) = client.get_connection() else {
            return;
        };
        // Keys of an address carry the prefix inside their hash tag.
        let mut keys: Vec<String> = Vec::new();
        for pattern in [format!("{}*", self.prefix), format!("{{{}*", self.prefix)] {
            let found: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query(&mut connection)
                .unwrap_or_default();
            keys.extend(found);
        }
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

/// The gateway binary, configured through `GATEWAY_*` variables only (as an
/// operator would), with `RUST_LOG` cleared.
pub fn gateway_command(settings: &Settings) -> std::process::Command {
    use secrecy::ExposeSecret;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gateway-server"));
    // Run where no Settings.toml is, so only the variables count.
    command.current_dir(std::env::temp_dir());
    command.env_remove("RUST_LOG");
    for (key, value) in [
        ("HTTP__HOST", settings.http.host.clone()),
        ("HTTP__PORT", settings.http.port.to_string()),
        ("HTTP__WORKERS", "1".into()),
        ("VERIFICATION__PORT", settings.verification.port.to_string()),
        ("BALANCE__PORT", settings.balance.port.to_string()),
        (
            "BALANCE__PROBE_INTERVAL_SECS",
            settings.balance.probe_interval_secs.to_string(),
        ),
        (
            "BALANCE__METRICS_PORT",
            settings.balance.metrics_port.to_string(),
        ),
        ("MYSQL__HOST", settings.mysql.host.clone()),
        ("MYSQL__PORT", settings.mysql.port.to_string()),
        ("MYSQL__USERNAME", settings.mysql.username.clone()),
        (
            "MYSQL__PASSWORD",
            settings.mysql.password.expose_secret().into(),
        ),
        ("MYSQL__DATABASE", settings.mysql.database.clone()),
        ("REDIS__HOST", settings.redis.host.clone()),
        ("REDIS__PORT", settings.redis.port.to_string()),
        (
            "REDIS__PASSWORD",
            settings.redis.password.expose_secret().into(),
        ),
        ("REDIS__KEY_PREFIX", settings.redis.key_prefix.clone()),
    ] {
        command.env(format!("GATEWAY_{key}"), value);
    }
    command
}

/// The gateway binary running as a child process, its output collected line
/// by line (stderr and stdout).
pub struct RunningBinary {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    log: Vec<String>,
}

impl RunningBinary {
    pub fn start(mut command: std::process::Command) -> RunningBinary {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gateway binary starts");
        let (sender, lines) = std::sync::mpsc::channel::<String>();
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
        }
        RunningBinary {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a line containing `marker`; answers the port of the
    /// `host:port` that follows it.
    pub fn port_after(&mut self, marker: &str) -> u16 {
        let port_in = |line: &str| {
            line.split(marker)
                .nth(1)
                .and_then(|address| address.rsplit(':').next())
                .and_then(|port| port.trim().parse::<u16>().ok())
        };
        if let Some(port) = self.log.iter().find_map(|line| port_in(line)) {
            return port;
        }
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| {
                    panic!(
                        "no line with {marker:?}; output so far:\n{}",
                        self.log.join("\n")
                    )
                });
            let port = port_in(&line);
            self.log.push(line);
            if let Some(port) = port {
                return port;
            }
        }
    }

    /// Sends SIGTERM, as an orchestrator stopping the process would.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends a signal by name (`TERM`, `INT`, …).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit by itself; answers its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the process did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process; answers everything it printed.
    pub fn stop(mut self) -> String {
        // Let the last lines arrive first.
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.log.push(line);
        }
        self.log.join("\n")
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A MySQL account made by a test, dropped when the test ends, pass or fail
/// (accounts are global to the server: give each run a name of its own).
pub struct MysqlUser(pub String);

impl MysqlUser {
    /// Creates `name` with `password`, allowed into `database` only.
    pub async fn create(name: String, password: &str, database: &str) -> MysqlUser {
        let user = MysqlUser(name);
        let mut admin = mysql_admin().await;
        for statement in [
            format!("CREATE USER IF NOT EXISTS '{}'@'%'", user.0),
            format!("ALTER USER '{}'@'%' IDENTIFIED BY '{password}'", user.0),
            format!("GRANT ALL ON `{database}`.* TO '{}'@'%'", user.0),
        ] {
            sql_query(statement).execute(&mut admin).await.unwrap();
        }
        user
    }
}

/// A connection to the test MySQL server as its administrator.
pub async fn mysql_admin() -> AsyncMysqlConnection {
    let url = test_settings().mysql.server_url();
    AsyncMysqlConnection::establish(secrecy::ExposeSecret::expose_secret(&url))
        .await
        .expect("MySQL reachable")
}

impl Drop for MysqlUser {
    fn drop(&mut self) {
        let statement = format!("DROP USER IF EXISTS '{}'@'%'", self.0);
        run_to_completion(async move {
            let _ = sql_query(statement).execute(&mut mysql_admin().await).await;
        });
    }
}

/// Creates database `name` as the old C++ gateway's README does (its own
/// SQL: tables `Authentication` and `UserProfile`, no character set named),
/// on a server whose default is latin1 (MariaDB's own default, where no
/// configuration file says otherwise): the narrowest old database there is.
/// Then runs `more` statements in it, e.g. the rows it wrote.
pub async fn old_gateway_database(name: &str, more: &[String]) {
    let mut admin = mysql_admin().await;
    let schema = [
        format!("CREATE DATABASE `{name}` CHARACTER SET latin1"),
        format!(
            "CREATE TABLE `{name}`.Authentication ( uuid INT AUTO_INCREMENT PRIMARY KEY, username VARCHAR(50) NOT NULL UNIQUE, password VARCHAR(255) NOT NULL, email VARCHAR(100) UNIQUE )"
        ),
        format!(
            "CREATE TABLE `{name}`.UserProfile ( uuid INT PRIMARY KEY, avatar VARCHAR(255), nickname VARCHAR(50), description TEXT, sex BOOL, FOREIGN KEY (uuid) REFERENCES Authentication(uuid) ON DELETE CASCADE )"
        ),
    ];
    for statement in schema.iter().chain(more) {
        sql_query(statement.as_str())
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
}
