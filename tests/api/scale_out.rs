//! Two gateway processes behind nginx on loopback, sharing one MySQL and one
//! Redis: the gateway keeps no state of its own. A code issued through one
//! instance is accepted through the other, the per-address and per-account
//! limits count across both, and stopping one instance (SIGTERM, as an
//! orchestrator does) loses no request: what it had under way finishes,
//! and nginx sends what it can no longer connect to to the other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gateway_server::config::Settings;
use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::backends::free_port;
use crate::helpers::{
    BinaryFixture, RunningBinary, account_body, gateway_command, redis_connection, unique_name,
};

const IP_BURST: u32 = 20;
const LOGIN_FAILURES: u32 = 3;

/// nginx as the load balancer, with deploy/nginx/gateway.conf: round robin,
/// a request whose instance refuses the connection goes to the other
/// (`proxy_next_upstream error`), and the client's address passed on in
/// X-Forwarded-For. The access log records which instance(s) served each
/// request.
struct Nginx {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Nginx {
    fn start(upstreams: [u16; 2]) -> Option<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
            .into_iter()
            .find(|path| Path::new(path).exists())?;
        let dir = std::env::temp_dir().join(unique_name("nginx"));
        std::fs::create_dir_all(&dir).unwrap();
        // Workers may run as `nobody` when the test runs as root.
        make_open(&dir);
        let port = free_port();
        // The shipped configuration, on this test's ports.
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/gateway.conf"),
        )
        .unwrap();
        for needle in ["127.0.0.1:8081", "127.0.0.1:8082", "listen 8080;"] {
            assert!(shipped.contains(needle), "gateway.conf has {needle}");
        }
        let site = shipped
            .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", upstreams[0]))
            .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", upstreams[1]))
            .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"));
        std::fs::write(dir.join("gateway.conf"), site).unwrap();
        let config = format!(
            r#"worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    log_format upstreams '$status "$upstream_addr" "$http_x_forwarded_for" $request_time';
    access_log {dir}/access.log upstreams;
    include {dir}/gateway.conf;
}}
"#,
            dir = dir.display(),
        );
        let config_path = dir.join("nginx.conf");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Nginx { port, dir, child })
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Access-log lines: (status, instances tried, X-Forwarded-For).
    fn served(&self) -> Vec<(u16, Vec<String>, String)> {
        let log = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        // Only whole lines: nginx may be writing the last one.
        let complete = log.rfind('\n').map_or("", |end| &log[..end]);
        complete
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('"').collect();
                let status = fields[0].trim().parse().unwrap();
                let tried = fields[1].split(", ").map(str::to_owned).collect();
                (status, tried, fields[3].to_owned())
            })
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers too (SIGKILL would leave
        // them running).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_open(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// One gateway process, configured by variables as an operator would.
fn instance(settings: &Settings) -> (RunningBinary, u16) {
    let mut command = gateway_command(settings);
    command
        .env("GATEWAY_MYSQL__RUN_MIGRATIONS", "false")
        .env("GATEWAY_LIMITS__TRUSTED_PROXIES", "127.0.0.1")
        .env("GATEWAY_LIMITS__IP_BURST", IP_BURST.to_string())
        .env("GATEWAY_LIMITS__LOGIN_FAILURES", LOGIN_FAILURES.to_string())
        .env("GATEWAY_HTTP__SHUTDOWN_TIMEOUT_SECS", "10")
        .env("RUST_LOG", "info");
    let mut running = RunningBinary::start(command);
    let port = running.port_after("gateway listening on ");
    (running, port)
}

struct Client {
    http: reqwest::Client,
}

impl Client {
    /// POSTs `body` to `base` + `path` as the client at `address`; answers
    /// the `error` code, or what went wrong instead of an HTTP 200 + JSON.
    async fn call(
        &self,
        base: &str,
        path: &str,
        address: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{base}{path}"))
            .header("X-Forwarded-For", address)
            .json(body)
            .send()
            .await
            .map_err(|error| format!("transport: {error}"))?;
        let status = response.status();
        if status != 200 {
            return Err(format!("HTTP {status}"));
        }
        response
            .json::<Value>()
            .await
            .map_err(|error| format!("body: {error}"))
    }

    async fn error(&self, base: &str, path: &str, address: &str, body: &Value) -> i64 {
        let answer = self.call(base, path, address, body).await.unwrap();
        answer["error"].as_i64().unwrap()
    }
}

#[actix_web::test]
async fn two_instances_behind_nginx_share_codes_and_limits_and_survive_a_stop() {
    let fixture = BinaryFixture::start().await;
    let settings = &fixture.settings;
    // Migrations once, as the deployment's `migrate` step does.
    let migrated = gateway_command(settings).arg("migrate").output().unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let (first, first_port) = instance(settings);
    let (second, second_port) = instance(settings);
    let Some(nginx) = Nginx::start([first_port, second_port]) else {
        return crate::backends::skip("nginx (apt-get install nginx-core)");
    };
    let (a, b) = (
        format!("http://127.0.0.1:{first_port}"),
        format!("http://127.0.0.1:{second_port}"),
    );
    let balanced = format!("http://127.0.0.1:{}", nginx.port);
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    };
    let mut redis = redis_connection().await;

    // The load balancer keeps /metrics to itself: scrapers go to each
    // instance directly.
    let metrics = client
        .http
        .get(format!("{balanced}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 404, "/metrics through nginx");
    let direct = client
        .http
        .get(format!("{a}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);

    // A code issued through one instance is accepted through the other.
    const PASSWORD: &str = "Correct-Horse-7-Scale";
    let users: Vec<(String, String)> = (0..8)
        .map(|n| (format!("user{n}"), format!("user{n}@example.com")))
        .collect();
    for (n, (username, email)) in users.iter().enumerate() {
        let (issuer, registrar) = if n.is_multiple_of(2) {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let address = format!("192.0.2.{n}");
        let body = json!({ "email": email });
        assert_eq!(
            client
                .error(issuer, "/get_verification", &address, &body)
                .await,
            0
        );
        let code: String = redis
            .get(format!("{}{email}", settings.redis.key_prefix))
            .await
            .unwrap();
        let body = account_body(username, email, PASSWORD, &code);
        let registered = client
            .call(registrar, "/post_registration", &address, &body)
            .await
            .unwrap();
        assert_eq!(registered["error"], 0, "{registered}");
    }

    // The per-address limit counts across both instances: one client
    // address through nginx, which alternates between them.
    let check = json!({"username": "user0", "email": "user0@example.com"});
    let mut answers = BTreeMap::<i64, u32>::new();
    for _ in 0..IP_BURST + 10 {
        let error = client
            .error(&balanced, "/check_accountexists", "203.0.113.9", &check)
            .await;
        *answers.entry(error).or_default() += 1;
    }
    assert_eq!(answers, BTreeMap::from([(0, IP_BURST), (27, 10)]));
    let limited_by: BTreeMap<String, u32> = nginx
        .served()
        .iter()
        .filter(|(_, _, forwarded)| forwarded == "203.0.113.9")
        .fold(BTreeMap::new(), |mut counts, (_, tried, _)| {
            *counts.entry(tried[0].clone()).or_default() += 1;
            counts
        });
    assert_eq!(
        limited_by.len(),
        2,
        "both instances counted: {limited_by:?}"
    );

    // The per-account limit counts across both instances too.
    let wrong = json!({"username": "user7", "password": "Not-The-Password-1"});
    for (n, instance) in [&a, &b, &a].into_iter().enumerate() {
        let error = client
            .error(
                instance,
                "/trylogin_server",
                &format!("198.51.100.{n}"),
                &wrong,
            )
            .await;
        assert_eq!(error, 13);
    }
    let right = json!({"username": "user7", "password": PASSWORD});
    assert_eq!(
        client
            .error(&b, "/trylogin_server", "198.51.100.9", &right)
            .await,
        27
    );

    // Idle keep-alive connections straight to an instance would hold its
    // graceful stop for up to http.keep_alive_secs: close them.
    drop(client);
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    };

    // Stopping an instance loses nothing: seven clients (each a different
    // address) check accounts and log in through nginx without pause while
    // the first instance gets SIGTERM.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    // The eighth user is the locked one.
    for (worker, (username, email)) in users.iter().take(7).cloned().enumerate() {
        let (client, balanced) = (client.http.clone(), balanced.clone());
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        workers.push(tokio::spawn(async move {
            let client = Client { http: client };
            let mut failures = Vec::new();
            let mut slowest = Duration::ZERO;
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let address = format!("10.{worker}.{}.{}", n / 250, n % 250);
                let (path, body) = if n.is_multiple_of(3) {
                    (
                        "/trylogin_server",
                        json!({"username": username, "password": PASSWORD}),
                    )
                } else {
                    (
                        "/check_accountexists",
                        json!({"username": username, "email": email}),
                    )
                };
                let started = Instant::now();
                let answer = client.call(&balanced, path, &address, &body).await;
                slowest = slowest.max(started.elapsed());
                sent.fetch_add(1, Ordering::Relaxed);
                match answer {
                    Ok(answer) if answer["error"] == 0 => {}
                    Ok(answer) => failures.push(format!("{path}: {answer}")),
                    Err(error) => failures.push(format!("{path}: {error}")),
                }
            }
            (failures, slowest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_stop = sent.load(Ordering::Relaxed);
    first.terminate();
    let stopped_at = Instant::now();
    let mut first = first;
    let exit = tokio::task::spawn_blocking(move || {
        let status = first.wait_exit(Duration::from_secs(15));
        (status, Instant::now(), first.stop())
    });
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    let mut slowest = Duration::ZERO;
    for worker in workers {
        let (lost, slow) = worker.await.unwrap();
        failures.extend(lost);
        slowest = slowest.max(slow);
    }
    let (status, exited_at, first_log) = exit.await.unwrap();
    let total = sent.load(Ordering::Relaxed);

    // nginx writes a request's line after its answer has gone out: wait
    // (5 s at most) for the last ones.
    let deadline = Instant::now() + Duration::from_secs(5);
    let load = loop {
        let load: Vec<_> = nginx
            .served()
            .into_iter()
            .filter(|(_, _, forwarded)| forwarded.starts_with("10."))
            .collect();
        if load.len() as u64 >= total || Instant::now() >= deadline {
            break load;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let per_instance = |port: u16| {
        let upstream = format!("127.0.0.1:{port}");
        load.iter()
            .filter(|(_, tried, _)| tried.last() == Some(&upstream))
            .count()
    };
    let retried = load.iter().filter(|(_, tried, _)| tried.len() > 1).count();
    println!(
        "scale-out: {total} requests through nginx ({before_stop} before the SIGTERM), \
         {} failed; served by the first instance {}, by the second {}; \
         {retried} retried on the second after the first refused the connection; \
         slowest {:.1} ms; first instance exited {status} {:.0} ms after SIGTERM",
        failures.len(),
        per_instance(first_port),
        per_instance(second_port),
        slowest.as_secs_f64() * 1000.0,
        (exited_at - stopped_at).as_secs_f64() * 1000.0,
    );
    assert!(
        failures.is_empty(),
        "lost requests: {failures:#?}\nnginx's error log:\n{}",
        nginx.errors()
    );
    assert!(
        status.success(),
        "SIGTERM ends the instance cleanly:\n{first_log}"
    );
    assert_eq!(
        load.len() as u64,
        total,
        "every request reached nginx's log"
    );
    assert!(load.iter().all(|(status, _, _)| *status == 200));
    assert!(per_instance(first_port) > 0 && per_instance(second_port) > 0);
    assert!(total > before_stop + 50, "the load went on after the stop");
    drop(second);
}
