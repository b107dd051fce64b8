use std::fmt;

use super::identity::confusable_key;
use super::{InvalidInput, char_len_within};

/// An e-mail address in its one canonical spelling: ASCII, lower-cased, an
/// international domain in its IDNA (UTS #46) ASCII form (`exámple.com` is
/// `xn--exmple-qta.com`). The same spelling is the Redis key of its code,
/// the database value and the answer, so one stored address has exactly
/// one spelling and a look-alike domain is simply another address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// `Authentication.email` is VARCHAR(100).
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Email, InvalidInput> {
        let trimmed = raw.trim();
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(InvalidInput::new("email", "must look like name@domain.tld"));
        };
        if !local.is_ascii() {
            return Err(InvalidInput::new(
                "email",
                "the part before @ must be ASCII",
            ));
        }
        // UTS #46 mapping (case, width, compatibility forms) and punycode.
        let domain = idna::domain_to_ascii(domain)
            .map_err(|_| InvalidInput::new("email", "the domain is not a valid domain name"))?;
        let email = format!("{}@{domain}", local.to_ascii_lowercase());
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

    /// The address with its domain shown in Unicode, folded for look-alike
    /// detection (see [`super::identity`]): a new address with the same key
    /// as a registered one is taken.
    pub fn confusable_key(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        let (unicode_domain, _) = idna::domain_to_unicode(domain);
        confusable_key(&format!("{local}@{unicode_domain}"))
    }

    /// For logs at info level: the first character of the local part and
    /// the domain (`a***@example.com`).
    pub fn masked(&self) -> MaskedEmail<'_> {
        MaskedEmail(self)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An address with most of its local part hidden, for logs.
pub struct MaskedEmail<'a>(&'a Email);

impl fmt::Display for MaskedEmail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (local, domain) = self.0.0.rsplit_once('@').unwrap_or(("", ""));
        let first = local.chars().next().unwrap_or('?');
        write!(f, "{first}***@{domain}")
    }
}

/// One `@`, a non-empty dot-atom local part of RFC 5322 `atext` characters
/// except `{`, `}` and `|` (they would mean something in a Redis key), a
/// dotted domain of non-empty ASCII labels of letters, digits and hyphens.
/// Deliberately stricter than RFC 5322: quoted local parts and address
/// literals are valid there but never reach a real mailbox of our users.
fn has_sane_syntax(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    // DNS: labels of at most 63 characters; a top-level label is not a
    // number (`a@1.2.3.4` is no mailbox of ours).
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|top| !top.chars().all(|c| c.is_ascii_digit()));
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
            "{a}@b.com",
            "a:b@c.com",
            "ä@b.com",
            "verification_cooldown:a@b.com",
            "a@b_c.com",
            "eve@1.2.3.4",
            "x@üüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüü.de",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_international_domain_has_one_ascii_spelling() {
        let punycode = "alice@xn--exmple-qta.com";
        for spelling in [
            "alice@exámple.com",
            "ALICE@EXÁMPLE.COM",
            "alice@exa\u{301}mple.com",
            punycode,
            "alice@ｅxámple.com",
        ] {
            assert_eq!(
                Email::parse(spelling).unwrap().as_str(),
                punycode,
                "{spelling}"
            );
        }
        assert_ne!(
            Email::parse("alice@exámple.com").unwrap(),
            Email::parse("alice@example.com").unwrap()
        );
    }

    #[test]
    fn look_alike_addresses_share_a_confusable_key() {
        let key = |text: &str| Email::parse(text).unwrap().confusable_key();
        let alice = key("alice@example.com");
        for twin in [
            "alice@exámple.com",
            "aIice@example.com",
            "alice@ехample.com",
        ] {
            assert_eq!(key(twin), alice, "{twin}");
        }
        assert_ne!(key("alicia@example.com"), alice);
    }

    #[test]
    fn masks_all_but_the_first_letter_and_the_domain() {
        let email = Email::parse("alice@example.com").unwrap();
        assert_eq!(email.masked().to_string(), "a***@example.com");
    }

    #[test]
    fn a_domain_label_has_at_most_63_characters() {
        assert!(Email::parse(&format!("eve@{}.com", "a".repeat(63))).is_ok());
        assert!(Email::parse(&format!("eve@{}.com", "a".repeat(64))).is_err());
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
