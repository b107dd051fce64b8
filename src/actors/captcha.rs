use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, MessageResult, ResponseFuture, Supervised};

use super::{Health, Probe, ReportPool, Restart, StartError};
use crate::config::Settings;
use crate::domain::{Email, VerificationCode};
use crate::grpc::proto::GetVerificationRequest;
use crate::grpc::proto::verification_service_client::VerificationServiceClient;
use crate::grpc::{PeerChannel, lazy_channel, verification_error};
use crate::kv::codes::{self, ClaimedCode, CodeSlot};
use crate::kv::{self, RedisPool, StoreError, keys};
use crate::metrics::{Metrics, PoolUsage};
use crate::status::Status;

/// Owns the verification service's channel and the Redis pool of the state
/// shared with the other services (codes, chat-server tokens).
pub struct CaptchaActor {
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    verification: VerificationServiceClient<PeerChannel>,
    redis: RedisPool,
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
}

impl CaptchaError {
    pub fn status(&self) -> Status {
        match self {
            CaptchaError::CodeNotFound => Status::RedisCaptchaNotFound,
            CaptchaError::Store(_) => Status::RedisUnknownError,
            CaptchaError::Unreachable(_) => Status::GrpcError,
            CaptchaError::Refused(verification_error::REDIS_FAILED) => Status::RedisUnknownError,
            CaptchaError::Refused(verification_error::TOO_SOON) => Status::RateLimited,
            CaptchaError::Refused(_) => Status::GrpcError,
        }
    }
}

impl CaptchaActor {
    pub fn new(settings: Arc<Settings>, metrics: Arc<Metrics>) -> Result<Self, StartError> {
        let (verification, redis) = Self::build(&settings)?;
        Ok(Self {
            settings,
            metrics,
            verification,
            redis,
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

impl Supervised for CaptchaActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
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
    type Result = MessageResult<ReportPool>;
    fn handle(&mut self, _: ReportPool, _: &mut Context<Self>) -> Self::Result {
        MessageResult(PoolUsage::of("redis_codes", self.redis.state()))
    }
}

impl Handler<Restart> for CaptchaActor {
    type Result = ();
    fn handle(&mut self, _: Restart, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
    }
}

impl Handler<Probe> for CaptchaActor {
    type Result = ResponseFuture<Vec<Health>>;

    /// Redis answers PING; the verification service accepts a connection
    /// (its only method would mail a code).
    fn handle(&mut self, _: Probe, _: &mut Context<Self>) -> Self::Result {
        let redis = self.redis.clone();
        let limit = self.settings.redis.timeout();
        let peer = (
            self.settings.verification.host.clone(),
            self.settings.verification.port,
        );
        let connect_limit = self.settings.grpc.connect_timeout();
        Box::pin(async move {
            let ping = kv::with_connection(&redis, limit, |mut connection| async move {
                redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
            });
            let connect = tokio::time::timeout(connect_limit, tokio::net::TcpStream::connect(peer));
            let (ping, connect) = tokio::join!(ping, connect);
            vec![
                Health {
                    component: "redis",
                    up: ping.is_ok(),
                },
                Health {
                    component: "verification",
                    up: matches!(connect, Ok(Ok(_))),
                },
            ]
        })
    }
}

/// Asks the verification service to issue and mail a code for `email`.
#[derive(Message)]
#[rtype(result = "Result<(), CaptchaError>")]
pub struct IssueCode {
    pub email: Email,
}

impl Handler<IssueCode> for CaptchaActor {
    type Result = ResponseFuture<Result<(), CaptchaError>>;

    fn handle(&mut self, message: IssueCode, _: &mut Context<Self>) -> Self::Result {
        let mut client = self.verification.clone();
        Box::pin(async move {
            let request = GetVerificationRequest {
                email: message.email.into_string(),
            };
            let reply = client
                .get_verification_code(request)
                .await
                .map_err(CaptchaError::Unreachable)?
                .into_inner();
            match reply.error {
                verification_error::OK => Ok(()),
                code => Err(CaptchaError::Refused(code)),
            }
        })
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

    fn handle(&mut self, message: ClaimCode, _: &mut Context<Self>) -> Self::Result {
        let redis = self.redis.clone();
        let limit = self.settings.redis.timeout();
        let max_attempts = self.settings.limits.code_attempts;
        let slot = CodeSlot::of(&self.settings.redis.key_prefix, message.email.as_str());
        Box::pin(async move {
            codes::claim(&redis, limit, &slot, message.code.expose(), max_attempts)
                .await?
                .ok_or(CaptchaError::CodeNotFound)
        })
    }
}

/// Gives back a claimed code whose registration or reset failed.
#[derive(Message)]
#[rtype(result = "Result<(), CaptchaError>")]
pub struct RestoreCode(pub ClaimedCode);

impl Handler<RestoreCode> for CaptchaActor {
    type Result = ResponseFuture<Result<(), CaptchaError>>;

    fn handle(&mut self, RestoreCode(claimed): RestoreCode, _: &mut Context<Self>) -> Self::Result {
        let redis = self.redis.clone();
        let limit = self.settings.redis.timeout();
        Box::pin(async move { Ok(codes::restore(&redis, limit, claimed).await?) })
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

    fn handle(&mut self, message: RevokeChatToken, _: &mut Context<Self>) -> Self::Result {
        let redis = self.redis.clone();
        let limit = self.settings.redis.timeout();
        let key = keys::user_token(&self.settings.redis.key_prefix, message.uuid);
        Box::pin(async move { Ok(kv::delete(&redis, limit, key).await?) })
    }
}
