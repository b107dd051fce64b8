use actix_web::web::{Bytes, Data};

use crate::actors::Actors;
use crate::actors::account::{CheckAccount, ResetPassword};
use crate::actors::captcha::{ClaimCode, RestoreCode};
use crate::domain::{Email, Username};
use crate::http::request::{AccountRequest, ResetRequest, decode};
use crate::http::{ApiError, Reply};
use crate::kv::codes::ClaimedCode;

/// `/check_accountexists`: success only if one account has both the name
/// and the e-mail.
pub async fn check_account_exists(body: Bytes, actors: Data<Actors>) -> Result<Reply, ApiError> {
    let request: AccountRequest = decode(&body)?;
    let username = Username::parse(&request.username)?;
    let email = Email::parse(&request.email)?;
    actors
        .account
        .send(CheckAccount {
            username: username.clone(),
            email: email.clone(),
        })
        .await
        .map_err(ApiError::account_gone)??;
    Ok(Reply::success()
        .username(username.into_string())
        .email(email.into_string()))
}

/// `/reset_password`: sets a new password, authorised by a valid e-mailed
/// code (the old gateway asked for none, so anyone knowing a name and an
/// address could take the account over).
pub async fn reset_password(body: Bytes, actors: Data<Actors>) -> Result<Reply, ApiError> {
    let request = decode::<ResetRequest>(&body)?.parse()?;
    let claimed = actors
        .captcha
        .send(ClaimCode {
            email: request.email.clone(),
            code: request.code,
        })
        .await
        .map_err(ApiError::captcha_gone)??;
    let reset = actors
        .account
        .send(ResetPassword {
            username: request.username,
            email: request.email,
            password: request.password,
        })
        .await
        .map_err(ApiError::account_gone)
        .and_then(|outcome| outcome.map_err(ApiError::from));
    match reset {
        Ok(()) => Ok(Reply::success()),
        Err(error) => {
            give_back_code(&actors, claimed).await;
            Err(error)
        }
    }
}

/// Restores a claimed code whose work failed. Failing to restore only costs
/// the user a new code, so it is logged, not answered.
pub(super) async fn give_back_code(actors: &Actors, claimed: ClaimedCode) {
    match actors.captcha.send(RestoreCode(claimed)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => log::warn!("verification code not restored: {error}"),
        Err(error) => log::warn!("verification code not restored: {error}"),
    }
}
