//! Second factors and authentication strength: TOTP codes
//! ([RFC 6238](https://www.rfc-editor.org/rfc/rfc6238)), recovery codes,
//! the `amr` values of [RFC 8176](https://www.rfc-editor.org/rfc/rfc8176)
//! and the `acr` Holdfast derives from them
//! ([OIDC Core §2](https://openid.net/specs/openid-connect-core-1_0.html#IDToken),
//! `acr_values` in §3.1.2.1).
//!
//! The `acr` values Holdfast issues and accepts in `acr_values`
//! (discovery's `acr_values_supported`):
//!
//! | `acr` | what was done | `amr` |
//! |---|---|---|
//! | `"1"` | one factor: a password | `["pwd"]` |
//! | `"2"` | two factors: a password and a TOTP or recovery code | `["pwd", "otp", "mfa"]` |
//! | `"2"` | two factors: a password and a passkey | `["pwd", "hwk", "mfa"]` |
//! | `"2"` | a passkey alone, with user verification (WebAuthn §6.2.3): possession of the key and the PIN or biometric that unlocked it | `["hwk", "user", "mfa"]` |
//!
//! A request's `acr_values` is a preference list; Holdfast treats it as the
//! floor the request needs: the weakest listed value it knows. A session
//! that meets it is used as is; one that does not is asked for exactly the
//! missing factor (a step-up), and keeps its identity. Unknown values are
//! ignored (OIDC Core §3.1.2.1: `acr_values` is a voluntary claim request).

use totp_rs::{Algorithm, Builder, Totp};

/// `amr` of a password (RFC 8176 §2).
pub const AMR_PASSWORD: &str = "pwd";
/// `amr` of a one-time code: TOTP or a recovery code (RFC 8176 §2).
pub const AMR_OTP: &str = "otp";
/// `amr` of more than one factor (RFC 8176 §2).
pub const AMR_MFA: &str = "mfa";
/// `amr` of proof of possession of a hardware-secured key: a passkey
/// (RFC 8176 §2).
pub const AMR_HWK: &str = "hwk";
/// `amr` of a user presence test (RFC 8176 §2): the authenticator's user
/// verification of a passkey sign-in.
pub const AMR_USER: &str = "user";

/// The `amr` of a passwordless sign-in with a passkey: WebAuthn with user
/// verification required proves the key (`hwk`) and the person unlocking
/// it (`user`): two factors.
pub fn passkey_amr() -> Vec<String> {
    [AMR_HWK, AMR_USER, AMR_MFA].map(str::to_owned).to_vec()
}

/// The `acr` of one factor.
pub const ACR_ONE_FACTOR: &str = "1";
/// The `acr` of two factors.
pub const ACR_TWO_FACTORS: &str = "2";
/// `acr_values_supported`, weakest first.
pub const ACR_VALUES_SUPPORTED: [&str; 2] = [ACR_ONE_FACTOR, ACR_TWO_FACTORS];

/// RFC 6238 parameters: 30-second steps, six digits, HMAC-SHA-1 (what
/// every authenticator app reads from an `otpauth://` URI).
pub const TOTP_STEP_SECS: u64 = 30;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: usize = 6;
/// Secret length: 160 bits (RFC 4226 §4 R6 recommends 160).
pub const TOTP_SECRET_BYTES: usize = 20;
/// How many recovery codes a user gets.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// How strong an authentication was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// One factor.
    OneFactor,
    /// Two factors.
    TwoFactors,
}

impl Strength {
    /// The `acr` of this strength.
    pub fn acr(self) -> &'static str {
        match self {
            Self::OneFactor => ACR_ONE_FACTOR,
            Self::TwoFactors => ACR_TWO_FACTORS,
        }
    }

    /// The strength an `acr` value names, if Holdfast knows it.
    pub fn from_acr(acr: &str) -> Option<Self> {
        match acr {
            ACR_ONE_FACTOR => Some(Self::OneFactor),
            ACR_TWO_FACTORS => Some(Self::TwoFactors),
            _ => None,
        }
    }

    /// The strength an `amr` list shows.
    pub fn of_amr(amr: &[String]) -> Self {
        if amr.iter().any(|m| m == AMR_MFA) {
            Self::TwoFactors
        } else {
            Self::OneFactor
        }
    }
}

/// The `acr` of an authentication with methods `amr`.
pub fn acr_of(amr: &[String]) -> &'static str {
    Strength::of_amr(amr).acr()
}

/// The `amr` after a second factor (`method`, e.g. [`AMR_OTP`]) was added
/// to `amr`: both methods, and `mfa` (RFC 8176 §2: "multiple-factor
/// authentication"), each once.
pub fn with_second_factor(amr: &[String], method: &str) -> Vec<String> {
    let mut out: Vec<String> = amr.to_vec();
    for m in [method, AMR_MFA] {
        if !out.iter().any(|x| x == m) {
            out.push(m.to_owned());
        }
    }
    out
}

/// The floor an `acr_values` request parameter sets: the weakest known
/// value listed, or `None` (no floor) when it lists none Holdfast knows.
pub fn requested_strength(acr_values: Option<&str>) -> Option<Strength> {
    acr_values?.split(' ').filter_map(Strength::from_acr).min()
}

/// Whether `rp_id` may be the WebAuthn relying-party ID of pages served at
/// `host` (WebAuthn §5.1.2 and HTML's "is a registrable domain suffix of
/// or is equal to"): the host itself or a suffix of it after a dot, of
/// lowercase letters, digits, `-` and `.`. An IP address is no domain and
/// has no RP ID. (A public suffix such as `co.uk` passes here; browsers
/// refuse it.)
pub fn rp_id_allowed(host: &str, rp_id: &str) -> bool {
    let well_formed = !rp_id.is_empty()
        && rp_id.len() <= 253
        && !rp_id.starts_with('.')
        && !rp_id.ends_with('.')
        && rp_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && rp_id.chars().any(|c| c.is_ascii_lowercase());
    well_formed
        && host.parse::<std::net::IpAddr>().is_err()
        && (host == rp_id || host.ends_with(&format!(".{rp_id}")))
}

/// Whether a tenant or client requires a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicy {
    /// Users choose (the default).
    #[default]
    Optional,
    /// Every sign-in needs a second factor; a user without one enrols at
    /// their next sign-in.
    Required,
}

impl MfaPolicy {
    /// The setting's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

impl std::str::FromStr for MfaPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            other => Err(format!("unknown MFA policy {other:?} (optional, required)")),
        }
    }
}

/// A TOTP secret with the names an authenticator app shows.
pub struct TotpKey {
    totp: Totp,
}

impl std::fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpKey(..)")
    }
}

impl TotpKey {
    /// The key of `secret` (at least 16 bytes), shown in apps as
    /// `issuer` / `account`.
    pub fn new(secret: &[u8], issuer: &str, account: &str) -> Self {
        // The label is `issuer:account` (Key Uri Format), so neither part
        // may hold a ':'; they are display text, so one is replaced.
        let label = |s: &str| s.replace(':', "_");
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(TOTP_DIGITS as u8)
            .with_skew(1)
            .with_step_duration(TOTP_STEP_SECS)
            .with_secret(secret.to_vec())
            .with_issuer(Some(label(issuer)))
            .with_account_name(label(account))
            .build_noncompliant();
        Self { totp }
    }

    /// The `otpauth://totp/...` URI an app scans (the QR code's content).
    pub fn uri(&self) -> String {
        // The only refusal is a ':' in the account name, replaced above.
        self.totp.to_url().unwrap_or_default()
    }

    /// The secret in base32, for typing in by hand.
    pub fn base32(&self) -> String {
        self.totp.secret().to_base32()
    }

    /// The code for Unix time `at` (what an app shows; the tests' oracle).
    #[cfg(test)]
    pub fn code_at(&self, at: u64) -> String {
        self.totp.generate(at).to_string()
    }

    /// The time step `code` belongs to at Unix time `now`, allowing one
    /// step of clock drift either way (RFC 6238 §5.2: "at most one time
    /// step"), or `None`. Every candidate is compared in constant time.
    pub fn matching_step(&self, code: &str, now: i64) -> Option<i64> {
        let code = normalize_code(code);
        if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = u64::try_from(now).ok()?;
        // `check` compares tokens in constant time and tries the step
        // before, this one and the next (skew 1).
        let step = self.totp.check(&code, now)?;
        i64::try_from(step).ok()
    }
}

/// A code as typed: spaces and dashes dropped, letters lower-cased.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The alphabet of recovery codes: lower-case letters and digits without
/// look-alikes (no `0 o 1 l i`): 31 symbols.
const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// A recovery code from 10 random bytes: ten symbols of
/// [`RECOVERY_ALPHABET`] (about 49 bits), shown as `xxxxx-xxxxx`.
pub fn recovery_code_from_random(bytes: &[u8; 10]) -> String {
    let mut out = String::with_capacity(11);
    for (i, b) in bytes.iter().enumerate() {
        if i == 5 {
            out.push('-');
        }
        // 256 = 8·31 + 8: the bias of the modulo is under 4%, on a
        // 49-bit code; what matters is that codes are not guessable.
        out.push(RECOVERY_ALPHABET[usize::from(*b) % RECOVERY_ALPHABET.len()] as char);
    }
    out
}

/// Whether `code` (as typed) has the shape of a recovery code: ten
/// symbols of the alphabet once spaces and dashes are dropped.
pub fn looks_like_recovery_code(code: &str) -> bool {
    let c = normalize_code(code);
    c.len() == 10 && c.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 seed.
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_appendix_b_sha1_vectors_truncated_to_six_digits() {
        let key = TotpKey::new(RFC_SEED, "Holdfast", "alice");
        // The RFC's 8-digit values, last six digits.
        assert_eq!(key.code_at(59), "287082");
        assert_eq!(key.code_at(1_111_111_109), "081804");
        assert_eq!(key.code_at(1_234_567_890), "005924");
        assert_eq!(key.code_at(2_000_000_000), "279037");
    }

    #[test]
    fn rfc6238_s5_2_one_step_of_drift_either_way_and_no_more() {
        let key = TotpKey::new(RFC_SEED, "Holdfast", "alice");
        let now = 1_111_111_109;
        let step = now / 30;
        for (offset, ok) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = key.code_at(u64::try_from(now + offset * 30).unwrap());
            assert_eq!(
                key.matching_step(&code, now).is_some(),
                ok,
                "offset {offset}"
            );
            if ok {
                assert_eq!(key.matching_step(&code, now), Some(step + offset));
            }
        }
    }

    #[test]
    fn rfc8176_a_passkey_alone_or_after_a_password_is_two_factors() {
        assert_eq!(acr_of(&passkey_amr()), ACR_TWO_FACTORS);
        let after_password = with_second_factor(&[AMR_PASSWORD.to_owned()], AMR_HWK);
        assert_eq!(after_password, ["pwd", "hwk", "mfa"]);
        assert_eq!(acr_of(&after_password), ACR_TWO_FACTORS);
        assert_eq!(acr_of(&[AMR_HWK.to_owned()]), ACR_ONE_FACTOR);
    }

    #[test]
    fn webauthn_s5_1_2_the_rp_id_is_the_host_or_a_suffix_after_a_dot() {
        for (host, rp_id, ok) in [
            ("auth.example.com", "auth.example.com", true),
            ("auth.example.com", "example.com", true),
            ("localhost", "localhost", true),
            ("auth.example.com", "ample.com", false),
            ("auth.example.com", "other.com", false),
            ("auth.example.com", "", false),
            ("auth.example.com", ".example.com", false),
            ("auth.example.com", "Example.com", false),
            ("auth.example.com", "example.com:443", false),
            ("127.0.0.1", "127.0.0.1", false),
            ("127.0.0.1", "0.0.1", false),
        ] {
            assert_eq!(rp_id_allowed(host, rp_id), ok, "{host} / {rp_id}");
        }
    }

    #[test]
    fn malformed_codes_never_match() {
        let key = TotpKey::new(RFC_SEED, "Holdfast", "alice");
        for bad in [
            "",
            "12345",
            "1234567",
            "abcdef",
            "２８７０８２",
            "28708\u{0}",
        ] {
            assert_eq!(key.matching_step(bad, 59), None, "{bad:?}");
        }
        assert_eq!(key.matching_step("287 082", 59), Some(1));
    }

    #[test]
    fn the_otpauth_uri_names_the_app_parameters() {
        let key = TotpKey::new(RFC_SEED, "Acme", "alice@example.com");
        let uri = key.uri();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.contains("issuer=Acme"), "{uri}");
        assert_eq!(key.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn rfc8176_amr_and_acr_of_a_second_factor() {
        let pwd = vec![AMR_PASSWORD.to_owned()];
        assert_eq!(acr_of(&pwd), "1");
        let both = with_second_factor(&pwd, AMR_OTP);
        assert_eq!(both, ["pwd", "otp", "mfa"]);
        assert_eq!(acr_of(&both), "2");
        assert_eq!(with_second_factor(&both, AMR_OTP), both);
    }

    #[test]
    fn oidc_acr_values_floor_is_the_weakest_known_value() {
        assert_eq!(requested_strength(None), None);
        assert_eq!(requested_strength(Some("urn:other")), None);
        assert_eq!(requested_strength(Some("2")), Some(Strength::TwoFactors));
        assert_eq!(requested_strength(Some("2 1")), Some(Strength::OneFactor));
        assert_eq!(
            requested_strength(Some("urn:other 2")),
            Some(Strength::TwoFactors)
        );
    }

    #[test]
    fn recovery_codes_have_their_shape() {
        let code = recovery_code_from_random(&[0, 1, 2, 3, 4, 250, 251, 252, 253, 255]);
        assert_eq!(code.len(), 11);
        assert!(looks_like_recovery_code(&code));
        assert!(looks_like_recovery_code(
            &code.to_uppercase().replace('-', " ")
        ));
        assert!(!looks_like_recovery_code("123456"));
        assert!(!looks_like_recovery_code("0000000000"));
    }
}
