//! Resets by confirmation mail, for clients that send no code (the old
//! desktop client never asks for one): `/reset_password` without a code
//! holds the new password's hash as a *pending* reset and mails the
//! account's own address a link to the confirmation page (`/confirm`);
//! the page looks the link up (`/pending_reset`) and, when the new password
//! is typed again and its one button pressed, confirms it
//! (`/confirm_reset`), which sets the password, revokes the chat token and
//! lifts a login lock, as any reset does. Typing it again is what keeps a
//! reset someone else asked for (with a password of their choosing) from
//! being confirmed by the owner's click.
//!
//! Nobody learns from the answer whether the name and address were an
//! account's: the same work is done (hash, lookup, the pair's mail
//! cooldown) and the same answer given either way; the pending reset and
//! its mail are dealt with after the answer.

use actix_web::web::Data;
use tonic::Code;

use super::code::{revoke_chat_token, settle};
use crate::actors::account::{MatchesPending, PrepareReset, ResetTarget, SetPasswordHash};
use crate::actors::captcha::CaptchaError;
use crate::actors::limits::ClearLogin;
use crate::actors::resets::{
    AccountNotice, ClaimResetMail, HoldReset, LookUpReset, RestoreReset, SendNotice, TakeReset,
    WithdrawReset,
};
use crate::actors::{ActorKind, Actors, Panicked};
use crate::domain::{Locale, Password, ResetToken, Username};
use crate::http::ApiError;
use crate::http::body::{BodyRefused, RequestBody};
use crate::http::reply::{Answer, Answered, PendingResetFound, ResetConfirmed, Succeeded};
use crate::http::request::{ConfirmRequest, Reset, TokenRequest, decode};
use crate::security::password::RequestGuard;

/// The codeless part of `/reset_password`. `Ok` whether or not there was
/// an account (the caller answers 28); `MailedMomentsAgo` (27) when the
/// same name and address were asked for within the mail cooldown.
pub(super) async fn mail_confirmation(
    actors: &Data<Actors>,
    reset: Reset,
    locale: Option<Locale>,
) -> Result<(), ApiError> {
    let waiting = RequestGuard::default();
    let (email, username) = (reset.email.clone(), reset.username.clone());
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
    // Per name and address, claimed for any pair: a pair that is no
    // account cannot hold up the owner's request, and an address, being
    // one account's, gets one mail per cooldown.
    let claim = ClaimResetMail {
        email: email.clone(),
        username: username.clone(),
    };
    actors
        .captcha
        .send(claim)
        .await
        .map_err(ApiError::gone(ActorKind::Captcha))??
        .map_err(ApiError::MailedMomentsAgo)?;
    if let Some(target) = target {
        let actors = actors.clone();
        // After the answer: how long storing and mailing take must not
        // tell that there was an account.
        actix_web::rt::spawn(async move {
            hold_and_mail(&actors, target, username, password_hash, locale).await;
        });
    }
    Ok(())
}

/// Stores the pending reset of `target` and mails its link. When the mail
/// certainly was not sent, both are undone, so the user may ask again at
/// once; when that is not known (the call timed out: the service goes on
/// sending), both stay, so the link works if the mail arrives and the
/// cooldown holds.
async fn hold_and_mail(
    actors: &Actors,
    target: ResetTarget,
    asked_as: Username,
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
        email: email.clone(),
        password_hash,
    };
    let token = match settle(actors.captcha.send(hold).await) {
        Ok(token) => token,
        Err(error) => {
            log::error!("reset of account {uuid} not held, no mail sent: {error}");
            let withdraw = WithdrawReset {
                token: None,
                email,
                username: asked_as,
            };
            return withdrawn(actors, uuid, withdraw).await;
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
    match actors.captcha.send(notice).await {
        Ok(Ok(())) => log::info!("reset of account {uuid} waits for confirmation: link mailed"),
        Ok(Err(error)) if certainly_not_sent(&error) => {
            log::error!("confirmation link of account {uuid} not mailed: {error}");
            let withdraw = WithdrawReset {
                token: Some(token),
                email,
                username: asked_as,
            };
            withdrawn(actors, uuid, withdraw).await;
        }
        Ok(Err(error)) => log::warn!(
            "confirmation link of account {uuid}: unknown whether mailed ({error}); \
             the reset and the cooldown stay"
        ),
        Err(error) => log::warn!("confirmation link of account {uuid}: {error}"),
    }
}

/// The verification service said it sent nothing, or could not have
/// (an old service without `SendAccountNotice`, or one that refuses us).
fn certainly_not_sent(error: &CaptchaError) -> bool {
    match error {
        CaptchaError::Refused(_) => true,
        CaptchaError::Unreachable(status) => matches!(
            status.code(),
            Code::Unimplemented | Code::Unauthenticated | Code::PermissionDenied
        ),
        _ => false,
    }
}

async fn withdrawn(actors: &Actors, uuid: i32, withdraw: WithdrawReset) {
    if let Err(error) = settle(actors.captcha.send(withdraw).await) {
        log::warn!("unmailed reset of account {uuid} not withdrawn: {error}");
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
/// when the password typed again is that one; revokes the chat token and
/// lifts a login lock. A wrong password (13) leaves the link as it was; so
/// does a failure, for the rest of its life. The work runs in a task of its
/// own: a client that walks away once the link is taken must not leave it
/// neither used nor put back.
#[utoipa::path(
    post,
    path = "/confirm_reset",
    tag = "accounts",
    summary = "Confirm a password reset with its mailed link",
    request_body(content = ConfirmRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The new password is set (0), or why not (9: used, replaced or expired; 13: not the password the reset was asked for with)", body = Answered<ResetConfirmed>),
        BodyRefused
    )
)]
pub async fn confirm_reset(
    body: RequestBody,
    actors: Data<Actors>,
) -> Result<Answer<ResetConfirmed>, ApiError> {
    let request: ConfirmRequest = decode(&body)?;
    let token = ResetToken::parse(&request.token)?;
    let password = Password::parse(request.password)?;
    let actors = actors.into_inner();
    actix_web::rt::spawn(async move { confirm(&actors, token, password).await })
        .await
        // Only a panic ends the task early: answered as the captcha
        // actor's would be (8).
        .map_err(|_| {
            ApiError::Captcha(CaptchaError::Panicked(Panicked {
                actor: ActorKind::Captcha,
            }))
        })?
}

/// Takes the reset of `token`, checks `password` against it, and sets it;
/// puts the reset back on any failure.
async fn confirm(
    actors: &Actors,
    token: ResetToken,
    password: Password,
) -> Result<Answer<ResetConfirmed>, ApiError> {
    let waiting = RequestGuard::default();
    let taken = actors
        .captcha
        .send(TakeReset { token })
        .await
        .map_err(ApiError::gone(ActorKind::Captcha))??;
    let (uuid, username) = (taken.uuid, taken.username.clone());
    let password_hash = taken.password_hash.clone();
    let outcome = async {
        let check = MatchesPending {
            password,
            password_hash: password_hash.clone(),
            interest: waiting.interest(),
        };
        let matches = actors
            .account
            .send(check)
            .await
            .map_err(ApiError::gone(ActorKind::Account))??;
        if !matches {
            return Err(crate::actors::account::AccountError::WrongCredentials.into());
        }
        let set = SetPasswordHash {
            uuid,
            password_hash,
        };
        actors
            .account
            .send(set)
            .await
            .map_err(ApiError::gone(ActorKind::Account))??;
        revoke_chat_token(actors, uuid).await
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
