//! `message.BalancerService`, with the behaviour of the original balance
//! service (docs/PROTOCOL.md §2): chat-server and gRPC-server registries by name,
//! the least-loaded chat server from hash `redis_server`, and user tokens at
//! `user_token_<uuid>`. Unlike the original, the registries live in Redis
//! (any number of replicas, nothing lost on a restart) and only servers that
//! answer their probes are handed out.

pub mod prober;
pub mod registry;

use std::sync::LazyLock;
use std::time::Duration;

use redis::{AsyncCommands, Script};
use subtle::ConstantTimeEq;
use tonic::{Request, Response};

use self::prober::Prober;
use self::registry::{Kind, Registration, Registry, ServerAddress, least_loaded};
use crate::config::Settings;
use crate::grpc::proto::balancer_service_server::{BalancerService, BalancerServiceServer};
use crate::grpc::proto::{
    GetAllocatedChattingServer, GrpcRegisterRequest, GrpcShutdownRequest, GrpcStatusResponse,
    LoginChattingResponse, LoginChattingServer, PeerListsRequest, PeerResponse, RegisterToBalancer,
    ServerInfo,
};
use crate::kv::{self, RedisPool, StoreError, keys, with_connection};
use crate::status::Status;

type GrpcResult<T> = Result<Response<T>, tonic::Status>;

/// The stored token, or ARGV[1] stored as the new one; either way its
/// lifetime starts again (ARGV[2] seconds).
static TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local token = redis.call('GET', KEYS[1])
        if not token then token = ARGV[1] end
        redis.call('SET', KEYS[1], token, 'EX', tonumber(ARGV[2]))
        return token
        ",
    )
});

pub struct BalanceServer {
    guard: super::ServiceGuard,
    chat_servers: Registry,
    grpc_servers: Registry,
    /// Chat servers from `balance.chat_servers`, registered when serving
    /// starts.
    listed: Vec<(String, ServerAddress)>,
    redis: RedisPool,
    key_prefix: String,
    redis_timeout: Duration,
    token_ttl: Duration,
    probe_interval: Duration,
    up: prometheus::IntGaugeVec,
}

/// 128 random bits from the thread's CSPRNG, as hex.
fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn status_reply(status: Status) -> GrpcResult<GrpcStatusResponse> {
    Ok(Response::new(GrpcStatusResponse {
        error: status.code(),
    }))
}

impl BalanceServer {
    pub fn new(settings: &Settings) -> Result<Self, super::ServiceError> {
        let redis = kv::build_pool(&settings.redis)?;
        let registry = |kind| {
            Registry::new(
                kind,
                redis.clone(),
                &settings.redis.key_prefix,
                settings.redis.timeout(),
                settings.balance.probe_failures,
                // A restarted server registers again after at least a
                // second, one probe interval when probing.
                settings
                    .balance
                    .probe_interval()
                    .max(Duration::from_secs(1)),
            )
        };
        let mut listed: Vec<(String, ServerAddress)> = Vec::new();
        for server in &settings.balance.chat_servers {
            let info = ServerInfo {
                name: server.name.clone(),
                host: server.host.clone(),
                port: server.port.to_string(),
            };
            if !is_acceptable(&info) {
                return Err(super::ServiceError::Settings(format!(
                    "balance.chat_servers: {:?} at {}:{} is not a name, host and port a chat server could register",
                    server.name, server.host, server.port
                )));
            }
            if listed.iter().any(|(name, _)| *name == info.name) {
                log::warn!(
                    "chat server {:?} is listed twice; the first entry counts",
                    info.name
                );
                continue;
            }
            let address = ServerAddress {
                host: info.host,
                port: info.port,
            };
            listed.push((info.name, address));
        }
        Ok(Self {
            guard: super::ServiceGuard::new(&settings.grpc)?,
            chat_servers: registry(Kind::Chat),
            grpc_servers: registry(Kind::Grpc),
            listed,
            redis: redis.clone(),
            key_prefix: settings.redis.key_prefix.clone(),
            redis_timeout: settings.redis.timeout(),
            token_ttl: Duration::from_secs(settings.balance.token_ttl_secs),
            probe_interval: settings.balance.probe_interval(),
            up: prober::up_gauge().expect("a valid gauge"),
        })
    }

    /// The `balance_server_up` gauge, for a metrics registry.
    pub fn up_gauge(&self) -> prometheus::IntGaugeVec {
        self.up.clone()
    }

    /// Registers the listed chat servers and starts probing, which also
    /// registers them again when the registry is gone (Redis lost its
    /// data, say). Runs until the returned handle is dropped or aborted.
    /// With `balance.probe_interval_secs = 0` nothing is probed and every
    /// registered server counts as up.
    pub async fn start_probing(&self) -> tokio::task::JoinHandle<()> {
        let prober = Prober::new(
            vec![self.chat_servers.clone(), self.grpc_servers.clone()],
            self.listed.clone(),
            self.redis.clone(),
            &self.key_prefix,
            self.probe_interval,
            self.up.clone(),
        );
        // Before serving, so that the first login finds them.
        prober.register_listed().await;
        if self.probe_interval.is_zero() {
            log::warn!("balance.probe_interval_secs = 0: chat servers are not probed");
            return tokio::spawn(async {});
        }
        tokio::spawn(prober.run())
    }

    pub fn guard(&self) -> &super::ServiceGuard {
        &self.guard
    }

    pub fn into_service(self) -> BalancerServiceServer<Self> {
        BalancerServiceServer::new(self)
    }

    async fn token_for(&self, uuid: i32) -> Result<String, StoreError> {
        let key = keys::user_token(&self.key_prefix, uuid);
        let (candidate, ttl) = (new_token(), self.token_ttl.as_secs());
        with_connection(
            &self.redis,
            self.redis_timeout,
            |mut connection| async move {
                TOKEN
                    .key(key)
                    .arg(candidate)
                    .arg(ttl)
                    .invoke_async(&mut connection)
                    .await
            },
        )
        .await
    }

    async fn stored_token(&self, uuid: i32) -> Result<Option<String>, StoreError> {
        let key = keys::user_token(&self.key_prefix, uuid);
        with_connection(
            &self.redis,
            self.redis_timeout,
            |mut connection| async move { connection.get(key).await },
        )
        .await
    }

    async fn allocate(&self, uuid: i32) -> Result<GetAllocatedChattingServer, Status> {
        if uuid <= 0 {
            return Err(Status::InputInvalid);
        }
        let (servers, counts) =
            self.chat_servers
                .servers_and_login_counts()
                .await
                .map_err(|error| {
                    log::error!("chat servers and login counts unavailable: {error}");
                    Status::RedisUnknownError
                })?;
        let up = servers.iter().filter(|server| server.up);
        let chosen = least_loaded(up, |name| counts.get(name)?.trim().parse().ok())
            .ok_or(Status::ChattingServerNotExists)?;
        let address = chosen.address.clone();
        let token = self.token_for(uuid).await.map_err(|error| {
            log::error!("token of user {uuid} unavailable: {error}");
            Status::RedisUnknownError
        })?;
        Ok(GetAllocatedChattingServer {
            error: Status::Success.code(),
            host: address.host,
            port: address.port,
            token,
        })
    }

    async fn register(registry: &Registry, request: GrpcRegisterRequest, taken: Status) -> Status {
        let Some(info) = request.info.filter(is_acceptable) else {
            return Status::InputInvalid;
        };
        let address = ServerAddress {
            host: info.host,
            port: info.port,
        };
        let kind = registry.kind().label();
        match registry.register(&info.name, &address).await {
            Ok(Registration::Added) => {
                log::info!(
                    "{kind} server {:?} registered at {}:{}",
                    info.name,
                    address.host,
                    address.port
                );
                Status::Success
            }
            Ok(Registration::Taken) => taken,
            Ok(Registration::Full) => {
                log::warn!("{kind} server registry full; {:?} refused", info.name);
                Status::InputInvalid
            }
            Err(error) => {
                log::error!("{kind} server {:?} not registered: {error}", info.name);
                Status::RedisUnknownError
            }
        }
    }

    async fn remove(registry: &Registry, request: GrpcShutdownRequest, unknown: Status) -> Status {
        let kind = registry.kind().label();
        match registry.remove(&request.cur_server).await {
            Ok(true) => {
                log::info!("{kind} server {:?} removed", request.cur_server);
                Status::Success
            }
            Ok(false) => unknown,
            Err(error) => {
                log::error!(
                    "{kind} server {:?} not removed: {error}",
                    request.cur_server
                );
                Status::RedisUnknownError
            }
        }
    }

    /// The servers other than `cur_server`, those that answer their probes
    /// first; `unknown` and an empty list when `cur_server` is not
    /// registered, as the original service answers.
    async fn peers(
        registry: &Registry,
        request: PeerListsRequest,
        unknown: Status,
    ) -> PeerResponse {
        let failed = |status: Status| PeerResponse {
            error: status.code(),
            lists: Vec::new(),
        };
        let servers = match registry.servers().await {
            Ok(servers) => servers,
            Err(error) => {
                log::error!("{} servers unavailable: {error}", registry.kind().label());
                return failed(Status::RedisUnknownError);
            }
        };
        if !servers
            .iter()
            .any(|server| server.name == request.cur_server)
        {
            return failed(unknown);
        }
        let lists = servers
            .into_iter()
            .filter(|server| server.name != request.cur_server)
            .map(|server| ServerInfo {
                name: server.name,
                host: server.address.host,
                port: server.address.port,
            })
            .collect();
        PeerResponse {
            error: Status::Success.code(),
            lists,
        }
    }
}

/// Bounds on what a caller may register: a name of 1 to 64 characters
/// without control characters; a host that is an IP address or a DNS name
/// (letters, digits, `-`, `_` and `.`, at most 253: what the probes look
/// up); a port 1 to 65535 in plain digits.
fn is_acceptable(info: &ServerInfo) -> bool {
    let name_ok = !info.name.trim().is_empty()
        && info.name.chars().count() <= 64
        && !info.name.chars().any(char::is_control);
    let host = &info.host;
    let dns_name = (1..=253).contains(&host.len())
        && !host.starts_with(['-', '.'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let host_ok = dns_name || host.parse::<std::net::IpAddr>().is_ok();
    let port_ok = !info.port.is_empty()
        && info.port.bytes().all(|b| b.is_ascii_digit())
        && info.port.parse::<u16>().is_ok_and(|port| port >= 1);
    name_ok && host_ok && port_ok
}

#[tonic::async_trait]
impl BalancerService for BalanceServer {
    async fn add_new_user_to_server(
        &self,
        request: Request<RegisterToBalancer>,
    ) -> GrpcResult<GetAllocatedChattingServer> {
        let uuid = request.into_inner().uuid;
        let reply = self
            .allocate(uuid)
            .await
            .unwrap_or_else(|status| GetAllocatedChattingServer {
                error: status.code(),
                ..Default::default()
            });
        Ok(Response::new(reply))
    }

    async fn user_login_to_server(
        &self,
        request: Request<LoginChattingServer>,
    ) -> GrpcResult<LoginChattingResponse> {
        let LoginChattingServer { uuid, token } = request.into_inner();
        let status = match self.stored_token(uuid).await {
            Ok(Some(stored)) if bool::from(stored.as_bytes().ct_eq(token.as_bytes())) => {
                Status::Success
            }
            Ok(Some(_)) => Status::LoginInfoError,
            Ok(None) => Status::LoginUnsuccessful,
            Err(error) => {
                log::error!("token of user {uuid} unavailable: {error}");
                Status::RedisUnknownError
            }
        };
        Ok(Response::new(LoginChattingResponse {
            error: status.code(),
        }))
    }

    async fn register_chatting_server_instance(
        &self,
        request: Request<GrpcRegisterRequest>,
    ) -> GrpcResult<GrpcStatusResponse> {
        let taken = Status::ChattingServerAlreadyExists;
        status_reply(Self::register(&self.chat_servers, request.into_inner(), taken).await)
    }

    async fn register_chatting_grpc_server(
        &self,
        request: Request<GrpcRegisterRequest>,
    ) -> GrpcResult<GrpcStatusResponse> {
        let taken = Status::GrpcServerAlreadyExists;
        status_reply(Self::register(&self.grpc_servers, request.into_inner(), taken).await)
    }

    async fn chatting_server_shut_down(
        &self,
        request: Request<GrpcShutdownRequest>,
    ) -> GrpcResult<GrpcStatusResponse> {
        let unknown = Status::ChattingServerNotExists;
        status_reply(Self::remove(&self.chat_servers, request.into_inner(), unknown).await)
    }

    async fn chatting_grpc_server_shut_down(
        &self,
        request: Request<GrpcShutdownRequest>,
    ) -> GrpcResult<GrpcStatusResponse> {
        let unknown = Status::GrpcServerNotExists;
        status_reply(Self::remove(&self.grpc_servers, request.into_inner(), unknown).await)
    }

    async fn get_peer_chatting_server_info(
        &self,
        request: Request<PeerListsRequest>,
    ) -> GrpcResult<PeerResponse> {
        let unknown = Status::ChattingServerNotExists;
        Ok(Response::new(
            Self::peers(&self.chat_servers, request.into_inner(), unknown).await,
        ))
    }

    async fn get_peer_grpc_server_info(
        &self,
        request: Request<PeerListsRequest>,
    ) -> GrpcResult<PeerResponse> {
        let unknown = Status::GrpcServerNotExists;
        Ok(Response::new(
            Self::peers(&self.grpc_servers, request.into_inner(), unknown).await,
        ))
    }
}
