//! Optional TLS (rustls, through tonic) for the gRPC services and the
//! gateway's channels to them: `grpc.tls_cert` + `grpc.tls_key` make the
//! services serve TLS only; `grpc.tls_ca` makes the gateway speak TLS and
//! trust that CA (and `grpc.tls_domain` names the certificates' host name
//! when it is not the configured host).

use std::path::Path;

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::config::GrpcSettings;

#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct TlsError {
    path: String,
    source: std::io::Error,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError {
        path: path.display().to_string(),
        source,
    })
}

/// The services' TLS, when a certificate and key are configured.
pub fn server_config(settings: &GrpcSettings) -> Result<Option<ServerTlsConfig>, TlsError> {
    let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) else {
        return Ok(None);
    };
    let identity = Identity::from_pem(read(cert)?, read(key)?);
    Ok(Some(ServerTlsConfig::new().identity(identity)))
}

/// The gateway's TLS towards its peers, when a CA is configured.
pub fn client_config(settings: &GrpcSettings) -> Result<Option<ClientTlsConfig>, TlsError> {
    let Some(ca) = &settings.tls_ca else {
        return Ok(None);
    };
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
    if let Some(domain) = &settings.tls_domain {
        config = config.domain_name(domain.clone());
    }
    Ok(Some(config))
}
