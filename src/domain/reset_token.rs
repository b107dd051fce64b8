use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::InvalidInput;

/// The secret of a password reset waiting for its owner's confirmation, as
/// the mailed link carries it: `<uuid>.<64 hex digits>` — the account's
/// uuid (which names the one place its pending reset is kept) and 256 random
/// bits. Redis keeps only the SHA-256 of the random part ([`Self::digest`]),
/// so whoever reads Redis cannot confirm a reset. `Debug` is redacted.
#[derive(Clone)]
pub struct ResetToken {
    uuid: i32,
    secret: SecretString,
}

/// Hex digits of the random part.
const SECRET_HEX: usize = 64;

impl ResetToken {
    /// A fresh token for account `uuid`, from the thread's CSPRNG.
    pub fn new(uuid: i32) -> ResetToken {
        let bytes: [u8; SECRET_HEX / 2] = rand::random();
        ResetToken {
            uuid,
            secret: hex(&bytes).into(),
        }
    }

    pub fn parse(raw: &str) -> Result<ResetToken, InvalidInput> {
        let invalid = || InvalidInput::new("token", "must be the token of a mailed link");
        let (digits, secret) = raw.trim().split_once('.').ok_or_else(invalid)?;
        // Exactly as `new` writes it: no sign, no leading zero.
        let uuid: i32 = digits
            .parse()
            .ok()
            .filter(|uuid: &i32| *uuid > 0 && uuid.to_string() == digits)
            .ok_or_else(invalid)?;
        let well_formed = secret.len() == SECRET_HEX
            && secret
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        if !well_formed {
            return Err(invalid());
        }
        Ok(ResetToken {
            uuid,
            secret: secret.to_owned().into(),
        })
    }

    /// The account whose pending reset this confirms.
    pub fn uuid(&self) -> i32 {
        self.uuid
    }

    /// What Redis keeps of it.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.secret.expose_secret().as_bytes()))
    }

    /// The token as the link carries it.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.uuid, self.secret.expose_secret())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResetToken({}.[REDACTED])", self.uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::ResetToken;

    #[test]
    fn a_new_token_parses_back_to_the_same_digest() {
        let token = ResetToken::new(42);
        let text = token.expose();
        assert!(text.starts_with("42."), "{text}");
        let parsed = ResetToken::parse(&text).unwrap();
        assert_eq!(parsed.uuid(), 42);
        assert_eq!(parsed.digest(), token.digest());
        assert_eq!(parsed.digest().len(), 64);
        assert_ne!(
            parsed.digest(),
            text[3..],
            "Redis keeps a digest, not the secret"
        );
        assert_ne!(ResetToken::new(42).digest(), token.digest());
    }

    #[test]
    fn anything_but_a_mailed_token_is_refused() {
        let secret = "a".repeat(64);
        for raw in [
            String::new(),
            secret.clone(),
            format!("0.{secret}"),
            format!("-1.{secret}"),
            format!("+7.{secret}"),
            format!("x.{secret}"),
            format!("7.{}", "A".repeat(64)),
            format!("7.{}", "a".repeat(63)),
            format!("7.{}g", "a".repeat(63)),
            format!("7.{secret}.1"),
            format!("99999999999.{secret}"),
        ] {
            assert!(ResetToken::parse(&raw).is_err(), "{raw}");
        }
        assert!(ResetToken::parse(&format!("7.{secret}")).is_ok());
    }

    #[test]
    fn debug_hides_the_secret() {
        let token = ResetToken::new(3);
        let shown = format!("{token:?}");
        assert!(!shown.contains(&token.expose()[2..]), "{shown}");
    }
}
