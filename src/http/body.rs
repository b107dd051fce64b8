//! The body of a JSON request, read within limits of size and time.
//!
//! actix-web's `client_request_timeout` bounds only the request head; a body
//! trickled at one byte a second would hold its connection (and a worker's
//! attention) for as long as the client likes. Here the body must be whole
//! within `http.client_request_timeout_ms` of its head, or the client is
//! answered 408 and the connection closed; a body over
//! `http.max_body_bytes` is refused with 413, before it is read when its
//! length is announced.

use std::ops::Deref;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::{Bytes, BytesMut, Data};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use utoipa::IntoResponses;

use crate::config::HttpSettings;

/// Size and time allowed to one request body.
#[derive(Debug, Clone, Copy)]
pub struct BodyRules {
    pub max_bytes: usize,
    pub deadline: Duration,
}

impl From<&HttpSettings> for BodyRules {
    fn from(http: &HttpSettings) -> Self {
        Self {
            max_bytes: http.max_body_bytes,
            deadline: Duration::from_millis(http.client_request_timeout_ms),
        }
    }
}

/// A whole request body.
pub struct RequestBody(Bytes);

impl Deref for RequestBody {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    #[error("request body not complete within {0:?}")]
    TimedOut(Duration),
    #[error("request body unreadable: {0}")]
    Unreadable(actix_web::error::PayloadError),
}

impl ResponseError for BodyError {
    fn status_code(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Unreadable(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        log::debug!("{self}");
        let mut response = HttpResponse::build(self.status_code());
        // The rest of the body may still be on its way: the connection
        // cannot carry another request.
        response.force_close();
        response
            .content_type("text/plain; charset=utf-8")
            .body(format!("{self}\n"))
    }
}

impl FromRequest for RequestBody {
    type Error = BodyError;
    type Future = LocalBoxFuture<'static, Result<RequestBody, BodyError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let rules = request.app_data::<Data<BodyRules>>().map_or_else(
            || BodyRules::from(&HttpSettings::default()),
            |rules| *rules.get_ref(),
        );
        let announced = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if announced.is_some_and(|length| length > rules.max_bytes) {
                return Err(BodyError::TooLarge(rules.max_bytes));
            }
            let deadline = tokio::time::Instant::now() + rules.deadline;
            let mut body = BytesMut::new();
            loop {
                match tokio::time::timeout_at(deadline, payload.next()).await {
                    Err(_) => return Err(BodyError::TimedOut(rules.deadline)),
                    Ok(None) => return Ok(RequestBody(body.freeze())),
                    Ok(Some(Err(error))) => return Err(BodyError::Unreadable(error)),
                    Ok(Some(Ok(chunk))) => {
                        if body.len() + chunk.len() > rules.max_bytes {
                            return Err(BodyError::TooLarge(rules.max_bytes));
                        }
                        body.extend_from_slice(&chunk);
                    }
                }
            }
        })
    }
}

/// The answers of the body limits, for the OpenAPI document.
#[derive(IntoResponses)]
pub enum BodyRefused {
    /// The body is larger than `http.max_body_bytes`.
    #[response(status = 413, content_type = "text/plain")]
    TooLarge(String),
    /// The body did not arrive within `http.client_request_timeout_ms`.
    #[response(status = 408, content_type = "text/plain")]
    TooSlow(String),
    /// The body could not be read: it broke off, or its length header is
    /// not a number. (A broken chunked framing closes the connection
    /// without an answer: actix-web's own HTTP/1 parser.)
    #[response(status = 400)]
    Unreadable,
}
