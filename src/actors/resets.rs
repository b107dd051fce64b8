//! The captcha actor's part in resets by confirmation mail and in account
//! notices: the mail cooldown, the pending resets (`kv::resets`), and the
//! verification service's `SendAccountNotice`.

use std::future::Future;
use std::time::Duration;

use actix::{Context, Handler, Message, ResponseFuture};
use secrecy::{ExposeSecret, SecretString};

use super::captcha::{CaptchaActor, CaptchaError};
use super::guard::guarded;
use crate::domain::{Email, Locale, ResetToken, Username};
use crate::grpc::proto::account_notice_request::Notice;
use crate::grpc::proto::{AccountNoticeRequest, LoginLocked, ResetConfirmation};
use crate::grpc::verification_error;
use crate::kv::RedisPool;
use crate::kv::resets::{self, NewReset, PendingReset, TakenReset};

/// What every store operation here needs: the pool, its time limit, the
/// key prefix.
struct Store {
    redis: RedisPool,
    limit: Duration,
    prefix: String,
}

impl CaptchaActor {
    /// Runs `work` on the store, guarded like every handler.
    fn on_store<R, Fut>(
        &mut self,
        ctx: &mut Context<Self>,
        work: impl FnOnce(Store) -> Fut,
    ) -> ResponseFuture<Result<R, CaptchaError>>
    where
        R: 'static,
        Fut: Future<Output = Result<R, CaptchaError>> + 'static,
    {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let store = Store {
                    redis: actor.redis.clone(),
                    limit: actor.settings.redis.timeout(),
                    prefix: actor.settings.redis.key_prefix.clone(),
                };
                Box::pin(work(store))
            },
        )
    }
}

/// Claims the reset-mail cooldown of `email` and `username`: `Err(left)`
/// when the same pair was asked for within it.
#[derive(Message)]
#[rtype(result = "Result<Result<(), Duration>, CaptchaError>")]
pub struct ClaimResetMail {
    pub email: Email,
    pub username: Username,
}

impl Handler<ClaimResetMail> for CaptchaActor {
    type Result = ResponseFuture<Result<Result<(), Duration>, CaptchaError>>;

    fn handle(&mut self, message: ClaimResetMail, ctx: &mut Context<Self>) -> Self::Result {
        let cooldown = Duration::from_secs(self.settings.verification.resend_cooldown_secs);
        self.on_store(ctx, move |store| async move {
            let pair = (message.email.as_str(), &*message.username.key());
            let claimed =
                resets::claim_mail(&store.redis, store.limit, &store.prefix, pair, cooldown);
            Ok(claimed.await?)
        })
    }
}

/// Stores a reset of account `uuid` to `password_hash`, replacing its
/// earlier one; answers the token of its link.
#[derive(Message)]
#[rtype(result = "Result<ResetToken, CaptchaError>")]
pub struct HoldReset {
    pub uuid: i32,
    /// The account's, as stored: the confirmation goes to this address.
    pub username: String,
    pub email: Email,
    pub password_hash: SecretString,
}

impl Handler<HoldReset> for CaptchaActor {
    type Result = ResponseFuture<Result<ResetToken, CaptchaError>>;

    fn handle(&mut self, message: HoldReset, ctx: &mut Context<Self>) -> Self::Result {
        let lifetime = self.settings.security.reset_link_ttl();
        self.on_store(ctx, move |store| async move {
            let token = ResetToken::new(message.uuid);
            let reset = NewReset {
                uuid: message.uuid,
                digest: &token.digest(),
                password_hash: message.password_hash.expose_secret(),
                username: &message.username,
                email: message.email.as_str(),
                lifetime,
            };
            resets::store(&store.redis, store.limit, &store.prefix, reset).await?;
            Ok(token)
        })
    }
}

/// Undoes a reset whose mail could not be sent: its pending reset, if
/// one was stored (unless a newer one replaced it), and the pair's mail
/// cooldown go, so the user may ask again at once.
#[derive(Message)]
#[rtype(result = "Result<(), CaptchaError>")]
pub struct WithdrawReset {
    pub token: Option<ResetToken>,
    pub email: Email,
    pub username: Username,
}

impl Handler<WithdrawReset> for CaptchaActor {
    type Result = ResponseFuture<Result<(), CaptchaError>>;

    fn handle(&mut self, message: WithdrawReset, ctx: &mut Context<Self>) -> Self::Result {
        self.on_store(ctx, move |store| async move {
            let Store {
                redis,
                limit,
                prefix,
            } = &store;
            if let Some(token) = &message.token {
                resets::take(redis, *limit, prefix, token.uuid(), &token.digest()).await?;
            }
            let pair = (message.email.as_str(), &*message.username.key());
            resets::release_mail(redis, *limit, prefix, pair).await?;
            Ok(())
        })
    }
}

/// Whose reset a link confirms, without using it (`None`: used, replaced
/// or expired).
#[derive(Message)]
#[rtype(result = "Result<Option<PendingReset>, CaptchaError>")]
pub struct LookUpReset {
    pub token: ResetToken,
}

impl Handler<LookUpReset> for CaptchaActor {
    type Result = ResponseFuture<Result<Option<PendingReset>, CaptchaError>>;

    fn handle(&mut self, message: LookUpReset, ctx: &mut Context<Self>) -> Self::Result {
        self.on_store(ctx, move |store| async move {
            let (uuid, digest) = (message.token.uuid(), message.token.digest());
            let found = resets::peek(&store.redis, store.limit, &store.prefix, uuid, &digest);
            Ok(found.await?)
        })
    }
}

/// Takes the reset a link confirms (single use); `CodeNotFound` when it
/// was used, replaced or has expired.
#[derive(Message)]
#[rtype(result = "Result<TakenReset, CaptchaError>")]
pub struct TakeReset {
    pub token: ResetToken,
}

impl Handler<TakeReset> for CaptchaActor {
    type Result = ResponseFuture<Result<TakenReset, CaptchaError>>;

    fn handle(&mut self, message: TakeReset, ctx: &mut Context<Self>) -> Self::Result {
        self.on_store(ctx, move |store| async move {
            let (uuid, digest) = (message.token.uuid(), message.token.digest());
            let taken = resets::take(&store.redis, store.limit, &store.prefix, uuid, &digest);
            taken.await?.ok_or(CaptchaError::CodeNotFound)
        })
    }
}

/// Forgets the pending reset of account `uuid`: its password was just set
/// with a code, which an older link must not undo.
#[derive(Message)]
#[rtype(result = "Result<(), CaptchaError>")]
pub struct DiscardReset {
    pub uuid: i32,
}

impl Handler<DiscardReset> for CaptchaActor {
    type Result = ResponseFuture<Result<(), CaptchaError>>;

    fn handle(&mut self, message: DiscardReset, ctx: &mut Context<Self>) -> Self::Result {
        self.on_store(ctx, move |store| async move {
            let discarded = resets::discard(&store.redis, store.limit, &store.prefix, message.uuid);
            Ok(discarded.await?)
        })
    }
}

/// Puts back a reset whose confirmation failed.
#[derive(Message)]
#[rtype(result = "Result<(), CaptchaError>")]
pub struct RestoreReset(pub TakenReset);

impl Handler<RestoreReset> for CaptchaActor {
    type Result = ResponseFuture<Result<(), CaptchaError>>;

    fn handle(
        &mut self,
        RestoreReset(taken): RestoreReset,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        self.on_store(ctx, move |store| async move {
            Ok(resets::restore(&store.redis, store.limit, taken).await?)
        })
    }
}

/// What an account notice tells.
#[derive(Debug)]
pub enum AccountNotice {
    /// The link of a reset waiting for confirmation (usable for
    /// `security.reset_link_ttl_secs`).
    ResetConfirmation { token: ResetToken },
    /// Sign-ins refused from `started` to `ends` (seconds since 1970).
    LoginLocked { started: i64, ends: i64 },
}

/// Has the verification service mail `notice` to the account's address.
#[derive(Message)]
#[rtype(result = "Result<(), CaptchaError>")]
pub struct SendNotice {
    pub email: Email,
    pub username: String,
    pub locale: Option<Locale>,
    pub notice: AccountNotice,
}

impl Handler<SendNotice> for CaptchaActor {
    type Result = ResponseFuture<Result<(), CaptchaError>>;

    fn handle(&mut self, message: SendNotice, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let mut client = actor.verification.clone();
                let valid_for = actor.settings.security.reset_link_ttl();
                let notice = match message.notice {
                    AccountNotice::ResetConfirmation { token } => {
                        Notice::ResetConfirmation(ResetConfirmation {
                            token: token.expose(),
                            valid_secs: u32::try_from(valid_for.as_secs()).unwrap_or(u32::MAX),
                        })
                    }
                    AccountNotice::LoginLocked { started, ends } => {
                        Notice::LoginLocked(LoginLocked {
                            started_unix: started,
                            ends_unix: ends,
                        })
                    }
                };
                let request = AccountNoticeRequest {
                    email: message.email.into_string(),
                    locale: message.locale.map(Locale::tag).unwrap_or_default().into(),
                    username: message.username,
                    notice: Some(notice),
                };
                Box::pin(async move {
                    let reply = client
                        .send_account_notice(request)
                        .await
                        .map_err(CaptchaError::Unreachable)?
                        .into_inner();
                    match reply.error {
                        verification_error::OK => Ok(()),
                        code => Err(CaptchaError::Refused(code)),
                    }
                })
            },
        )
    }
}
