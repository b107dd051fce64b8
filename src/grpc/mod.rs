//! The gRPC contract (`proto/message.proto`) and channels to the peers.

use tonic::transport::{Channel, Endpoint};

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

/// A channel that connects on first use and reconnects by itself, so the
/// gateway starts while a peer is down. Every call is bounded by
/// `grpc.timeout_ms` (tonic's own examples set no deadline at all).
pub fn lazy_channel(
    uri: String,
    settings: &GrpcSettings,
) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(uri)?
        .connect_timeout(settings.connect_timeout())
        .timeout(settings.timeout())
        .tcp_nodelay(true)
        .connect_lazy())
}
