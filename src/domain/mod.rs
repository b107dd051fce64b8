//! Values a request carries, parsed once at the edge: code past the HTTP
//! layer only ever sees values that are known to be acceptable.

mod email;
pub mod identity;
mod locale;
mod password;
mod reset_token;
mod username;
mod verification_code;

pub use email::Email;
pub use locale::Locale;
pub use password::Password;
pub use reset_token::ResetToken;
pub use username::Username;
pub use verification_code::VerificationCode;

/// A well-formed request field whose value is not acceptable (status 25).
/// It names the field and the rule, never the value, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub rule: &'static str,
}

impl InvalidInput {
    pub(crate) fn new(field: &'static str, rule: &'static str) -> Self {
        Self { field, rule }
    }
}

/// Length in characters (MySQL's VARCHAR(n) counts characters, not bytes).
pub(crate) fn char_len_within(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.chars().count())
}
