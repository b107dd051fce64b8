use actix_web::web::Data;

use super::code::spend_code;
use crate::actors::account::Register;
use crate::actors::{ActorKind, Actors};
use crate::http::ApiError;
use crate::http::body::BodyRefused;
use crate::http::body::RequestBody;
use crate::http::reply::{Answer, Answered, Registered, Succeeded};
use crate::http::request::{RegistrationRequest, decode};
use crate::security::password::RequestGuard;

/// `/post_registration`: creates an account with a valid e-mailed code.
#[utoipa::path(
    post,
    path = "/post_registration",
    tag = "accounts",
    summary = "Register an account",
    request_body(content = RegistrationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The account is created (0), or why not", body = Answered<Registered>),
        BodyRefused
    )
)]
pub async fn post_registration(
    body: RequestBody,
    actors: Data<Actors>,
) -> Result<Answer<Registered>, ApiError> {
    let request = decode::<RegistrationRequest>(&body)?.parse()?;
    let (username, email) = (request.username, request.email);
    let waiting = RequestGuard::default();
    let register = Register {
        username: username.clone(),
        email: email.clone(),
        password: request.password,
        interest: waiting.interest(),
    };
    let uuid = spend_code(&actors, email.clone(), request.code, async {
        Ok(actors
            .account
            .send(register)
            .await
            .map_err(ApiError::gone(ActorKind::Account))??)
    })
    .await?;
    Ok(Answer(Registered {
        error: Succeeded,
        username: username.into_string(),
        email: email.into_string(),
        uuid: uuid.to_string(),
    }))
}
