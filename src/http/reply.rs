//! The one JSON shape every answer of the five endpoints has: `error` plus
//! whichever fields the endpoint returns. `uuid` and `port` are strings,
//! because the old client reads them with `toString()`.

use actix_web::body::BoxBody;
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::metrics::{Backend, Outcome};
use crate::status::Status;

/// The answer of every endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reply {
    pub error: Status,
    /// The account's name (registration, account check).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub username: Option<String>,
    /// The account's address (code request, registration, account check).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    /// The account's number, as a string (registration, login).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "1")]
    pub uuid: Option<String>,
    /// The chat server to connect to (login).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub host: Option<String>,
    /// The chat server's port, as a string (login).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "8090")]
    pub port: Option<String>,
    /// The user's token for that chat server (login).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token: Option<String>,
}

impl Reply {
    pub fn with_status(error: Status) -> Reply {
        Reply {
            error,
            username: None,
            email: None,
            uuid: None,
            host: None,
            port: None,
            token: None,
        }
    }

    pub fn success() -> Reply {
        Reply::with_status(Status::Success)
    }

    pub fn username(mut self, username: impl Into<String>) -> Reply {
        self.username = Some(username.into());
        self
    }

    pub fn email(mut self, email: impl Into<String>) -> Reply {
        self.email = Some(email.into());
        self
    }

    pub fn uuid(mut self, uuid: i32) -> Reply {
        self.uuid = Some(uuid.to_string());
        self
    }

    pub fn chat_server(mut self, host: String, port: String, token: String) -> Reply {
        self.host = Some(host);
        self.port = Some(port);
        self.token = Some(token);
        self
    }

    pub fn into_response(self) -> HttpResponse {
        self.into_response_from(None)
    }

    /// The answer, marked with its outcome for the request metrics.
    pub fn into_response_from(self, backend: Option<Backend>) -> HttpResponse {
        let outcome = Outcome {
            status: self.error,
            backend,
        };
        // Application errors travel as 200 + `error`: the desktop client
        // treats any other status as a network failure.
        let mut response = HttpResponse::Ok().json(self);
        response.extensions_mut().insert(outcome);
        response
    }
}

impl Responder for Reply {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        self.into_response()
    }
}
