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
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{0}")]
    Settings(String),
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
    // Probing stops when serving does (the handle aborts it on drop).
    let probing = AbortOnDrop(service.start_probing().await);
    let routes = Routes::new(InterceptedService::new(service.into_service(), guard.check));
    let served = serve("balance", routes, guard.tls, listener, shutdown).await;
    drop(probing);
    served
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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

/// `GET /metrics` of a companion service (Prometheus' text format) on a
/// listener of its own; anything else is 404.
pub fn serve_metrics(
    registry: prometheus::Registry,
    listener: std::net::TcpListener,
) -> Result<actix_web::dev::Server, ServiceError> {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let registry = web::Data::new(registry);
    if let Ok(address) = listener.local_addr() {
        log::info!("metrics listening on {address}");
    }
    let server = HttpServer::new(move || {
        App::new().app_data(registry.clone()).route(
            "/metrics",
            web::get().to(|registry: web::Data<prometheus::Registry>| async move {
                match crate::metrics::render(&registry) {
                    Ok((content_type, text)) => {
                        HttpResponse::Ok().content_type(content_type).body(text)
                    }
                    Err(error) => {
                        log::error!("cannot render metrics: {error}");
                        HttpResponse::InternalServerError().finish()
                    }
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(|source| ServiceError::Bind {
        address: "metrics listener".into(),
        source,
    })?;
    Ok(server.run())
}

fn log_listening(name: &str, listener: &TcpListener) {
    match listener.local_addr() {
        Ok(address) => log::info!("{name} service listening on {address}"),
        Err(error) => log::warn!("{name} service listening, address unknown: {error}"),
    }
}
