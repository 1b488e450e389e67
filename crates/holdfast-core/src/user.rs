//! End users of a tenant.
//!
//! Usernames are unique per tenant, compared case-insensitively after Unicode
//! normalisation: the comparison key is NFKC(lowercase(NFKC(name))), so that
//! `Ａlice`, `ALICE` and `alice` are one account (cf. RFC 8265 §3.3, the
//! UsernameCaseMapped profile, whose width mapping and case folding this
//! approximates). The name as typed is kept for display.
//!
//! Names that only *look* the same are refused too (issue 11 §4):
//! - invisible and formatting characters (general category Cf, such as
//!   U+200B ZERO WIDTH SPACE, U+200D ZERO WIDTH JOINER, U+FEFF and the bidi
//!   controls, and the other `Default_Ignorable_Code_Point`s of
//!   [UAX #44](https://www.unicode.org/reports/tr44/)) are not allowed in a
//!   username at all (RFC 8264 §9.13 likewise disallows default-ignorables);
//! - each username has a confusable *skeleton* ([UTS #39 §4](https://www.unicode.org/reports/tr39/#Confusable_Detection)),
//!   computed from its comparison key, and the store keeps the skeleton
//!   unique per tenant: `аlice` (Cyrillic а) has the skeleton of `alice`.
//!
//! Not supported: the full PRECIS IdentifierClass (RFC 8264 §4.2), which
//! would also refuse spaces, symbols and `@` that existing usernames use.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::error::ValidationError;

/// A username as typed, with its normalised comparison key and its
/// confusable skeleton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    normalized: String,
    skeleton: String,
}

impl Username {
    /// Parses a username: trimmed, 1–256 characters, no control, format or
    /// other invisible (default-ignorable) characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let display: String = raw.trim().nfc().collect();
        let len = display.chars().count();
        if len == 0 || len > 256 || display.chars().any(char::is_control) {
            return Err(ValidationError::Username);
        }
        if display.chars().any(is_invisible) {
            return Err(ValidationError::UsernameInvisible);
        }
        let normalized = normalize_username(&display);
        Ok(Self {
            skeleton: username_skeleton(&normalized),
            normalized,
            display,
        })
    }

    /// The name as the user typed it (NFC).
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The comparison key, unique per tenant.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The confusable skeleton (UTS #39), unique per tenant.
    pub fn skeleton(&self) -> &str {
        &self.skeleton
    }
}

/// The comparison key for a username: NFKC, lowercased, NFKC again.
pub fn normalize_username(raw: &str) -> String {
    let first: String = raw.trim().nfkc().collect();
    first.to_lowercase().nfkc().collect()
}

/// The UTS #39 skeleton of a comparison key (as from
/// [`normalize_username`]): two usernames whose skeletons are equal look
/// the same. Also used to fill the skeletons of usernames stored before
/// skeletons were.
pub fn username_skeleton(normalized: &str) -> String {
    unicode_security::skeleton(normalized).collect()
}

/// Whether `c` is invisible or formatting: general category Cf (format) or
/// `Default_Ignorable_Code_Point` (UAX #44, DerivedCoreProperties.txt).
fn is_invisible(c: char) -> bool {
    c.general_category() == GeneralCategory::Format
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Checks the rough shape of an email address (`local@domain.tld`-ish); real
/// verification is by sending mail, which is not Holdfast's job here.
pub fn parse_email(raw: &str) -> Result<String, ValidationError> {
    let raw = raw.trim();
    match raw.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && raw.len() <= 320
                && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
                && !domain.contains('@') =>
        {
            Ok(raw.to_owned())
        }
        _ => Err(ValidationError::Email),
    }
}

/// A user as the domain sees it (the password hash is kept by the store and
/// the password service, never in this value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable internal id (UUID text); the `sub` claim.
    pub id: String,
    /// Owning tenant id.
    pub tenant_id: String,
    /// Username as typed.
    pub username: String,
    /// Optional email address.
    pub email: Option<String>,
    /// Whether the user proved they receive mail at `email`.
    pub email_verified: bool,
    /// The name the user goes by (profile), if they gave one.
    pub display_name: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_differing_in_case_or_width_share_one_key() {
        let a = Username::parse("Alice").unwrap();
        let b = Username::parse("ALICE").unwrap();
        let c = Username::parse("\u{FF21}lice").unwrap(); // fullwidth A
        assert_eq!(a.normalized(), "alice");
        assert_eq!(a.normalized(), b.normalized());
        assert_eq!(a.normalized(), c.normalized());
        assert_eq!(b.display(), "ALICE");
    }

    #[test]
    fn composed_and_decomposed_accents_share_one_key() {
        let composed = Username::parse("jos\u{e9}").unwrap();
        let decomposed = Username::parse("jose\u{301}").unwrap();
        assert_eq!(composed.normalized(), decomposed.normalized());
    }

    #[test]
    fn usernames_refuse_empty_control_and_overlong() {
        assert!(Username::parse("  ").is_err());
        assert!(Username::parse("a\u{0}b").is_err());
        assert!(Username::parse(&"a".repeat(257)).is_err());
    }

    #[test]
    fn issue11_s4_invisible_and_format_characters_are_refused() {
        for bad in [
            "ali\u{200B}ce",  // zero width space
            "ali\u{200D}ce",  // zero width joiner
            "ali\u{200C}ce",  // zero width non-joiner
            "\u{FEFF}alice",  // zero width no-break space (BOM), not trimmed
            "ali\u{00AD}ce",  // soft hyphen
            "ali\u{202E}ec",  // right-to-left override
            "ali\u{2066}ce",  // left-to-right isolate
            "ali\u{2060}ce",  // word joiner
            "alice\u{FE0F}",  // variation selector
            "ali\u{034F}ce",  // combining grapheme joiner
            "ali\u{3164}ce",  // Hangul filler
            "alice\u{E0061}", // tag character
            "a\u{0600}lice",  // Arabic number sign (Cf)
        ] {
            assert_eq!(
                Username::parse(bad),
                Err(ValidationError::UsernameInvisible),
                "{:?}",
                bad
            );
        }
        for ok in [
            "alice",
            "jos\u{e9}",
            "alice.smith@example.com",
            "\u{5F20}\u{4F1F}",
            "ali ce",
        ] {
            assert!(Username::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn uts39_s4_confusable_usernames_share_one_skeleton() {
        let alice = Username::parse("alice").unwrap();
        for lookalike in [
            "\u{0430}lice", // Cyrillic а
            "al\u{0456}ce", // Cyrillic і
            "ALICE",
            "\u{FF41}lice", // fullwidth a
            "\u{0251}lice", // Latin alpha
        ] {
            let other = Username::parse(lookalike).unwrap();
            assert_eq!(other.skeleton(), alice.skeleton(), "{lookalike:?}");
        }
        assert_eq!(
            Username::parse("rnike").unwrap().skeleton(),
            Username::parse("mike").unwrap().skeleton()
        );
        // Different-looking names keep different skeletons.
        assert_ne!(
            Username::parse("alicia").unwrap().skeleton(),
            alice.skeleton()
        );
        assert_ne!(Username::parse("bob").unwrap().skeleton(), alice.skeleton());
        // The skeleton is a function of the comparison key, so stored keys
        // can be given theirs later.
        assert_eq!(username_skeleton(alice.normalized()), alice.skeleton());
    }

    #[test]
    fn email_shape_is_checked() {
        assert!(parse_email("a@example.com").is_ok());
        for bad in ["", "a", "@x.y", "a@b", "a b@c.d", "a@.c", "a@c."] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }
}
