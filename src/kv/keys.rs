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

/// Wrong codes submitted for `email` since its code was issued.
pub fn verification_attempts(prefix: &str, email: &str) -> String {
    format!("{prefix}verification_attempts_{email}")
}

/// Login attempts of one account in the current window. Names compare
/// case-insensitively in MySQL, so they are counted that way too.
pub fn login_attempts(prefix: &str, username: &str) -> String {
    format!("{prefix}login_attempts_{}", username.to_lowercase())
}

/// Requests from one client address to one endpoint in the current window.
pub fn address_requests(prefix: &str, endpoint: &str, address: &std::net::IpAddr) -> String {
    format!("{prefix}requests_{endpoint}_{address}")
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
        assert_eq!(login_attempts("", "Bob"), "login_attempts_bob");
        let address = "10.0.0.1".parse().unwrap();
        assert_eq!(
            address_requests("", "/trylogin_server", &address),
            "requests_/trylogin_server_10.0.0.1"
        );
        assert_eq!(user_token("", 42), "user_token_42");
    }

    #[test]
    fn the_prefix_applies_to_every_key() {
        assert_eq!(verification_code("t1:", "a@b.co"), "t1:a@b.co");
        assert_eq!(login_counts("t1:"), "t1:redis_server");
        assert_eq!(user_token("t1:", 7), "t1:user_token_7");
    }
}
