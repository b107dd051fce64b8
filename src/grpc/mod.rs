//! The gRPC contract (`proto/message.proto`), channels to the peers, and
//! what guards the services: the bearer token and TLS.

pub mod auth;
pub mod tls;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use self::auth::{BearerToken, UnusableToken};
use crate::config::GrpcSettings;

/// Generated from `proto/message.proto` (package `message`).
pub mod proto {
    tonic::include_proto!("message");
}

/// `GetVerificationResponse.error` as the original verification service
/// numbers it (its own numbering, not the gateway's status codes).
pub mod verification_error {
    pub const OK: i32 = 0;
    /// Its Redis failed.
    pub const REDIS_FAILED: i32 = 1;
    /// Anything else, e.g. the mail could not be sent.
    pub const NOT_SENT: i32 = 2;
    /// Our service only: a code was sent to this address moments ago
    /// (`verification.resend_cooldown_secs`); the gateway answers 27.
    pub const TOO_SOON: i32 = 27;
}

/// A channel to a peer that sends `grpc.auth_token` with every call.
pub type PeerChannel = InterceptedService<Channel, BearerToken>;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("invalid peer address: {0}")]
    Address(#[from] tonic::transport::Error),
    #[error(transparent)]
    Token(#[from] UnusableToken),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// A channel that connects on first use and reconnects by itself, so the
/// gateway starts while a peer is down. Every call is bounded by
/// `grpc.timeout_ms` (tonic's own examples set no deadline at all), speaks
/// TLS when `grpc.tls_ca` is set, and carries the bearer token.
pub fn lazy_channel(uri: String, settings: &GrpcSettings) -> Result<PeerChannel, PeerError> {
    let mut endpoint = Endpoint::from_shared(uri)?
        .connect_timeout(settings.connect_timeout())
        .timeout(settings.timeout())
        .tcp_nodelay(true);
    if let Some(tls) = tls::client_config(settings)? {
        endpoint = endpoint.tls_config(tls)?;
    }
    let token = BearerToken::new(&settings.auth_token)?;
    Ok(InterceptedService::new(endpoint.connect_lazy(), token))
}
