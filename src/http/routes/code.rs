//! Work authorised by an e-mailed code (registration, password reset),
//! and what every password reset does.

use std::future::Future;

use crate::actors::captcha::{ClaimCode, RestoreCode, RevokeChatToken};
use crate::actors::{ActorKind, Actors};
use crate::domain::{Email, VerificationCode};
use crate::http::ApiError;

/// Claims the code of `email` (single use: no other request can spend it),
/// runs `work`, and gives the code back with the lifetime it had left when
/// `work` fails, so the user can correct the request and retry.
pub(super) async fn spend_code<T>(
    actors: &Actors,
    email: Email,
    code: VerificationCode,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let claimed = actors
        .captcha
        .send(ClaimCode { email, code })
        .await
        .map_err(ApiError::gone(ActorKind::Captcha))??;
    let outcome = work.await;
    if outcome.is_err() {
        // Failing to restore only costs the user a new code: log it, and
        // answer the error of the work itself.
        match actors.captcha.send(RestoreCode(claimed)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => log::warn!("verification code not restored: {error}"),
            Err(error) => log::warn!("verification code not restored: {error}"),
        }
    }
    outcome
}

/// An actor's answer, or why there was none, as text for a log line (for
/// work done after the answer, whose failures only a log can tell).
pub(super) fn settle<T, E: std::fmt::Display>(
    answer: Result<Result<T, E>, actix::MailboxError>,
) -> Result<T, String> {
    match answer {
        Ok(result) => result.map_err(|error| error.to_string()),
        Err(error) => Err(format!("the actor did not answer: {error}")),
    }
}

/// A reset that leaves the old chat token valid would leave whoever holds
/// it logged in: every reset revokes it.
pub(super) async fn revoke_chat_token(actors: &Actors, uuid: i32) -> Result<(), ApiError> {
    actors
        .captcha
        .send(RevokeChatToken { uuid })
        .await
        .map_err(ApiError::gone(ActorKind::Captcha))??;
    Ok(())
}
