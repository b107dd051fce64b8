use actix_web::web::Data;

use crate::actors::captcha::IssueCode;
use crate::actors::{ActorKind, Actors};
use crate::domain::Email;
use crate::http::body::RequestBody;
use crate::http::openapi::EndpointAnswer;
use crate::http::request::{VerificationRequest, decode};
use crate::http::{ApiError, Reply};

/// `/get_verification`: has the verification service mail a code.
#[utoipa::path(
    post,
    path = "/get_verification",
    tag = "accounts",
    summary = "Mail a verification code",
    request_body(content = VerificationRequest, content_type = "application/json"),
    responses(EndpointAnswer)
)]
pub async fn get_verification(body: RequestBody, actors: Data<Actors>) -> Result<Reply, ApiError> {
    let request: VerificationRequest = decode(&body)?;
    let email = Email::parse(&request.email)?;
    actors
        .captcha
        .send(IssueCode {
            email: email.clone(),
        })
        .await
        .map_err(ApiError::gone(ActorKind::Captcha))??;
    Ok(Reply::success().email(email.into_string()))
}
