//! Gives accounts written by the old gateway the normalised identity
//! columns of migration `exact_identities` (NFKC and Unicode TS #39 have no
//! SQL). Runs after every migration run (`migrate`, and `serve` unless
//! `mysql.run_migrations = false`). A row an old gateway writes while ours
//! runs (a rolling upgrade) is adopted as soon as any lookup meets it, and
//! before any registration, so a new account never takes the identity of
//! an old one that was not adopted yet.
//!
//! Rows are adopted in uuid order, so when two old rows mean the same
//! account under the gateway's rule, the older one is it, whatever order
//! their users come in; the other is made unreachable and logged for an
//! operator.

use diesel::QueryResult;
use diesel_async::AsyncMysqlConnection;

use super::models::{AccountIdentity, Credentials, UnadoptedAccount};
use super::queries::{self, IdentityColumn, set_identity_column};
use crate::domain::{Email, Username};

/// The credentials of the account `username` names (exactly: by its key).
pub async fn find_credentials(
    conn: &mut AsyncMysqlConnection,
    username: &Username,
) -> QueryResult<Option<Credentials>> {
    let key = username.key();
    // One round trip: the account, and any row still to adopt.
    let mut rows = queries::credentials_by_key(conn, &key).await?;
    if rows.iter().any(|row| row.username_key.is_none()) {
        adopt_old_accounts(conn).await?;
        rows = queries::credentials_by_key(conn, &key).await?;
    }
    Ok(rows
        .into_iter()
        .find(|row| row.username_key.as_deref() == Some(key.as_str())))
}

/// The account with exactly this name and e-mail.
pub async fn find_account(
    conn: &mut AsyncMysqlConnection,
    username: &Username,
    email: &Email,
) -> QueryResult<Option<AccountIdentity>> {
    let key = username.key();
    let mut rows = queries::accounts_by_identity(conn, &key, email.as_str()).await?;
    if rows.iter().any(|row| row.username_key.is_none()) {
        adopt_old_accounts(conn).await?;
        rows = queries::accounts_by_identity(conn, &key, email.as_str()).await?;
    }
    Ok(rows
        .into_iter()
        .find(|row| row.username_key.as_deref() == Some(key.as_str())))
}

/// Adopts every row without a `username_key`, oldest first; answers how
/// many became reachable. One indexed query when there is none.
pub async fn adopt_old_accounts(conn: &mut AsyncMysqlConnection) -> QueryResult<usize> {
    let rows = queries::unadopted_accounts(conn).await?;
    adopt(conn, rows).await
}

/// The key of a row that cannot be adopted: no name's key can equal it (a
/// username has no control characters), so no lookup reaches the row, and
/// no later adoption tries it again.
fn unreachable_key(uuid: i32) -> String {
    format!("\u{1}unreachable {uuid}")
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
            log::error!(
                "account {uuid}: its stored name is not a valid username; it cannot log in until an operator renames it"
            );
            let unreachable = unreachable_key(uuid);
            set_identity_column(conn, uuid, IdentityColumn::UsernameKey(&unreachable)).await?;
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
                "account {uuid}: its name in normalised form is an older account's; it cannot log in until an operator renames it"
            );
            let unreachable = unreachable_key(uuid);
            set_identity_column(conn, uuid, IdentityColumn::UsernameKey(&unreachable)).await?;
        }
    }
    Ok(adopted)
}
