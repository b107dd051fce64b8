use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::{InvalidInput, char_len_within};

/// The code a user received by e-mail, as typed: 1 to 64 characters of any
/// kind (the original service issues 4-character codes, ours 6 digits). A
/// live code is a credential, so its `Debug` is redacted.
pub struct VerificationCode(SecretString);

impl VerificationCode {
    pub fn parse(raw: String) -> Result<VerificationCode, InvalidInput> {
        if !char_len_within(&raw, 1, 64) {
            return Err(InvalidInput::new("cpatcha", "must be 1 to 64 characters"));
        }
        Ok(VerificationCode(raw.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationCode([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::VerificationCode;

    #[test]
    fn accepts_one_to_sixty_four_characters_of_any_kind() {
        assert!(VerificationCode::parse("a".into()).is_ok());
        assert!(VerificationCode::parse(" ü-✓ ".into()).is_ok());
        assert!(VerificationCode::parse("x".repeat(64)).is_ok());
        assert!(VerificationCode::parse(String::new()).is_err());
        assert!(VerificationCode::parse("x".repeat(65)).is_err());
    }

    #[test]
    fn is_never_printed() {
        let code = VerificationCode::parse("4711".into()).unwrap();
        assert!(!format!("{code:?}").contains("4711"));
    }
}
