//! Gives accounts written by the old gateway the normalised identity
//! columns of migration `exact_identities` (NFKC and Unicode TS #39 have no
//! SQL). Runs after every migration run (`migrate`, and `serve` unless
//! `mysql.run_migrations = false`); a row an old gateway writes while ours
//! runs (a rolling upgrade) is adopted when a lookup of its name misses.

use diesel::QueryResult;
use diesel_async::AsyncMysqlConnection;

use super::models::{Credentials, UnadoptedAccount};
use super::queries::{self, IdentityColumn, set_identity_column};
use crate::domain::{Email, Username};

/// The credentials of the account `username` names (exactly: by its key),
/// adopting a row the old gateway wrote since our last start first.
pub async fn find_credentials(
    conn: &mut AsyncMysqlConnection,
    username: &Username,
) -> QueryResult<Option<Credentials>> {
    let key = username.key();
    let lookup = async |conn: &mut AsyncMysqlConnection| {
        let rows = queries::credentials_by_name(conn, &key, username.as_str()).await?;
        Ok::<_, diesel::result::Error>(sort_out(rows, &key, |row| {
            (&row.username, row.username_key.as_deref())
        }))
    };
    match lookup(conn).await? {
        Found::Account(row) => Ok(Some(row)),
        Found::Nothing => Ok(None),
        Found::Unadopted => match adopt_named(conn, username).await? {
            true => Ok(lookup(conn).await?.account()),
            false => Ok(None),
        },
    }
}

/// The uuid of the account with exactly this name and e-mail, adopting a
/// row the old gateway wrote since our last start first.
pub async fn find_account(
    conn: &mut AsyncMysqlConnection,
    username: &Username,
    email: &Email,
) -> QueryResult<Option<i32>> {
    let key = username.key();
    let lookup = async |conn: &mut AsyncMysqlConnection| {
        let rows =
            queries::accounts_by_identity(conn, &key, username.as_str(), email.as_str()).await?;
        Ok::<_, diesel::result::Error>(sort_out(rows, &key, |row| {
            (&row.username, row.username_key.as_deref())
        }))
    };
    let found = match lookup(conn).await? {
        Found::Unadopted if adopt_named(conn, username).await? => lookup(conn).await?,
        found => found,
    };
    Ok(found.account().map(|row| row.uuid))
}

/// What a lookup by name found.
enum Found<T> {
    /// The row whose key is the name's key.
    Account(T),
    /// Only rows not adopted yet that are exactly this name.
    Unadopted,
    Nothing,
}

impl<T> Found<T> {
    fn account(self) -> Option<T> {
        match self {
            Found::Account(row) => Some(row),
            Found::Unadopted | Found::Nothing => None,
        }
    }
}

/// Picks the row with the name's `key`; else tells whether an unadopted row
/// is exactly this name (the collation's other matches are look-alikes).
fn sort_out<T>(
    rows: Vec<T>,
    key: &str,
    identity: impl Fn(&T) -> (&String, Option<&str>),
) -> Found<T> {
    let mut unadopted = false;
    for row in rows {
        match identity(&row) {
            (_, Some(stored)) if stored == key => return Found::Account(row),
            (name, None) if is_exactly(name, key) => unadopted = true,
            _ => {}
        }
    }
    if unadopted {
        Found::Unadopted
    } else {
        Found::Nothing
    }
}

fn is_exactly(stored_name: &str, key: &str) -> bool {
    Username::parse(stored_name).is_ok_and(|name| name.key() == key)
}

/// Adopts the unadopted rows that the database's collation matches to
/// `username` and whose key is exactly `username`'s: the collation only
/// finds candidates, the gateway's own rule decides. Answers whether one
/// was adopted.
async fn adopt_named(conn: &mut AsyncMysqlConnection, username: &Username) -> QueryResult<bool> {
    let key = username.key();
    let candidates = queries::unadopted_accounts_named(conn, username.as_str()).await?;
    let exact: Vec<UnadoptedAccount> = candidates
        .into_iter()
        .filter(|row| is_exactly(&row.username, &key))
        .collect();
    Ok(adopt(conn, exact).await? > 0)
}

/// Adopts every row without a `username_key`; answers how many became
/// reachable. A row whose normalised name collides with another account's
/// stays unreachable (and is logged) until an operator resolves it: the
/// database had taken the two for different accounts, and guessing which one
/// a login means would hand one to the other.
pub async fn adopt_old_accounts(conn: &mut AsyncMysqlConnection) -> QueryResult<usize> {
    let rows = queries::unadopted_accounts(conn).await?;
    adopt(conn, rows).await
}

async fn adopt(conn: &mut AsyncMysqlConnection, rows: Vec<UnadoptedAccount>) -> QueryResult<usize> {
    let mut adopted = 0;
    for row in rows {
        let uuid = row.uuid;
        if let Some(stored) = &row.email {
            match Email::parse(stored) {
                Ok(email) => {
                    if email.as_str() != stored
                        && !set_identity_column(conn, uuid, IdentityColumn::Email(email.as_str()))
                            .await?
                    {
                        log::warn!(
                            "account {uuid}: its e-mail in canonical form belongs to another account; kept as it was"
                        );
                    }
                    let confusable = email.confusable_key();
                    let column = IdentityColumn::EmailConfusable(&confusable);
                    if !set_identity_column(conn, uuid, column).await? {
                        log::warn!("account {uuid}: its e-mail looks like another account's");
                    }
                }
                Err(error) => {
                    log::warn!("account {uuid}: stored e-mail is not usable ({error}); kept")
                }
            }
        }
        let Ok(username) = Username::parse(&row.username) else {
            log::warn!("account {uuid}: its stored name is not a valid username; not adopted");
            continue;
        };
        let confusable = username.confusable_key();
        let column = IdentityColumn::UsernameConfusable(&confusable);
        if !set_identity_column(conn, uuid, column).await? {
            log::warn!("account {uuid}: its name looks like another account's");
        }
        // Last: a row with its key set counts as adopted.
        let key = username.key();
        if set_identity_column(conn, uuid, IdentityColumn::UsernameKey(&key)).await? {
            adopted += 1;
        } else {
            log::error!(
                "account {uuid}: its name in normalised form is another account's; it cannot log in until an operator renames one of them"
            );
        }
    }
    Ok(adopted)
}
