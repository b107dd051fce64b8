//! `message.VerificationService`: a 6-digit code from a CSPRNG, stored at
//! key = the normalised e-mail with a TTL, mailed to the address. Answers as
//! the original service does (0 ok, 1 Redis failed, 2 not sent), plus 27 when
//! a code was sent to the address within the resend cooldown.
//!
//! Ours also mails account notices for the gateway (`SendAccountNotice`):
//! the confirmation link of a password reset, and the notice that sign-ins
//! are paused. Their links are built here, on `mail.site_url`, from a
//! token this service checks, so no caller can put another link into our
//! mail.

pub mod mailer;
mod smtp;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response};

use self::mailer::Mailer;
use self::templates::Mail;
use crate::config::Settings;
use crate::domain::{Email, Locale, ResetToken};
use crate::grpc::proto::account_notice_request::Notice;
use crate::grpc::proto::verification_service_server::{
    VerificationService, VerificationServiceServer,
};
use crate::grpc::proto::{
    AccountNoticeRequest, AccountNoticeResponse, GetVerificationRequest, GetVerificationResponse,
};
use crate::grpc::verification_error;
use crate::kv::codes::{self, CodeSlot};
use crate::kv::{self, RedisPool};

pub struct VerificationServer {
    guard: super::ServiceGuard,
    issuer: Arc<Issuer>,
}

/// What issuing a code needs. Each code is issued in a task of its own:
/// a client that gives up (its deadline) must not cut the work short
/// between storing the code and withdrawing it after a failed mail, which
/// would leave a code nobody received and a cooldown that refuses the retry.
struct Issuer {
    redis: RedisPool,
    mailer: Mailer,
    key_prefix: String,
    redis_timeout: Duration,
    code_ttl: Duration,
    cooldown: Duration,
    /// The confirmation page and the reset page, on `mail.site_url`.
    confirm_page: String,
    reset_page: String,
}

/// Why no code was sent; `code()` is the number on the wire.
#[derive(Debug, thiserror::Error)]
enum IssueError {
    #[error("not an e-mail address")]
    InvalidAddress,
    #[error("a code was sent to this address moments ago")]
    TooSoon,
    #[error(transparent)]
    Store(#[from] kv::StoreError),
    #[error("mail not sent: {0}")]
    Mail(#[from] mailer::MailError),
    #[error("issuing the code failed unexpectedly")]
    Interrupted,
}

impl IssueError {
    fn code(&self) -> i32 {
        match self {
            IssueError::Store(_) => verification_error::REDIS_FAILED,
            IssueError::TooSoon => verification_error::TOO_SOON,
            IssueError::InvalidAddress | IssueError::Mail(_) | IssueError::Interrupted => {
                verification_error::NOT_SENT
            }
        }
    }
}

/// Six decimal digits, uniformly from the thread's CSPRNG (~20 bits, as
/// ASVS asks of out-of-band codes).
fn new_code() -> String {
    format!("{:06}", rand::random_range(0..1_000_000u32))
}

impl VerificationServer {
    pub fn new(settings: &Settings) -> Result<Self, super::ServiceError> {
        Ok(Self {
            guard: super::ServiceGuard::new(&settings.grpc)?,
            issuer: Arc::new(Issuer {
                redis: kv::build_pool(&settings.redis)?,
                mailer: Mailer::new(
                    &settings.mail,
                    Duration::from_secs(settings.verification.code_ttl_secs),
                )?,
                key_prefix: settings.redis.key_prefix.clone(),
                redis_timeout: settings.redis.timeout(),
                code_ttl: Duration::from_secs(settings.verification.code_ttl_secs),
                cooldown: Duration::from_secs(settings.verification.resend_cooldown_secs),
                confirm_page: settings.mail.link("/confirm"),
                reset_page: settings.mail.link("/reset"),
            }),
        })
    }

    pub fn guard(&self) -> &super::ServiceGuard {
        &self.guard
    }

    pub fn into_service(self) -> VerificationServiceServer<Self> {
        VerificationServiceServer::new(self)
    }

    /// Issues a code for `email` to the end, even if the caller goes away.
    async fn issue(&self, email: Email, locale: Option<Locale>) -> Result<(), IssueError> {
        let issuer = Arc::clone(&self.issuer);
        tokio::spawn(async move { issuer.issue(&email, locale).await })
            .await
            .unwrap_or(Err(IssueError::Interrupted))
    }
}

impl Issuer {
    async fn issue(&self, email: &Email, locale: Option<Locale>) -> Result<(), IssueError> {
        let slot = CodeSlot::of(&self.key_prefix, email.as_str());
        let code = new_code();
        let limit = self.redis_timeout;
        if !codes::issue(
            &self.redis,
            limit,
            &slot,
            &code,
            self.code_ttl,
            self.cooldown,
        )
        .await?
        {
            return Err(IssueError::TooSoon);
        }
        let mail = Mail::Code {
            email: email.as_str(),
            code: &code,
            valid_for: self.code_ttl,
        };
        if let Err(error) = self.mailer.send(email, &mail, locale).await {
            // An undelivered code must not stay usable, nor block a retry.
            if let Err(cleanup) = codes::withdraw(&self.redis, limit, &slot, &code).await {
                log::error!(
                    "undelivered code for {} not withdrawn: {cleanup}",
                    email.masked()
                );
            }
            return Err(error.into());
        }
        Ok(())
    }
}

/// Why an account notice was not sent.
#[derive(Debug, thiserror::Error)]
enum NoticeError {
    #[error("{0} is not acceptable")]
    Invalid(&'static str),
    #[error("mail not sent: {0}")]
    Mail(#[from] mailer::MailError),
    #[error("sending the notice failed unexpectedly")]
    Interrupted,
}

impl NoticeError {
    fn code(&self) -> i32 {
        match self {
            NoticeError::Invalid(_) => crate::status::Status::InputInvalid.code(),
            NoticeError::Mail(_) | NoticeError::Interrupted => verification_error::NOT_SENT,
        }
    }
}

/// A time a notice names: `2026-11-27 06:15:42 UTC`.
fn utc_minute(unix_seconds: i64) -> Option<String> {
    let time = jiff::Timestamp::from_second(unix_seconds).ok()?;
    Some(time.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

impl Issuer {
    /// Checks what the caller sent, builds the notice's links, mails it.
    async fn notify(&self, request: AccountNoticeRequest) -> Result<(), NoticeError> {
        let email = Email::parse(&request.email).map_err(|_| NoticeError::Invalid("email"))?;
        let username = request.username.as_str();
        let printable = !username.chars().any(char::is_control);
        if username.is_empty() || username.chars().count() > 200 || !printable {
            return Err(NoticeError::Invalid("username"));
        }
        let locale = Locale::parse(&request.locale);
        let (email_text, link) = (email.as_str(), self.reset_page.as_str());
        let confirm_link;
        let mail = match request.notice {
            Some(Notice::ResetConfirmation(reset)) => {
                let token =
                    ResetToken::parse(&reset.token).map_err(|_| NoticeError::Invalid("token"))?;
                if !(1..=86_400).contains(&reset.valid_secs) {
                    return Err(NoticeError::Invalid("valid_secs"));
                }
                // In the fragment: never sent to a server, so in no access
                // log and no Referer.
                confirm_link = format!("{}#{}", self.confirm_page, token.expose());
                Mail::ResetConfirmation {
                    email: email_text,
                    username,
                    link: &confirm_link,
                    valid_for: Duration::from_secs(reset.valid_secs.into()),
                }
            }
            Some(Notice::LoginLocked(locked)) => {
                let lasts = locked.ends_unix.saturating_sub(locked.started_unix);
                let (Some(started), Some(ends)) = (
                    utc_minute(locked.started_unix),
                    utc_minute(locked.ends_unix),
                ) else {
                    return Err(NoticeError::Invalid("started_unix"));
                };
                if !(0..=31 * 86_400).contains(&lasts) {
                    return Err(NoticeError::Invalid("ends_unix"));
                }
                Mail::LoginLocked {
                    email: email_text,
                    username,
                    link,
                    started,
                    ends,
                    lasts: Duration::from_secs(lasts.unsigned_abs()),
                }
            }
            None => return Err(NoticeError::Invalid("notice")),
        };
        self.mailer.send(&email, &mail, locale).await?;
        Ok(())
    }
}

#[tonic::async_trait]
impl VerificationService for VerificationServer {
    async fn send_account_notice(
        &self,
        request: Request<AccountNoticeRequest>,
    ) -> Result<Response<AccountNoticeResponse>, tonic::Status> {
        let request = request.into_inner();
        let masked = Email::parse(&request.email).map_or_else(
            |_| "an invalid address".into(),
            |email| email.masked().to_string(),
        );
        // To the end, even if the caller goes away (as a code is).
        let issuer = Arc::clone(&self.issuer);
        let outcome = tokio::spawn(async move { issuer.notify(request).await })
            .await
            .unwrap_or(Err(NoticeError::Interrupted));
        let (error, message) = match outcome {
            Ok(()) => (verification_error::OK, "notice sent".to_owned()),
            Err(error) => {
                match &error {
                    NoticeError::Invalid(_) => log::warn!("no notice for {masked}: {error}"),
                    _ => log::error!("no notice for {masked}: {error}"),
                }
                (error.code(), error.to_string())
            }
        };
        Ok(Response::new(AccountNoticeResponse { error, message }))
    }

    async fn get_verification_code(
        &self,
        request: Request<GetVerificationRequest>,
    ) -> Result<Response<GetVerificationResponse>, tonic::Status> {
        let GetVerificationRequest { email: raw, locale } = request.into_inner();
        // Empty (an old gateway) or unknown: mail.default_locale.
        let locale = Locale::parse(&locale);
        let (email, masked, outcome) = match Email::parse(&raw) {
            Ok(email) => {
                let masked = email.masked().to_string();
                let address = email.as_str().to_owned();
                (address, masked, self.issue(email, locale).await)
            }
            Err(_) => (
                raw,
                "an invalid address".into(),
                Err(IssueError::InvalidAddress),
            ),
        };
        let (error, message) = match outcome {
            Ok(()) => (verification_error::OK, "code sent".to_owned()),
            Err(error) => {
                match &error {
                    IssueError::Store(_) | IssueError::Mail(_) | IssueError::Interrupted => {
                        log::error!("no code for {masked}: {error}")
                    }
                    IssueError::InvalidAddress | IssueError::TooSoon => {
                        log::info!("no code for {masked}: {error}")
                    }
                }
                (error.code(), error.to_string())
            }
        };
        Ok(Response::new(GetVerificationResponse {
            error,
            email,
            message,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::new_code;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..200).map(|_| new_code()).collect();
        assert!(
            codes
                .iter()
                .all(|code| code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(
            codes.len() > 190,
            "only {} distinct codes of 200",
            codes.len()
        );
    }
}
