use actix_web::HttpRequest;
use actix_web::web::Data;

use super::code::{revoke_chat_token, spend_code};
use super::confirmation;
use super::verification::reader_locale;
use crate::actors::account::{CheckAccount, ResetPassword};
use crate::actors::limits::ClearLogin;
use crate::actors::resets::DiscardReset;
use crate::actors::{ActorKind, Actors};
use crate::domain::{Email, Username};
use crate::http::ApiError;
use crate::http::body::BodyRefused;
use crate::http::body::RequestBody;
use crate::http::reply::{AccountFound, Answer, Answered, PasswordSet, Succeeded};
use crate::http::request::{AccountRequest, ResetRequest, decode};
use crate::security::password::RequestGuard;

/// `/check_accountexists`: success only if one account has both the name
/// and the e-mail.
#[utoipa::path(
    post,
    path = "/check_accountexists",
    tag = "accounts",
    summary = "Check that one account has this name and address",
    request_body(content = AccountRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One account has both (0), or why not", body = Answered<AccountFound>),
        BodyRefused
    )
)]
pub async fn check_account_exists(
    body: RequestBody,
    actors: Data<Actors>,
) -> Result<Answer<AccountFound>, ApiError> {
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
        .map_err(ApiError::gone(ActorKind::Account))??;
    Ok(Answer(AccountFound {
        error: Succeeded,
        username: username.into_string(),
        email: email.into_string(),
    }))
}

/// `/reset_password`: sets a new password, authorised by a valid e-mailed
/// code (the old gateway asked for none, so anyone knowing a name and an
/// address could take the account over). Without a code, nothing changes
/// yet: the account's owner is mailed a link to confirm the new password
/// (`confirmation`), and the answer is 28.
#[utoipa::path(
    post,
    path = "/reset_password",
    tag = "accounts",
    summary = "Set a new password",
    request_body(content = ResetRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The password is set (0), a confirmation link is mailed (28), or why not", body = Answered<PasswordSet>),
        BodyRefused
    )
)]
pub async fn reset_password(
    http: HttpRequest,
    body: RequestBody,
    actors: Data<Actors>,
) -> Result<Answer<PasswordSet>, ApiError> {
    let request = decode::<ResetRequest>(&body)?.parse()?;
    let Some(code) = request.code else {
        let locale = reader_locale(&http, None);
        confirmation::mail_confirmation(&actors, request, locale).await?;
        return Err(ApiError::ConfirmationMailed);
    };
    let waiting = RequestGuard::default();
    let username = request.username.clone();
    let reset = ResetPassword {
        username: request.username,
        email: request.email.clone(),
        password: request.password,
        interest: waiting.interest(),
    };
    let uuid = spend_code(&actors, request.email, code, async {
        let uuid = actors
            .account
            .send(reset)
            .await
            .map_err(ApiError::gone(ActorKind::Account))??;
        // If Redis fails here the answer is 8 and the code is given back:
        // the user's retry sets the same password again and revokes the
        // token then.
        revoke_chat_token(&actors, uuid).await?;
        Ok(uuid)
    })
    .await?;
    // The reset proved the mailbox: a lock from someone else's guesses
    // (or the owner's) ends, as the lock's message promises; and a reset
    // still waiting for confirmation must not undo this one later.
    actors.limits.do_send(ClearLogin { username });
    actors.captcha.do_send(DiscardReset { uuid });
    Ok(Answer(PasswordSet { error: Succeeded }))
}
