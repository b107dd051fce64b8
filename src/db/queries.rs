//! Every SQL statement of the gateway. Each function takes a connection and
//! returns diesel's `QueryResult`; the caller decides what an error means.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};

use super::models::{AccountIdentity, Credentials, NewAccount, NewProfile, UnadoptedAccount};
use super::schema::{Authentication, UserProfile};

diesel::define_sql_function! {
    /// MySQL's id of the row this connection inserted last.
    fn last_insert_id() -> diesel::sql_types::Unsigned<diesel::sql_types::BigInt>;
}

/// Outcome of inserting an account.
pub enum Insertion {
    Created(i32),
    /// A UNIQUE index on the name, the address or one of their keys refused
    /// the row: exactly one of several racing registrations wins, without a
    /// check-then-insert gap.
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

/// The account whose name key (`Username::key`) is `key`, together with
/// the rows not adopted yet (normally none): one round trip, `ref_or_null`
/// on the key's index.
pub async fn credentials_by_key(
    conn: &mut AsyncMysqlConnection,
    key: &str,
) -> QueryResult<Vec<Credentials>> {
    Authentication::table
        .filter(
            Authentication::username_key
                .eq(key)
                .or(Authentication::username_key.is_null()),
        )
        .select(Credentials::as_select())
        .load(conn)
        .await
}

/// The account with name key `key` and exactly this (normalised) e-mail
/// (both columns compare byte for byte), together with the rows not adopted
/// yet, as in [`credentials_by_key`].
pub async fn accounts_by_identity(
    conn: &mut AsyncMysqlConnection,
    key: &str,
    email: &str,
) -> QueryResult<Vec<AccountIdentity>> {
    Authentication::table
        .filter(
            Authentication::username_key
                .eq(key)
                .and(Authentication::email.eq(email))
                .or(Authentication::username_key.is_null()),
        )
        .select(AccountIdentity::as_select())
        .load(conn)
        .await
}

/// Sets the password of account `uuid`.
pub async fn set_password(
    conn: &mut AsyncMysqlConnection,
    uuid: i32,
    password_hash: &str,
) -> QueryResult<usize> {
    diesel::update(Authentication::table.filter(Authentication::uuid.eq(uuid)))
        .set(Authentication::password.eq(password_hash))
        .execute(conn)
        .await
}

/// Whether account `uuid` exists.
pub async fn account_exists(conn: &mut AsyncMysqlConnection, uuid: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        Authentication::table.filter(Authentication::uuid.eq(uuid)),
    ))
    .get_result(conn)
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

/// Rows written without identity keys (by the old gateway), oldest first.
pub async fn unadopted_accounts(
    conn: &mut AsyncMysqlConnection,
) -> QueryResult<Vec<UnadoptedAccount>> {
    Authentication::table
        .filter(Authentication::username_key.is_null())
        .select(UnadoptedAccount::as_select())
        .order(Authentication::uuid)
        .load(conn)
        .await
}

/// One normalised column of an old row, set on its own so that a collision
/// in one (a UNIQUE violation) leaves the others.
pub enum IdentityColumn<'a> {
    UsernameKey(&'a str),
    Email(&'a str),
    UsernameConfusable(&'a str),
    EmailConfusable(&'a str),
}

/// Sets one identity column of account `uuid`; `false` when a UNIQUE index
/// refused it (another account has that value).
pub async fn set_identity_column(
    conn: &mut AsyncMysqlConnection,
    uuid: i32,
    column: IdentityColumn<'_>,
) -> QueryResult<bool> {
    let row = Authentication::table.filter(Authentication::uuid.eq(uuid));
    let update = diesel::update(row);
    let outcome = match column {
        IdentityColumn::UsernameKey(value) => {
            update
                .set(Authentication::username_key.eq(value))
                .execute(conn)
                .await
        }
        IdentityColumn::Email(value) => {
            update
                .set(Authentication::email.eq(value))
                .execute(conn)
                .await
        }
        IdentityColumn::UsernameConfusable(value) => {
            update
                .set(Authentication::username_confusable.eq(value))
                .execute(conn)
                .await
        }
        IdentityColumn::EmailConfusable(value) => {
            update
                .set(Authentication::email_confusable.eq(value))
                .execute(conn)
                .await
        }
    };
    match outcome {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(error) => Err(error),
    }
}

/// The columns the gateway writes a user's name into.
const NAME_COLUMNS: [(&str, &str); 2] =
    [("Authentication", "username"), ("UserProfile", "nickname")];

#[derive(QueryableByName)]
struct ColumnDefinition {
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    is_nullable: String,
}

/// Gives every name column that is not utf8mb4 (an old database made on a
/// server whose default is latin1 or utf8mb3) the character set of every
/// name the gateway accepts, keeping its type, length, nullability and
/// indexes; its collation becomes utf8mb4's default, which also ignores case
/// and accents. Answers the columns changed.
pub async fn widen_name_columns(conn: &mut AsyncMysqlConnection) -> QueryResult<Vec<String>> {
    let mut widened = Vec::new();
    for (table, column) in NAME_COLUMNS {
        let narrow: Option<ColumnDefinition> = diesel::sql_query(
            "SELECT COLUMN_TYPE AS column_type, IS_NULLABLE AS is_nullable \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = ? AND COLUMN_NAME = ? AND CHARACTER_SET_NAME <> 'utf8mb4'",
        )
        .bind::<diesel::sql_types::Text, _>(table)
        .bind::<diesel::sql_types::Text, _>(column)
        .get_result(conn)
        .await
        .optional()?;
        let Some(definition) = narrow else { continue };
        let null = if definition.is_nullable == "YES" {
            "NULL"
        } else {
            "NOT NULL"
        };
        // Table and column are the constants above; the type is MySQL's own
        // spelling of the column's type, e.g. `varchar(50)`.
        diesel::sql_query(format!(
            "ALTER TABLE `{table}` MODIFY `{column}` {} CHARACTER SET utf8mb4 {null}",
            definition.column_type
        ))
        .execute(conn)
        .await?;
        widened.push(format!("{table}.{column}"));
    }
    Ok(widened)
}

/// A round trip that touches no table, to see that MySQL answers.
pub async fn ping(conn: &mut AsyncMysqlConnection) -> QueryResult<()> {
    diesel::select(1.into_sql::<diesel::sql_types::Integer>())
        .get_result::<i32>(conn)
        .await
        .map(drop)
}
