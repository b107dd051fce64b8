//! Every Redis key name the system uses, in one place (docs/PROTOCOL.md §4).
//!
//! No key can be spelled by someone else's input:
//!
//! * the keys the original services share keep their names: the code at
//!   `<email>`, `redis_server`, `user_token_<uuid>`;
//! * our own keys put a fixed name and a `:` before or after the input, and
//!   neither a normalised e-mail address nor any of those fixed names can
//!   contain a `:` (an address has no `:`, `{` or `}`; `user_token_<uuid>`
//!   and `redis_server` have no `@`), so no key of one kind equals a key of
//!   another kind, or another input's key of the same kind;
//! * the keys that belong to an address carry the code's key as their Redis
//!   Cluster hash tag (`{<prefix><email>}:cooldown`), so every script on an
//!   address touches one hash slot (`redis.key_prefix` may not contain `{`
//!   or `}`, which settings validation enforces).

use std::net::IpAddr;

use crate::security::client_address::AddressBucket;

/// Key of the verification code of `email` (already normalised). The
/// original service uses the bare address; `prefix` is `redis.key_prefix`.
pub fn verification_code(prefix: &str, email: &str) -> String {
    format!("{prefix}{email}")
}

/// Marks a recently issued code of `email`: while it exists, no new code is
/// sent to that address.
pub fn verification_cooldown(prefix: &str, email: &str) -> String {
    format!("{{{prefix}{email}}}:cooldown")
}

/// Wrong codes submitted for `email` since its code was issued.
pub fn verification_attempts(prefix: &str, email: &str) -> String {
    format!("{{{prefix}{email}}}:attempts")
}

/// Marks a recent reset request for `email` and the name with key
/// `name_key`: while it exists, no other confirmation mail goes out for
/// that pair (and an address is one account's, so it gets at most one).
pub fn reset_mail_cooldown(prefix: &str, email: &str, name_key: &str) -> String {
    format!("{{{prefix}{email}}}:reset_mail:{name_key}")
}

/// Account notices mailed to `email` in the current hour (the verification
/// service's own bound, whoever calls it).
pub fn notices_sent(prefix: &str, email: &str) -> String {
    format!("{{{prefix}{email}}}:notices")
}

/// The password reset of account `uuid` waiting for its owner's
/// confirmation.
pub fn pending_reset(prefix: &str, uuid: i32) -> String {
    format!("{prefix}pending_reset:{uuid}")
}

/// Login attempts of one account in the current window, by the name's key
/// (`Username::key`), which names at most one account.
pub fn login_attempts(prefix: &str, username_key: &str) -> String {
    format!("{prefix}login_attempts:{username_key}")
}

/// Requests from one client address (an IPv6 client by its /64) to one
/// endpoint in the current window.
pub fn address_requests(prefix: &str, endpoint: &str, address: IpAddr) -> String {
    let bucket = AddressBucket::of(address);
    format!("{prefix}requests:{endpoint}:{bucket}")
}

/// Hash of login counts: field = chat server name, value = count.
pub fn login_counts(prefix: &str) -> String {
    format!("{prefix}redis_server")
}

/// Registered servers of one kind (`chat` or `grpc`): hash of name →
/// `{"host":…,"port":…}`. Like every key of the balance service's own, it
/// carries `redis_server` as its hash tag, so one script or transaction can
/// read the registry, its probe results and the login counts together.
pub fn server_registry(prefix: &str, kind: &str) -> String {
    format!("{{{prefix}redis_server}}:{kind}_servers")
}

/// Failed probes in a row of each registered server of one kind: hash of
/// name → count (missing: the last probe succeeded, or none ran yet).
pub fn server_failures(prefix: &str, kind: &str) -> String {
    format!("{{{prefix}redis_server}}:{kind}_failures")
}

/// Held by the balance replica that probes the servers this interval.
pub fn prober_lease(prefix: &str) -> String {
    format!("{{{prefix}redis_server}}:prober")
}

/// Key of the chat-server token of user `uuid`.
pub fn user_token(prefix: &str, uuid: i32) -> String {
    format!("{prefix}user_token_{uuid}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;

    #[test]
    fn the_original_services_keys_keep_their_names() {
        assert_eq!(verification_code("", "a@b.co"), "a@b.co");
        assert_eq!(login_counts(""), "redis_server");
        assert_eq!(user_token("", 42), "user_token_42");
    }

    #[test]
    fn our_keys_carry_the_address_as_hash_tag() {
        assert_eq!(verification_cooldown("", "a@b.co"), "{a@b.co}:cooldown");
        assert_eq!(
            verification_attempts("t1:", "a@b.co"),
            "{t1:a@b.co}:attempts"
        );
        assert_eq!(login_attempts("", "bob"), "login_attempts:bob");
        assert_eq!(
            reset_mail_cooldown("", "a@b.co", "bob"),
            "{a@b.co}:reset_mail:bob"
        );
        assert_eq!(notices_sent("", "a@b.co"), "{a@b.co}:notices");
        assert_eq!(pending_reset("t1:", 7), "t1:pending_reset:7");
        let address = "10.0.0.1".parse().unwrap();
        assert_eq!(
            address_requests("", "/trylogin_server", address),
            "requests:/trylogin_server:10.0.0.1"
        );
    }

    #[test]
    fn no_address_spells_another_key() {
        // What used to be carol's cooldown and dave's attempt counter.
        for hostile in [
            "verification_cooldown_carol@example.com",
            "verification_attempts_dave@example.com",
            "{carol@example.com}:cooldown",
            "login_attempts:x@example.com",
            "pending_reset:7@example.com",
            "{carol@example.com}:reset_mail:carol",
            "{carol@example.com}:notices",
        ] {
            if let Ok(email) = Email::parse(hostile) {
                let key = verification_code("", email.as_str());
                for ours in [
                    verification_cooldown("", "carol@example.com"),
                    verification_attempts("", "dave@example.com"),
                    login_attempts("", "x@example.com"),
                    reset_mail_cooldown("", "carol@example.com", "carol"),
                    notices_sent("", "carol@example.com"),
                    pending_reset("", 7),
                ] {
                    assert_ne!(key, ours);
                }
                assert!(!key.contains(':') && !key.contains('{'), "{key}");
            }
        }
    }

    #[test]
    fn the_registry_shares_the_login_counts_slot() {
        use redis::cluster_routing::Slot;
        let get_slot = |key: &[u8]| Slot::for_key(key);
        for prefix in ["", "t1:"] {
            let counts = get_slot(login_counts(prefix).as_bytes());
            for key in [
                server_registry(prefix, "chat"),
                server_failures(prefix, "grpc"),
                prober_lease(prefix),
            ] {
                assert_eq!(get_slot(key.as_bytes()), counts, "{key}");
            }
        }
        // And an address's keys share its code's slot.
        let code = get_slot(verification_code("t1:", "a@b.co").as_bytes());
        assert_eq!(
            get_slot(verification_cooldown("t1:", "a@b.co").as_bytes()),
            code
        );
        assert_eq!(
            get_slot(verification_attempts("t1:", "a@b.co").as_bytes()),
            code
        );
        assert_eq!(
            get_slot(reset_mail_cooldown("t1:", "a@b.co", "x").as_bytes()),
            code
        );
    }

    #[test]
    fn the_prefix_applies_to_every_key() {
        assert_eq!(verification_code("t1:", "a@b.co"), "t1:a@b.co");
        assert_eq!(login_counts("t1:"), "t1:redis_server");
        assert_eq!(user_token("t1:", 7), "t1:user_token_7");
    }
}
