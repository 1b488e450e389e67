//! The rules of self-service accounts (issue 14), pure: what a mailed link
//! is for and how long it lives, the short verification code, how hard
//! sign-up and recovery may be pushed, and how a session's device is named
//! on the account page.
//!
//! - Email verification: a link and a six-digit code, either works, 24 h,
//!   single use; at most [`MAX_CODE_FAILURES`] wrong codes spend it (a code
//!   has 10⁶ values, so guessing is bounded to 5 in 10⁶ per mail).
//! - Password reset (OWASP Forgot Password Cheat Sheet): a link, 30 min,
//!   single use; using it revokes every session (a "not before" stamp).
//! - Invitation (registration `invite`): a link, 7 days, single use; the
//!   invited user chooses a password, which verifies the address.
//! - Issuing a new token of one purpose spends the user's older ones.
//!
//! Only digests of links and codes are stored (the server's
//! `service::accounts`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::throttle::ThrottlePolicy;

/// How long an email verification link and code live.
pub const VERIFY_TTL_SECS: i64 = 24 * 3600;
/// How long a password-reset link lives (OWASP: short-lived).
pub const RESET_TTL_SECS: i64 = 30 * 60;
/// How long an invitation lives.
pub const INVITE_TTL_SECS: i64 = 7 * 24 * 3600;
/// Wrong codes that spend a verification token.
pub const MAX_CODE_FAILURES: i64 = 5;
/// How recent a sign-in must be for the account page's sensitive actions
/// (deleting the account; changing the password without the current one).
pub const FRESH_LOGIN_SECS: i64 = 5 * 60;

/// What a mailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Proves the user holds the address (`email` on the token).
    VerifyEmail,
    /// Lets the user choose a new password.
    ResetPassword,
    /// An administrator's invitation: the invited user chooses their first
    /// password (which also verifies the address it was sent to).
    Invite,
}

impl Purpose {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::Invite => "invite",
        }
    }

    /// How long a token of this purpose lives.
    pub fn ttl_secs(self) -> i64 {
        match self {
            Self::VerifyEmail => VERIFY_TTL_SECS,
            Self::ResetPassword => RESET_TTL_SECS,
            Self::Invite => INVITE_TTL_SECS,
        }
    }

    /// The prefix of the link's token (so a leaked one is recognisable).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::VerifyEmail => "hfev_",
            Self::ResetPassword => "hfpr_",
            Self::Invite => "hfin_",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "verify_email" => Ok(Self::VerifyEmail),
            "reset_password" => Ok(Self::ResetPassword),
            "invite" => Ok(Self::Invite),
            other => Err(format!("unknown account token purpose '{other}'")),
        }
    }
}

/// Why a presented link or code is not accepted. The page says the same
/// for each ("expired or already used"): only the log tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such token (mistyped, foreign, another tenant's).
    Unknown,
    /// Its time is up.
    Expired,
    /// Used, or replaced by a newer one.
    Spent,
    /// Too many wrong codes.
    TooManyCodes,
}

/// Whether a stored token may be used at `now`.
pub fn usable(
    expires_at: i64,
    consumed_at: Option<i64>,
    code_failures: i64,
    now: i64,
) -> Result<(), Refusal> {
    if consumed_at.is_some() {
        Err(Refusal::Spent)
    } else if code_failures >= MAX_CODE_FAILURES {
        Err(Refusal::TooManyCodes)
    } else if expires_at <= now {
        Err(Refusal::Expired)
    } else {
        Ok(())
    }
}

/// A verification code as typed: six digits, spaces and dashes ignored.
pub fn parse_code(raw: &str) -> Option<String> {
    let digits: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Six digits from a uniformly random `u32` (rejection keeps it uniform:
/// values at or above the largest multiple of 10⁶ are refused, `None`).
pub fn code_from_random(value: u32) -> Option<String> {
    const RANGE: u32 = 1_000_000;
    let limit = u32::MAX - (u32::MAX % RANGE);
    (value < limit).then(|| format!("{:06}", value % RANGE))
}

/// Limits on sign-up, verification and recovery requests, counted per
/// (email, address), per email and per address like password attempts
/// (each request counts; nothing takes it back): a few mails per address
/// per quarter hour, so nobody can flood an inbox or the outbox.
pub const ACCOUNT_MAIL_THROTTLE: ThrottlePolicy = ThrottlePolicy {
    pair_max_failures: 5,
    pair_window_secs: 15 * 60,
    account_delay_after: 5,
    account_max_delay_secs: 60,
    account_max_failures: 10,
    account_window_secs: 3600,
    address_max_failures: 30,
    address_window_secs: 15 * 60,
    known_address_secs: 0,
};

/// A person's display name (profile): trimmed, 1–200 characters, no
/// control characters; `Ok(None)` for an empty one.
pub fn parse_person_name(raw: &str) -> Result<Option<String>, crate::ValidationError> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(crate::ValidationError::DisplayName);
    }
    Ok(Some(name.to_owned()))
}

/// A device name from a `User-Agent` ("Chrome on Linux", "Safari on
/// iPhone"): the browser or app and the platform, when recognisable.
pub fn device_name(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return "Unknown device".to_owned();
    };
    // Order matters: Edge and Opera say "Chrome", Chrome says "Safari".
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("CriOS/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let platform = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, platform) {
        (Some(b), Some(p)) => format!("{b} on {p}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(p)) => p.to_owned(),
        // An app's own agent ("MyApp/1.2 …"): its first product token.
        (None, None) => ua
            .split_whitespace()
            .next()
            .map(|t| t.chars().take(60).collect())
            .unwrap_or_else(|| "Unknown device".to_owned()),
    }
}

/// An address as the account page shows it: IPv4 to its /24, IPv6 to its
/// /48 (where, not who).
pub fn approximate_ip(ip: Option<&str>) -> Option<String> {
    match ip?.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.x", o[0], o[1], o[2]))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => approximate_ip(Some(&v4.to_string())),
            None => {
                let s = v6.segments();
                Some(format!("{:x}:{:x}:{:x}::", s[0], s[1], s[2]))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_usable_once_before_it_expires() {
        assert_eq!(usable(100, None, 0, 99), Ok(()));
        assert_eq!(usable(100, None, 0, 100), Err(Refusal::Expired));
        assert_eq!(usable(100, Some(50), 0, 60), Err(Refusal::Spent));
        assert_eq!(
            usable(100, None, MAX_CODE_FAILURES, 60),
            Err(Refusal::TooManyCodes)
        );
    }

    #[test]
    fn codes_are_six_digits_typed_loosely() {
        assert_eq!(parse_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(parse_code("123-456").as_deref(), Some("123456"));
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(parse_code(bad), None, "{bad:?}");
        }
        assert_eq!(code_from_random(7).as_deref(), Some("000007"));
        assert_eq!(code_from_random(1_000_123).as_deref(), Some("000123"));
        assert_eq!(code_from_random(u32::MAX), None);
    }

    #[test]
    fn purposes_round_trip_and_reset_links_are_short_lived() {
        for p in [
            Purpose::VerifyEmail,
            Purpose::ResetPassword,
            Purpose::Invite,
        ] {
            assert_eq!(p.as_str().parse::<Purpose>(), Ok(p));
        }
        assert!(Purpose::ResetPassword.ttl_secs() <= 30 * 60);
        assert!("other".parse::<Purpose>().is_err());
    }

    #[test]
    fn the_account_mail_throttle_is_a_valid_policy() {
        assert_eq!(ACCOUNT_MAIL_THROTTLE.validate(), Ok(()));
    }

    #[test]
    fn devices_are_named_from_the_user_agent() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(device_name(Some(chrome)), "Chrome on Linux");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device_name(Some(iphone)), "Safari on iPhone");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(device_name(Some(edge)), "Edge on Windows");
        assert_eq!(device_name(Some("MyApp/1.2 (build 7)")), "MyApp/1.2");
        assert_eq!(device_name(None), "Unknown device");
    }

    #[test]
    fn addresses_are_shown_approximately() {
        assert_eq!(
            approximate_ip(Some("203.0.113.77")).as_deref(),
            Some("203.0.113.x")
        );
        assert_eq!(
            approximate_ip(Some("2001:db8:1:2::5")).as_deref(),
            Some("2001:db8:1::")
        );
        assert_eq!(approximate_ip(Some("nonsense")), None);
    }

    #[test]
    fn person_names_are_trimmed_and_bounded() {
        assert_eq!(
            parse_person_name("  Ada  ").unwrap().as_deref(),
            Some("Ada")
        );
        assert_eq!(parse_person_name("  ").unwrap(), None);
        assert!(parse_person_name(&"x".repeat(201)).is_err());
        assert!(parse_person_name("a\u{7}b").is_err());
    }
}
