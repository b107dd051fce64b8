//! `gateway-server balance` at the gRPC level, against real Redis.

use gateway_server::config::Settings;
use gateway_server::grpc::proto::balancer_service_client::BalancerServiceClient;
use gateway_server::grpc::proto::{
    GrpcRegisterRequest, GrpcShutdownRequest, GrpcStatusResponse, LoginChattingServer,
    PeerListsRequest, RegisterToBalancer, ServerInfo,
};
use gateway_server::services::{self, balance::BalanceServer};
use redis::AsyncCommands;
use tonic::transport::Channel;

use crate::helpers::{TestKeys, redis_connection, test_settings};
use crate::peers::closed_port;

pub struct Balance {
    pub client: BalancerServiceClient<Channel>,
    pub settings: Settings,
    _keys: TestKeys,
}

pub fn server(name: &str, port: &str) -> GrpcRegisterRequest {
    GrpcRegisterRequest {
        info: Some(ServerInfo {
            name: name.into(),
            host: "127.0.0.1".into(),
            port: port.into(),
        }),
    }
}

/// The `error` of a registration or shutdown answer.
fn status(reply: Result<tonic::Response<GrpcStatusResponse>, tonic::Status>) -> i32 {
    reply.expect("the service answers").into_inner().error
}

fn shutdown(name: &str) -> GrpcShutdownRequest {
    GrpcShutdownRequest {
        cur_server: name.into(),
    }
}

impl Balance {
    /// `gateway-server balance` on a free port, and a client of it.
    pub async fn start_with(settings: Settings) -> Balance {
        let keys = TestKeys::new(&settings);
        let service = BalanceServer::new(&settings).unwrap();
        let listener = services::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(services::serve_balance(
            service,
            listener,
            std::future::pending(),
        ));
        let client = BalancerServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        Balance {
            client,
            settings,
            _keys: keys,
        }
    }

    async fn start() -> Balance {
        Self::start_with(test_settings()).await
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis_connection().await
    }

    /// Writes a chat server's login count as chat servers do.
    pub async fn set_count(&self, name: &str, count: &str) {
        let key = format!("{}redis_server", self.settings.redis.key_prefix);
        let _: () = self.redis().await.hset(key, name, count).await.unwrap();
    }

    async fn stored_token(&self, uuid: i32) -> (Option<String>, i64) {
        let key = format!("{}user_token_{uuid}", self.settings.redis.key_prefix);
        let mut redis = self.redis().await;
        let token: Option<String> = redis.get(&key).await.unwrap();
        (token, redis.ttl(&key).await.unwrap())
    }

    async fn allocate(&mut self, uuid: i32) -> (i32, String, String) {
        let reply = self
            .client
            .add_new_user_to_server(RegisterToBalancer { uuid })
            .await
            .unwrap()
            .into_inner();
        (reply.error, reply.port, reply.token)
    }

    async fn login(&mut self, uuid: i32, token: &str) -> i32 {
        self.client
            .user_login_to_server(LoginChattingServer {
                uuid,
                token: token.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .error
    }
}

#[tokio::test]
async fn chat_servers_register_once_and_leave_once() {
    let mut balance = Balance::start().await;
    let client = &mut balance.client;
    assert_eq!(
        status(
            client
                .register_chatting_server_instance(server("chat1", "8090"))
                .await
        ),
        0
    );
    assert_eq!(
        status(
            client
                .register_chatting_server_instance(server("chat1", "8091"))
                .await
        ),
        7
    );
    assert_eq!(
        status(client.chatting_server_shut_down(shutdown("chat1")).await),
        0
    );
    assert_eq!(
        status(client.chatting_server_shut_down(shutdown("chat1")).await),
        6
    );
    assert_eq!(
        status(client.chatting_server_shut_down(shutdown("never")).await),
        6
    );
}

#[tokio::test]
async fn grpc_servers_register_once_and_leave_once() {
    let mut balance = Balance::start().await;
    let client = &mut balance.client;
    assert_eq!(
        status(
            client
                .register_chatting_grpc_server(server("g1", "9090"))
                .await
        ),
        0
    );
    assert_eq!(
        status(
            client
                .register_chatting_grpc_server(server("g1", "9091"))
                .await
        ),
        5
    );
    // The two registries are separate.
    assert_eq!(
        status(
            client
                .register_chatting_server_instance(server("g1", "9092"))
                .await
        ),
        0
    );
    assert_eq!(
        status(client.chatting_grpc_server_shut_down(shutdown("g1")).await),
        0
    );
    assert_eq!(
        status(client.chatting_grpc_server_shut_down(shutdown("g1")).await),
        4
    );
    let nameless = GrpcRegisterRequest { info: None };
    assert_eq!(
        status(client.register_chatting_grpc_server(nameless).await),
        25
    );
}

#[tokio::test]
async fn peer_lists_hold_every_other_server() {
    let mut balance = Balance::start().await;
    let client = &mut balance.client;
    for name in ["c", "a", "b"] {
        client
            .register_chatting_server_instance(server(name, "1"))
            .await
            .unwrap();
        client
            .register_chatting_grpc_server(server(&format!("g{name}"), "2"))
            .await
            .unwrap();
    }
    let peers = client
        .get_peer_chatting_server_info(PeerListsRequest {
            cur_server: "b".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(peers.error, 0);
    let names: Vec<_> = peers.lists.iter().map(|info| info.name.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
    let peers = client
        .get_peer_grpc_server_info(PeerListsRequest {
            cur_server: "ga".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = peers.lists.iter().map(|info| info.name.as_str()).collect();
    assert_eq!(names, ["gb", "gc"]);
}

#[tokio::test]
async fn without_chat_servers_a_user_gets_6() {
    let mut balance = Balance::start().await;
    assert_eq!(balance.allocate(1).await.0, 6);
    assert_eq!(balance.allocate(-3).await.0, 25);
}

/// `balance.probe_interval_secs = 0`: nothing is probed, a chat server
/// nobody can reach is handed out all the same (the original's behaviour,
/// for chat servers whose advertised address the service cannot reach).
#[tokio::test]
async fn with_probing_off_every_registered_server_is_handed_out() {
    let mut settings = test_settings();
    settings.balance.probe_interval_secs = 0;
    settings.balance.probe_failures = 1;
    let mut balance = Balance::start_with(settings).await;
    let closed = crate::backends::free_port().to_string();
    let answer = balance
        .client
        .register_chatting_server_instance(server("unreachable", &closed))
        .await
        .unwrap();
    assert_eq!(answer.into_inner().error, 0);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(balance.allocate(1).await.0, 0);
    assert_eq!(balance.allocate(2).await.1, closed);
}

#[tokio::test]
async fn the_least_loaded_server_is_chosen_unknown_counts_last_ties_by_name() {
    let mut balance = Balance::start().await;
    for (name, port) in [("alpha", "7001"), ("beta", "7002"), ("gamma", "7003")] {
        balance
            .client
            .register_chatting_server_instance(server(name, port))
            .await
            .unwrap();
    }
    // No counts at all: every server is unknown, the first name wins.
    assert_eq!(balance.allocate(1).await.1, "7001");
    balance.set_count("alpha", "9").await;
    balance.set_count("beta", "4").await;
    // gamma has no count: it ranks last.
    assert_eq!(balance.allocate(1).await.1, "7002");
    balance.set_count("gamma", "4").await;
    assert_eq!(
        balance.allocate(1).await.1,
        "7002",
        "a tie goes to the first name"
    );
    balance.set_count("gamma", "0").await;
    assert_eq!(balance.allocate(1).await.1, "7003");
    balance.set_count("gamma", "not a number").await;
    assert_eq!(
        balance.allocate(1).await.1,
        "7002",
        "an unreadable count is unknown"
    );
}

#[tokio::test]
async fn a_token_is_created_once_reused_and_checked() {
    let mut settings = test_settings();
    settings.balance.token_ttl_secs = 600;
    let mut balance = Balance::start_with(settings).await;
    balance
        .client
        .register_chatting_server_instance(server("chat", "8090"))
        .await
        .unwrap();

    let (error, _, token) = balance.allocate(42).await;
    assert_eq!(error, 0);
    assert_eq!(token.len(), 32, "128 bits as hex: {token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let (stored, ttl) = balance.stored_token(42).await;
    assert_eq!(stored.as_deref(), Some(token.as_str()));
    assert!((590..=600).contains(&ttl), "ttl {ttl}");

    assert_eq!(
        balance.allocate(42).await.2,
        token,
        "a stored token is reused"
    );
    assert_ne!(
        balance.allocate(43).await.2,
        token,
        "each user has their own"
    );

    assert_eq!(balance.login(42, &token).await, 0);
    assert_eq!(
        balance.login(42, "0123456789abcdef0123456789abcdef").await,
        13
    );
    assert_eq!(balance.login(7777, &token).await, 14);
}

#[tokio::test]
async fn a_redis_failure_answers_8_not_a_crash() {
    let mut settings = test_settings();
    settings.redis.port = closed_port().await;
    settings.redis.timeout_ms = 500;
    let mut balance = Balance::start_with(settings).await;
    balance
        .client
        .register_chatting_server_instance(server("chat", "8090"))
        .await
        .unwrap();
    assert_eq!(balance.allocate(1).await.0, 8);
    assert_eq!(balance.login(1, "x").await, 8);
}

#[tokio::test]
async fn chat_servers_from_the_settings_are_known_from_the_start() {
    let mut settings = test_settings();
    settings.balance.chat_servers = vec![gateway_server::config::StaticChatServer {
        name: "static-1".into(),
        host: "10.9.8.7".into(),
        port: 8123,
    }];
    let mut balance = Balance::start_with(settings).await;
    let (error, port, _) = balance.allocate(5).await;
    assert_eq!((error, port.as_str()), (0, "8123"));
    let again = balance
        .client
        .register_chatting_server_instance(server("static-1", "1"))
        .await
        .unwrap();
    assert_eq!(again.into_inner().error, 7);
}
