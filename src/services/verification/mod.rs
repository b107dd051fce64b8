//! `message.VerificationService`: a 6-digit code from a CSPRNG, stored at
//! key = the normalised e-mail with a TTL, mailed to the address. Answers as
//! the original service does (0 ok, 1 Redis failed, 2 not sent), plus 27 when
//! a code was sent to the address within the resend cooldown.
//!
//! Ours also mails account notices for the gateway (`SendAccountNotice`):
//! the confirmation link of a password reset, and the notice that sign-ins
//! are paused. Whoever calls, a notice says only what this service can
//! stand behind: links are built here on `mail.site_url`; a confirmation
//! link is mailed only for a reset the gateway holds in Redis, to the
//! address and name stored with it, valid for the life it has left; a
//! lock notice only for a name whose login-attempt window runs, ending
//! when that window does; and no address gets more than
//! [`NOTICES_PER_HOUR`].

pub mod mailer;
mod smtp;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response};

use self::mailer::Mailer;
use self::templates::Mail;
use crate::config::Settings;
use crate::domain::{Email, Locale, ResetToken, Username};
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
use crate::kv::{counters, keys, resets};

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

/// Account notices one address gets at most per hour, whoever asks: the
/// gateway sends at most one reset mail per cooldown and one lock notice
/// per lock window; this bounds a caller that has the gRPC token.
pub const NOTICES_PER_HOUR: u64 = 10;

/// Why an account notice was not sent.
#[derive(Debug, thiserror::Error)]
enum NoticeError {
    #[error("{0} is not acceptable")]
    Invalid(&'static str),
    #[error("no reset waits for this link")]
    NoSuchReset,
    #[error("no login lock runs for this name")]
    NoLock,
    #[error("{NOTICES_PER_HOUR} notices went to this address within the hour")]
    TooMany,
    #[error(transparent)]
    Store(#[from] kv::StoreError),
    #[error("mail not sent: {0}")]
    Mail(#[from] mailer::MailError),
    #[error("sending the notice failed unexpectedly")]
    Interrupted,
}

impl NoticeError {
    fn code(&self) -> i32 {
        match self {
            NoticeError::Invalid(_) | NoticeError::NoSuchReset | NoticeError::NoLock => {
                crate::status::Status::InputInvalid.code()
            }
            NoticeError::TooMany => verification_error::TOO_SOON,
            NoticeError::Store(_) => verification_error::REDIS_FAILED,
            NoticeError::Mail(_) | NoticeError::Interrupted => verification_error::NOT_SENT,
        }
    }
}

/// An invisible formatting character: bidirectional controls (which can
/// make a name read as something else, `ann\u{202e}txt.exe`), zero-width
/// characters and the like. A name the gateway accepts (login, an old
/// account's) may hold symbols or several scripts; none of these.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// A time a notice names: `2026-11-27 06:15:42 UTC`.
fn utc_second(unix_seconds: i64) -> Option<String> {
    let time = jiff::Timestamp::from_second(unix_seconds).ok()?;
    Some(time.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

impl Issuer {
    /// Checks what the caller sent, builds the notice's links, mails it.
    async fn notify(&self, request: AccountNoticeRequest) -> Result<(), NoticeError> {
        let email = Email::parse(&request.email).map_err(|_| NoticeError::Invalid("email"))?;
        let locale = Locale::parse(&request.locale);
        let limit = self.redis_timeout;
        let link;
        let (recipient, username);
        let mail = match request.notice {
            Some(Notice::ResetConfirmation(reset)) => {
                let token =
                    ResetToken::parse(&reset.token).map_err(|_| NoticeError::Invalid("token"))?;
                let pending = resets::peek(
                    &self.redis,
                    limit,
                    &self.key_prefix,
                    token.uuid(),
                    &token.digest(),
                )
                .await?
                .ok_or(NoticeError::NoSuchReset)?;
                // The reset's own address and name, whatever the request says.
                if pending.email != email.as_str() {
                    return Err(NoticeError::Invalid("email"));
                }
                recipient = email;
                username = pending.username;
                // In the fragment: never sent to a server, so in no access
                // log and no Referer.
                link = format!("{}#{}", self.confirm_page, token.expose());
                Mail::ResetConfirmation {
                    email: recipient.as_str(),
                    username: &username,
                    link: &link,
                    valid_for: Duration::from_secs(pending.remaining.as_secs().max(1)),
                }
            }
            Some(Notice::LoginLocked(_)) => {
                let name = Username::parse(&request.username)
                    .ok()
                    .filter(|name| !name.as_str().chars().any(is_invisible_format))
                    .ok_or(NoticeError::Invalid("username"))?;
                // A lock is a window of login attempts running for the
                // name: its start is now, its end the counter's expiry,
                // whatever the request says.
                let window = keys::login_attempts(&self.key_prefix, &name.key());
                let left = kv::time_left(&self.redis, limit, &window)
                    .await?
                    .ok_or(NoticeError::NoLock)?;
                let now = jiff::Timestamp::now().as_second();
                let lasts = left.as_millis().div_ceil(1000) as i64;
                let (Some(started), Some(ends)) = (utc_second(now), utc_second(now + lasts)) else {
                    return Err(NoticeError::Invalid("ends_unix"));
                };
                username = name.into_string();
                recipient = email;
                Mail::LoginLocked {
                    email: recipient.as_str(),
                    username: &username,
                    link: &self.reset_page,
                    started,
                    ends,
                    lasts: Duration::from_secs(lasts.unsigned_abs()),
                }
            }
            None => return Err(NoticeError::Invalid("notice")),
        };
        let counter = keys::notices_sent(&self.key_prefix, recipient.as_str());
        let hour = Duration::from_secs(3600);
        let count = counters::hit(
            self.redis.clone(),
            limit,
            counter,
            hour,
            1,
            NOTICES_PER_HOUR,
        )
        .await?;
        if count > NOTICES_PER_HOUR {
            return Err(NoticeError::TooMany);
        }
        self.mailer.send(&recipient, &mail, locale).await?;
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
                    NoticeError::Invalid(_)
                    | NoticeError::NoSuchReset
                    | NoticeError::NoLock
                    | NoticeError::TooMany => {
                        log::warn!("no notice for {masked}: {error}")
                    }
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
