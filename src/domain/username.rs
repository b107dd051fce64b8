use super::{InvalidInput, char_len_within};

/// An account name: surrounding white space dropped, 1 to 50 characters
/// (`Authentication.username` is VARCHAR(50)), no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 50;

    pub fn parse(raw: &str) -> Result<Username, InvalidInput> {
        let name = raw.trim();
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

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
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
    }
}
