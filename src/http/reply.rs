//! The JSON answers of the endpoints (docs/PROTOCOL.md §1): always HTTP
//! 200 with an integer `error`. A success (`error` 0) carries exactly its
//! endpoint's fields; a failure carries `error` and a `message` for people. `uuid` and `port` are
//! strings, because the old client reads them with `toString()`.

use actix_web::body::BoxBody;
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use crate::metrics::{Backend, Outcome};
use crate::status::Status;

/// `/get_verification`: a code is on its way to this address (mailed now,
/// or moments ago, inside the resend cooldown).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeSent {
    pub error: Succeeded,
    /// The address as the code was issued for (its canonical form).
    #[schema(example = "alice@example.com")]
    pub email: String,
    /// Seconds until a new code can be sent to this address (the resend
    /// cooldown), when one runs. Asking again sooner answers 0 again, with
    /// no new code and no new mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 60, minimum = 1)]
    pub retry_after_secs: Option<u64>,
}

/// `/post_registration`: the new account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registered {
    pub error: Succeeded,
    #[schema(example = "alice")]
    pub username: String,
    #[schema(example = "alice@example.com")]
    pub email: String,
    /// The account's number, as a string.
    #[schema(example = "1")]
    pub uuid: String,
}

/// `/check_accountexists`: one account has this name and address.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountFound {
    pub error: Succeeded,
    #[schema(example = "alice")]
    pub username: String,
    #[schema(example = "alice@example.com")]
    pub email: String,
}

/// `/reset_password`: the new password is set.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordSet {
    pub error: Succeeded,
}

/// `/pending_reset`: the link is good; whose password it sets, and for how
/// long it stays usable.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PendingResetFound {
    pub error: Succeeded,
    #[schema(example = "alice")]
    pub username: String,
    #[schema(example = 840, minimum = 1)]
    pub expires_in_secs: u64,
}

/// `/confirm_reset`: the new password is set.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmed {
    pub error: Succeeded,
    #[schema(example = "alice")]
    pub username: String,
}

/// `/trylogin_server`: where the user is to connect, and with what.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatServerAssigned {
    pub error: Succeeded,
    /// The account's number, as a string.
    #[schema(example = "1")]
    pub uuid: String,
    /// The chat server to connect to.
    #[schema(example = "127.0.0.1")]
    pub host: String,
    /// The chat server's port, as a string.
    #[schema(example = "8090")]
    pub port: String,
    /// The user's token for that chat server.
    pub token: String,
}

/// Any endpoint's failure: the status code, and a sentence for people.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Failed {
    #[schema(schema_with = failure_status)]
    pub error: Status,
    /// What went wrong and what to do, in English or Simplified Chinese
    /// (the request's `Accept-Language`). Old clients ignore it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Wrong username or password.")]
    pub message: Option<String>,
}

/// What an endpoint answers with HTTP 200, as the OpenAPI document says it:
/// its success, or a failure. Neither allows other fields, and their
/// `error` values do not overlap, so exactly one matches a right answer.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Answered<T> {
    Success(T),
    Failure(Failed),
}

/// The `error` of a success: 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct Succeeded;

impl Serialize for Succeeded {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Status::Success.serialize(serializer)
    }
}

impl utoipa::PartialSchema for Succeeded {
    fn schema() -> RefOr<Schema> {
        integer(
            vec![Status::Success.code()],
            "0: the request succeeded.".into(),
        )
    }
}

impl utoipa::ToSchema for Succeeded {}

/// The `error` of a failure: any code but 0.
fn failure_status() -> RefOr<Schema> {
    let failures = Status::ALL
        .iter()
        .filter(|status| **status != Status::Success);
    let names: Vec<String> = failures
        .clone()
        .map(|status| format!("{} {}", status.code(), status.wire_name()))
        .collect();
    integer(
        failures.map(|status| status.code()).collect(),
        format!(
            "Why the request failed (docs/PROTOCOL.md §3): {}.",
            names.join(", ")
        ),
    )
}

fn integer(values: Vec<i32>, description: String) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

/// A success answer, as handlers return it.
pub struct Answer<T>(pub T);

impl<T: Serialize> Responder for Answer<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        respond(&self.0, Status::Success, None)
    }
}

impl Failed {
    /// The answer, marked with its outcome for the request metrics.
    pub fn into_response(self, backend: Option<Backend>) -> HttpResponse {
        respond(&self, self.error, backend)
    }
}

fn respond(body: &impl Serialize, status: Status, backend: Option<Backend>) -> HttpResponse {
    // Application errors travel as 200 + `error`: the desktop client
    // treats any other status as a network failure.
    let mut response = HttpResponse::Ok().json(body);
    response
        .extensions_mut()
        .insert(Outcome { status, backend });
    response
}

/// What an unknown path is answered: plain text, 404.
pub fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("not found\n")
}
