//! Second factors (issue 15): TOTP enrolment and checks (RFC 6238), and
//! recovery codes. The rules (code shapes, `amr`, `acr`) live in
//! `holdfast_core::mfa`; this module keeps the secrets.
//!
//! - A TOTP secret is 160 random bits, sealed (AES-256-GCM) under a key
//!   derived from the KEK, with the tenant and user as associated data: a
//!   sealed secret copied to another user's row does not open.
//! - Enrolment is pending until the user types a first code; confirming
//!   it spends that code's time step and issues ten recovery codes, shown
//!   once. Only keyed digests (HMAC-SHA256 under a KEK-derived key) of the
//!   recovery codes are stored.
//! - Each TOTP time step is accepted once (the store raises `last_step`
//!   conditionally), so a code seen over a shoulder or replayed from a
//!   proxy log is refused, also when two sign-ins race with it.
//! - Every check is counted before it is made, under the tenant's password
//!   limits ([`throttle::before_second_factor`]); a wrong code is counted,
//!   a right one clears the pair's counter.
//! - Adding and removing the factor are recorded (`account` /
//!   `mfa_enrolled`, `mfa_removed`) and the user is told by mail, in the
//!   same transaction.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_core::mfa::{
    self, AMR_OTP, RECOVERY_CODE_COUNT, Strength, TOTP_SECRET_BYTES, TotpKey,
    looks_like_recovery_code, normalize_code, recovery_code_from_random,
};
use holdfast_core::tenant::Tenant;
use holdfast_core::user::User;
use holdfast_crypto::aead::Kek;
use holdfast_crypto::secret::{hmac_sha256, random_bytes};
use holdfast_store::{StoreError, TotpRecord};
use zeroize::Zeroizing;

use crate::service::RequestContext;
use crate::service::accounts::account_event;
use crate::service::mail::{AccountMail, account_mail};
use crate::service::throttle::{self, ThrottleError, Throttled};
use crate::state::AppState;

/// How long a key shown for set-up may be shown again and confirmed.
pub const PENDING_ENROLMENT_SECS: i64 = 600;

/// Why a second-factor action failed.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The code is wrong, malformed, or was used already.
    #[error("the code is not right")]
    WrongCode,
    /// Too many wrong codes.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// The user already has a confirmed TOTP factor.
    #[error("a TOTP factor is set up already")]
    AlreadyEnrolled,
    /// There is no such factor (or no pending enrolment).
    #[error("no such factor")]
    NoFactor,
    /// The stored secret does not open (wrong KEK or a copied row).
    #[error("stored TOTP secret does not open")]
    Sealed,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness failure.
    #[error(transparent)]
    Crypto(#[from] holdfast_crypto::CryptoError),
}

impl From<ThrottleError> for MfaError {
    fn from(e: ThrottleError) -> Self {
        match e {
            ThrottleError::Throttled(t) => Self::Throttled(t),
            ThrottleError::Store(e) => Self::Store(e),
        }
    }
}

impl MfaError {
    /// Whether the server, not the user, is at fault.
    pub fn is_server_side(&self) -> bool {
        matches!(self, Self::Sealed | Self::Store(_) | Self::Crypto(_))
    }

    /// What the user is told.
    pub fn user_message(&self) -> String {
        match self {
            Self::WrongCode => {
                "That code is not right or was used already. Enter the current code from your authenticator app, or a recovery code.".to_owned()
            }
            Self::Throttled(t) => {
                let minutes = (t.retry_after_secs + 59) / 60;
                format!(
                    "Too many wrong codes. Please try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )
            }
            Self::AlreadyEnrolled => "An authenticator app is set up already.".to_owned(),
            Self::NoFactor => "Start the set-up again.".to_owned(),
            Self::Sealed | Self::Store(_) | Self::Crypto(_) => {
                tracing::error!(error = %self, "second-factor request failed on the server side");
                "The server is temporarily unavailable. Please try again shortly.".to_owned()
            }
        }
    }
}

/// What the enrolment page shows: the QR code (SVG), the URI it encodes
/// and the secret to type by hand.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// `otpauth://totp/...`.
    pub uri: String,
    /// Base32 secret.
    pub secret_base32: String,
    /// The QR code of `uri`, as an SVG document.
    pub qr_svg: String,
}

fn seal_key(state: &AppState) -> Result<Kek, MfaError> {
    let key = state.keys.derive(b"holdfast:totp-seal:v1");
    Ok(Kek::from_bytes(key.as_ref())?)
}

fn aad(tenant: &Tenant, user_id: &str) -> Vec<u8> {
    format!("totp\n{}\n{user_id}", tenant.id).into_bytes()
}

fn open_secret(
    state: &AppState,
    tenant: &Tenant,
    record: &TotpRecord,
) -> Result<Zeroizing<Vec<u8>>, MfaError> {
    let sealed = URL_SAFE_NO_PAD
        .decode(&record.sealed_secret)
        .map_err(|_| MfaError::Sealed)?;
    seal_key(state)?
        .open(&aad(tenant, &record.user_id), &sealed)
        .map_err(|_| MfaError::Sealed)
}

fn key_for(tenant: &Tenant, user: &User, secret: &[u8]) -> TotpKey {
    let account = user.email.as_deref().unwrap_or(&user.username);
    TotpKey::new(secret, &tenant.display_name, account)
}

fn enrolment_of(key: &TotpKey) -> Enrolment {
    let uri = key.uri();
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    Enrolment {
        uri,
        secret_base32: key.base32(),
        qr_svg,
    }
}

/// Whether the user has a confirmed TOTP factor.
pub async fn has_totp(state: &AppState, tenant: &Tenant, user_id: &str) -> Result<bool, MfaError> {
    Ok(state
        .store
        .totp_factor(&tenant.id, user_id)
        .await?
        .is_some_and(|r| r.confirmed_at.is_some()))
}

/// What a sign-in still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing more.
    Nothing,
    /// A proof of the user's factor: a TOTP or recovery code, or a passkey.
    Code,
    /// A factor must be set up first (policy or `acr_values`).
    Enrolment,
}

/// What a sign-in of `user_id`, so far at `current` strength, needs: a
/// code where the user has a factor; a set-up where the request asks for
/// two factors (`asked`: `acr_values`, the client's policy) or the
/// tenant's policy does. The one rule for the hosted pages and the
/// first-party challenge.
pub async fn need(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    current: Strength,
    asked: bool,
) -> Result<Need, MfaError> {
    if current >= Strength::TwoFactors {
        return Ok(Need::Nothing);
    }
    if has_totp(state, tenant, user_id).await?
        || (crate::service::passkeys::has_passkey(state, tenant, user_id).await?
            && crate::service::passkeys::available(state, tenant).await)
    {
        return Ok(Need::Code);
    }
    if asked || policy_requires(state, tenant).await {
        return Ok(Need::Enrolment);
    }
    Ok(Need::Nothing)
}

/// Whether the tenant requires a second factor of everyone (a store
/// failure reads as "required": refusing is the safe side).
async fn policy_requires(state: &AppState, tenant: &Tenant) -> bool {
    crate::service::accounts::policy(state, tenant)
        .await
        .map(|p| p.mfa == mfa::MfaPolicy::Required)
        .unwrap_or(true)
}

/// Begins (or shows again) a TOTP enrolment: a pending secret, kept until
/// confirmed or replaced. `AlreadyEnrolled` when a confirmed one exists.
pub async fn begin_enrolment(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
) -> Result<Enrolment, MfaError> {
    if let Some(record) = state.store.totp_factor(&tenant.id, &user.id).await? {
        if record.confirmed_at.is_some() {
            return Err(MfaError::AlreadyEnrolled);
        }
        // The same key while this set-up lasts (a wrong first code shows
        // it again); an older pending key is never shown again.
        if state.now() - record.created_at <= PENDING_ENROLMENT_SECS
            && let Ok(secret) = open_secret(state, tenant, &record)
        {
            return Ok(enrolment_of(&key_for(tenant, user, &secret)));
        }
    }
    let mut secret = Zeroizing::new([0u8; TOTP_SECRET_BYTES]);
    random_bytes(secret.as_mut())?;
    let sealed = seal_key(state)?.seal(&aad(tenant, &user.id), secret.as_ref())?;
    let record = TotpRecord {
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
        sealed_secret: URL_SAFE_NO_PAD.encode(sealed),
        confirmed_at: None,
        last_step: 0,
        created_at: state.now(),
    };
    match state.store.put_pending_totp(&record).await {
        Ok(()) => Ok(enrolment_of(&key_for(tenant, user, secret.as_ref()))),
        Err(StoreError::Conflict(_)) => Err(MfaError::AlreadyEnrolled),
        Err(e) => Err(e.into()),
    }
}

/// Confirms the pending enrolment with its first `code`; the ten new
/// recovery codes (to show once).
pub async fn confirm_enrolment(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    code: &str,
    context: &RequestContext,
) -> Result<Vec<String>, MfaError> {
    let reservation = throttle::before_second_factor(state, tenant, &user.id, context).await?;
    let record = state
        .store
        .totp_factor(&tenant.id, &user.id)
        .await?
        .filter(|r| {
            r.confirmed_at.is_none() && state.now() - r.created_at <= PENDING_ENROLMENT_SECS
        })
        .ok_or(MfaError::NoFactor)?;
    let secret = open_secret(state, tenant, &record)?;
    let step = key_for(tenant, user, &secret)
        .matching_step(code, state.now())
        .ok_or(MfaError::WrongCode)?;
    let (codes, digests) = new_recovery_codes(state, tenant, &user.id)?;
    let event = account_event(state, tenant, &user.id, "mfa_enrolled", context);
    let notice = notice_mail(
        state,
        tenant,
        user,
        format!(
            "An authenticator app was added to your {} account",
            tenant.display_name
        ),
        format!(
            "An authenticator app now signs in to your {} account together with your password, and ten new recovery codes were made.",
            tenant.display_name
        ),
    );
    let now = state.now();
    if !state
        .store
        .confirm_totp(
            &tenant.id,
            &user.id,
            step,
            &digests,
            now,
            &event,
            notice.as_ref(),
        )
        .await?
    {
        return Err(MfaError::NoFactor);
    }
    cleared(state, tenant, reservation).await;
    Ok(codes)
}

/// Checks a second-factor `code` of `user_id`: a current TOTP code (each
/// time step once) or an unused recovery code (spent). The `amr` method
/// it proves (`otp` for both, RFC 8176 §2).
pub async fn verify(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    code: &str,
    context: &RequestContext,
) -> Result<&'static str, MfaError> {
    let reservation = throttle::before_second_factor(state, tenant, &user.id, context).await?;
    let now = state.now();
    let ok = if looks_like_recovery_code(code) {
        let digest = recovery_digest(state, tenant, &user.id, code);
        let event = account_event(state, tenant, &user.id, "recovery_code_used", context);
        state
            .store
            .spend_recovery_code(&tenant.id, &user.id, &digest, now, &event)
            .await?
    } else {
        match state.store.totp_factor(&tenant.id, &user.id).await? {
            Some(record) if record.confirmed_at.is_some() => {
                let secret = open_secret(state, tenant, &record)?;
                match key_for(tenant, user, &secret).matching_step(code, now) {
                    // Older than the newest spent step: a replay, refused
                    // without a write.
                    Some(step) if step > record.last_step => {
                        state
                            .store
                            .spend_totp_step(&tenant.id, &user.id, step)
                            .await?
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    };
    if !ok {
        metrics::counter!("holdfast_second_factor_failures_total").increment(1);
        // The reservation stands: this failure is counted.
        drop(reservation);
        return Err(MfaError::WrongCode);
    }
    cleared(state, tenant, reservation).await;
    Ok(AMR_OTP)
}

/// Takes a right code's reservation back. The code is spent (committed)
/// by now: a failure here must not turn the success into an error page
/// (the recovery codes of a set-up would be lost), so it is only logged.
async fn cleared(state: &AppState, tenant: &Tenant, reservation: throttle::Reservation) {
    if let Err(e) = throttle::password_succeeded(state, tenant, reservation).await {
        tracing::warn!(error = %e, "could not clear the second-factor counter after a right code");
    }
}

/// Replaces the user's recovery codes; the new ones (to show once).
pub async fn regenerate_recovery_codes(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    context: &RequestContext,
) -> Result<Vec<String>, MfaError> {
    if !has_totp(state, tenant, &user.id).await? {
        return Err(MfaError::NoFactor);
    }
    let (codes, digests) = new_recovery_codes(state, tenant, &user.id)?;
    let event = account_event(
        state,
        tenant,
        &user.id,
        "recovery_codes_regenerated",
        context,
    );
    state
        .store
        .replace_recovery_codes(&tenant.id, &user.id, &digests, state.now(), &event)
        .await?;
    Ok(codes)
}

/// How many unused recovery codes the user has.
pub async fn recovery_codes_left(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
) -> Result<i64, MfaError> {
    Ok(state.store.recovery_codes_left(&tenant.id, user_id).await?)
}

/// Removes the user's TOTP factor and recovery codes, records it and mails
/// the user a notice. The caller checks the fresh sign-in with a factor.
pub async fn remove_totp(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    context: &RequestContext,
) -> Result<(), MfaError> {
    let event = account_event(state, tenant, &user.id, "mfa_removed", context);
    let notice = notice_mail(
        state,
        tenant,
        user,
        format!(
            "Two-step sign-in was turned off for your {} account",
            tenant.display_name
        ),
        format!(
            "The authenticator app was removed from your {} account, and its recovery codes no longer work. Signing in now needs only your password.",
            tenant.display_name
        ),
    );
    if state
        .store
        .remove_totp(&tenant.id, &user.id, &event, notice.as_ref())
        .await?
    {
        Ok(())
    } else {
        Err(MfaError::NoFactor)
    }
}

/// A notice about the user's factors, to their address if they have one.
pub(crate) fn notice_mail(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    subject: String,
    what: String,
) -> Option<holdfast_store::OutgoingMail> {
    let to = user.email.as_deref()?;
    account_mail(
        state,
        tenant,
        to,
        &AccountMail {
            subject,
            greeting_name: user
                .display_name
                .clone()
                .unwrap_or_else(|| user.username.clone()),
            paragraphs: vec![what],
            footer: format!(
                "If you did not do this, change your password, remove any passkey you do not know on your account page, and contact the administrator of {} at once.",
                tenant.display_name
            ),
            ..AccountMail::default()
        },
    )
}

fn recovery_key(state: &AppState, tenant: &Tenant) -> Zeroizing<[u8; 32]> {
    state
        .keys
        .derive(format!("holdfast:recovery-code:v1:{}", tenant.id).as_bytes())
}

fn recovery_digest(state: &AppState, tenant: &Tenant, user_id: &str, code: &str) -> String {
    let mac = hmac_sha256(
        recovery_key(state, tenant).as_ref(),
        format!("{user_id}\n{}", normalize_code(code)).as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(mac.as_ref())
}

fn new_recovery_codes(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
) -> Result<(Vec<String>, Vec<String>), MfaError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
    while codes.len() < RECOVERY_CODE_COUNT {
        let mut bytes = [0u8; 10];
        random_bytes(&mut bytes)?;
        let code = recovery_code_from_random(&bytes);
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let digests = codes
        .iter()
        .map(|c| recovery_digest(state, tenant, user_id, c))
        .collect();
    Ok((codes, digests))
}
