//! Work authorised by an e-mailed code (registration, password reset).

use std::future::Future;

use crate::actors::captcha::{ClaimCode, RestoreCode};
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
