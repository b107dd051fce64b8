//! When two spellings of a name or address are "the same".
//!
//! Two relations, both decided here and nowhere else (the database compares
//! the strings these functions produce byte for byte, `utf8mb4_bin`):
//!
//! * **Exact** ([`lookup_key`]): Unicode compatibility forms folded (NFKC)
//!   and letter case dropped. `Alice`, `ALICE` and `ａｌｉｃｅ` are one account;
//!   `alicé`, `álice`, `ALİCE` or `alıce` are not `alice`. Every lookup and
//!   every Redis key of an identity uses it.
//! * **Confusable** ([`confusable_key`]): case, accents and Unicode TS #39
//!   confusables folded too (`аlice` with a Cyrillic `а`, `a1ice`, `alıce`
//!   all fold to `alice`). Used only to refuse a *new* name or address that
//!   looks like a taken one; it never lets a look-alike reach an account.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::{GeneralSecurityProfile, MixedScript, skeleton};

/// Longest confusable key stored (`VARCHAR(255)`); a longer one is cut, which
/// can only make two very long names count as confusable.
pub const CONFUSABLE_KEY_MAX_CHARS: usize = 255;

/// The exact-match form: NFKC, then lower case.
pub fn lookup_key(text: &str) -> String {
    text.nfkc().collect::<String>().to_lowercase()
}

/// The look-alike form: NFKC without accents, mapped to its TS #39 skeleton
/// in upper case (where `I`, `l` and `1`, or `O` and `0`, meet) and again in
/// lower case (where `rn` and `m` meet). Case and confusables then fold
/// together: `aIice`, `ALICE` and `a1ice` are all `alice`.
pub fn confusable_key(text: &str) -> String {
    let mapped = |text: &str| strip_marks(&skeleton(text).collect::<String>());
    let upper = mapped(&strip_marks(&text.nfkc().collect::<String>()).to_uppercase());
    let lower = mapped(&upper.to_lowercase()).to_lowercase();
    // Runs of white space look like one space.
    let words: Vec<&str> = lower.split_whitespace().collect();
    words
        .join(" ")
        .chars()
        .take(CONFUSABLE_KEY_MAX_CHARS)
        .collect()
}

/// Decomposes `text` and drops every combining mark (accents, dots).
fn strip_marks(text: &str) -> String {
    text.nfd().filter(|c| !is_combining_mark(*c)).collect()
}

/// Why a new username may not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Letters of more than one script (Cyrillic `а` in `аlice`).
    MixedScripts,
    /// A character that is invisible, a format control, or otherwise not
    /// allowed in identifiers by TS #39 (ASCII punctuation and the plain
    /// space stay allowed, as before).
    DisallowedCharacter,
}

/// Checks a new username (already NFKC) against TS #39: one script, and
/// only characters allowed in identifiers or printable ASCII.
pub fn check_new_name(name: &str) -> Result<(), NameProblem> {
    let allowed = |c: char| (' '..='~').contains(&c) || c.identifier_allowed();
    if !name.chars().all(allowed) {
        return Err(NameProblem::DisallowedCharacter);
    }
    if !name.is_single_script() {
        return Err(NameProblem::MixedScripts);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_compatibility_forms_only() {
        for same in ["alice", "Alice", "ALICE", "ａｌｉｃｅ", " alice".trim()] {
            assert_eq!(lookup_key(same), "alice", "{same}");
        }
        for other in [
            "alicé",
            "álice",
            "ALİCE",
            "alıce",
            "аlice",
            "alice\u{200b}",
            "a\u{301}lice",
        ] {
            assert_ne!(lookup_key(other), "alice", "{other}");
        }
    }

    #[test]
    fn look_alikes_share_a_confusable_key() {
        let alice = confusable_key("alice");
        for twin in [
            "Alice",
            "alicé",
            "álice",
            "ALİCE",
            "alıce",
            "аlice",
            "a1ice",
            "aIice",
            "ALICE",
            "a\u{301}lice",
        ] {
            assert_eq!(confusable_key(twin), alice, "{twin}");
        }
        assert_ne!(confusable_key("bob"), alice);
        assert_eq!(confusable_key("rn"), confusable_key("m"));
        assert_eq!(confusable_key("0scar"), confusable_key("Oscar"));
        assert_eq!(confusable_key("bob  smith"), confusable_key("bob smith"));
    }

    #[test]
    fn new_names_are_single_script_and_visible() {
        for ok in [
            "alice",
            "Bob Smith",
            "李小龙",
            "jürgen_42",
            "o'brien",
            "山田たろう",
        ] {
            assert_eq!(check_new_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_new_name("аlice"), Err(NameProblem::MixedScripts));
        assert_eq!(check_new_name("aliceπ"), Err(NameProblem::MixedScripts));
        for invisible in [
            "ali\u{200b}ce",
            "alice\u{2060}",
            "al\u{00ad}ice",
            "a\u{3164}b",
        ] {
            assert_eq!(
                check_new_name(invisible),
                Err(NameProblem::DisallowedCharacter),
                "{invisible:?}"
            );
        }
    }
}
