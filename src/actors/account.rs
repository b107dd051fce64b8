use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};
use diesel_async::AsyncMysqlConnection;
use diesel_async::pooled_connection::PoolError;
use diesel_async::pooled_connection::bb8::PooledConnection;

use super::{Restart, Restarts, StartError};
use crate::config::Settings;
use crate::db::models::NewAccount;
use crate::db::queries::{self, Insertion};
use crate::db::{DbPool, build_pool};
use crate::domain::{Email, Password, Username};
use crate::security::password::HashError;
use crate::security::{NewPasswordError, PasswordHasher, Verdict};
use crate::status::Status;

/// Owns the MySQL pool and the password hasher.
pub struct AccountActor {
    settings: Arc<Settings>,
    restarts: Arc<Restarts>,
    pool: DbPool,
    hasher: PasswordHasher,
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
    #[error("no database connection: {0}")]
    Checkout(#[from] bb8::RunError<PoolError>),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("password hashing: {0}")]
    Hashing(#[from] HashError),
}

impl AccountError {
    pub fn status(&self) -> Status {
        match self {
            AccountError::Taken => Status::AccountAlreadyExists,
            AccountError::NotFound => Status::MysqlAccountNotExists,
            AccountError::WrongCredentials => Status::LoginInfoError,
            AccountError::Guessable => Status::InputInvalid,
            // A failed hash is a server-side fault like a database one; the
            // protocol has no more specific code for it.
            AccountError::Checkout(_) | AccountError::Query(_) | AccountError::Hashing(_) => {
                Status::MysqlInternalError
            }
        }
    }
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
    ) -> impl Future<Output = Result<String, AccountError>> + 'static {
        let hasher = self.hasher.clone();
        let inputs = vec![username.as_str().to_owned(), email.as_str().to_owned()];
        let min_score = self.settings.security.min_password_score;
        async move { Ok(hasher.hash_new(password, inputs, min_score).await?) }
    }

    pub fn new(settings: Arc<Settings>, restarts: Arc<Restarts>) -> Result<Self, StartError> {
        let pool = build_pool(&settings.mysql);
        let hasher = PasswordHasher::new(settings.security.hash_threads)?;
        Ok(Self {
            settings,
            restarts,
            pool,
            hasher,
        })
    }
}

impl Actor for AccountActor {
    type Context = Context<Self>;
}

impl Supervised for AccountActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.restarts.record();
        self.pool = build_pool(&self.settings.mysql);
        log::warn!("account actor restarted with a new MySQL pool");
    }
}

impl Handler<Restart> for AccountActor {
    type Result = ();
    fn handle(&mut self, _: Restart, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
    }
}

async fn checkout(
    pool: &DbPool,
) -> Result<PooledConnection<'_, AsyncMysqlConnection>, AccountError> {
    Ok(pool.get().await?)
}

/// Creates an account; answers its uuid.
#[derive(Message)]
#[rtype(result = "Result<i32, AccountError>")]
pub struct Register {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

impl Handler<Register> for AccountActor {
    type Result = ResponseFuture<Result<i32, AccountError>>;

    fn handle(&mut self, message: Register, _: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        let hashing = self.hash_new(message.password, &message.username, &message.email);
        Box::pin(async move {
            // Hash before checking out a connection: no connection sits idle
            // for the length of a hash.
            let hash = hashing.await?;
            let account = NewAccount {
                username: message.username.as_str(),
                password: &hash,
                email: message.email.as_str(),
            };
            match queries::insert_account(&mut *checkout(&pool).await?, account).await? {
                Insertion::Created(uuid) => Ok(uuid),
                Insertion::Taken => Err(AccountError::Taken),
            }
        })
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

    fn handle(&mut self, message: CheckAccount, _: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut conn = checkout(&pool).await?;
            let username = message.username.as_str();
            match queries::account_exists(&mut conn, username, message.email.as_str()).await? {
                true => Ok(()),
                false => Err(AccountError::NotFound),
            }
        })
    }
}

/// Sets a new password on the account with this name and e-mail.
#[derive(Message)]
#[rtype(result = "Result<(), AccountError>")]
pub struct ResetPassword {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

impl Handler<ResetPassword> for AccountActor {
    type Result = ResponseFuture<Result<(), AccountError>>;

    fn handle(&mut self, message: ResetPassword, _: &mut Context<Self>) -> Self::Result {
        let pool = self.pool.clone();
        let hashing = self.hash_new(message.password, &message.username, &message.email);
        Box::pin(async move {
            let hash = hashing.await?;
            let mut conn = checkout(&pool).await?;
            let (username, email) = (message.username.as_str(), message.email.as_str());
            match queries::set_password(&mut conn, username, email, &hash).await? {
                0 => Err(AccountError::NotFound),
                _ => Ok(()),
            }
        })
    }
}

/// Checks a name and password; answers the account's uuid. A legacy
/// plaintext password (or a hash with weaker parameters) is re-hashed.
#[derive(Message)]
#[rtype(result = "Result<i32, AccountError>")]
pub struct Authenticate {
    pub username: Username,
    pub password: Password,
}

impl Handler<Authenticate> for AccountActor {
    type Result = ResponseFuture<Result<i32, AccountError>>;

    fn handle(&mut self, message: Authenticate, _: &mut Context<Self>) -> Self::Result {
        let (pool, hasher) = (self.pool.clone(), self.hasher.clone());
        Box::pin(async move {
            let found = {
                let mut conn = checkout(&pool).await?;
                queries::find_credentials(&mut conn, message.username.as_str()).await?
            };
            let (uuid, stored) = match found {
                Some(row) => (Some(row.uuid), Some(row.password)),
                None => (None, None),
            };
            let verdict = hasher.verify(message.password, stored.clone()).await?;
            let (Verdict::Match { rehash }, Some(uuid), Some(stored)) = (verdict, uuid, stored)
            else {
                return Err(AccountError::WrongCredentials);
            };
            if let Some(new_hash) = rehash {
                // Best effort: the login itself has succeeded either way.
                let upgraded = match checkout(&pool).await {
                    Ok(mut conn) => queries::replace_password(&mut conn, uuid, &stored, &new_hash)
                        .await
                        .map_err(AccountError::from),
                    Err(error) => Err(error),
                };
                match upgraded {
                    Ok(_) => log::info!("password of account {uuid} re-hashed with argon2id"),
                    Err(error) => log::warn!("re-hash of account {uuid} postponed: {error}"),
                }
            }
            Ok(uuid)
        })
    }
}
