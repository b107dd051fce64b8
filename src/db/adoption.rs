//! Gives accounts written by the old gateway the normalised identity
//! columns of migration `exact_identities` (NFKC and Unicode TS #39 have no
//! SQL). Runs after every migration run (`migrate`, and `serve` unless
//! `mysql.run_migrations = false`), so rows an old gateway still writes
//! during a rolling upgrade are adopted by the next run.

use diesel::QueryResult;
use diesel_async::AsyncMysqlConnection;

use super::queries::{self, IdentityColumn, set_identity_column};
use crate::domain::{Email, Username};

/// Adopts every row without a `username_key`; answers how many became
/// reachable. A row whose normalised name collides with another account's
/// stays unreachable (and is logged) until an operator resolves it: the
/// database had taken the two for different accounts, and guessing which one
/// a login means would hand one to the other.
pub async fn adopt_old_accounts(conn: &mut AsyncMysqlConnection) -> QueryResult<usize> {
    let mut adopted = 0;
    for row in queries::unadopted_accounts(conn).await? {
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
