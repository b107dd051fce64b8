use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};

use super::fault::{Faults, accepts_injected_faults};
use super::guard::{Guarded, Panicked, guarded};
use super::{
    ActorKind, BACKEND_PROBE_WAIT, Health, Probe, ReportPool, StartError, restarts_on_request,
};
use crate::config::Settings;
use crate::domain::{Email, Locale, VerificationCode};
use crate::grpc::proto::GetVerificationRequest;
use crate::grpc::proto::verification_service_client::VerificationServiceClient;
use crate::grpc::{PeerChannel, lazy_channel, verification_error};
use crate::kv::codes::{self, ClaimedCode, CodeSlot};
use crate::kv::{self, RedisPool, StoreError, keys};
use crate::metrics::{Metrics, PoolUsage};

/// Owns the verification service's channel and the Redis pool of the state
/// shared with the other services (codes, chat-server tokens), and of the
/// resets waiting for confirmation (their messages: `actors::resets`).
pub struct CaptchaActor {
    pub(super) settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    pub(super) verification: VerificationServiceClient<PeerChannel>,
    pub(super) redis: RedisPool,
    faults: Faults,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptchaError {
    #[error("no matching verification code")]
    CodeNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("verification service call failed: {0}")]
    Unreachable(tonic::Status),
    #[error("verification service answered error {0}")]
    Refused(i32),
    #[error(transparent)]
    Panicked(#[from] Panicked),
}

impl CaptchaActor {
    pub fn new(settings: Arc<Settings>, metrics: Arc<Metrics>) -> Result<Self, StartError> {
        let (verification, redis) = Self::build(&settings)?;
        Ok(Self {
            settings,
            metrics,
            verification,
            redis,
            faults: Faults::default(),
        })
    }

    fn build(
        settings: &Settings,
    ) -> Result<(VerificationServiceClient<PeerChannel>, RedisPool), StartError> {
        let channel = lazy_channel(settings.verification.uri(&settings.grpc), &settings.grpc)?;
        Ok((
            VerificationServiceClient::new(channel),
            kv::build_pool(&settings.redis)?,
        ))
    }
}

impl Actor for CaptchaActor {
    type Context = Context<Self>;
}

impl Guarded for CaptchaActor {
    const KIND: ActorKind = ActorKind::Captcha;
    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

accepts_injected_faults!(CaptchaActor);
restarts_on_request!(CaptchaActor);

impl Supervised for CaptchaActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.faults.check_restart();
        self.metrics.actor_restarted("captcha");
        match Self::build(&self.settings) {
            Ok((verification, redis)) => {
                self.verification = verification;
                self.redis = redis;
                log::warn!("captcha actor restarted with a new channel and Redis pool");
            }
            Err(error) => log::error!("captcha actor restarted, keeping its resources: {error}"),
        }
    }
}

impl Handler<ReportPool> for CaptchaActor {
    type Result = ResponseFuture<PoolUsage>;
    fn handle(&mut self, _: ReportPool, ctx: &mut Context<Self>) -> Self::Result {
        let unknown = |_| PoolUsage::unknown("redis_codes");
        guarded(self, ctx, unknown, |actor, _| {
            let usage = PoolUsage::of("redis_codes", actor.redis.state());
            Box::pin(async move { usage })
        })
    }
}

impl Handler<Probe> for CaptchaActor {
    type Result = ResponseFuture<Vec<Health>>;

    /// Redis answers PING; the verification service accepts a connection
    /// (its only method would mail a code).
    fn handle(&mut self, _: Probe, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |_| Health::all_down(&["redis", "verification"]),
            |actor, _| {
                let redis = actor.redis.clone();
                let limit = actor.settings.redis.timeout().min(BACKEND_PROBE_WAIT);
                let peer = (
                    actor.settings.verification.host.clone(),
                    actor.settings.verification.port,
                );
                let connect_limit = actor
                    .settings
                    .grpc
                    .connect_timeout()
                    .min(BACKEND_PROBE_WAIT);
                Box::pin(async move {
                    let ping = kv::with_connection(&redis, limit, |mut connection| async move {
                        redis::cmd("PING")
                            .query_async::<String>(&mut connection)
                            .await
                    });
                    let connect =
                        tokio::time::timeout(connect_limit, tokio::net::TcpStream::connect(peer));
                    let (ping, connect) = tokio::join!(ping, connect);
                    vec![
                        Health::new("redis", ping.is_ok()),
                        Health::new("verification", matches!(connect, Ok(Ok(_)))),
                    ]
                })
            },
        )
    }
}

/// What became of a request for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeIssued {
    /// A new code was mailed (`true`), or one was mailed moments ago,
    /// within the resend cooldown (`false`: no new code, no new mail; "a
    /// code has been sent" is true).
    pub mailed: bool,
    /// When a new code can be sent, if a cooldown runs.
    pub retry_after: Option<Duration>,
}

/// Asks the verification service to issue and mail a code for `email`.
/// Inside the resend cooldown that is a success too (the service's own
/// answer stays 27): a code has been sent, moments ago. An old client that
/// asks again after its own 10 s countdown is told so, not "Service Error!".
#[derive(Message)]
#[rtype(result = "Result<CodeIssued, CaptchaError>")]
pub struct IssueCode {
    pub email: Email,
    /// The mail's language; `None`: the verification service's default.
    pub locale: Option<Locale>,
}

impl Handler<IssueCode> for CaptchaActor {
    type Result = ResponseFuture<Result<CodeIssued, CaptchaError>>;

    fn handle(&mut self, message: IssueCode, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let mut client = actor.verification.clone();
                let redis = actor.redis.clone();
                let limit = actor.settings.redis.timeout();
                let slot = CodeSlot::of(&actor.settings.redis.key_prefix, message.email.as_str());
                Box::pin(async move {
                    let request = GetVerificationRequest {
                        email: message.email.into_string(),
                        locale: message.locale.map(Locale::tag).unwrap_or_default().into(),
                    };
                    let reply = client
                        .get_verification_code(request)
                        .await
                        .map_err(CaptchaError::Unreachable)?
                        .into_inner();
                    let mailed = match reply.error {
                        verification_error::OK => true,
                        verification_error::TOO_SOON => false,
                        code => return Err(CaptchaError::Refused(code)),
                    };
                    // Read after the answer: the service has stored the
                    // code and started the cooldown (an old service that
                    // keeps no cooldown leaves it unknown). Inside the
                    // cooldown the answer is the same whether or not the
                    // code was used meanwhile: it tells nobody whether
                    // someone registered or reset with it.
                    match codes::cooldown_left(&redis, limit, &slot).await {
                        Ok(retry_after) => Ok(CodeIssued {
                            mailed,
                            retry_after,
                        }),
                        Err(error) if mailed => {
                            log::warn!("cooldown of a code just sent unknown: {error}");
                            Ok(CodeIssued {
                                mailed,
                                retry_after: None,
                            })
                        }
                        Err(error) => Err(error.into()),
                    }
                })
            },
        )
    }
}

/// Takes the code of `email` away if it equals `code` (single use).
#[derive(Message)]
#[rtype(result = "Result<ClaimedCode, CaptchaError>")]
pub struct ClaimCode {
    pub email: Email,
    pub code: VerificationCode,
}

impl Handler<ClaimCode> for CaptchaActor {
    type Result = ResponseFuture<Result<ClaimedCode, CaptchaError>>;

    fn handle(&mut self, message: ClaimCode, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let redis = actor.redis.clone();
                let limit = actor.settings.redis.timeout();
                let max_attempts = actor.settings.limits.code_attempts;
                let slot = CodeSlot::of(&actor.settings.redis.key_prefix, message.email.as_str());
                Box::pin(async move {
                    codes::claim(&redis, limit, &slot, message.code.expose(), max_attempts)
                        .await?
                        .ok_or(CaptchaError::CodeNotFound)
                })
            },
        )
    }
}

/// Gives back a claimed code whose registration or reset failed.
#[derive(Message)]
#[rtype(result = "Result<(), CaptchaError>")]
pub struct RestoreCode(pub ClaimedCode);

impl Handler<RestoreCode> for CaptchaActor {
    type Result = ResponseFuture<Result<(), CaptchaError>>;

    fn handle(
        &mut self,
        RestoreCode(claimed): RestoreCode,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let redis = actor.redis.clone();
                let limit = actor.settings.redis.timeout();
                Box::pin(async move { Ok(codes::restore(&redis, limit, claimed).await?) })
            },
        )
    }
}

/// Revokes the chat-server token of user `uuid` (after a password reset):
/// the old token then fails at the chat server, and the next login gets a
/// new one from the balance service.
#[derive(Message)]
#[rtype(result = "Result<(), CaptchaError>")]
pub struct RevokeChatToken {
    pub uuid: i32,
}

impl Handler<RevokeChatToken> for CaptchaActor {
    type Result = ResponseFuture<Result<(), CaptchaError>>;

    fn handle(&mut self, message: RevokeChatToken, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let redis = actor.redis.clone();
                let limit = actor.settings.redis.timeout();
                let key = keys::user_token(&actor.settings.redis.key_prefix, message.uuid);
                Box::pin(async move { Ok(kv::delete(&redis, limit, key).await?) })
            },
        )
    }
}
