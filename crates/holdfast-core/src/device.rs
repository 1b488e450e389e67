//! The device authorization grant, [RFC 8628](https://www.rfc-editor.org/rfc/rfc8628):
//! a device without a usable browser (a CLI over SSH, a TV) asks for a
//! pair of codes, shows the short *user code* to its user, and polls the
//! token endpoint with the long *device code* while the user approves on
//! another screen.
//!
//! What lives here is the rule, without IO: the user code's alphabet and
//! form (§6.1), the request's lifetime and polling interval (§3.2, §3.5),
//! the states a request goes through and what a poll answers in each.

/// The `grant_type` of a device-code token request (RFC 8628 §3.4).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How long the codes stay valid (RFC 8628 §3.2 `expires_in`): long enough
/// to walk to another computer and sign in with a second factor.
pub const LIFETIME_SECS: i64 = 600;

/// The minimum seconds between polls (RFC 8628 §3.2 `interval`, whose
/// default is 5).
pub const INTERVAL_SECS: i64 = 5;

/// RFC 8628 §3.5 `slow_down`: "the interval MUST be increased by 5 seconds
/// for this and all subsequent requests". Never beyond [`MAX_INTERVAL_SECS`].
pub const SLOW_DOWN_STEP_SECS: i64 = 5;

/// The interval a device that keeps polling too fast ends up at: well
/// inside the lifetime of the authorization code an approval leaves
/// waiting (60 s), so a device that slowed down still collects it.
pub const MAX_INTERVAL_SECS: i64 = 20;

/// Limits on the device endpoints, per address (and per user code at the
/// verification page): RFC 8628 §5.1 "the authorization server should
/// rate-limit user code attempts", and a device request table that
/// anyone can write to must not grow without bound. Roomy enough for an
/// office or a hotel behind one address: 20 tries per code (or requests
/// for codes) and address and 60 per address in 15 minutes, 20 per code
/// an hour. That is under 6,000 guesses a day from one address against
/// 20^8 codes.
pub const THROTTLE: crate::throttle::ThrottlePolicy = crate::throttle::ThrottlePolicy {
    pair_max_failures: 20,
    pair_window_secs: 15 * 60,
    account_delay_after: 20,
    account_max_delay_secs: 60,
    account_max_failures: 20,
    account_window_secs: 3600,
    address_max_failures: 60,
    address_window_secs: 15 * 60,
    known_address_secs: 0,
};

/// RFC 8628 §6.1: the user code's characters, "base-20 ... consonants
/// only", so codes spell no words and are unambiguous when read aloud, and
/// are case-insensitive when typed.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Characters in a user code: 20^8 ≈ 2^34.5 codes, which RFC 8628 §5.1
/// judges enough against guessing when the tries are limited (they are:
/// the codes live [`LIFETIME_SECS`] and the page is throttled, [`THROTTLE`]).
pub const USER_CODE_LEN: usize = 8;

/// A user code in its canonical form (eight letters of
/// [`USER_CODE_ALPHABET`], no separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    /// The code for 16 random bytes (uniform to within 2^-93: the bytes
    /// are read as one number and written in base 20).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        let mut n = u128::from_le_bytes(bytes);
        let mut code = String::with_capacity(USER_CODE_LEN);
        for _ in 0..USER_CODE_LEN {
            let digit = usize::try_from(n % 20).unwrap_or(0);
            code.push(char::from(USER_CODE_ALPHABET[digit]));
            n /= 20;
        }
        Self(code)
    }

    /// What a person typed, normalised (RFC 8628 §6.1: case-insensitive,
    /// separators and spaces ignored); `None` when it cannot be a code.
    pub fn parse(typed: &str) -> Option<Self> {
        let code: String = typed
            .chars()
            .filter(|c| !(c.is_whitespace() || *c == '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ok =
            code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        ok.then_some(Self(code))
    }

    /// The canonical form, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form shown to people: two groups of four, `WDJB-MJHT`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(USER_CODE_LEN / 2);
        format!("{a}-{b}")
    }
}

/// Where a device authorization request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Issued; nobody has entered its user code yet.
    Pending,
    /// Its user confirmed the code and is signing in (hosted login).
    Approved,
    /// The user signed in: an authorization code waits for the device.
    Authorized,
    /// The user said no, or the sign-in failed.
    Denied,
    /// The device got its tokens.
    Consumed,
}

impl DeviceStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Authorized => "authorized",
            Self::Denied => "denied",
            Self::Consumed => "consumed",
        }
    }

    /// The stored form back; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Approved,
            Self::Authorized,
            Self::Denied,
            Self::Consumed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// What a poll of the token endpoint answers (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Redeem the authorization code and answer with tokens.
    Ready,
    /// `authorization_pending`.
    Pending,
    /// `slow_down`: the interval grows by [`SLOW_DOWN_STEP_SECS`].
    SlowDown,
    /// `expired_token`.
    Expired,
    /// `access_denied`.
    Denied,
    /// The device code was redeemed already: `invalid_grant`.
    Used,
}

/// The answer to a poll at `now` of a request in `status`, valid until
/// `expires_at`, last polled at `last_polled_at`, with `interval`.
pub fn poll(
    status: DeviceStatus,
    expires_at: i64,
    last_polled_at: Option<i64>,
    interval: i64,
    now: i64,
) -> Poll {
    match status {
        DeviceStatus::Consumed => Poll::Used,
        DeviceStatus::Denied => Poll::Denied,
        _ if now >= expires_at => Poll::Expired,
        DeviceStatus::Authorized => Poll::Ready,
        DeviceStatus::Pending | DeviceStatus::Approved => {
            if last_polled_at.is_some_and(|last| now.saturating_sub(last) < interval) {
                Poll::SlowDown
            } else {
                Poll::Pending
            }
        }
    }
}

/// The interval after a `slow_down`.
pub fn slowed(interval: i64) -> i64 {
    interval
        .saturating_add(SLOW_DOWN_STEP_SECS)
        .min(MAX_INTERVAL_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_base20_consonant_alphabet_and_eight_characters() {
        for seed in [[0u8; 16], [0xff; 16], [7; 16]] {
            let code = UserCode::from_random(seed);
            assert_eq!(code.as_str().len(), USER_CODE_LEN);
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| USER_CODE_ALPHABET.contains(&b))
            );
        }
        assert_ne!(
            UserCode::from_random([1; 16]),
            UserCode::from_random([2; 16])
        );
    }

    #[test]
    fn typed_user_codes_are_case_insensitive_and_ignore_separators() {
        let code = UserCode::parse("wdjb-MJHT").unwrap();
        assert_eq!(code.as_str(), "WDJBMJHT");
        assert_eq!(code.display(), "WDJB-MJHT");
        assert_eq!(UserCode::parse(" WDJB MJHT "), Some(code));
        // Vowels, digits, wrong lengths: not a code.
        for bad in ["WDJB-MJHA", "WDJB-MJH1", "WDJB-MJH", "WDJB-MJHTT", ""] {
            assert_eq!(UserCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_poll_before_approval_is_pending_and_too_early_a_poll_is_slow_down() {
        assert_eq!(poll(DeviceStatus::Pending, 100, None, 5, 10), Poll::Pending);
        assert_eq!(
            poll(DeviceStatus::Approved, 100, Some(8), 5, 13),
            Poll::Pending
        );
        assert_eq!(
            poll(DeviceStatus::Pending, 100, Some(8), 5, 12),
            Poll::SlowDown
        );
        assert_eq!(slowed(5), 10);
        assert_eq!(slowed(MAX_INTERVAL_SECS), MAX_INTERVAL_SECS);
    }

    #[test]
    fn expiry_denial_and_reuse_each_have_their_answer() {
        assert_eq!(
            poll(DeviceStatus::Pending, 100, None, 5, 100),
            Poll::Expired
        );
        assert_eq!(
            poll(DeviceStatus::Authorized, 100, None, 5, 150),
            Poll::Expired
        );
        assert_eq!(poll(DeviceStatus::Denied, 100, None, 5, 10), Poll::Denied);
        assert_eq!(poll(DeviceStatus::Consumed, 100, None, 5, 10), Poll::Used);
        assert_eq!(
            poll(DeviceStatus::Authorized, 100, Some(9), 5, 10),
            Poll::Ready
        );
    }

    #[test]
    fn the_device_throttle_is_a_valid_policy() {
        assert_eq!(THROTTLE.validate(), Ok(()));
    }

    #[test]
    fn stored_statuses_round_trip() {
        for s in [
            DeviceStatus::Pending,
            DeviceStatus::Approved,
            DeviceStatus::Authorized,
            DeviceStatus::Denied,
            DeviceStatus::Consumed,
        ] {
            assert_eq!(DeviceStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeviceStatus::parse("other"), None);
    }
}
