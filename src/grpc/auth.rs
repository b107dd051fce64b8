//! The shared secret of the gRPC services (`grpc.auth_token`): the services
//! refuse a call without `authorization: Bearer <token>` (UNAUTHENTICATED),
//! and the gateway's channels send it. Empty: off, so old peers that send
//! nothing keep working.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

const AUTHORIZATION: &str = "authorization";

fn bearer(token: &SecretString) -> Option<String> {
    let token = token.expose_secret();
    (!token.is_empty()).then(|| format!("Bearer {token}"))
}

/// Server side: lets a call through only with the right bearer token
/// (compared in constant time), when a token is configured.
#[derive(Clone, Default)]
pub struct BearerCheck {
    expected: Option<Arc<str>>,
}

impl BearerCheck {
    pub fn new(token: &SecretString) -> BearerCheck {
        BearerCheck {
            expected: bearer(token).map(Arc::from),
        }
    }
}

impl Interceptor for BearerCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get(AUTHORIZATION)
            .map(|value| value.as_bytes())
            .unwrap_or_default();
        if bool::from(presented.ct_eq(expected.as_bytes())) {
            Ok(request)
        } else {
            Err(Status::unauthenticated("missing or wrong bearer token"))
        }
    }
}

/// Client side: adds the bearer token to every call, when one is configured.
#[derive(Clone, Default)]
pub struct BearerToken {
    header: Option<MetadataValue<Ascii>>,
}

#[derive(Debug, thiserror::Error)]
#[error("grpc.auth_token must be printable ASCII")]
pub struct UnusableToken;

impl BearerToken {
    pub fn new(token: &SecretString) -> Result<BearerToken, UnusableToken> {
        let header = bearer(token)
            .map(|value| value.parse::<MetadataValue<Ascii>>())
            .transpose()
            .map_err(|_| UnusableToken)?;
        Ok(BearerToken { header })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.header {
            let mut header = header.clone();
            header.set_sensitive(true);
            request.metadata_mut().insert(AUTHORIZATION, header);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_with(header: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(header) = header {
            request
                .metadata_mut()
                .insert(AUTHORIZATION, header.parse().unwrap());
        }
        request
    }

    #[test]
    fn a_set_token_is_required_and_an_empty_one_is_off() {
        let mut check = BearerCheck::new(&"s3cret".to_owned().into());
        assert!(check.call(call_with(Some("Bearer s3cret"))).is_ok());
        for wrong in [
            None,
            Some("Bearer s3cre"),
            Some("bearer s3cret"),
            Some("s3cret"),
        ] {
            let refused = check.call(call_with(wrong)).unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{wrong:?}");
        }
        let mut off = BearerCheck::new(&String::new().into());
        assert!(off.call(call_with(None)).is_ok());
    }

    #[test]
    fn the_client_sends_what_the_server_expects() {
        let token: SecretString = "s3cret".to_owned().into();
        let mut client = BearerToken::new(&token).unwrap();
        let sent = client.call(Request::new(())).unwrap();
        assert!(BearerCheck::new(&token).call(sent).is_ok());
        assert!(BearerToken::new(&"bad\ntoken".to_owned().into()).is_err());
    }
}
