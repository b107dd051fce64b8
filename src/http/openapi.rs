//! The OpenAPI 3 document of the HTTP API, generated from the handlers'
//! annotations and the request and answer types. Served at
//! `GET /openapi.json`, printed by `gateway-server openapi`, and checked in
//! as `openapi.json` (a test fails when the checked-in copy is stale).

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::{IntoResponses, OpenApi};

use super::reply::Reply;
use super::routes::{account, health, login, metrics, registration, verification};
use crate::status::Status;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gateway-server",
        description = "The HTTP front door of the chat system. The five endpoints take a JSON \
            object (Content-Type `application/json`, `text/json` or none) and always answer HTTP \
            200 with a JSON object whose integer `error` is the protocol status (0 = success); \
            each is limited per client address (status 27 over the limit)."
    ),
    paths(
        verification::get_verification,
        registration::post_registration,
        account::check_account_exists,
        account::reset_password,
        login::try_login_server,
        health::healthz,
        health::readyz,
        metrics::metrics,
        openapi_json,
    ),
    // The answers' schemas: the responses of `EndpointAnswer` only refer
    // to them.
    components(schemas(Reply, Status)),
    tags(
        (name = "accounts", description = "What clients call (docs/PROTOCOL.md §1)"),
        (name = "operations", description = "For load balancers, orchestrators and scrapers")
    )
)]
pub struct ApiDoc;

/// The answers every endpoint can give.
#[derive(IntoResponses)]
pub enum EndpointAnswer {
    /// Every answer, success or failure: `error` tells which. The other
    /// fields come with success only.
    #[response(status = 200)]
    Answer(Reply),
    /// The body is larger than `http.max_body_bytes`.
    #[response(status = 413, content_type = "text/plain")]
    TooLarge(String),
}

/// The document as pretty JSON, built once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut text = ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises");
        text.push('\n');
        text
    })
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document of this API", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_document_is_current() {
        let checked_in = include_str!("../../openapi.json");
        assert!(
            checked_in == document(),
            "openapi.json is stale: run `cargo run -- openapi > openapi.json`"
        );
    }
}
