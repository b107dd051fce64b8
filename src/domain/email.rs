use std::fmt;

use super::{InvalidInput, char_len_within};

/// An e-mail address, trimmed and lower-cased: the same spelling is used as
/// the Redis key of its code, in the database and in answers.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// `Authentication.email` is VARCHAR(100).
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Email, InvalidInput> {
        let email = raw.trim().to_lowercase();
        if !char_len_within(&email, 3, Self::MAX_CHARS) {
            return Err(InvalidInput::new("email", "must be 3 to 100 characters"));
        }
        if !has_sane_syntax(&email) {
            return Err(InvalidInput::new("email", "must look like name@domain.tld"));
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// One `@`, a non-empty local part, a dotted domain of non-empty labels made
/// of letters, digits and hyphens, and no white space or control characters.
/// Deliberately stricter than RFC 5322: quoted local parts and address
/// literals are valid there but never reach a real mailbox of our users.
fn has_sane_syntax(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.chars().count() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"@\"(),:;<>[\\]".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn is_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice.Smith@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "x_y-z@mail-1.example.io",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@.com",
            "a@b..com",
            "a b@c.com",
            "a@b c.com",
            "a@@b.com",
            ".a@b.com",
            "a.@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b-.com",
            "a\u{0}@b.com",
            "<a>@b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_over_one_hundred_characters() {
        let at_limit = format!("{}@example.com", "a".repeat(64)) + &".com".repeat(6);
        assert_eq!(at_limit.len(), 100);
        assert!(Email::parse(&at_limit).is_ok());
        let over = format!("{at_limit}x");
        assert!(Email::parse(&over).is_err());
    }
}
