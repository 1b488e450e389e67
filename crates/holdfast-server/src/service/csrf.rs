//! CSRF tokens of the hosted forms: the login form
//! ([RFC 6749 §10.12](https://www.rfc-editor.org/rfc/rfc6749#section-10.12):
//! "The client MUST implement CSRF protection", here for the authorization
//! server's own form, against login CSRF) and the logout confirmation
//! ([OIDC RP-Initiated Logout 1.0 §6](https://openid.net/specs/openid-connect-rpinitiated-1_0.html#Security)).
//!
//! The OWASP "signed double-submit cookie": the browser holds a random
//! value in a cookie (its *binding*), and a form's token is
//! `{issued_at}.{mac}`, where `mac` is an HMAC-SHA256, under a per-tenant key
//! derived from the KEK (the mechanism of the DPoP nonces in
//! `service::dpop`), over the form's purpose, the binding, the issue time
//! and a digest of the request the form carries. So a token is valid only
//! in the browser it was made for, for the request on its page, for
//! [`FORM_TTL_SECS`]; an attacker who plants a cookie cannot make a token
//! for it, and an empty or missing token, cookie or binding never verifies.
//! Any node verifies any token (nothing is stored).
//!
//! What the token cannot stop, an attacker who plants a binding *and* the
//! token they were served with it, the cookie's `__Host-` prefix on https
//! (no sibling-domain or plain-http cookie can take its name) and the
//! cross-site checks of `http::browser` do.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_core::tenant::Tenant;
use holdfast_crypto::CryptoError;
use holdfast_crypto::secret::{constant_time_eq, hmac_sha256, random_bytes};

use crate::state::AppState;

/// How long a form's token stays valid.
pub const FORM_TTL_SECS: i64 = 3600;

/// Which form a token is for: a token of one is never valid for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPurpose {
    /// The hosted login form.
    Login,
    /// The RP-initiated logout confirmation.
    Logout,
    /// The sign-up form.
    SignUp,
    /// The verification-code form.
    VerifyCode,
    /// The forgot-password form.
    ForgotPassword,
    /// The choose-a-new-password form of a reset or invitation link.
    ResetPassword,
    /// The account page's own sign-in form.
    AccountLogin,
    /// The account page's forms (bound to the browser session too).
    Account,
    /// The second step of a sign-in (bound to what the first proved).
    SecondFactor,
    /// The approval of a device sign-in (RFC 8628 §3.3).
    Device,
}

impl FormPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Login => b"login",
            Self::Logout => b"logout",
            Self::SignUp => b"signup",
            Self::VerifyCode => b"verify-code",
            Self::ForgotPassword => b"forgot-password",
            Self::ResetPassword => b"reset-password",
            Self::AccountLogin => b"account-login",
            Self::Account => b"account",
            Self::SecondFactor => b"second-factor",
            Self::Device => b"device",
        }
    }
}

/// The browser's binding value (the CSRF cookie): 32 random bytes,
/// base64url. Parsed, never taken raw, so an empty or odd cookie is no
/// binding at all.
#[derive(Clone, PartialEq, Eq)]
pub struct BrowserBinding(String);

impl std::fmt::Debug for BrowserBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrowserBinding(..)")
    }
}

impl BrowserBinding {
    /// The binding's value (random, not secret from its own browser).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A new random binding.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; 32];
        random_bytes(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A binding from a cookie value: exactly what [`Self::generate`] makes
    /// (43 base64url characters), else `None`.
    pub fn parse(value: &str) -> Option<Self> {
        let ok = value.len() == 43
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(value.to_owned()))
    }

    /// The cookie value.
    pub fn value(&self) -> &str {
        &self.0
    }
}

/// The token of a `purpose` form carrying `request`, for the browser
/// holding `binding`, issued now.
pub fn token(
    state: &AppState,
    tenant: &Tenant,
    purpose: FormPurpose,
    binding: &BrowserBinding,
    request: &[(&str, &str)],
) -> String {
    let issued_at = state.now();
    let mac = mac(state, tenant, purpose, binding, issued_at, request);
    format!("{issued_at}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
}

/// Whether `token` is a valid, unexpired token of a `purpose` form carrying
/// `request`, for the browser holding `binding`. No binding, an empty token
/// or a token of another browser, form or request: `false`.
pub fn verify(
    state: &AppState,
    tenant: &Tenant,
    purpose: FormPurpose,
    binding: Option<&BrowserBinding>,
    request: &[(&str, &str)],
    token: &str,
) -> bool {
    let Some(binding) = binding else {
        return false;
    };
    let Some((issued_at, _)) = token.split_once('.') else {
        return false;
    };
    let Ok(issued_at) = issued_at.parse::<i64>() else {
        return false;
    };
    let now = state.now();
    // checked_sub: a forged timestamp must not overflow.
    if issued_at > now
        || now
            .checked_sub(issued_at)
            .is_none_or(|age| age > FORM_TTL_SECS)
    {
        return false;
    }
    let expected = mac(state, tenant, purpose, binding, issued_at, request);
    let expected = format!("{issued_at}.{}", URL_SAFE_NO_PAD.encode(expected.as_ref()));
    constant_time_eq(token.as_bytes(), expected.as_bytes())
}

fn mac(
    state: &AppState,
    tenant: &Tenant,
    purpose: FormPurpose,
    binding: &BrowserBinding,
    issued_at: i64,
    request: &[(&str, &str)],
) -> zeroize::Zeroizing<[u8; 32]> {
    let key = state
        .keys
        .derive(format!("holdfast:form-csrf:v1:{}", tenant.id).as_bytes());
    let mut message = Vec::with_capacity(256);
    message.extend_from_slice(purpose.label());
    message.push(0);
    message.extend_from_slice(binding.value().as_bytes());
    message.push(0);
    message.extend_from_slice(&issued_at.to_be_bytes());
    // Length-prefixed, so no two requests encode alike. Line breaks are
    // normalised: a browser submits a hidden field's LF as CRLF (HTML,
    // "converting an entry list to a list of name-value pairs").
    for (name, value) in request {
        let value = value.replace("\r\n", "\n").replace('\r', "\n");
        message.extend_from_slice(&(name.len() as u64).to_be_bytes());
        message.extend_from_slice(name.as_bytes());
        message.extend_from_slice(&(value.len() as u64).to_be_bytes());
        message.extend_from_slice(value.as_bytes());
    }
    hmac_sha256(key.as_ref(), &message)
}
