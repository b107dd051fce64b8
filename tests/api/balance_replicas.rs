//! Several `gateway-server balance` processes on one Redis: one registry,
//! atomic registrations, nothing lost on restarts, and only chat servers
//! that answer their probes handed out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use gateway_server::config::Settings;
use gateway_server::grpc::proto::balancer_service_client::BalancerServiceClient;
use gateway_server::grpc::proto::{PeerListsRequest, RegisterToBalancer};
use tonic::transport::Channel;

use crate::backends::free_port;
use crate::balance_service::server;
use crate::helpers::{RunningBinary, TestKeys, gateway_command, test_settings};

/// One balance process, its gRPC client and its metrics port.
struct Replica {
    client: BalancerServiceClient<Channel>,
    metrics: u16,
    _binary: RunningBinary,
}

impl Replica {
    async fn start(settings: &Settings) -> Replica {
        let metrics = free_port();
        let mut command = gateway_command(settings);
        command
            .arg("balance")
            .env("GATEWAY_BALANCE__PORT", "0")
            .env("GATEWAY_BALANCE__METRICS_PORT", metrics.to_string())
            .env(
                "GATEWAY_BALANCE__PROBE_FAILURES",
                settings.balance.probe_failures.to_string(),
            );
        let mut binary = RunningBinary::start(command);
        let port = binary.port_after("balance service listening on ");
        let client = BalancerServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        Replica {
            client,
            metrics,
            _binary: binary,
        }
    }

    async fn register(&self, name: &str, port: u16) -> i32 {
        self.client
            .clone()
            .register_chatting_server_instance(server(name, &port.to_string()))
            .await
            .unwrap()
            .into_inner()
            .error
    }

    /// The error and the port handed to a new user.
    async fn allocate(&self, uuid: i32) -> (i32, String) {
        let reply = self
            .client
            .clone()
            .add_new_user_to_server(RegisterToBalancer { uuid })
            .await
            .unwrap()
            .into_inner();
        (reply.error, reply.port)
    }

    async fn peers_of(&self, name: &str) -> Vec<String> {
        let reply = self
            .client
            .clone()
            .get_peer_chatting_server_info(PeerListsRequest {
                cur_server: name.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.error, 0);
        reply.lists.into_iter().map(|info| info.name).collect()
    }

    /// `gateway_balance_server_up` of `server` as this replica shows it.
    async fn shown_up(&self, server: &str) -> Option<i64> {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let series = format!("gateway_balance_server_up{{kind=\"chat\",server=\"{server}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&series))
            .and_then(|value| value.trim().parse().ok())
    }
}

/// A chat server stand-in: accepts connections (counting them) and closes
/// them; dropping it closes its port.
struct ChatServer {
    port: u16,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ChatServer {
    async fn open(port: u16) -> ChatServer {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(connection);
            }
        });
        ChatServer {
            port,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Closes `server` and waits until its port refuses connections.
async fn close(server: ChatServer) -> u16 {
    let port = server.port;
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "port {port} still open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    port
}

fn settings(probe_interval_secs: u64) -> Settings {
    let mut settings = test_settings();
    settings.balance.probe_interval_secs = probe_interval_secs;
    settings.balance.probe_failures = 2;
    settings
}

#[tokio::test]
async fn two_replicas_share_one_registry_and_a_restart_loses_nothing() {
    let settings = settings(3600);
    let _keys = TestKeys::new(&settings);
    let chat = ChatServer::open(0).await;
    let (one, two) = (
        Replica::start(&settings).await,
        Replica::start(&settings).await,
    );

    // Registered through one, handed out by the other.
    assert_eq!(one.register("chat-1", chat.port).await, 0);
    assert_eq!(two.allocate(1).await, (0, chat.port.to_string()));
    assert_eq!(two.register("chat-1", chat.port).await, 7, "taken");

    // Racing registrations of one name through both: exactly one 0.
    let racers = (0..16).map(|n| {
        let replica = if n % 2 == 0 { &one } else { &two };
        replica.register("chat-race", 9000 + n)
    });
    let answers = join_all(racers).await;
    assert_eq!(
        answers.iter().filter(|answer| **answer == 0).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|answer| [0, 7].contains(answer)),
        "{answers:?}"
    );

    // Both restart: the registry is where it was.
    drop((one, two));
    let (one, two) = (
        Replica::start(&settings).await,
        Replica::start(&settings).await,
    );
    assert_eq!(one.allocate(2).await, (0, chat.port.to_string()));
    assert_eq!(two.peers_of("chat-1").await, ["chat-race"]);
}

#[tokio::test]
async fn only_chat_servers_that_answer_their_probes_are_handed_out() {
    let interval = Duration::from_secs(1);
    let settings = settings(interval.as_secs());
    let _keys = TestKeys::new(&settings);
    let (a, b, c) = (
        ChatServer::open(0).await,
        ChatServer::open(0).await,
        ChatServer::open(0).await,
    );
    let (one, two) = (
        Replica::start(&settings).await,
        Replica::start(&settings).await,
    );
    for (name, server) in [("chat-a", &a), ("chat-b", &b), ("chat-c", &c)] {
        assert_eq!(one.register(name, server.port).await, 0);
    }
    // Equal (unknown) login counts: the first name wins.
    assert_eq!(two.allocate(1).await, (0, a.port.to_string()));

    // Two replicas, one probe per server per interval between them.
    let before = a.accepted();
    tokio::time::sleep(interval * 4).await;
    let probes = a.accepted() - before;
    assert!(
        (3..=5).contains(&probes),
        "{probes} probes of chat-a in 4 intervals"
    );

    // chat-a goes away: within two probe intervals it is no longer handed
    // out, by either replica.
    let a_port = close(a).await;
    let closed = Instant::now();
    let mut uuid = 10;
    loop {
        uuid += 1;
        let replica = if uuid % 2 == 0 { &one } else { &two };
        if replica.allocate(uuid).await.1 == b.port.to_string() {
            break;
        }
        assert!(
            closed.elapsed() < interval * 2 + Duration::from_millis(1500),
            "chat-a still handed out {:?} after it closed",
            closed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("chat-a down after {:?}", closed.elapsed());
    for uuid in 100..110 {
        let replica = if uuid % 2 == 0 { &one } else { &two };
        assert_eq!(replica.allocate(uuid).await, (0, b.port.to_string()));
    }
    // Still registered, shown down, listed after the servers that are up.
    assert_eq!(one.peers_of("chat-c").await, ["chat-b", "chat-a"]);
    // A name held by a server that is up is taken at another address; at
    // its own address it may register again a probe interval after it last
    // did (a restarted chat server), not sooner (a second claimant).
    assert_eq!(two.register("chat-b", 1).await, 7);
    assert_eq!(
        one.register("chat-c", c.port).await,
        0,
        "registered seconds ago"
    );
    assert_eq!(two.register("chat-c", c.port).await, 7, "just now");
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    assert_eq!(two.register("chat-c", c.port).await, 0);
    let mut seen = None;
    for _ in 0..30 {
        seen = Some((
            one.shown_up("chat-a").await,
            two.shown_up("chat-a").await,
            one.shown_up("chat-b").await,
        ));
        if seen == Some((Some(0), Some(0), Some(1))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        Some((Some(0), Some(0), Some(1))),
        "the gauge on both replicas"
    );

    // It comes back on its port: handed out again.
    let a = ChatServer::open(a_port).await;
    let reopened = Instant::now();
    loop {
        uuid += 1;
        if two.allocate(uuid).await.1 == a.port.to_string() {
            break;
        }
        assert!(
            reopened.elapsed() < interval * 2 + Duration::from_millis(1500),
            "chat-a not back {:?} after it reopened",
            reopened.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(one.peers_of("chat-c").await, ["chat-a", "chat-b"]);

    // None up: 6.
    close(a).await;
    close(b).await;
    close(c).await;
    let all_closed = Instant::now();
    loop {
        uuid += 1;
        if one.allocate(uuid).await.0 == 6 {
            break;
        }
        assert!(
            all_closed.elapsed() < interval * 2 + Duration::from_millis(1500),
            "a closed chat server still handed out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
