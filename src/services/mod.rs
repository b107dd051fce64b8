//! The companion gRPC services, interchangeable with the original ones (same
//! package `message`, same Redis keys, same status codes):
//!
//! * [`verification`]: issues codes, stores them in Redis, mails them;
//! * [`balance`]: registries of chat servers, least-loaded choice, tokens.

pub mod balance;
pub mod verification;

use std::future::Future;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic::transport::Server;

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
}

/// Serves the verification service on `listener` until `shutdown` resolves.
pub async fn serve_verification(
    service: verification::VerificationServer,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let routes = Routes::new(service.into_service());
    serve("verification", routes, listener, shutdown).await
}

/// Serves the balance service on `listener` until `shutdown` resolves.
pub async fn serve_balance(
    service: balance::BalanceServer,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let routes = Routes::new(service.into_service());
    serve("balance", routes, listener, shutdown).await
}

async fn serve(
    name: &str,
    routes: Routes,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    log_listening(name, &listener);
    Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

fn log_listening(name: &str, listener: &TcpListener) {
    match listener.local_addr() {
        Ok(address) => log::info!("{name} service listening on {address}"),
        Err(error) => log::warn!("{name} service listening, address unknown: {error}"),
    }
}
