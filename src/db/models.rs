//! Rows of the `chatting` tables, split by use as in Lemmy: what is read
//! (`Queryable`) and what is written (`Insertable`).

use diesel::prelude::*;

use super::schema::{Authentication, UserProfile};

/// What login needs of an account, and what tells whether the row is the
/// account a name means (see `db::adoption`).
#[derive(Queryable, Selectable)]
#[diesel(table_name = Authentication)]
#[diesel(check_for_backend(diesel::mysql::Mysql))]
pub struct Credentials {
    pub uuid: i32,
    /// As stored: what its notices call it.
    pub username: String,
    /// An argon2 PHC string, or the plaintext of a row the old gateway wrote.
    pub password: String,
    /// `None` for a row the old gateway wrote and nobody adopted yet.
    pub username_key: Option<String>,
    /// Where its notices go (a row of the old gateway may have none).
    pub email: Option<String>,
}

/// Which account a name and an address name.
#[derive(Queryable, Selectable)]
#[diesel(table_name = Authentication)]
#[diesel(check_for_backend(diesel::mysql::Mysql))]
pub struct AccountIdentity {
    pub uuid: i32,
    pub username_key: Option<String>,
    /// As stored: what its mail calls it.
    pub username: String,
    pub email: Option<String>,
}

/// A new account with the normalised forms of its identity (see
/// `domain::identity`): the UNIQUE indexes on them refuse a taken or
/// look-alike name or address.
#[derive(Insertable)]
#[diesel(table_name = Authentication)]
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub email: &'a str,
    pub username_key: &'a str,
    pub username_confusable: &'a str,
    pub email_confusable: &'a str,
}

/// A row the old gateway wrote, whose identity keys are still to be filled.
#[derive(Queryable, Selectable)]
#[diesel(table_name = Authentication)]
#[diesel(check_for_backend(diesel::mysql::Mysql))]
pub struct UnadoptedAccount {
    pub uuid: i32,
    pub username: String,
    pub email: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = UserProfile)]
pub struct NewProfile<'a> {
    pub uuid: i32,
    pub nickname: &'a str,
}
