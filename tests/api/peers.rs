//! In-test gRPC servers that behave like the ORIGINAL peer services: the
//! Node.js verification service (code stored at key = e-mail with a 180 s
//! TTL; answers 0, 1 on Redis failure, 2 on any other failure) and the
//! balance service (`AddNewUserToServer`). Their behaviour can be switched
//! per test to a failure mode.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway_server::config::Settings;
use gateway_server::grpc::proto::balancer_service_server::{
    BalancerService, BalancerServiceServer,
};
use gateway_server::grpc::proto::verification_service_server::{
    VerificationService, VerificationServiceServer,
};
use gateway_server::grpc::proto::{
    GetAllocatedChattingServer, GetVerificationRequest, GetVerificationResponse, RegisterToBalancer,
};
use redis::AsyncCommands;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use crate::helpers::redis_url;

/// How a fake peer answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    Normal,
    /// Answers this `error` code instead of doing its work.
    Answer(i32),
    /// Answers nothing for this long (past the gateway's deadline).
    Hang(Duration),
}

async fn listen() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Behaves like the original verification service.
#[derive(Clone)]
pub struct FakeVerification {
    pub port: u16,
    behaviour: Arc<Mutex<Behaviour>>,
    requests: Arc<Mutex<Vec<String>>>,
    locales: Arc<Mutex<Vec<String>>>,
}

struct VerificationPeer {
    behaviour: Arc<Mutex<Behaviour>>,
    requests: Arc<Mutex<Vec<String>>>,
    locales: Arc<Mutex<Vec<String>>>,
    prefix: String,
    redis: redis::Client,
}

impl FakeVerification {
    pub async fn start(settings: &Settings) -> FakeVerification {
        let (listener, port) = listen().await;
        let fake = FakeVerification {
            port,
            behaviour: Arc::new(Mutex::new(Behaviour::Normal)),
            requests: Arc::default(),
            locales: Arc::default(),
        };
        let peer = VerificationPeer {
            behaviour: Arc::clone(&fake.behaviour),
            requests: Arc::clone(&fake.requests),
            locales: Arc::clone(&fake.locales),
            prefix: settings.redis.key_prefix.clone(),
            redis: redis::Client::open(redis_url().as_str()).unwrap(),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(VerificationServiceServer::new(peer))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        fake
    }

    pub fn behave(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// The e-mail addresses the service was asked for, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The `locale` field of each request, in order (empty: none sent).
    pub fn locales(&self) -> Vec<String> {
        self.locales.lock().unwrap().clone()
    }
}

/// A code that cannot be mistaken for anything else in a log.
fn new_code() -> String {
    format!("vc{:08x}", rand::random::<u32>())
}

#[tonic::async_trait]
impl VerificationService for VerificationPeer {
    async fn get_verification_code(
        &self,
        request: Request<GetVerificationRequest>,
    ) -> Result<Response<GetVerificationResponse>, Status> {
        let GetVerificationRequest { email, locale } = request.into_inner();
        self.requests.lock().unwrap().push(email.clone());
        self.locales.lock().unwrap().push(locale);
        let behaviour = *self.behaviour.lock().unwrap();
        let error = match behaviour {
            Behaviour::Answer(code) => code,
            Behaviour::Hang(delay) => {
                tokio::time::sleep(delay).await;
                0
            }
            Behaviour::Normal => {
                let key = format!("{}{email}", self.prefix);
                let stored: redis::RedisResult<()> = async {
                    let mut redis = self.redis.get_multiplexed_async_connection().await?;
                    redis.set_ex(key, new_code(), 180).await
                }
                .await;
                if stored.is_ok() { 0 } else { 1 }
            }
        };
        Ok(Response::new(GetVerificationResponse {
            error,
            email,
            message: String::new(),
        }))
    }
}

/// Behaves like the original balance service for `AddNewUserToServer`.
#[derive(Clone)]
pub struct FakeBalancer {
    pub port: u16,
    behaviour: Arc<Mutex<Behaviour>>,
    allocations: Arc<AtomicUsize>,
}

struct BalancerPeer {
    behaviour: Arc<Mutex<Behaviour>>,
    allocations: Arc<AtomicUsize>,
}

/// The chat server the fake balancer hands out.
pub const CHAT_HOST: &str = "10.1.2.3";
pub const CHAT_PORT: &str = "8090";

pub fn token_for(uuid: i32) -> String {
    format!(
        "tok{uuid:04}{:08x}",
        uuid.wrapping_mul(2_654_435_761_u32 as i32)
    )
}

impl FakeBalancer {
    pub async fn start() -> FakeBalancer {
        let (listener, port) = listen().await;
        let behaviour = Arc::new(Mutex::new(Behaviour::Normal));
        let allocations = Arc::new(AtomicUsize::new(0));
        let peer = BalancerPeer {
            behaviour: Arc::clone(&behaviour),
            allocations: Arc::clone(&allocations),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(BalancerServiceServer::new(peer))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        FakeBalancer {
            port,
            behaviour,
            allocations,
        }
    }

    /// How many `AddNewUserToServer` calls arrived so far.
    pub fn allocations(&self) -> usize {
        self.allocations.load(Ordering::SeqCst)
    }

    pub fn behave(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

#[tonic::async_trait]
impl BalancerService for BalancerPeer {
    async fn add_new_user_to_server(
        &self,
        request: Request<RegisterToBalancer>,
    ) -> Result<Response<GetAllocatedChattingServer>, Status> {
        let uuid = request.into_inner().uuid;
        self.allocations.fetch_add(1, Ordering::SeqCst);
        let behaviour = *self.behaviour.lock().unwrap();
        let reply = match behaviour {
            Behaviour::Answer(error) => GetAllocatedChattingServer {
                error,
                ..Default::default()
            },
            Behaviour::Hang(delay) => {
                tokio::time::sleep(delay).await;
                GetAllocatedChattingServer::default()
            }
            Behaviour::Normal => GetAllocatedChattingServer {
                error: 0,
                host: CHAT_HOST.into(),
                port: CHAT_PORT.into(),
                token: token_for(uuid),
            },
        };
        Ok(Response::new(reply))
    }
}

/// A local port on which nothing listens, and nothing will: the port stays
/// bound (without listening) for the rest of the test run, so a parallel
/// test cannot pick it up, and connections to it are refused.
pub async fn closed_port() -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("a free port");
    let port = socket.local_addr().expect("its address").port();
    // Held until the test binary exits.
    std::mem::forget(socket);
    port
}
