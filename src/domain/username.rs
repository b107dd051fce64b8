use unicode_normalization::UnicodeNormalization;

use super::identity::{self, NameProblem};
use super::{InvalidInput, char_len_within};

/// An account name as it is shown: surrounding white space dropped, in NFKC
/// (so compatibility look-alikes such as full-width letters are stored in
/// one form), 1 to 50 characters (`Authentication.username` is VARCHAR(50)),
/// no control characters. Which account it names is decided by
/// [`Username::key`] alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 50;

    /// A name as used to find an account (login, check, reset).
    pub fn parse(raw: &str) -> Result<Username, InvalidInput> {
        let name: String = raw.trim().nfkc().collect();
        let name = name.trim();
        if !char_len_within(name, 1, Self::MAX_CHARS) {
            return Err(InvalidInput::new("username", "must be 1 to 50 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "username",
                "must not contain control characters",
            ));
        }
        Ok(Username(name.to_owned()))
    }

    /// A name for a new account: also one script only, and no invisible or
    /// otherwise disallowed characters (Unicode TS #39).
    pub fn parse_new(raw: &str) -> Result<Username, InvalidInput> {
        let name = Self::parse(raw)?;
        identity::check_new_name(name.as_str()).map_err(|problem| match problem {
            NameProblem::MixedScripts => {
                InvalidInput::new("username", "must not mix letters of different scripts")
            }
            NameProblem::DisallowedCharacter => InvalidInput::new(
                "username",
                "must not contain invisible, format or symbol characters",
            ),
        })?;
        Ok(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Which account this is: names that differ only in letter case are one
    /// account; nothing else is folded (`Authentication.username_key`).
    pub fn key(&self) -> String {
        identity::lookup_key(&self.0)
    }

    /// Names with the same confusable key cannot both be registered.
    pub fn confusable_key(&self) -> String {
        identity::confusable_key(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Username;

    #[test]
    fn accepts_one_to_fifty_characters() {
        assert_eq!(Username::parse(" bob ").unwrap().as_str(), "bob");
        assert!(Username::parse(&"é".repeat(50)).is_ok());
        assert!(Username::parse("李小龙").is_ok());
    }

    #[test]
    fn refuses_empty_long_or_control_characters() {
        assert!(Username::parse("").is_err());
        assert!(Username::parse("   ").is_err());
        assert!(Username::parse(&"a".repeat(51)).is_err());
        assert!(Username::parse("bo\u{7}b").is_err());
        assert!(Username::parse("bo\nb").is_err());
        // NFKC expands U+FDFA to 18 characters: the stored form is counted.
        assert!(Username::parse(&"\u{fdfa}".repeat(3)).is_err());
    }

    #[test]
    fn case_is_one_account_and_accents_are_not() {
        let key = |text: &str| Username::parse(text).unwrap().key();
        assert_eq!(key("Alice"), key("alice"));
        assert_eq!(key("ａｌｉｃｅ"), key("alice"));
        assert_eq!(Username::parse("ａｌｉｃｅ").unwrap().as_str(), "alice");
        assert_ne!(key("alicé"), key("alice"));
        assert_ne!(key("ALİCE"), key("alice"));
    }

    #[test]
    fn new_names_refuse_mixed_scripts_and_invisible_characters() {
        assert!(Username::parse_new("alice").is_ok());
        assert!(Username::parse_new("аlice").is_err());
        assert!(Username::parse_new("ali\u{200d}ce").is_err());
        // Finding an existing account is not refused.
        assert!(Username::parse("аlice").is_ok());
    }
}
