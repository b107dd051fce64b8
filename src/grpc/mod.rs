//! The gRPC contract (`proto/message.proto`) and channels to the peers.

use tonic::transport::{Channel, Endpoint};

use crate::config::GrpcSettings;

/// Generated from `proto/message.proto` (package `message`).
pub mod proto {
    tonic::include_proto!("message");
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
