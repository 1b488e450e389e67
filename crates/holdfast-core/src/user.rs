//! End users of a tenant.
//!
//! Usernames are unique per tenant, compared case-insensitively after Unicode
//! normalisation: the comparison key is NFKC(lowercase(NFKC(name))), so that
//! `Ａlice`, `ALICE` and `alice` are one account (cf. RFC 8265 §3.3, the
//! UsernameCaseMapped profile, whose width mapping and case folding this
//! approximates). The name as typed is kept for display.

use unicode_normalization::UnicodeNormalization;

use crate::error::ValidationError;

/// A username as typed, with its normalised comparison key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    normalized: String,
}

impl Username {
    /// Parses a username: trimmed, 1–256 characters, no control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let display: String = raw.trim().nfc().collect();
        let len = display.chars().count();
        if len == 0 || len > 256 || display.chars().any(char::is_control) {
            return Err(ValidationError::Username);
        }
        Ok(Self {
            normalized: normalize_username(&display),
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
}

/// The comparison key for a username: NFKC, lowercased, NFKC again.
pub fn normalize_username(raw: &str) -> String {
    let first: String = raw.trim().nfkc().collect();
    first.to_lowercase().nfkc().collect()
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
    fn email_shape_is_checked() {
        assert!(parse_email("a@example.com").is_ok());
        for bad in ["", "a", "@x.y", "a@b", "a b@c.d", "a@.c", "a@c."] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }
}
