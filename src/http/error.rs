//! Every way a request can fail, turned into `200 + {"error": code}` in one
//! place. Causes are logged here, with no request values in them.

use actix::MailboxError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::reply::Reply;
use crate::actors::account::AccountError;
use crate::actors::balance::BalanceError;
use crate::actors::captcha::CaptchaError;
use crate::actors::limits::LimitError;
use crate::domain::InvalidInput;
use crate::grpc::verification_error;
use crate::metrics::Backend;
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
    /// The actor was restarted or stopped while holding the request.
    #[error("{actor} actor did not answer: {source}")]
    Mailbox {
        actor: &'static str,
        status: Status,
        source: MailboxError,
    },
}

impl ApiError {
    pub fn status(&self) -> Status {
        match self {
            ApiError::Malformed(_) => Status::JsonParseError,
            ApiError::Invalid(_) => Status::InputInvalid,
            ApiError::Captcha(error) => error.status(),
            ApiError::Account(error) => error.status(),
            ApiError::Balance(error) => error.status(),
            ApiError::Limit(error) => error.status(),
            ApiError::Mailbox { status, .. } => *status,
        }
    }

    /// An answer of the captcha actor that never came.
    pub fn captcha_gone(source: MailboxError) -> ApiError {
        let status = Status::RedisUnknownError;
        ApiError::Mailbox {
            actor: "captcha",
            status,
            source,
        }
    }

    pub fn account_gone(source: MailboxError) -> ApiError {
        let status = Status::MysqlInternalError;
        ApiError::Mailbox {
            actor: "account",
            status,
            source,
        }
    }

    pub fn balance_gone(source: MailboxError) -> ApiError {
        let status = Status::GrpcError;
        ApiError::Mailbox {
            actor: "balance",
            status,
            source,
        }
    }

    /// Login counting is Redis work: without it, no login (fail closed).
    pub fn limits_gone(source: MailboxError) -> ApiError {
        let status = Status::RedisUnknownError;
        ApiError::Mailbox {
            actor: "limits",
            status,
            source,
        }
    }

    /// The backend whose failure this is, if any.
    fn backend(&self) -> Option<Backend> {
        match self {
            ApiError::Malformed(_) | ApiError::Invalid(_) => None,
            ApiError::Captcha(CaptchaError::Store(_)) => Some(Backend::Redis),
            ApiError::Captcha(CaptchaError::Refused(verification_error::TOO_SOON))
            | ApiError::Captcha(CaptchaError::CodeNotFound) => None,
            // The service could not mail a code or reach its own Redis.
            ApiError::Captcha(CaptchaError::Unreachable(_) | CaptchaError::Refused(_)) => {
                Some(Backend::Verification)
            }
            ApiError::Account(AccountError::Database(_)) => Some(Backend::Mysql),
            ApiError::Account(_) => None,
            ApiError::Balance(BalanceError::Refused(_)) => None,
            ApiError::Balance(_) => Some(Backend::Balance),
            ApiError::Limit(LimitError::Store(_)) => Some(Backend::Redis),
            ApiError::Limit(LimitError::Refused) => None,
            ApiError::Mailbox { .. } => None,
        }
    }

    /// Failures of the backends are worth an operator's attention; a user's
    /// typo or wrong password is not.
    fn is_server_fault(&self) -> bool {
        !matches!(
            self.status(),
            Status::JsonParseError
                | Status::InputInvalid
                | Status::RedisCaptchaNotFound
                | Status::AccountAlreadyExists
                | Status::MysqlAccountNotExists
                | Status::LoginInfoError
                | Status::RateLimited
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::OK
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        if self.is_server_fault() {
            log::error!("answering {}: {self}", status.code());
        } else {
            log::debug!("answering {}: {self}", status.code());
        }
        Reply::with_status(status).into_response_from(self.backend())
    }
}
