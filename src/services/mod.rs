//! The companion gRPC services, interchangeable with the original ones (same
//! package `message`, same Redis keys, same status codes):
//!
//! * [`verification`]: issues codes, stores them in Redis, mails them;
//! * [`balance`]: registries of chat servers, least-loaded choice, tokens.

pub mod balance;
pub mod verification;

use std::future::Future;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};

use crate::config::GrpcSettings;
use crate::grpc::auth::BearerCheck;
use crate::grpc::tls;

/// What guards a service: the bearer token every call must carry
/// (`grpc.auth_token`) and TLS (`grpc.tls_cert`, `grpc.tls_key`).
#[derive(Clone, Default)]
pub struct ServiceGuard {
    check: BearerCheck,
    tls: Option<ServerTlsConfig>,
}

impl ServiceGuard {
    pub fn new(settings: &GrpcSettings) -> Result<ServiceGuard, ServiceError> {
        Ok(ServiceGuard {
            check: BearerCheck::new(&settings.auth_token),
            tls: tls::server_config(settings)?,
        })
    }
}

/// Binds a gRPC listener; port 0 asks the OS for a free one.
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, ServiceError> {
    TcpListener::bind((host, port))
        .await
        .map_err(|source| ServiceError::Bind {
            address: format!("{host}:{port}"),
            source,
        })
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("invalid Redis settings: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("mail settings: {0}")]
    Mail(#[from] verification::mailer::MailError),
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("gRPC TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

/// Serves the verification service on `listener` until `shutdown` resolves.
pub async fn serve_verification(
    service: verification::VerificationServer,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let guard = service.guard().clone();
    let routes = Routes::new(InterceptedService::new(service.into_service(), guard.check));
    serve("verification", routes, guard.tls, listener, shutdown).await
}

/// Serves the balance service on `listener` until `shutdown` resolves.
pub async fn serve_balance(
    service: balance::BalanceServer,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let guard = service.guard().clone();
    let routes = Routes::new(InterceptedService::new(service.into_service(), guard.check));
    serve("balance", routes, guard.tls, listener, shutdown).await
}

async fn serve(
    name: &str,
    routes: Routes,
    tls: Option<ServerTlsConfig>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    log_listening(name, &listener);
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .add_routes(routes)
        // Accepted connections answer without Nagle's algorithm: a reply's
        // HTTP/2 frames must not wait for the client's delayed ACK.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await?;
    Ok(())
}

fn log_listening(name: &str, listener: &TcpListener) {
    match listener.local_addr() {
        Ok(address) => log::info!("{name} service listening on {address}"),
        Err(error) => log::warn!("{name} service listening, address unknown: {error}"),
    }
}
