//! Redis Cluster (`redis.cluster_nodes`): a real 6-node cluster on loopback
//! (3 masters, 3 replicas, `redis-cli --cluster create`) under the whole
//! system, the flows and limits over it, and a master killed mid-stream.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::backends::{accepts, skip, wait_until};
use crate::helpers::unique_name;
use crate::smtp::code_in;
use crate::system::System;

/// Six redis-server processes in cluster mode, each with its own directory.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: HashMap<u16, Child>,
    dir: PathBuf,
    secure: Option<Secure>,
}

/// A password and TLS (a self-signed certificate for 127.0.0.1, which is
/// also the CA) for every node, the bus between them and every client.
#[derive(Clone)]
pub struct Secure {
    pub password: String,
    pub cert: PathBuf,
    key: PathBuf,
}

impl Secure {
    pub fn new() -> Secure {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let directory = std::env::temp_dir().join(unique_name("redis-tls"));
        std::fs::create_dir_all(&directory).unwrap();
        let (cert, key) = (directory.join("cert.pem"), directory.join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        Secure {
            password: format!("pw-{:08x}", rand::random::<u32>()),
            cert,
            key,
        }
    }

    fn server_arguments(&self, port: u16) -> Vec<String> {
        let path = |file: &PathBuf| file.display().to_string();
        [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &path(&self.cert),
            "--tls-key-file",
            &path(&self.key),
            "--tls-ca-cert-file",
            &path(&self.cert),
            "--tls-auth-clients",
            "no",
            "--tls-cluster",
            "yes",
            "--tls-replication",
            "yes",
            "--requirepass",
            &self.password,
            "--masterauth",
            &self.password,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn client_arguments(&self) -> Vec<String> {
        [
            "--tls",
            "--cacert",
            &self.cert.display().to_string(),
            "-a",
            &self.password,
            "--no-auth-warning",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// What the gateway needs to reach such a server.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GATEWAY_REDIS__PASSWORD", self.password.clone()),
            ("GATEWAY_REDIS__TLS", "true".into()),
            ("GATEWAY_REDIS__TLS_CA", self.cert.display().to_string()),
        ]
    }
}

/// A port whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = 20000 + rand::random::<u16>() % 20000;
        let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free(port) && free(port + 10000) {
            return port;
        }
    }
}

fn redis_cli(secure: &Option<Secure>, port: u16, arguments: &[&str]) -> std::process::Output {
    Command::new("redis-cli")
        .args(secure.iter().flat_map(Secure::client_arguments))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs")
}

impl RedisCluster {
    /// `None` (and the test skipped) where redis-server or redis-cli is
    /// missing.
    pub fn start() -> Option<RedisCluster> {
        Self::start_with(None)
    }

    /// With a password and TLS everywhere when `secure` is set.
    pub fn start_with(secure: Option<Secure>) -> Option<RedisCluster> {
        let installed = |binary| {
            Command::new(binary)
                .arg("--version")
                .output()
                .is_ok_and(|output| output.status.success())
        };
        if !installed("redis-server") || !installed("redis-cli") {
            return None;
        }
        let dir = std::env::temp_dir().join(unique_name("cluster"));
        let mut cluster = RedisCluster {
            ports: Vec::new(),
            children: HashMap::new(),
            dir,
            secure,
        };
        for _ in 0..6 {
            let port = free_cluster_port();
            cluster.ports.push(port);
            cluster.launch(port);
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let created = Command::new("redis-cli")
                .args(cluster.secure.iter().flat_map(Secure::client_arguments))
                .args(["--cluster", "create"])
                .args(&nodes)
                .args(["--cluster-replicas", "1", "--cluster-yes"])
                .stdin(Stdio::null())
                .output()
                .expect("redis-cli runs");
            if created.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cluster create: {}",
                String::from_utf8_lossy(&created.stdout)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        cluster.wait_until_whole(Duration::from_secs(30));
        cluster.wait_until_replicated(Duration::from_secs(30));
        Some(cluster)
    }

    fn launch(&mut self, port: u16) {
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let listen = match &self.secure {
            Some(secure) => secure.server_arguments(port),
            None => vec!["--port".into(), port.to_string()],
        };
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1"])
            .args(listen)
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            // A dead master is replaced within about two seconds.
            .args(["--cluster-node-timeout", "1000"])
            // Replicas sync at once (the default waits 5 s for more of them):
            // a replica that never synced cannot replace its master.
            .args(["--repl-diskless-sync-delay", "0"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.children.insert(port, child);
        wait_until("redis-server", Duration::from_secs(10), || accepts(port));
    }

    /// `redis.cluster_nodes` as one comma-separated string (two nodes are
    /// enough to find the rest, as an operator would list them).
    pub fn nodes_setting(&self) -> String {
        format!("127.0.0.1:{},127.0.0.1:{}", self.ports[0], self.ports[1])
    }

    fn alive(&self) -> impl Iterator<Item = u16> + '_ {
        self.ports
            .iter()
            .copied()
            .filter(|port| self.children.contains_key(port))
    }

    /// Until every live node says the cluster is whole (`cluster_state:ok`)
    /// and live masters serve all 16384 slots.
    pub fn wait_until_whole(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let ok = self.alive().all(|port| {
                String::from_utf8_lossy(&redis_cli(&self.secure, port, &["CLUSTER", "INFO"]).stdout)
                    .contains("cluster_state:ok")
            });
            let alive: Vec<u16> = self.alive().collect();
            let served: u32 = self
                .masters()
                .iter()
                .filter(|(port, _)| alive.contains(port))
                .flat_map(|(_, ranges)| ranges)
                .map(|(low, high)| u32::from(high - low) + 1)
                .sum();
            if ok && served == 16384 {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "the cluster is not whole after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Until each replica has synced with its master.
    fn wait_until_replicated(&self, limit: Duration) {
        let started = Instant::now();
        loop {
            let infos: Vec<String> = self
                .alive()
                .map(|port| {
                    String::from_utf8_lossy(
                        &redis_cli(&self.secure, port, &["INFO", "replication"]).stdout,
                    )
                    .into_owned()
                })
                .collect();
            let replicas = infos
                .iter()
                .filter(|info| info.contains("role:slave"))
                .count();
            let synced = infos
                .iter()
                .filter(|info| info.contains("master_link_status:up"))
                .count();
            if replicas == 3 && synced == 3 {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "replicas not synced after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The slot of `key`, as the cluster computes it.
    pub fn slot_of(&self, key: &str) -> u16 {
        let first = self.alive().next().expect("a live node");
        String::from_utf8_lossy(
            &redis_cli(&self.secure, first, &["CLUSTER", "KEYSLOT", key]).stdout,
        )
        .trim()
        .parse()
        .expect("a slot")
    }

    /// Each live master's port and the slot ranges it serves now.
    pub fn masters(&self) -> Vec<(u16, Vec<(u16, u16)>)> {
        let first = self.alive().next().expect("a live node");
        let nodes =
            String::from_utf8_lossy(&redis_cli(&self.secure, first, &["CLUSTER", "NODES"]).stdout)
                .into_owned();
        nodes
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .filter(|fields| {
                fields.len() >= 8 && fields[2].contains("master") && !fields[2].contains("fail")
            })
            .map(|fields| {
                let port = fields[1]
                    .split('@')
                    .next()
                    .and_then(|address| address.rsplit(':').next())
                    .and_then(|port| port.parse().ok())
                    .expect("a node address");
                let ranges = fields[8..]
                    .iter()
                    .filter_map(|range| {
                        let mut bounds = range.split('-').map(|n| n.parse::<u16>().ok());
                        match (bounds.next().flatten(), bounds.next()) {
                            (Some(low), Some(Some(high))) => Some((low, high)),
                            (Some(only), None) => Some((only, only)),
                            _ => None,
                        }
                    })
                    .collect();
                (port, ranges)
            })
            .collect()
    }

    /// The port of the master that serves `key` now.
    pub fn master_of(&self, key: &str) -> u16 {
        let slot = self.slot_of(key);
        self.masters()
            .into_iter()
            .find(|(_, ranges)| serves(ranges, slot))
            .map(|(port, _)| port)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self, port: u16) {
        let mut child = self.children.remove(&port).expect("a live node");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// A cluster connection, as a client outside the system would have
    /// (not for a secure cluster).
    pub async fn connection(&self) -> redis::cluster_async::ClusterConnection {
        assert!(self.secure.is_none(), "a plain cluster");
        let nodes: Vec<String> = self
            .alive()
            .map(|port| format!("redis://127.0.0.1:{port}/"))
            .collect();
        redis::cluster::ClusterClient::new(nodes)
            .unwrap()
            .get_async_connection()
            .await
            .unwrap()
    }

    /// What the gateway needs to reach this cluster.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        let mut variables = vec![("GATEWAY_REDIS__CLUSTER_NODES", self.nodes_setting())];
        variables.extend(self.secure.iter().flat_map(Secure::variables));
        variables
    }
}

fn serves(ranges: &[(u16, u16)], slot: u16) -> bool {
    ranges
        .iter()
        .any(|(low, high)| (*low..=*high).contains(&slot))
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (_, mut child) in self.children.drain() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The whole system with its Redis traffic on `cluster`, a chat server that
/// answers probes registered.
async fn system_on(cluster: &RedisCluster, more: &[(&str, String)]) -> System {
    let mut variables = cluster.variables();
    variables.push(("GATEWAY_REDIS__TIMEOUT_MS", "1000".to_owned()));
    variables.extend(more.iter().cloned());
    System::start_with(&variables).await
}

async fn code_for(system: &System, email: &str) -> String {
    let issued = system
        .call("/get_verification", json!({"email": email}))
        .await;
    assert_eq!(issued["error"], 0, "{issued}");
    code_in(&system.sink.message_to(email).await)
}

fn account(name: &str, email: &str, password: &str, code: &str) -> Value {
    json!({"username": name, "email": email, "password": password, "cpatcha": code})
}

#[actix_web::test]
async fn codes_accounts_tokens_and_limits_work_over_a_redis_cluster() {
    use redis::AsyncCommands;

    let Some(cluster) = RedisCluster::start() else {
        return skip("redis-server and redis-cli");
    };
    let system = system_on(
        &cluster,
        &[
            ("GATEWAY_LIMITS__LOGIN_FAILURES", "3".into()),
            ("GATEWAY_LIMITS__CODE_ATTEMPTS", "2".into()),
            ("GATEWAY_LIMITS__IP_BURST", "14".into()),
        ],
    )
    .await;
    let chat = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let chat_port = chat.local_addr().unwrap().port().to_string();
    system.register_chat_server("chat-1", &chat_port).await;
    let mut store = cluster.connection().await;
    let key = |name: &str| format!("{}{name}", system.key_prefix());

    // Addresses on all three masters.
    let users = ["ann", "ben", "cat", "dan", "eve"];
    let masters: std::collections::BTreeSet<u16> = users
        .iter()
        .map(|user| cluster.master_of(&key(&format!("{user}@example.com"))))
        .collect();
    assert!(
        masters.len() >= 2,
        "the addresses span masters: {masters:?}"
    );
    let mut uuids = HashMap::new();
    for user in users {
        let email = format!("{user}@example.com");
        let code = code_for(&system, &email).await;
        // The code is where the original services look: the bare address.
        let stored: Option<String> = store.get(key(&email)).await.unwrap();
        assert_eq!(stored.as_deref(), Some(code.as_str()));
        // Asked again inside the cooldown: the same code, no new one.
        let again = system
            .call("/get_verification", json!({"email": email}))
            .await;
        assert_eq!(again["error"], 0, "{again}");
        assert!(again["retry_after_secs"].as_u64().is_some(), "{again}");
        let still: Option<String> = store.get(key(&email)).await.unwrap();
        assert_eq!(still.as_deref(), Some(code.as_str()));
        let registered = system
            .call(
                "/post_registration",
                account(user, &email, "Correct-Horse-7", &code),
            )
            .await;
        assert_eq!(registered["error"], 0, "{registered}");
        uuids.insert(user, registered["uuid"].as_str().unwrap().to_owned());
    }

    // Login: the chat server, and the token at user_token_<uuid>.
    let login = system
        .call(
            "/trylogin_server",
            json!({"username": "ann", "password": "Correct-Horse-7"}),
        )
        .await;
    assert_eq!(login["error"], 0, "{login}");
    assert_eq!(login["port"], chat_port.as_str());
    let token: Option<String> = store
        .get(key(&format!("user_token_{}", uuids["ann"])))
        .await
        .unwrap();
    assert_eq!(login["token"].as_str(), token.as_deref());

    // Wrong codes are counted (2 use the code up) on the code's own node.
    let email = "fay@example.com";
    let code = code_for(&system, email).await;
    for guess in ["000000", "111111"] {
        let wrong = system
            .call(
                "/post_registration",
                account("fay", email, "Correct-Horse-7", guess),
            )
            .await;
        assert_eq!(wrong["error"], 9);
    }
    let right = system
        .call(
            "/post_registration",
            account("fay", email, "Correct-Horse-7", &code),
        )
        .await;
    assert_eq!(right["error"], 9, "the code was used up: {right}");

    // Reset: a new code, the new password works, the token is revoked.
    let ben = "ben@example.com";
    let _: () = store
        .del(format!("{{{}}}:cooldown", key(ben)))
        .await
        .unwrap();
    let issued = system
        .call("/get_verification", json!({"email": ben}))
        .await;
    assert_eq!(issued["error"], 0, "{issued}");
    let code: String = store.get(key(ben)).await.unwrap();
    let reset = system
        .call(
            "/reset_password",
            json!({"username": "ben", "email": ben, "password": "Battery-Staple-8", "cpatcha": code}),
        )
        .await;
    assert_eq!(reset["error"], 0, "{reset}");
    let login = system
        .call(
            "/trylogin_server",
            json!({"username": "ben", "password": "Battery-Staple-8"}),
        )
        .await;
    assert_eq!(login["error"], 0, "{login}");

    // The login lock counts exactly: 3 failures, then even the right
    // password is refused.
    for _ in 0..3 {
        let wrong = system
            .call(
                "/trylogin_server",
                json!({"username": "cat", "password": "Wrong-Horse-7"}),
            )
            .await;
        assert_eq!(wrong["error"], 13);
    }
    let locked = system
        .call(
            "/trylogin_server",
            json!({"username": "cat", "password": "Correct-Horse-7"}),
        )
        .await;
    assert_eq!(locked["error"], 27);

    // The per-address budget counts exactly too: 14 served, then 27.
    let check = json!({"username": "nobody", "email": "nobody@example.com"});
    let mut answers = Vec::new();
    for _ in 0..16 {
        answers.push(system.call("/check_accountexists", check.clone()).await["error"].as_i64());
    }
    let mut expected = vec![Some(12); 14];
    expected.extend([Some(27), Some(27)]);
    assert_eq!(answers, expected);
    drop(chat);
}

#[actix_web::test]
async fn a_killed_master_is_replaced_and_nothing_answered_0_is_lost() {
    use redis::AsyncCommands;

    let Some(mut cluster) = RedisCluster::start() else {
        return skip("redis-server and redis-cli");
    };
    let system = system_on(&cluster, &[("GATEWAY_LIMITS__IP_BURST", "1000000".into())]).await;
    let key = |email: &str| format!("{}{email}", system.key_prefix());
    let victim = "victim@example.com";
    let victims_code = code_for(&system, victim).await;
    let master = cluster.master_of(&key(victim));

    // A stream of code requests for fresh addresses, a third of them on the
    // master that dies.
    let started = Instant::now();
    let stream = {
        let (port, client) = (system.gateway, reqwest::Client::new());
        actix_web::rt::spawn(async move {
            let mut answers = Vec::new();
            for n in 0.. {
                let email = format!("s{n}@example.com");
                let sent = Instant::now();
                let answer = crate::helpers::post_ok(
                    &client,
                    format!("http://127.0.0.1:{port}/get_verification"),
                    &json!({"email": email}),
                )
                .await;
                answers.push((
                    email,
                    answer["error"].as_i64().unwrap(),
                    sent - started,
                    sent.elapsed(),
                ));
                if started.elapsed() > Duration::from_secs(12) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dead_slots = cluster
        .masters()
        .into_iter()
        .find(|(port, _)| *port == master)
        .map(|(_, ranges)| ranges)
        .expect("the victim's master serves slots");
    let killed_at = started.elapsed();
    cluster.kill(master);
    let answers = stream.await.unwrap();
    cluster.wait_until_whole(Duration::from_secs(30));

    // Every answer is 0 or 8 (Redis failed), and a failure is quick.
    for (email, status, _, took) in &answers {
        assert!([0, 8].contains(status), "{email}: {status}");
        assert!(
            *took < Duration::from_secs(3),
            "{email}: {status} after {took:?}"
        );
    }
    // The gap: from the kill to the first code stored again on the slots
    // the dead master held.
    let on_dead_slots: Vec<bool> = answers
        .iter()
        .map(|(email, ..)| serves(&dead_slots, cluster.slot_of(&key(email))))
        .collect();
    let failed = answers.iter().filter(|answer| answer.1 == 8).count();
    let resumed = answers
        .iter()
        .zip(&on_dead_slots)
        .find(|((_, status, sent, _), dead)| **dead && *status == 0 && *sent > killed_at)
        .map(|((_, _, sent, _), _)| *sent - killed_at)
        .expect("service resumed on the dead master's slots after the promotion");
    let failures = || answers.iter().filter(|answer| answer.1 == 8);
    let last_failure = failures()
        .map(|answer| answer.2.saturating_sub(killed_at))
        .max();
    let slowest_failure = failures().map(|answer| answer.3).max();
    eprintln!(
        "failover: {} requests ({} on the dead master's slots), {failed} answered 8 (the slowest \
         in {slowest_failure:?}), the last sent {last_failure:?} after the kill; first code \
         stored on those slots again: sent {resumed:?} after the kill",
        answers.len(),
        on_dead_slots.iter().filter(|dead| **dead).count(),
    );
    assert!(failed > 0, "the kill was felt: no request failed");

    // Nothing answered 0 was lost: every such code is still stored, and the
    // victim registers with the code issued before the kill.
    let mut store = cluster.connection().await;
    for (email, status, _, _) in &answers {
        if *status == 0 {
            let code: Option<String> = store.get(key(email)).await.unwrap();
            assert!(
                code.is_some(),
                "the code of {email} was answered 0 and lost"
            );
        }
    }
    let registered = system
        .call(
            "/post_registration",
            account("victim", victim, "Correct-Horse-7", &victims_code),
        )
        .await;
    assert_eq!(registered["error"], 0, "{registered}");
}

/// Registration and login (code, account, token) over a cluster that wants
/// a password and speaks only TLS, on every node and between them.
#[actix_web::test]
async fn a_cluster_with_a_password_and_tls_serves_every_flow() {
    let Some(cluster) = RedisCluster::start_with(Some(Secure::new())) else {
        return skip("redis-server and redis-cli");
    };
    let system = system_on(&cluster, &[]).await;
    secure_flow(&system).await;
}

/// The same against one Redis server with a password and TLS only.
#[actix_web::test]
async fn one_redis_server_with_a_password_and_tls_serves_every_flow() {
    let secure = Secure::new();
    let port = crate::backends::free_port();
    let dir = std::env::temp_dir().join(unique_name("redis-tls-one"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(secure.server_arguments(port))
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    wait_until("redis-server", Duration::from_secs(10), || accepts(port));
    let mut variables = secure.variables();
    variables.push(("GATEWAY_REDIS__PORT", port.to_string()));
    variables.push(("GATEWAY_REDIS__HOST", "localhost".into()));
    let system = System::start_with(&variables).await;
    secure_flow(&system).await;
    // A plaintext client gets nothing from this server.
    let plain = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await;
    if let Ok(mut plain) = plain {
        let answer: Result<String, _> = redis::cmd("PING").query_async(&mut plain).await;
        assert!(answer.is_err(), "plaintext answered: {answer:?}");
    }
    drop(system);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(dir);
}

async fn secure_flow(system: &System) {
    let chat = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let chat_port = chat.local_addr().unwrap().port().to_string();
    system.register_chat_server("chat-1", &chat_port).await;
    let code = code_for(system, "sec@example.com").await;
    let registered = system
        .call(
            "/post_registration",
            account("sec", "sec@example.com", "Correct-Horse-7", &code),
        )
        .await;
    assert_eq!(registered["error"], 0, "{registered}");
    let login = system
        .call(
            "/trylogin_server",
            json!({"username": "sec", "password": "Correct-Horse-7"}),
        )
        .await;
    assert_eq!(login["error"], 0, "{login}");
    assert_eq!(login["port"], chat_port.as_str());
    assert_eq!(login["token"].as_str().map(str::len), Some(32));
}
