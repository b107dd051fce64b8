//! Every way a request can fail, turned into `200 + {"error": code}` in one
//! place: [`ApiError::meaning`] decides each failure's status code, the
//! backend it blames (for `gateway_backend_errors_total`) and how loudly it
//! is logged. Causes are logged here, with no request values in them.

use actix::MailboxError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use log::Level;

use super::reply::Failed;
use crate::actors::ActorKind;
use crate::actors::account::AccountError;
use crate::actors::balance::BalanceError;
use crate::actors::captcha::CaptchaError;
use crate::actors::limits::LimitError;
use crate::domain::InvalidInput;
use crate::grpc::verification_error;
use crate::metrics::Backend;
use crate::security::password::HashError;
use crate::status::Status;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Not JSON, not an object, or a field missing or of the wrong type.
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("invalid input: {0}")]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Captcha(#[from] CaptchaError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Balance(#[from] BalanceError),
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// A reset without a code was taken: a confirmation link is mailed if
    /// the name and address are one account's (28, whichever it was).
    #[error("reset waits for confirmation by mail")]
    ConfirmationMailed,
    /// A reset-confirmation mail went to this address within the mail
    /// cooldown.
    #[error("a reset mail went to this address moments ago (the next in {0:?})")]
    MailedMomentsAgo(std::time::Duration),
    /// The actor was stopped (and not restarted) while holding the request.
    #[error("{} actor did not answer: {source}", .actor.name())]
    Gone {
        actor: ActorKind,
        source: MailboxError,
    },
}

/// What a failure means for the client, the metrics and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meaning {
    pub status: Status,
    /// The backend whose failure this is, if any.
    pub backend: Option<Backend>,
    /// Failures of the gateway or its backends are errors worth an
    /// operator's attention; a user's typo or wrong password is not.
    pub level: Level,
}

/// The client's own doing: no backend to blame, nothing to alert on.
const fn client(status: Status) -> Meaning {
    Meaning {
        status,
        backend: None,
        level: Level::Debug,
    }
}

/// A failure of the gateway or of `backend`.
const fn fault(status: Status, backend: Option<Backend>) -> Meaning {
    Meaning {
        status,
        backend,
        level: Level::Error,
    }
}

impl ApiError {
    /// The one map from failure to status code, backend and log level.
    pub fn meaning(&self) -> Meaning {
        use Backend::{Balance, Mysql, Redis, Verification};
        match self {
            ApiError::Malformed(_) => client(Status::JsonParseError),
            ApiError::Invalid(_) => client(Status::InputInvalid),

            ApiError::Captcha(error) => match error {
                CaptchaError::CodeNotFound => client(Status::RedisCaptchaNotFound),
                CaptchaError::Store(_) => fault(Status::RedisUnknownError, Some(Redis)),
                CaptchaError::Unreachable(_) => fault(Status::GrpcError, Some(Verification)),
                // The service's own cooldown: the client asked too soon.
                CaptchaError::Refused(verification_error::TOO_SOON) => client(Status::RateLimited),
                // The service could not reach its Redis.
                CaptchaError::Refused(verification_error::REDIS_FAILED) => {
                    fault(Status::RedisUnknownError, Some(Verification))
                }
                // It could not mail the code, or answered something else.
                CaptchaError::Refused(_) => fault(Status::GrpcError, Some(Verification)),
                CaptchaError::Panicked(_) => gone(ActorKind::Captcha),
            },

            ApiError::Account(error) => match error {
                AccountError::Taken => client(Status::AccountAlreadyExists),
                AccountError::NotFound => client(Status::MysqlAccountNotExists),
                AccountError::WrongCredentials => client(Status::LoginInfoError),
                AccountError::Guessable => client(Status::InputInvalid),
                AccountError::Database(_) => fault(Status::MysqlInternalError, Some(Mysql)),
                // Too many hashes waiting: the client may retry shortly.
                AccountError::Hashing(HashError::Busy) => client(Status::RateLimited),
                // A failed hash is a server-side fault like a database one;
                // the protocol has no more specific code for it.
                AccountError::Hashing(_) => fault(Status::MysqlInternalError, None),
                AccountError::Panicked(_) => gone(ActorKind::Account),
            },

            ApiError::Balance(error) => match error {
                BalanceError::Unreachable(_) | BalanceError::Foreign(_) => {
                    fault(Status::GrpcError, Some(Balance))
                }
                // A status the balance service chose: the user's own doing
                // when it says so, else (e.g. 6, no chat server registered)
                // worth an operator's attention.
                BalanceError::Refused(status) if is_clients_doing(*status) => client(*status),
                BalanceError::Refused(status) => fault(*status, None),
                BalanceError::Panicked(_) => gone(ActorKind::Balance),
            },

            ApiError::Limit(error) => match error {
                LimitError::Refused => client(Status::RateLimited),
                LimitError::Store(_) => fault(Status::RedisUnknownError, Some(Redis)),
                LimitError::Panicked(_) => gone(ActorKind::Limits),
            },

            ApiError::ConfirmationMailed => client(Status::ResetConfirmationMailed),
            ApiError::MailedMomentsAgo(_) => client(Status::RateLimited),

            ApiError::Gone { actor, .. } => gone(*actor),
        }
    }

    pub fn status(&self) -> Status {
        self.meaning().status
    }

    /// An answer that never came from `actor`.
    pub fn gone(actor: ActorKind) -> impl FnOnce(MailboxError) -> ApiError {
        move |source| ApiError::Gone { actor, source }
    }
}

/// The statuses that tell a client about its own request.
const fn is_clients_doing(status: Status) -> bool {
    matches!(
        status,
        Status::JsonParseError
            | Status::InputInvalid
            | Status::RedisCaptchaNotFound
            | Status::AccountAlreadyExists
            | Status::MysqlAccountNotExists
            | Status::LoginInfoError
            | Status::RateLimited
    )
}

/// An actor that panicked or is gone: the status of the resource it owns
/// failing. Login counting is Redis work, so without the limits actor no
/// login goes through (fail closed).
const fn gone(actor: ActorKind) -> Meaning {
    let status = match actor {
        ActorKind::Captcha | ActorKind::Limits => Status::RedisUnknownError,
        ActorKind::Account => Status::MysqlInternalError,
        ActorKind::Balance => Status::GrpcError,
    };
    fault(status, None)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::OK
    }

    fn error_response(&self) -> HttpResponse {
        let meaning = self.meaning();
        log::log!(meaning.level, "answering {}: {self}", meaning.status.code());
        // `message` is added by `messages::explain_failures`, which knows
        // the endpoint and the reader's language.
        Failed {
            error: meaning.status,
            message: None,
        }
        .into_response(meaning.backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_mistake_blames_no_backend_and_is_not_an_error() {
        for error in [
            ApiError::Malformed("x".into()),
            ApiError::Account(AccountError::WrongCredentials),
            ApiError::Captcha(CaptchaError::Refused(verification_error::TOO_SOON)),
        ] {
            let meaning = error.meaning();
            assert_eq!(
                (meaning.backend, meaning.level),
                (None, Level::Debug),
                "{error}"
            );
        }
    }

    #[test]
    fn a_panicked_actor_answers_like_its_backend_failing() {
        let panicked = |actor| crate::actors::Panicked { actor };
        let cases = [
            (
                ApiError::Account(panicked(ActorKind::Account).into()),
                Status::MysqlInternalError,
            ),
            (
                ApiError::Captcha(panicked(ActorKind::Captcha).into()),
                Status::RedisUnknownError,
            ),
            (
                ApiError::Balance(panicked(ActorKind::Balance).into()),
                Status::GrpcError,
            ),
            (
                ApiError::Limit(panicked(ActorKind::Limits).into()),
                Status::RedisUnknownError,
            ),
        ];
        for (error, status) in cases {
            let meaning = error.meaning();
            assert_eq!(
                (meaning.status, meaning.level),
                (status, Level::Error),
                "{error}"
            );
        }
    }
}
