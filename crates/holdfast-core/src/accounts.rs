//! A tenant's account settings: who may register, whether an email must be
//! verified before the first sign-in, and the password policy.
//!
//! The password rules follow NIST SP 800-63B §5.1.1.2 ("Memorized Secret
//! Verifiers"): at least 8 characters (the tenant may ask for more), at
//! least 64 allowed (Holdfast allows up to 1,024 by default), any
//! characters (spaces and all of Unicode; length counted in code points),
//! no composition rules, and a check against a list of common and breached
//! passwords (`data/common-passwords.txt`, compiled in: see its README) and
//! the account's own username. Comparisons against the list ignore case.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// NIST SP 800-63B §5.1.1.2: "at least 8 characters in length".
pub const NIST_MIN_LENGTH: u32 = 8;
/// NIST SP 800-63B §5.1.1.2: "at least 64 characters" must be permitted.
pub const NIST_MAX_AT_LEAST: u32 = 64;
/// The longest password any tenant may allow: hashing cost stays bounded.
pub const MAX_LENGTH_CAP: u32 = 1024;

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Only administrators create accounts (the default).
    #[default]
    Closed,
    /// Anyone may sign up.
    Open,
    /// Only someone holding an administrator's invitation.
    Invite,
}

/// Whether an email address must be verified before the first sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailVerification {
    /// Verification is offered, sign-in does not wait for it (the default,
    /// as in Keycloak and Auth0).
    #[default]
    Optional,
    /// No sign-in until the address is verified.
    Required,
}

macro_rules! words {
    ($t:ty, $what:literal, $($v:ident = $s:literal),+) => {
        impl $t {
            /// The word used in settings and on the command line.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($s => Ok(Self::$v),)+ _ => Err(format!(concat!($what, " must be one of: {}"), [$($s),+].join(", "))) }
            }
        }
    };
}
words!(
    Registration,
    "registration",
    Closed = "closed",
    Open = "open",
    Invite = "invite"
);
words!(
    EmailVerification,
    "email verification",
    Optional = "optional",
    Required = "required"
);

/// The password rules of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    /// Fewest characters (code points); at least 8.
    pub min_length: u32,
    /// Most characters; at least 64, at most 1,024.
    pub max_length: u32,
    /// Refuse passwords on the common-password list.
    pub blocklist: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: NIST_MIN_LENGTH,
            max_length: MAX_LENGTH_CAP,
            blocklist: true,
        }
    }
}

/// A tenant's account settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountPolicy {
    /// Who may register.
    pub registration: Registration,
    /// Whether sign-in waits for a verified email.
    pub email_verification: EmailVerification,
    /// The password rules.
    pub password: PasswordPolicy,
    /// Whether every sign-in needs a second factor.
    pub mfa: crate::mfa::MfaPolicy,
    /// The WebAuthn relying-party ID passkeys are registered under
    /// (WebAuthn §5.1.2, `rp.id`): a registrable suffix of the public
    /// URL's host. `None`: the public URL's host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passkey_rp_id: Option<String>,
}

/// Settings that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `min_length` below 8 or above `max_length`.
    #[error("password minimum length must be at least {NIST_MIN_LENGTH} and at most the maximum")]
    MinLength,
    /// `max_length` below 64 or above 1,024.
    #[error("password maximum length must be {NIST_MAX_AT_LEAST} to {MAX_LENGTH_CAP}")]
    MaxLength,
}

impl AccountPolicy {
    /// Checks the settings against NIST SP 800-63B §5.1.1.2's bounds.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let p = &self.password;
        if !(NIST_MAX_AT_LEAST..=MAX_LENGTH_CAP).contains(&p.max_length) {
            return Err(PolicyError::MaxLength);
        }
        if p.min_length < NIST_MIN_LENGTH || p.min_length > p.max_length {
            return Err(PolicyError::MinLength);
        }
        Ok(())
    }
}

/// Why a new password was refused: each says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    /// Fewer characters than the policy's minimum.
    #[error("the password must have at least {0} characters")]
    TooShort(u32),
    /// More characters than the policy's maximum.
    #[error("the password must have at most {0} characters")]
    TooLong(u32),
    /// On the list of common and breached passwords.
    #[error("this password is too common; choose one that is harder to guess")]
    Common,
    /// The account's own username (NIST: "context-specific words").
    #[error("the password must not be the username")]
    IsUsername,
}

impl PasswordPolicy {
    /// Checks a new password for the account named `username`.
    pub fn check(&self, password: &str, username: Option<&str>) -> Result<(), PasswordRejection> {
        let length = u32::try_from(password.chars().count()).unwrap_or(u32::MAX);
        if length < self.min_length {
            return Err(PasswordRejection::TooShort(self.min_length));
        }
        if length > self.max_length {
            return Err(PasswordRejection::TooLong(self.max_length));
        }
        let lower = password.to_lowercase();
        if username.is_some_and(|u| u.to_lowercase() == lower) {
            return Err(PasswordRejection::IsUsername);
        }
        if self.blocklist && is_common(&lower) {
            return Err(PasswordRejection::Common);
        }
        Ok(())
    }
}

/// Whether `lowercased` is on the compiled-in list.
fn is_common(lowercased: &str) -> bool {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("../data/common-passwords.txt")
            .lines()
            .filter(|l| !l.is_empty())
            .collect()
    })
    .contains(lowercased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nist_800_63b_s5_1_1_2_at_least_8_characters_counted_as_code_points() {
        let p = PasswordPolicy::default();
        assert_eq!(
            p.check("7 chars", None),
            Err(PasswordRejection::TooShort(8))
        );
        assert_eq!(
            p.check("ünïcødé", None),
            Err(PasswordRejection::TooShort(8))
        );
        assert_eq!(p.check("ünïcødé!", None), Ok(()), "8 code points, 12 bytes");
        let strict = PasswordPolicy {
            min_length: 12,
            ..p
        };
        assert_eq!(
            strict.check("eleven-char", None),
            Err(PasswordRejection::TooShort(12))
        );
        assert_eq!(strict.check("twelve-chars", None), Ok(()));
    }

    #[test]
    fn nist_800_63b_s5_1_1_2_any_characters_and_no_composition_rules() {
        let p = PasswordPolicy::default();
        for ok in [
            "all lower case words here",
            "🦀🦀🦀🦀🦀🦀🦀🦀",
            "パスワードはとても長い",
            "    spaces    count   ",
        ] {
            assert_eq!(p.check(ok, None), Ok(()), "{ok}");
        }
        let long = "x".repeat(1024);
        assert_eq!(
            p.check(&long, None),
            Ok(()),
            "64 must be allowed; 1,024 are"
        );
        assert_eq!(
            p.check(&"x".repeat(1025), None),
            Err(PasswordRejection::TooLong(1024))
        );
    }

    #[test]
    fn nist_800_63b_s5_1_1_2_common_and_breached_passwords_are_refused_ignoring_case() {
        let p = PasswordPolicy::default();
        for common in [
            "password",
            "Password1",
            "12345678",
            "QWERTYUIOP",
            "iloveyou",
        ] {
            assert_eq!(
                p.check(common, None),
                Err(PasswordRejection::Common),
                "{common}"
            );
        }
        let off = PasswordPolicy {
            blocklist: false,
            ..p
        };
        assert_eq!(off.check("password", None), Ok(()));
    }

    #[test]
    fn nist_800_63b_s5_1_1_2_the_username_is_refused_as_a_password() {
        let p = PasswordPolicy::default();
        assert_eq!(
            p.check("Alice.Liddell", Some("alice.liddell")),
            Err(PasswordRejection::IsUsername)
        );
        assert_eq!(p.check("Alice.Liddell", Some("bob.b")), Ok(()));
    }

    #[test]
    fn settings_outside_the_nist_bounds_cannot_be_stored() {
        let with = |min_length, max_length| AccountPolicy {
            password: PasswordPolicy {
                min_length,
                max_length,
                blocklist: true,
            },
            ..AccountPolicy::default()
        };
        assert_eq!(AccountPolicy::default().validate(), Ok(()));
        assert_eq!(with(8, 64).validate(), Ok(()));
        assert_eq!(with(7, 64).validate(), Err(PolicyError::MinLength));
        assert_eq!(with(65, 64).validate(), Err(PolicyError::MinLength));
        assert_eq!(with(8, 63).validate(), Err(PolicyError::MaxLength));
        assert_eq!(with(8, 1025).validate(), Err(PolicyError::MaxLength));
    }

    #[test]
    fn settings_words_round_trip_and_unknown_words_say_what_is_allowed() {
        for r in [
            Registration::Closed,
            Registration::Open,
            Registration::Invite,
        ] {
            assert_eq!(r.as_str().parse::<Registration>(), Ok(r));
        }
        for e in [EmailVerification::Optional, EmailVerification::Required] {
            assert_eq!(e.as_str().parse::<EmailVerification>(), Ok(e));
        }
        let err = "sometimes".parse::<Registration>().unwrap_err();
        assert!(err.contains("closed, open, invite"), "{err}");
        let stored: AccountPolicy = serde_json::from_str(r#"{"registration":"open"}"#).unwrap();
        assert_eq!(stored.registration, Registration::Open);
        assert_eq!(
            stored.password,
            PasswordPolicy::default(),
            "missing fields take defaults"
        );
    }
}
