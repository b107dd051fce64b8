use actix_web::web::{Bytes, Data};

use super::account::give_back_code;
use crate::actors::Actors;
use crate::actors::account::Register;
use crate::actors::captcha::ClaimCode;
use crate::http::request::{RegistrationRequest, decode};
use crate::http::{ApiError, Reply};

/// `/post_registration`: creates an account with a valid e-mailed code.
/// The code is claimed first (single use) and given back if the account
/// cannot be created, so the user can correct a taken name and retry.
pub async fn post_registration(body: Bytes, actors: Data<Actors>) -> Result<Reply, ApiError> {
    let request = decode::<RegistrationRequest>(&body)?.parse()?;
    let claimed = actors
        .captcha
        .send(ClaimCode {
            email: request.email.clone(),
            code: request.code,
        })
        .await
        .map_err(ApiError::captcha_gone)??;
    let registered = actors
        .account
        .send(Register {
            username: request.username.clone(),
            email: request.email.clone(),
            password: request.password,
        })
        .await
        .map_err(ApiError::account_gone)
        .and_then(|outcome| outcome.map_err(ApiError::from));
    match registered {
        Ok(uuid) => Ok(Reply::success()
            .username(request.username.into_string())
            .email(request.email.into_string())
            .uuid(uuid)),
        Err(error) => {
            give_back_code(&actors, claimed).await;
            Err(error)
        }
    }
}
