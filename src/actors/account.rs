use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};
use diesel_async::AsyncMysqlConnection;
use secrecy::{ExposeSecret, SecretString};

use super::fault::{Faults, accepts_injected_faults};
use super::guard::{Guarded, Panicked, guarded};
use super::{ActorKind, BACKEND_PROBE_WAIT, Health, Probe, ReportPool, restarts_on_request};
use crate::config::Settings;
use crate::db::adoption;
use crate::db::models::NewAccount;
use crate::db::queries::{self, Insertion};
use crate::db::{DbError, DbPool, build_pool, with_connection};
use crate::domain::{Email, Password, Username};
use crate::metrics::{Metrics, PoolUsage};
use crate::security::password::{HashError, Interest};
use crate::security::{NewPasswordError, PasswordHasher, Verdict};

/// Owns the MySQL pool and the password hasher.
pub struct AccountActor {
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    pool: DbPool,
    hasher: PasswordHasher,
    faults: Faults,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("username or e-mail already taken")]
    Taken,
    #[error("no account with this name and e-mail")]
    NotFound,
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("the new password is too easy to guess")]
    Guessable,
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("password hashing: {0}")]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Panicked(#[from] Panicked),
}

impl From<NewPasswordError> for AccountError {
    fn from(error: NewPasswordError) -> Self {
        match error {
            NewPasswordError::Guessable => AccountError::Guessable,
            NewPasswordError::Hash(error) => AccountError::Hashing(error),
        }
    }
}

impl AccountActor {
    /// Hashes a new password of `username` / `email` under the strength rule.
    fn hash_new(
        &self,
        password: Password,
        username: &Username,
        email: &Email,
        interest: Interest,
    ) -> impl Future<Output = Result<String, AccountError>> + 'static {
        let hasher = self.hasher.clone();
        let inputs = vec![username.as_str().to_owned(), email.as_str().to_owned()];
        let min_score = self.settings.security.min_password_score;
        async move {
            Ok(hasher
                .hash_new(password, inputs, min_score, interest)
                .await?)
        }
    }

    /// The hasher is the process's one (its threads and queue bound are
    /// shared by every worker).
    pub fn new(settings: Arc<Settings>, metrics: Arc<Metrics>, hasher: PasswordHasher) -> Self {
        let pool = build_pool(&settings.mysql);
        Self {
            settings,
            metrics,
            pool,
            hasher,
            faults: Faults::default(),
        }
    }
}

impl Guarded for AccountActor {
    const KIND: ActorKind = ActorKind::Account;
    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

accepts_injected_faults!(AccountActor);
restarts_on_request!(AccountActor);

impl Actor for AccountActor {
    type Context = Context<Self>;
}

impl Supervised for AccountActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.faults.check_restart();
        self.metrics.actor_restarted("account");
        self.pool = build_pool(&self.settings.mysql);
        log::warn!("account actor restarted with a new MySQL pool");
    }
}

impl Handler<ReportPool> for AccountActor {
    type Result = ResponseFuture<PoolUsage>;
    fn handle(&mut self, _: ReportPool, ctx: &mut Context<Self>) -> Self::Result {
        let unknown = |_| PoolUsage::unknown("mysql");
        guarded(self, ctx, unknown, |actor, _| {
            let usage = PoolUsage::of("mysql", actor.pool.state());
            Box::pin(async move { usage })
        })
    }
}

impl Handler<Probe> for AccountActor {
    type Result = ResponseFuture<Vec<Health>>;

    /// MySQL answers `SELECT 1` on a pooled connection.
    fn handle(&mut self, _: Probe, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |_| Health::all_down(&["mysql"]),
            |actor, _| {
                let pool = actor.pool.clone();
                let limit = actor
                    .settings
                    .mysql
                    .checkout_timeout()
                    .min(BACKEND_PROBE_WAIT);
                Box::pin(async move {
                    let answered =
                        tokio::time::timeout(limit, with_connection(&pool, queries::ping)).await;
                    vec![Health::new("mysql", matches!(answered, Ok(Ok(()))))]
                })
            },
        )
    }
}

/// Creates an account; answers its uuid.
#[derive(Message)]
#[rtype(result = "Result<i32, AccountError>")]
pub struct Register {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    /// The request's interest in the hash (see `security::password`).
    pub interest: Interest,
}

impl Handler<Register> for AccountActor {
    type Result = ResponseFuture<Result<i32, AccountError>>;

    fn handle(&mut self, message: Register, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let pool = actor.pool.clone();
                let hashing = actor.hash_new(
                    message.password,
                    &message.username,
                    &message.email,
                    message.interest,
                );
                Box::pin(async move {
                    // Hash before checking out a connection: no connection sits idle
                    // for the length of a hash.
                    let hash = hashing.await?;
                    let (username_key, username_confusable) =
                        (message.username.key(), message.username.confusable_key());
                    let email_confusable = message.email.confusable_key();
                    let account = NewAccount {
                        username: message.username.as_str(),
                        password: &hash,
                        email: message.email.as_str(),
                        username_key: &username_key,
                        username_confusable: &username_confusable,
                        email_confusable: &email_confusable,
                    };
                    match with_connection(&pool, async |conn| {
                        // An old row not adopted yet would not collide with its own
                        // look-alikes: adopt first (one indexed query when none).
                        adoption::adopt_old_accounts(conn).await?;
                        queries::insert_account(conn, account).await
                    })
                    .await?
                    {
                        Insertion::Created(uuid) => Ok(uuid),
                        Insertion::Taken => Err(AccountError::Taken),
                    }
                })
            },
        )
    }
}

/// Succeeds when one account has both this name and this e-mail.
#[derive(Message)]
#[rtype(result = "Result<(), AccountError>")]
pub struct CheckAccount {
    pub username: Username,
    pub email: Email,
}

impl Handler<CheckAccount> for AccountActor {
    type Result = ResponseFuture<Result<(), AccountError>>;

    fn handle(&mut self, message: CheckAccount, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let pool = actor.pool.clone();
                Box::pin(async move {
                    let (username, email) = (&message.username, &message.email);
                    match with_connection(&pool, async |conn| {
                        adoption::find_account(conn, username, email).await
                    })
                    .await?
                    {
                        Some(_) => Ok(()),
                        None => Err(AccountError::NotFound),
                    }
                })
            },
        )
    }
}

/// Sets a new password on the account with this name and e-mail; answers
/// its uuid.
#[derive(Message)]
#[rtype(result = "Result<i32, AccountError>")]
pub struct ResetPassword {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub interest: Interest,
}

impl Handler<ResetPassword> for AccountActor {
    type Result = ResponseFuture<Result<i32, AccountError>>;

    fn handle(&mut self, message: ResetPassword, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let pool = actor.pool.clone();
                let hashing = actor.hash_new(
                    message.password,
                    &message.username,
                    &message.email,
                    message.interest,
                );
                Box::pin(async move {
                    let hash = hashing.await?;
                    let (username, email) = (&message.username, &message.email);
                    let set = async |conn: &mut AsyncMysqlConnection| {
                        let Some(account) = adoption::find_account(conn, username, email).await?
                        else {
                            return Ok(None);
                        };
                        queries::set_password(conn, account.uuid, &hash).await?;
                        Ok(Some(account.uuid))
                    };
                    with_connection(&pool, set)
                        .await?
                        .ok_or(AccountError::NotFound)
                })
            },
        )
    }
}

/// A stored address we would mail, in its canonical spelling (a row of the
/// old gateway may hold none, or one that is no address).
fn mailable(stored: Option<&str>) -> Option<Email> {
    Email::parse(stored?).ok()
}

/// The account a reset by confirmation mail is for, as stored.
#[derive(Debug)]
pub struct ResetTarget {
    pub uuid: i32,
    pub username: String,
    /// The account's own address: where the confirmation goes.
    pub email: Email,
}

/// A reset without a code: hashes the new password (under the strength
/// rule), then looks for the one account with this name and e-mail. Both
/// are done whether or not there is one, so the answer takes as long
/// either way.
#[derive(Message)]
#[rtype(result = "Result<(SecretString, Option<ResetTarget>), AccountError>")]
pub struct PrepareReset {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub interest: Interest,
}

impl Handler<PrepareReset> for AccountActor {
    type Result = ResponseFuture<Result<(SecretString, Option<ResetTarget>), AccountError>>;

    fn handle(&mut self, message: PrepareReset, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let pool = actor.pool.clone();
                let hashing = actor.hash_new(
                    message.password,
                    &message.username,
                    &message.email,
                    message.interest,
                );
                Box::pin(async move {
                    let hash = hashing.await?;
                    let (username, email) = (&message.username, &message.email);
                    let found = with_connection(&pool, async |conn| {
                        adoption::find_account(conn, username, email).await
                    })
                    .await?;
                    // A row of the old gateway may hold an address we would
                    // not mail: then there is nobody to confirm.
                    let target = found.and_then(|row| {
                        Some(ResetTarget {
                            uuid: row.uuid,
                            email: mailable(row.email.as_deref())?,
                            username: row.username,
                        })
                    });
                    Ok((hash.into(), target))
                })
            },
        )
    }
}

/// Sets the password of account `uuid` to a hash made earlier (a confirmed
/// reset).
#[derive(Message)]
#[rtype(result = "Result<(), AccountError>")]
pub struct SetPasswordHash {
    pub uuid: i32,
    pub password_hash: SecretString,
}

impl Handler<SetPasswordHash> for AccountActor {
    type Result = ResponseFuture<Result<(), AccountError>>;

    fn handle(&mut self, message: SetPasswordHash, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let pool = actor.pool.clone();
                Box::pin(async move {
                    let hash = message.password_hash.expose_secret();
                    let updated = with_connection(&pool, async |conn| {
                        queries::set_password(conn, message.uuid, hash).await
                    })
                    .await?;
                    // MySQL counts a row set to the value it had as not
                    // updated: only a missing account is an error.
                    match updated {
                        0 => {
                            let exists = with_connection(&pool, async |conn| {
                                queries::account_exists(conn, message.uuid).await
                            })
                            .await?;
                            if exists {
                                Ok(())
                            } else {
                                Err(AccountError::NotFound)
                            }
                        }
                        _ => Ok(()),
                    }
                })
            },
        )
    }
}

/// Where the notices of the account named `username` go: its stored name
/// and address (`None`: no such account, or none we would mail).
#[derive(Message)]
#[rtype(result = "Result<Option<(String, Email)>, AccountError>")]
pub struct FindAddress {
    pub username: Username,
}

impl Handler<FindAddress> for AccountActor {
    type Result = ResponseFuture<Result<Option<(String, Email)>, AccountError>>;

    fn handle(&mut self, message: FindAddress, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let pool = actor.pool.clone();
                Box::pin(async move {
                    let username = &message.username;
                    let found = with_connection(&pool, async |conn| {
                        adoption::find_credentials(conn, username).await
                    })
                    .await?;
                    Ok(found.and_then(|row| Some((row.username, mailable(row.email.as_deref())?))))
                })
            },
        )
    }
}

/// Whether `password` is the one a pending reset holds the hash of: the
/// owner confirms a reset by typing it again, so a reset someone else
/// asked for (with a password of their choosing) cannot be confirmed by
/// the owner's click alone.
#[derive(Message)]
#[rtype(result = "Result<bool, AccountError>")]
pub struct MatchesPending {
    pub password: Password,
    pub password_hash: SecretString,
    pub interest: Interest,
}

impl Handler<MatchesPending> for AccountActor {
    type Result = ResponseFuture<Result<bool, AccountError>>;

    fn handle(&mut self, message: MatchesPending, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let hasher = actor.hasher.clone();
                Box::pin(async move {
                    let stored = message.password_hash.expose_secret().to_owned();
                    let verdict = hasher
                        .verify(message.password, Some(stored), message.interest)
                        .await?;
                    Ok(matches!(verdict, Verdict::Match { .. }))
                })
            },
        )
    }
}

/// Checks a name and password; answers the account's uuid. A legacy
/// plaintext password (or a hash with weaker parameters) is re-hashed.
#[derive(Message)]
#[rtype(result = "Result<i32, AccountError>")]
pub struct Authenticate {
    pub username: Username,
    pub password: Password,
    pub interest: Interest,
}

impl Handler<Authenticate> for AccountActor {
    type Result = ResponseFuture<Result<i32, AccountError>>;

    fn handle(&mut self, message: Authenticate, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let (pool, hasher) = (actor.pool.clone(), actor.hasher.clone());
                Box::pin(async move {
                    let username = &message.username;
                    let found = with_connection(&pool, async |conn| {
                        adoption::find_credentials(conn, username).await
                    })
                    .await?;
                    let (uuid, stored) = match found {
                        Some(row) => (Some(row.uuid), Some(row.password)),
                        None => (None, None),
                    };
                    let verdict = hasher
                        .verify(message.password, stored.clone(), message.interest)
                        .await?;
                    if let (Verdict::OverCaps, Some(uuid)) = (&verdict, uuid) {
                        log::error!(
                            "account {uuid}: its stored password hash asks for argon2 parameters above \
                         security.max_hash_*; refused as a wrong password"
                        );
                    }
                    let (Verdict::Match { rehash }, Some(uuid), Some(stored)) =
                        (verdict, uuid, stored)
                    else {
                        return Err(AccountError::WrongCredentials);
                    };
                    if let Some(new_hash) = rehash {
                        // Best effort: the login itself has succeeded either way.
                        let replace = async |conn: &mut AsyncMysqlConnection| {
                            queries::replace_password(conn, uuid, &stored, &new_hash).await
                        };
                        let upgraded = with_connection(&pool, replace).await;
                        match upgraded {
                            Ok(_) => {
                                log::info!("password of account {uuid} re-hashed with argon2id")
                            }
                            Err(error) => {
                                log::warn!("re-hash of account {uuid} postponed: {error}")
                            }
                        }
                    }
                    Ok(uuid)
                })
            },
        )
    }
}
