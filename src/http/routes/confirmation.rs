//! Resets by confirmation mail, for clients that send no code (the old
//! desktop client never asks for one): `/reset_password` without a code
//! holds the new password's hash as a *pending* reset and mails the
//! account's own address a link to the confirmation page (`/confirm`);
//! the page looks the link up (`/pending_reset`) and, when its one button
//! is pressed, confirms it (`/confirm_reset`), which sets the password,
//! revokes the chat token and lifts a login lock, as any reset does.
//!
//! Nobody learns from the answer whether the name and address were an
//! account's: the same work is done (hash, lookup, the address's mail
//! cooldown) and the same answer given either way; the pending reset and
//! its mail are dealt with after the answer.

use actix_web::web::Data;

use super::code::revoke_chat_token;
use crate::actors::account::{PrepareReset, ResetTarget, SetPasswordHash};
use crate::actors::captcha::CaptchaError;
use crate::actors::limits::ClearLogin;
use crate::actors::resets::{
    AccountNotice, ClaimResetMail, HoldReset, LookUpReset, RestoreReset, SendNotice, TakeReset,
    WithdrawReset,
};
use crate::actors::{ActorKind, Actors};
use crate::domain::{Email, Locale, ResetToken, Username};
use crate::http::ApiError;
use crate::http::body::{BodyRefused, RequestBody};
use crate::http::reply::{Answer, Answered, PendingResetFound, ResetConfirmed, Succeeded};
use crate::http::request::{Reset, TokenRequest, decode};
use crate::security::password::RequestGuard;

/// The codeless part of `/reset_password`. `Ok` whether or not there was
/// an account (the caller answers 28); `MailedMomentsAgo` (27) inside the
/// address's mail cooldown, which is claimed for any address asked for.
pub(super) async fn mail_confirmation(
    actors: &Data<Actors>,
    reset: Reset,
    locale: Option<Locale>,
) -> Result<(), ApiError> {
    let waiting = RequestGuard::default();
    let email = reset.email.clone();
    // The guessable-password rule first: nothing is stored, no cooldown
    // claimed, for a password that would be refused.
    let (password_hash, target) = actors
        .account
        .send(PrepareReset {
            username: reset.username,
            email: reset.email,
            password: reset.password,
            interest: waiting.interest(),
        })
        .await
        .map_err(ApiError::gone(ActorKind::Account))??;
    actors
        .captcha
        .send(ClaimResetMail {
            email: email.clone(),
        })
        .await
        .map_err(ApiError::gone(ActorKind::Captcha))??
        .map_err(ApiError::MailedMomentsAgo)?;
    if let Some(target) = target {
        let actors = actors.clone();
        // After the answer: how long storing and mailing take must not
        // tell that there was an account.
        actix_web::rt::spawn(async move {
            hold_and_mail(&actors, target, password_hash, locale).await;
        });
    }
    Ok(())
}

/// Stores the pending reset of `target` and mails its link; undoes both
/// when either fails, so the user may ask again at once.
async fn hold_and_mail(
    actors: &Actors,
    target: ResetTarget,
    password_hash: secrecy::SecretString,
    locale: Option<Locale>,
) {
    let ResetTarget {
        uuid,
        username,
        email,
    } = target;
    let hold = HoldReset {
        uuid,
        username: username.clone(),
        password_hash,
    };
    let token = match settle(actors.captcha.send(hold).await) {
        Ok(token) => token,
        Err(error) => {
            log::error!("reset of account {uuid} not held, no mail sent: {error}");
            withdraw(actors, uuid, None, email).await;
            return;
        }
    };
    let notice = SendNotice {
        email: email.clone(),
        username,
        locale,
        notice: AccountNotice::ResetConfirmation {
            token: token.clone(),
        },
    };
    match settle(actors.captcha.send(notice).await) {
        Ok(()) => log::info!("reset of account {uuid} waits for confirmation: link mailed"),
        Err(error) => {
            log::error!("confirmation link of account {uuid} not mailed: {error}");
            withdraw(actors, uuid, Some(token), email).await;
        }
    }
}

async fn withdraw(actors: &Actors, uuid: i32, token: Option<ResetToken>, email: Email) {
    let withdrawn = actors.captcha.send(WithdrawReset { token, email }).await;
    if let Err(error) = settle(withdrawn) {
        log::warn!("unmailed reset of account {uuid} not withdrawn: {error}");
    }
}

/// An actor's answer, or why there was none, for a log line.
fn settle<T>(answer: Result<Result<T, CaptchaError>, actix::MailboxError>) -> Result<T, String> {
    match answer {
        Ok(result) => result.map_err(|error| error.to_string()),
        Err(error) => Err(format!("captcha actor did not answer: {error}")),
    }
}

/// `/pending_reset`: whose new password a confirmation link sets, without
/// using it (the page shows it before its button is pressed).
#[utoipa::path(
    post,
    path = "/pending_reset",
    tag = "accounts",
    summary = "Look up a password-reset confirmation link",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The link is good (0), or why not (9: used, replaced or expired)", body = Answered<PendingResetFound>),
        BodyRefused
    )
)]
pub async fn pending_reset(
    body: RequestBody,
    actors: Data<Actors>,
) -> Result<Answer<PendingResetFound>, ApiError> {
    let request: TokenRequest = decode(&body)?;
    let token = ResetToken::parse(&request.token)?;
    let found = actors
        .captcha
        .send(LookUpReset { token })
        .await
        .map_err(ApiError::gone(ActorKind::Captcha))??
        .ok_or(CaptchaError::CodeNotFound)?;
    Ok(Answer(PendingResetFound {
        error: Succeeded,
        username: found.username,
        expires_in_secs: found.remaining.as_millis().div_ceil(1000).max(1) as u64,
    }))
}

/// `/confirm_reset`: sets the password a confirmation link holds (once),
/// revokes the chat token and lifts a login lock. If that fails, the link
/// keeps working for the rest of its life.
#[utoipa::path(
    post,
    path = "/confirm_reset",
    tag = "accounts",
    summary = "Confirm a password reset with its mailed link",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The new password is set (0), or why not (9: used, replaced or expired)", body = Answered<ResetConfirmed>),
        BodyRefused
    )
)]
pub async fn confirm_reset(
    body: RequestBody,
    actors: Data<Actors>,
) -> Result<Answer<ResetConfirmed>, ApiError> {
    let request: TokenRequest = decode(&body)?;
    let token = ResetToken::parse(&request.token)?;
    let taken = actors
        .captcha
        .send(TakeReset { token })
        .await
        .map_err(ApiError::gone(ActorKind::Captcha))??;
    let (uuid, username) = (taken.uuid, taken.username.clone());
    let set = SetPasswordHash {
        uuid,
        password_hash: taken.password_hash.clone(),
    };
    let outcome = async {
        actors
            .account
            .send(set)
            .await
            .map_err(ApiError::gone(ActorKind::Account))??;
        revoke_chat_token(&actors, uuid).await
    }
    .await;
    if let Err(error) = outcome {
        if let Err(restore) = settle(actors.captcha.send(RestoreReset(taken)).await) {
            log::warn!("reset of account {uuid} not put back after a failure: {restore}");
        }
        return Err(error);
    }
    log::info!("reset of account {uuid} confirmed: new password set");
    if let Ok(name) = Username::parse(&username) {
        actors.limits.do_send(ClearLogin { username: name });
    }
    Ok(Answer(ResetConfirmed {
        error: Succeeded,
        username,
    }))
}
