use actix_web::HttpRequest;
use actix_web::http::header::ACCEPT_LANGUAGE;
use actix_web::web::Data;

use crate::actors::captcha::IssueCode;
use crate::actors::{ActorKind, Actors};
use crate::domain::{Email, Locale};
use crate::http::ApiError;
use crate::http::body::BodyRefused;
use crate::http::body::RequestBody;
use crate::http::reply::{Answer, Answered, CodeSent, Succeeded};
use crate::http::request::{VerificationRequest, decode};

/// `/get_verification`: has the verification service mail a code, in the
/// language the body's `locale` names, else the first of ours in
/// `Accept-Language`, else the service's default.
#[utoipa::path(
    post,
    path = "/get_verification",
    tag = "accounts",
    summary = "Mail a verification code",
    request_body(content = VerificationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The code is mailed (0), or why not", body = Answered<CodeSent>),
        BodyRefused
    )
)]
pub async fn get_verification(
    http: HttpRequest,
    body: RequestBody,
    actors: Data<Actors>,
) -> Result<Answer<CodeSent>, ApiError> {
    let request: VerificationRequest = decode(&body)?;
    let email = Email::parse(&request.email)?;
    let asked = request.locale.as_ref().and_then(serde_json::Value::as_str);
    let locale = reader_locale(&http, asked);
    let issued = actors
        .captcha
        .send(IssueCode {
            email: email.clone(),
            locale,
        })
        .await
        .map_err(ApiError::gone(ActorKind::Captcha))??;
    if !issued.mailed {
        log::info!(
            "a code went to {} moments ago (resend cooldown): none sent now",
            email.masked()
        );
    }
    Ok(Answer(CodeSent {
        error: Succeeded,
        email: email.into_string(),
        retry_after_secs: issued
            .retry_after
            .map(|left| left.as_millis().div_ceil(1000) as u64),
    }))
}

/// The language of a mail a request causes: the one `asked` for in its
/// body, else the first of ours in its `Accept-Language`, else `None` (the
/// verification service's default).
pub(super) fn reader_locale(http: &HttpRequest, asked: Option<&str>) -> Option<Locale> {
    asked.and_then(Locale::parse).or_else(|| {
        http.headers()
            .get(ACCEPT_LANGUAGE)
            .and_then(|header| header.to_str().ok())
            .and_then(Locale::from_accept_language)
    })
}
