//! Refuses guessable new passwords (ASVS 5.0 6.2.4: at least the 3,000 most
//! common), with zxcvbn's bundled dictionaries, the username and the e-mail
//! counting as known words.

/// `true` when `password` scores at least `min_score` (0-4).
pub fn is_strong_enough(password: &str, user_inputs: &[&str], min_score: u8) -> bool {
    if min_score == 0 {
        return true;
    }
    // zxcvbn's cost grows with length; past 100 characters a passphrase is
    // long enough, and only its first 100 are scored.
    let scored: String = password.chars().take(100).collect();
    u8::from(zxcvbn::zxcvbn(&scored, user_inputs).score()) >= min_score
}

#[cfg(test)]
mod tests {
    use super::is_strong_enough;

    #[test]
    fn common_passwords_and_the_users_own_names_are_refused() {
        for weak in [
            "Password123",
            "password",
            "qwertyuiop",
            "Passw0rd!",
            "iloveyou1",
        ] {
            assert!(!is_strong_enough(weak, &[], 2), "{weak}");
        }
        assert!(!is_strong_enough(
            "MargaretThatcher",
            &["margaretthatcher", "m@example.com"],
            2
        ));
        assert!(!is_strong_enough(
            "m@example.com",
            &["maggie", "m@example.com"],
            2
        ));
    }

    #[test]
    fn ordinary_good_passwords_pass() {
        for strong in [
            "Correct-Horse-7",
            "Wonder-Land-42",
            "tr0ub4dor&3-staple",
            "Analytical-Engine-1",
        ] {
            assert!(
                is_strong_enough(strong, &["alice", "alice@example.com"], 2),
                "{strong}"
            );
        }
    }

    #[test]
    fn score_zero_accepts_anything() {
        assert!(is_strong_enough("password", &[], 0));
    }
}
