//! Every SQL statement of the gateway. Each function takes a connection and
//! returns diesel's `QueryResult`; the caller decides what an error means.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};

use super::models::{Credentials, NewAccount, NewProfile};
use super::schema::{Authentication, UserProfile};

diesel::define_sql_function! {
    /// MySQL's id of the row this connection inserted last.
    fn last_insert_id() -> diesel::sql_types::Unsigned<diesel::sql_types::BigInt>;
}

/// Outcome of inserting an account.
pub enum Insertion {
    Created(i32),
    /// The UNIQUE index on `username` or `email` refused the row: exactly one
    /// of several racing registrations wins, without a check-then-insert gap.
    Taken,
}

/// Creates the account and its empty profile in one transaction, so a failure
/// leaves neither behind.
pub async fn insert_account(
    conn: &mut AsyncMysqlConnection,
    account: NewAccount<'_>,
) -> QueryResult<Insertion> {
    let outcome = conn
        .transaction::<_, DieselError, _>(async |conn| {
            diesel::insert_into(Authentication::table)
                .values(&account)
                .execute(conn)
                .await?;
            let id: u64 = diesel::select(last_insert_id()).get_result(conn).await?;
            let uuid = i32::try_from(id)
                .map_err(|_| DieselError::DeserializationError("uuid out of INT range".into()))?;
            diesel::insert_into(UserProfile::table)
                .values(NewProfile {
                    uuid,
                    nickname: account.username,
                })
                .execute(conn)
                .await?;
            Ok(uuid)
        })
        .await;
    match outcome {
        Ok(uuid) => Ok(Insertion::Created(uuid)),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(Insertion::Taken)
        }
        Err(error) => Err(error),
    }
}

pub async fn find_credentials(
    conn: &mut AsyncMysqlConnection,
    username: &str,
) -> QueryResult<Option<Credentials>> {
    Authentication::table
        .filter(Authentication::username.eq(username))
        .select(Credentials::as_select())
        .first(conn)
        .await
        .optional()
}

/// True when one account has both this name and this e-mail.
pub async fn account_exists(
    conn: &mut AsyncMysqlConnection,
    username: &str,
    email: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        Authentication::table
            .filter(Authentication::username.eq(username))
            .filter(Authentication::email.eq(email)),
    ))
    .get_result(conn)
    .await
}

/// Sets the password of the account with this name and e-mail; returns how
/// many accounts matched (0 or 1).
pub async fn set_password(
    conn: &mut AsyncMysqlConnection,
    username: &str,
    email: &str,
    password_hash: &str,
) -> QueryResult<usize> {
    diesel::update(
        Authentication::table
            .filter(Authentication::username.eq(username))
            .filter(Authentication::email.eq(email)),
    )
    .set(Authentication::password.eq(password_hash))
    .execute(conn)
    .await
}

/// Replaces a stored password by its new hash, unless it changed meanwhile
/// (a reset that raced the login wins).
pub async fn replace_password(
    conn: &mut AsyncMysqlConnection,
    uuid: i32,
    stored: &str,
    password_hash: &str,
) -> QueryResult<usize> {
    diesel::update(
        Authentication::table
            .filter(Authentication::uuid.eq(uuid))
            .filter(Authentication::password.eq(stored)),
    )
    .set(Authentication::password.eq(password_hash))
    .execute(conn)
    .await
}

/// A round trip that touches no table, to see that MySQL answers.
pub async fn ping(conn: &mut AsyncMysqlConnection) -> QueryResult<()> {
    diesel::select(1.into_sql::<diesel::sql_types::Integer>())
        .get_result::<i32>(conn)
        .await
        .map(drop)
}
