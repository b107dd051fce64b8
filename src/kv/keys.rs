//! Every Redis key name the system uses, in one place (PROTOCOL.md §4).

/// Key of the verification code of `email` (already normalised). The
/// original service uses the bare address; `prefix` is `redis.key_prefix`.
pub fn verification_code(prefix: &str, email: &str) -> String {
    format!("{prefix}{email}")
}

/// Marks a recently issued code of `email`: while it exists, no new code is
/// sent to that address.
pub fn verification_cooldown(prefix: &str, email: &str) -> String {
    format!("{prefix}verification_cooldown_{email}")
}

/// Hash of login counts: field = chat server name, value = count.
pub fn login_counts(prefix: &str) -> String {
    format!("{prefix}redis_server")
}

/// Key of the chat-server token of user `uuid`.
pub fn user_token(prefix: &str, uuid: i32) -> String {
    format!("{prefix}user_token_{uuid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_are_those_of_the_original_services() {
        assert_eq!(verification_code("", "a@b.co"), "a@b.co");
        assert_eq!(
            verification_cooldown("", "a@b.co"),
            "verification_cooldown_a@b.co"
        );
        assert_eq!(login_counts(""), "redis_server");
        assert_eq!(user_token("", 42), "user_token_42");
    }

    #[test]
    fn the_prefix_applies_to_every_key() {
        assert_eq!(verification_code("t1:", "a@b.co"), "t1:a@b.co");
        assert_eq!(login_counts("t1:"), "t1:redis_server");
        assert_eq!(user_token("t1:", 7), "t1:user_token_7");
    }
}
