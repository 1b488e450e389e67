//! Passkeys (issue 15): WebAuthn credentials
//! ([Web Authentication Level 3](https://www.w3.org/TR/webauthn-3/)) with
//! `webauthn-rs`, registered on the account page and used to sign in
//! without a password (a discoverable credential, §6.1, with conditional
//! mediation on the login page) or as the second step after one.
//!
//! - **Relying party.** The RP ID (§5.1.2) is the tenant's
//!   `passkey_rp_id` setting or, by default, the public URL's host; the
//!   only origin accepted is the public URL's. An IP-address public URL has
//!   no RP ID: passkeys are then not offered at all.
//! - **Ceremonies.** Registration asks for a discoverable credential with
//!   user verification and attestation `none` (§5.4.7: no vendor
//!   certificate is needed or kept). The state a ceremony needs between its
//!   options and the browser's answer (webauthn-rs's `PasskeyRegistration`
//!   and friends: the challenge, the allowed credentials) travels sealed
//!   (AES-256-GCM under a KEK-derived key) in the page, with the tenant,
//!   the ceremony's kind, the browser's CSRF binding and the user as
//!   associated data: it opens only for the same ceremony, in the same
//!   browser, for the same user, for [`CEREMONY_TTL_SECS`]. Each sealed
//!   state is spent once (recorded in the replay table DPoP proofs use), so
//!   an answer replayed from a log is refused (§13.4.3).
//! - **Checks.** webauthn-rs verifies the client data (type, challenge,
//!   origin: §7.1 steps 7–9 and §7.2 steps 11–13), the RP ID hash, the
//!   user-present and user-verified flags, the signature and the counter.
//!   Holdfast adds what only it can know: the credential belongs to this
//!   tenant, and to the user the user handle names (a discoverable sign-in)
//!   or to the user signing in (a second step); the counter grew past the
//!   stored one (§6.1.1), written back only over the value checked.
//! - **User handle.** A passkey carries an opaque 16-byte handle per user
//!   (§14.6.1: no personal data): the first half of
//!   SHA-256("holdfast:webauthn-user", tenant, user).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_core::accounts::AccountPolicy;
use holdfast_core::error::ValidationError;
use holdfast_core::tenant::Tenant;
use holdfast_core::user::User;
use holdfast_crypto::aead::Kek;
use holdfast_crypto::secret::sha256_b64;
use holdfast_store::{PasskeyRecord, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder, WebauthnError,
};

use crate::service::RequestContext;
use crate::service::accounts::account_event;
use crate::service::admin::AdminError;
use crate::service::csrf::BrowserBinding;
use crate::service::mfa::notice_mail;
use crate::state::AppState;

/// How long a ceremony's options stay good (WebAuthn §5.4.1 `timeout`
/// is advisory; this is the server's limit).
pub const CEREMONY_TTL_SECS: i64 = 300;
/// Most characters of a passkey's name.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a passkey action failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The public URL has no domain (an IP address): no RP ID.
    #[error("passkeys need a public URL with a domain name")]
    Unavailable,
    /// The browser's answer is not a WebAuthn credential.
    #[error("the passkey answer is malformed")]
    Malformed,
    /// The sealed state is old, spent, or of another browser, user or
    /// ceremony.
    #[error("the passkey ceremony expired or is not this browser's")]
    Expired,
    /// No such credential here (another tenant's, or removed), or it is
    /// another user's.
    #[error("the passkey is not registered here")]
    Unknown,
    /// webauthn-rs refused the answer (client data, signature, flags).
    #[error("the passkey answer did not verify: {0}")]
    Refused(#[from] WebauthnError),
    /// The signature counter did not grow (§6.1.1): a cloned key, or
    /// another sign-in with it won the race.
    #[error("the passkey's signature counter did not grow")]
    Cloned,
    /// The credential is registered already.
    #[error("the passkey is registered already")]
    Duplicate,
    /// The name is empty or too long.
    #[error("a passkey name must be 1 to {MAX_NAME_CHARS} characters")]
    BadName,
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness or sealing failure.
    #[error(transparent)]
    Crypto(#[from] holdfast_crypto::CryptoError),
}

impl PasskeyError {
    /// Whether the server, not the browser, is at fault.
    pub fn is_server_side(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Crypto(_))
    }

    /// What the user is told.
    pub fn user_message(&self) -> String {
        match self {
            Self::Unavailable => "Passkeys are not available on this server.".to_owned(),
            Self::Malformed | Self::Refused(_) => {
                tracing::info!(error = %self, "passkey answer refused");
                "That passkey could not be checked. Please try again.".to_owned()
            }
            Self::Expired => {
                "This passkey request expired or came from another window. Please try again."
                    .to_owned()
            }
            Self::Unknown => "That passkey is not registered for this account here.".to_owned(),
            Self::Cloned => {
                "That passkey was refused: it may have been copied. Use another way to sign in, and remove it on your account page if you do not know where the copy came from.".to_owned()
            }
            Self::Duplicate => "That passkey is registered already.".to_owned(),
            Self::BadName => {
                format!("Give the passkey a name of 1 to {MAX_NAME_CHARS} characters.")
            }
            Self::Store(_) | Self::Crypto(_) => {
                tracing::error!(error = %self, "passkey request failed on the server side");
                "The server is temporarily unavailable. Please try again shortly.".to_owned()
            }
        }
    }
}

/// A ceremony's start, for a page: the options for
/// `navigator.credentials.create()` / `.get()` (JSON, binary fields in
/// base64url) and the sealed state the answer comes back with.
#[derive(Debug, Clone, Serialize)]
pub struct Ceremony {
    /// `{"publicKey": {...}}`, as JSON text.
    pub options: String,
    /// The sealed state.
    pub state: String,
}

/// The RP ID passkeys of a tenant with `policy` are registered under.
pub fn rp_id(state: &AppState, policy: &AccountPolicy) -> String {
    policy
        .passkey_rp_id
        .clone()
        .or_else(|| state.public_url.domain().map(str::to_owned))
        .unwrap_or_default()
}

/// `--passkey-rp-id`: `""` is the default (the public URL's host), else
/// it must be the host or a suffix of it after a dot.
pub fn parse_rp_id(state: &AppState, value: &str) -> Result<Option<String>, AdminError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let host = state.public_url.host_str().unwrap_or_default();
    if holdfast_core::mfa::rp_id_allowed(host, value) {
        Ok(Some(value.to_owned()))
    } else {
        Err(ValidationError::PasskeyRpId.into())
    }
}

/// The tenant's relying party.
async fn relying_party(state: &AppState, tenant: &Tenant) -> Result<Webauthn, PasskeyError> {
    let policy = crate::service::accounts::policy(state, tenant).await?;
    let rp_id = rp_id(state, &policy);
    if rp_id.is_empty() {
        return Err(PasskeyError::Unavailable);
    }
    let origin = Url::parse(&state.public_url.origin().ascii_serialization())
        .map_err(|_| PasskeyError::Unavailable)?;
    WebauthnBuilder::new(&rp_id, &origin)
        .map_err(|_| PasskeyError::Unavailable)?
        .rp_name(&tenant.display_name)
        .build()
        .map_err(|_| PasskeyError::Unavailable)
}

/// Whether the tenant can offer passkeys (its public URL has a domain).
pub async fn available(state: &AppState, tenant: &Tenant) -> bool {
    relying_party(state, tenant).await.is_ok()
}

/// The user handle of `user_id` (§5.4.3 `user.id`).
fn user_handle(tenant: &Tenant, user_id: &str) -> Uuid {
    let digest = Sha256::digest(format!("holdfast:webauthn-user\n{}\n{user_id}", tenant.id));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// The kinds of ceremony; each seals under its own associated data.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Register,
    SignIn,
    SecondFactor,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SignIn => "sign-in",
            Self::SecondFactor => "second-factor",
        }
    }
}

fn seal_key(state: &AppState) -> Result<Kek, PasskeyError> {
    let key = state.keys.derive(b"holdfast:webauthn-state:v1");
    Ok(Kek::from_bytes(key.as_ref())?)
}

fn aad(tenant: &Tenant, kind: Kind, binding: &BrowserBinding, user_id: &str) -> Vec<u8> {
    format!(
        "webauthn\n{}\n{}\n{}\n{user_id}",
        tenant.id,
        kind.label(),
        binding.as_str()
    )
    .into_bytes()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed<T> {
    /// Issued at.
    at: i64,
    /// webauthn-rs's ceremony state.
    s: T,
}

fn seal<T: Serialize>(
    state: &AppState,
    tenant: &Tenant,
    kind: Kind,
    binding: &BrowserBinding,
    user_id: &str,
    ceremony: T,
) -> Result<String, PasskeyError> {
    let plain = serde_json::to_vec(&Sealed {
        at: state.now(),
        s: ceremony,
    })
    .map_err(|_| PasskeyError::Malformed)?;
    let sealed = seal_key(state)?.seal(&aad(tenant, kind, binding, user_id), &plain)?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

/// Opens a sealed state and spends it (once, on every node).
async fn open_and_spend<T: DeserializeOwned>(
    state: &AppState,
    tenant: &Tenant,
    kind: Kind,
    binding: Option<&BrowserBinding>,
    user_id: &str,
    sealed: &str,
) -> Result<T, PasskeyError> {
    let binding = binding.ok_or(PasskeyError::Expired)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| PasskeyError::Expired)?;
    let plain = seal_key(state)?
        .open(&aad(tenant, kind, binding, user_id), &bytes)
        .map_err(|_| PasskeyError::Expired)?;
    let opened: Sealed<T> = serde_json::from_slice(&plain).map_err(|_| PasskeyError::Expired)?;
    let now = state.now();
    if opened.at > now || now - opened.at > CEREMONY_TTL_SECS {
        return Err(PasskeyError::Expired);
    }
    let fresh = state
        .store
        .record_dpop_proof(
            &tenant.id,
            "webauthn",
            &sha256_b64(sealed.as_bytes()),
            opened.at + CEREMONY_TTL_SECS,
            now,
        )
        .await?;
    if !fresh {
        return Err(PasskeyError::Expired);
    }
    Ok(opened.s)
}

fn options_json(options: &impl Serialize) -> Result<String, PasskeyError> {
    serde_json::to_string(options).map_err(|_| PasskeyError::Malformed)
}

fn credential_id(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn stored(record: &PasskeyRecord) -> Result<Passkey, PasskeyError> {
    serde_json::from_str(&record.credential).map_err(|e| {
        tracing::error!(error = %e, "a stored passkey does not parse");
        PasskeyError::Unknown
    })
}

/// The user's passkeys.
pub async fn list(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
) -> Result<Vec<PasskeyRecord>, PasskeyError> {
    Ok(state.store.passkeys(&tenant.id, user_id).await?)
}

/// Whether the user has a passkey.
pub async fn has_passkey(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
) -> Result<bool, StoreError> {
    Ok(!state.store.passkeys(&tenant.id, user_id).await?.is_empty())
}

/// Starts registering a passkey for `user` in this browser: a
/// discoverable credential with user verification, none of the user's
/// registered ones again (§5.4.3 `excludeCredentials`).
pub async fn begin_registration(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    binding: &BrowserBinding,
) -> Result<Ceremony, PasskeyError> {
    let rp = relying_party(state, tenant).await?;
    let exclude: Vec<Vec<u8>> = list(state, tenant, &user.id)
        .await?
        .iter()
        .filter_map(|r| URL_SAFE_NO_PAD.decode(&r.credential_id).ok())
        .collect();
    let display = user.display_name.as_deref().unwrap_or(&user.username);
    let (options, registration) = rp.start_passkey_registration(
        user_handle(tenant, &user.id),
        &user.username,
        display,
        Some(exclude),
    )?;
    // A passkey signs in without a username: ask for a discoverable
    // credential (§5.4.6 `residentKey: "required"`; webauthn-rs leaves
    // it to the authenticator).
    let mut options = serde_json::to_value(&options).map_err(|_| PasskeyError::Malformed)?;
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    Ok(Ceremony {
        options: options_json(&options)?,
        state: seal::<PasskeyRegistration>(
            state,
            tenant,
            Kind::Register,
            binding,
            &user.id,
            registration,
        )?,
    })
}

/// Finishes a registration: checks the browser's answer and stores the
/// passkey under `name`, with its audit event and a notice mail.
#[allow(clippy::too_many_arguments)]
pub async fn finish_registration(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    binding: Option<&BrowserBinding>,
    name: &str,
    answer: &str,
    sealed: &str,
    context: &RequestContext,
) -> Result<PasskeyRecord, PasskeyError> {
    let name = parse_name(name)?;
    let rp = relying_party(state, tenant).await?;
    let answer: RegisterPublicKeyCredential =
        serde_json::from_str(answer).map_err(|_| PasskeyError::Malformed)?;
    let registration: PasskeyRegistration =
        open_and_spend(state, tenant, Kind::Register, binding, &user.id, sealed).await?;
    let passkey = rp.finish_passkey_registration(&answer, &registration)?;
    let record = PasskeyRecord {
        tenant_id: tenant.id.clone(),
        credential_id: credential_id(passkey.cred_id()),
        user_id: user.id.clone(),
        name: name.clone(),
        credential: serde_json::to_string(&passkey).map_err(|_| PasskeyError::Malformed)?,
        created_at: state.now(),
        last_used_at: None,
    };
    let event = account_event(state, tenant, &user.id, "passkey_added", context);
    let notice = notice_mail(
        state,
        tenant,
        user,
        format!(
            "A passkey was added to your {} account",
            tenant.display_name
        ),
        format!(
            "The passkey \u{201c}{name}\u{201d} now signs in to your {} account.",
            tenant.display_name
        ),
    );
    match state
        .store
        .add_passkey(&record, &event, notice.as_ref())
        .await
    {
        Ok(()) => Ok(record),
        Err(StoreError::Conflict(_)) => Err(PasskeyError::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// Starts a passwordless sign-in: no user yet, any discoverable credential
/// of this RP (§5.4.4 with an empty `allowCredentials`).
pub async fn begin_sign_in(
    state: &AppState,
    tenant: &Tenant,
    binding: &BrowserBinding,
) -> Result<Ceremony, PasskeyError> {
    let rp = relying_party(state, tenant).await?;
    let (options, ceremony) = rp.start_discoverable_authentication()?;
    Ok(Ceremony {
        options: options_json(&options)?,
        state: seal::<DiscoverableAuthentication>(
            state,
            tenant,
            Kind::SignIn,
            binding,
            "",
            ceremony,
        )?,
    })
}

/// Finishes a passwordless sign-in; the user it proves.
pub async fn finish_sign_in(
    state: &AppState,
    tenant: &Tenant,
    binding: Option<&BrowserBinding>,
    answer: &str,
    sealed: &str,
) -> Result<String, PasskeyError> {
    let rp = relying_party(state, tenant).await?;
    let answer: PublicKeyCredential =
        serde_json::from_str(answer).map_err(|_| PasskeyError::Malformed)?;
    let ceremony: DiscoverableAuthentication =
        open_and_spend(state, tenant, Kind::SignIn, binding, "", sealed).await?;
    let (handle, id) = rp
        .identify_discoverable_authentication(&answer)
        .map_err(|_| PasskeyError::Malformed)?;
    let record = state
        .store
        .passkey(&tenant.id, &credential_id(id))
        .await?
        .ok_or(PasskeyError::Unknown)?;
    // The user handle the authenticator returned must be the owner's: a
    // credential ID moved to another account's answer does not sign in.
    if user_handle(tenant, &record.user_id) != handle {
        return Err(PasskeyError::Unknown);
    }
    let passkey = stored(&record)?;
    let result = rp.finish_discoverable_authentication_v2(&answer, ceremony, &passkey)?;
    used(state, tenant, &record, &result).await?;
    Ok(record.user_id)
}

/// Starts the second step of `user`'s sign-in with one of their passkeys;
/// `None` when they have none (or passkeys are not available here).
pub async fn begin_second_factor(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    binding: &BrowserBinding,
) -> Result<Option<Ceremony>, PasskeyError> {
    let keys = list(state, tenant, &user.id).await?;
    if keys.is_empty() {
        return Ok(None);
    }
    let rp = match relying_party(state, tenant).await {
        Ok(rp) => rp,
        Err(PasskeyError::Unavailable) => return Ok(None),
        Err(e) => return Err(e),
    };
    let passkeys = keys
        .iter()
        .filter_map(|r| stored(r).ok())
        .collect::<Vec<_>>();
    let (options, ceremony) = rp.start_passkey_authentication(&passkeys)?;
    Ok(Some(Ceremony {
        options: options_json(&options)?,
        state: seal::<PasskeyAuthentication>(
            state,
            tenant,
            Kind::SecondFactor,
            binding,
            &user.id,
            ceremony,
        )?,
    }))
}

/// Finishes the second step with a passkey of `user`.
pub async fn finish_second_factor(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    binding: Option<&BrowserBinding>,
    answer: &str,
    sealed: &str,
) -> Result<(), PasskeyError> {
    let rp = relying_party(state, tenant).await?;
    let answer: PublicKeyCredential =
        serde_json::from_str(answer).map_err(|_| PasskeyError::Malformed)?;
    let ceremony: PasskeyAuthentication =
        open_and_spend(state, tenant, Kind::SecondFactor, binding, &user.id, sealed).await?;
    // The ceremony allows only this user's credentials (webauthn-rs
    // refuses any other) and checked the counter the page was made with;
    // the record is read again for the counter now.
    let result = rp.finish_passkey_authentication(&answer, &ceremony)?;
    let record = state
        .store
        .passkey(&tenant.id, &credential_id(result.cred_id()))
        .await?
        .filter(|r| r.user_id == user.id)
        .ok_or(PasskeyError::Unknown)?;
    used(state, tenant, &record, &result).await
}

/// The signature counter of a stored passkey (webauthn-rs's `Passkey`
/// serializes its credential under `cred`).
fn counter_of(record: &PasskeyRecord) -> u64 {
    serde_json::from_str::<serde_json::Value>(&record.credential)
        .ok()
        .and_then(|v| v.pointer("/cred/counter")?.as_u64())
        .unwrap_or(0)
}

/// Records a sign-in with the passkey of `record`. WebAuthn §6.1.1: where
/// the authenticator keeps a signature counter, it must have grown past
/// the stored one, else the key may have been cloned and the sign-in is
/// refused. The new counter is written only over the value checked here,
/// so two racing sign-ins cannot both pass with one counter value.
async fn used(
    state: &AppState,
    tenant: &Tenant,
    record: &PasskeyRecord,
    result: &AuthenticationResult,
) -> Result<(), PasskeyError> {
    let stored_counter = counter_of(record);
    let counter = u64::from(result.counter());
    if (counter > 0 || stored_counter > 0) && counter <= stored_counter {
        tracing::warn!(
            tenant = %tenant.slug,
            user_id = %record.user_id,
            "a passkey's signature counter did not grow: refused as a possible clone"
        );
        return Err(PasskeyError::Cloned);
    }
    let mut passkey = stored(record)?;
    passkey.update_credential(result);
    let credential = serde_json::to_string(&passkey).map_err(|_| PasskeyError::Malformed)?;
    if state
        .store
        .passkey_used(
            &tenant.id,
            &record.credential_id,
            &record.credential,
            &credential,
            state.now(),
        )
        .await?
    {
        Ok(())
    } else {
        Err(PasskeyError::Cloned)
    }
}

fn parse_name(name: &str) -> Result<String, PasskeyError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(PasskeyError::BadName);
    }
    Ok(name.to_owned())
}

/// Renames one of the user's passkeys.
pub async fn rename(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    credential_id: &str,
    name: &str,
) -> Result<(), PasskeyError> {
    let name = parse_name(name)?;
    if state
        .store
        .rename_passkey(&tenant.id, &user.id, credential_id, &name)
        .await?
    {
        Ok(())
    } else {
        Err(PasskeyError::Unknown)
    }
}

/// Removes one of the user's passkeys, records it and mails a notice. The
/// caller checks the fresh sign-in with a factor.
pub async fn remove(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    credential_id: &str,
    context: &RequestContext,
) -> Result<(), PasskeyError> {
    let name = state
        .store
        .passkey(&tenant.id, credential_id)
        .await?
        .filter(|r| r.user_id == user.id)
        .ok_or(PasskeyError::Unknown)?
        .name;
    let event = account_event(state, tenant, &user.id, "passkey_removed", context);
    let notice = notice_mail(
        state,
        tenant,
        user,
        format!(
            "A passkey was removed from your {} account",
            tenant.display_name
        ),
        format!(
            "The passkey \u{201c}{name}\u{201d} no longer signs in to your {} account.",
            tenant.display_name
        ),
    );
    if state
        .store
        .remove_passkey(&tenant.id, &user.id, credential_id, &event, notice.as_ref())
        .await?
    {
        Ok(())
    } else {
        Err(PasskeyError::Unknown)
    }
}
