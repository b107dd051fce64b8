use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::{InvalidInput, char_len_within};

/// A plaintext password as the client sent it: 8 to 128 characters, kept
/// verbatim (no trimming: spaces are part of a passphrase). Its `Debug` is
/// redacted and its memory is wiped on drop.
///
/// Composition rules (upper, lower, digit) are the client's business; the
/// server adds none (NIST SP 800-63B, ASVS 6.2.5).
pub struct Password(SecretString);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: String) -> Result<Password, InvalidInput> {
        if !char_len_within(&raw, Self::MIN_CHARS, Self::MAX_CHARS) {
            return Err(InvalidInput::new("password", "must be 8 to 128 characters"));
        }
        Ok(Password(raw.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn length_is_counted_in_characters() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(Password::parse("ü".repeat(128)).is_ok());
        assert!(Password::parse("ü".repeat(129)).is_err());
    }

    #[test]
    fn is_kept_verbatim_and_never_printed() {
        let password = Password::parse("  Secret 42  ".into()).unwrap();
        assert_eq!(password.expose(), "  Secret 42  ");
        assert!(!format!("{password:?}").contains("Secret"));
    }
}
