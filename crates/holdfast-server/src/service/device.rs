//! The device authorization grant's requests and the user's side of them,
//! [RFC 8628](https://www.rfc-editor.org/rfc/rfc8628) (the rules are
//! `holdfast_core::device`, the token-endpoint poll
//! `service::token::device_code`).
//!
//! 1. [`start`]: the device asks `{issuer}/device_authorization` (§3.1)
//!    and gets a device code, a user code and `{issuer}/device` (§3.2).
//! 2. The user opens that page in any browser and types the user code
//!    (or follows `verification_uri_complete`), sees which application
//!    asks, and approves or denies ([`approve`], [`deny`]). Approving
//!    sends the browser through the ordinary hosted login
//!    (`{issuer}/authorize`, with passwords, second factors, passkeys and
//!    single sign-on) for the device's client, with PKCE whose verifier
//!    the server keeps and `state` = the request's id.
//! 3. The login redirects to `{issuer}/device/callback`, which leaves the
//!    authorization code waiting on the request ([`complete`]) if the
//!    browser is the one that approved (the random approval cookie set
//!    with the redirect: a sign-in some other browser was lured into
//!    cannot complete the request).
//! 4. The device's next poll redeems it.
//!
//! RFC 8628 §5.4 (remote phishing): the page names the application and
//! asks the user to approve only a code their own device shows.

use holdfast_core::client::{Client, GrantType};
use holdfast_core::device::{DeviceStatus, INTERVAL_SECS, LIFETIME_SECS, UserCode};
use holdfast_core::pkce::CodeChallenge;
use holdfast_core::scope::Scope;
use holdfast_core::tenant::Tenant;
use holdfast_crypto::secret::{generate_token, random_bytes, sha256_b64};
use holdfast_store::{DeviceAuthorizationRecord, DeviceLookup, StoreError};
use serde::Serialize;
use url::Url;

use crate::service::csrf::BrowserBinding;
use crate::service::token::{ClientNotAuthorized, ScopeError, TokenError, TokenRequest};
use crate::state::AppState;

/// Prefix of device codes (like every Holdfast secret, so scanners can
/// find leaked ones).
pub const DEVICE_CODE_PREFIX: &str = "hfdc_";

/// `{issuer}/device`: the verification page (RFC 8628 §3.2 `verification_uri`).
pub fn verification_url(issuer: &Url) -> String {
    under(issuer, "device").to_string()
}

/// `{issuer}/{path}`, with no query or fragment.
fn under(issuer: &Url, path: &str) -> Url {
    let mut url = issuer.clone();
    url.set_path(&format!("{}/{path}", issuer.path().trim_end_matches('/')));
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// `{issuer}/device/callback`: where the hosted login returns the user
/// of a device request; a device client registers it as a redirect URI.
pub fn callback_url(issuer: &Url) -> String {
    format!("{}/callback", verification_url(issuer))
}

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    /// The code the device polls with.
    pub device_code: String,
    /// The code its user types, `XXXX-XXXX`.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same with the code filled in (for a QR code or a link).
    pub verification_uri_complete: String,
    /// Seconds until both codes stop working.
    pub expires_in: i64,
    /// Seconds to wait between polls.
    pub interval: i64,
}

/// Whether `client` can complete a device sign-in: it has the device
/// grant, and the hosted login may return to the device callback.
fn can_sign_in_devices(client: &Client, issuer: &Url) -> bool {
    client.allows_grant(GrantType::DeviceCode)
        && client.allows_grant(GrantType::AuthorizationCode)
        && client.redirect_uri_is_registered(&callback_url(issuer))
}

/// RFC 8628 §3.1–3.2: a new request for the authenticated `client`.
pub async fn start(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    request: &TokenRequest,
) -> Result<DeviceAuthorization, TokenError> {
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(ClientNotAuthorized::GrantTypeNotAllowed.into());
    }
    if !can_sign_in_devices(client, issuer) {
        return Err(ClientNotAuthorized::DeviceNeedsHostedLogin.into());
    }
    // Anyone may ask for codes for a public client: limited per address,
    // so the table of requests cannot be flooded.
    crate::service::throttle::before_request(
        state,
        tenant,
        "device_authorization",
        None,
        &request.context,
        &holdfast_core::device::THROTTLE,
        "device",
    )
    .await?;
    let allowed = Scope::from_tokens(client.scopes.iter().cloned());
    let scope =
        crate::service::token::requested_scope(request, &allowed, ScopeError::BeyondClient)?;
    let device_code = generate_token(DEVICE_CODE_PREFIX)?;
    let device_code_digest = sha256_b64(device_code.expose().as_bytes());
    let now = state.now();
    // A user code taken in the tenant (one in 2^34 per live request) is
    // drawn again.
    for _ in 0..4 {
        let mut bytes = [0u8; 16];
        random_bytes(&mut bytes)?;
        let user_code = UserCode::from_random(bytes);
        let record = DeviceAuthorizationRecord {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.id.clone(),
            client_id: client.client_id.clone(),
            scope: scope.to_string(),
            device_code_digest: device_code_digest.clone(),
            user_code: user_code.as_str().to_owned(),
            status: DeviceStatus::Pending,
            created_at: now,
            expires_at: now + LIFETIME_SECS,
            interval_secs: INTERVAL_SECS,
            last_polled_at: None,
            browser_digest: None,
            code_verifier: None,
            code_digest: None,
        };
        match state.store.insert_device_authorization(&record).await {
            Ok(()) => {
                metrics::counter!("holdfast_device_authorizations_total").increment(1);
                let page = under(issuer, "device");
                let mut complete = page.clone();
                complete
                    .query_pairs_mut()
                    .append_pair("user_code", &user_code.display());
                return Ok(DeviceAuthorization {
                    device_code: device_code.expose().to_owned(),
                    user_code: user_code.display(),
                    verification_uri: page.to_string(),
                    verification_uri_complete: complete.to_string(),
                    expires_in: LIFETIME_SECS,
                    interval: INTERVAL_SECS,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict("user code").into())
}

/// A request the verification page can act on: one with user code
/// `code`, not expired, not finished; with its client.
pub async fn open_request(
    state: &AppState,
    tenant: &Tenant,
    code: &UserCode,
) -> Result<Option<(DeviceAuthorizationRecord, Client)>, StoreError> {
    let Some(record) = state
        .store
        .device_authorization(&tenant.id, DeviceLookup::UserCode(code.as_str()))
        .await?
    else {
        return Ok(None);
    };
    if record.expires_at <= state.now()
        || !matches!(
            record.status,
            DeviceStatus::Pending | DeviceStatus::Approved
        )
    {
        return Ok(None);
    }
    let Some(client) = crate::service::lookup::client(state, &tenant.id, &record.client_id).await?
    else {
        return Ok(None);
    };
    Ok(Some((record, client.client)))
}

/// What pressing Continue does.
#[derive(Debug)]
pub enum Approval {
    /// Sign in at this hosted login URL; a new approval also gives the
    /// browser `binding` (the approval cookie's value) to keep.
    SignIn {
        /// The `{issuer}/authorize` URL.
        login: Url,
        /// The new approval cookie, if this press approved the request.
        binding: Option<BrowserBinding>,
    },
    /// Another browser approved the request first: only it may go on.
    Taken,
}

/// The user pressed Continue on `record` in a browser holding `held` (its
/// approval cookie, if any). A pending request is approved for a new
/// random binding (a compare-and-set, so of two browsers one wins); an
/// approved one goes on only in the browser that approved it, with the
/// same PKCE verifier (a second press, the back button), so nobody who
/// merely saw the code can take the approval over.
pub async fn approve(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    record: &DeviceAuthorizationRecord,
    held: Option<&BrowserBinding>,
) -> Result<Approval, TokenError> {
    match (record.status, &record.code_verifier) {
        (DeviceStatus::Approved, Some(verifier)) if same_browser(record, held) => {
            Ok(Approval::SignIn {
                login: login_url(tenant, issuer, record, verifier),
                binding: None,
            })
        }
        (DeviceStatus::Pending, _) => {
            let binding = BrowserBinding::generate()?;
            let mut bytes = [0u8; 32];
            random_bytes(&mut bytes)?;
            let verifier =
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
            let mut approved = record.clone();
            approved.status = DeviceStatus::Approved;
            approved.browser_digest = Some(sha256_b64(binding.value().as_bytes()));
            approved.code_verifier = Some(verifier.clone());
            if !state
                .store
                .update_device_authorization(&approved, DeviceStatus::Pending)
                .await?
            {
                return Ok(Approval::Taken);
            }
            Ok(Approval::SignIn {
                login: login_url(tenant, issuer, record, &verifier),
                binding: Some(binding),
            })
        }
        _ => Ok(Approval::Taken),
    }
}

/// Whether `held` is the approval cookie of the browser that approved.
fn same_browser(record: &DeviceAuthorizationRecord, held: Option<&BrowserBinding>) -> bool {
    held.is_some_and(|b| {
        record.browser_digest.as_deref() == Some(sha256_b64(b.value().as_bytes()).as_str())
    })
}

/// The hosted login that completes `record`. In the administration tenant
/// it asks for a fresh sign-in (`prompt=login`, OIDC Core §3.1.2.1): an
/// approval hands out administrator tokens, so a single-sign-on cookie
/// alone must not approve one in a click (RFC 8628 §5.4).
fn login_url(
    tenant: &Tenant,
    issuer: &Url,
    record: &DeviceAuthorizationRecord,
    verifier: &str,
) -> Url {
    let mut login = under(issuer, "authorize");
    {
        let mut query = login.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &record.client_id)
            .append_pair("redirect_uri", &callback_url(issuer))
            .append_pair("scope", &record.scope)
            .append_pair("state", &record.id)
            .append_pair("code_challenge", CodeChallenge::s256_of(verifier).as_str())
            .append_pair("code_challenge_method", "S256");
        if tenant.slug.as_str() == crate::service::administrators::ADMIN_TENANT {
            query.append_pair("prompt", "login");
        }
    }
    login
}

/// The user denied `record` in a browser holding `held`: `false` when it
/// moved on first (signed in, say), or when another browser approved it
/// (only the approver may then deny, so someone who saw the code cannot
/// cancel a sign-in under way).
pub async fn deny(
    state: &AppState,
    record: &DeviceAuthorizationRecord,
    held: Option<&BrowserBinding>,
) -> Result<bool, StoreError> {
    if record.status == DeviceStatus::Approved && !same_browser(record, held) {
        return Ok(false);
    }
    let mut denied = record.clone();
    denied.status = DeviceStatus::Denied;
    state
        .store
        .update_device_authorization(&denied, record.status)
        .await
}

/// How the device callback went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The code waits for the device.
    Done,
    /// The login answered with an error (the user cancelled, say): the
    /// request is denied.
    Failed,
    /// No open request of this browser has this `state`.
    NotThisBrowser,
}

/// The hosted login returned `code` (or `error`) with `request_id` as its
/// `state`, to the browser holding `binding`.
pub async fn complete(
    state: &AppState,
    tenant: &Tenant,
    request_id: &str,
    binding: Option<&BrowserBinding>,
    code: Option<&str>,
) -> Result<Completion, StoreError> {
    let Some(record) = state
        .store
        .device_authorization(&tenant.id, DeviceLookup::Id(request_id))
        .await?
    else {
        return Ok(Completion::NotThisBrowser);
    };
    if !same_browser(&record, binding)
        || record.status != DeviceStatus::Approved
        || record.expires_at <= state.now()
    {
        return Ok(Completion::NotThisBrowser);
    }
    let mut next = record.clone();
    let outcome = match code {
        Some(code) => {
            next.status = DeviceStatus::Authorized;
            next.code_digest = Some(sha256_b64(code.as_bytes()));
            Completion::Done
        }
        None => {
            next.status = DeviceStatus::Denied;
            Completion::Failed
        }
    };
    if !state
        .store
        .update_device_authorization(&next, DeviceStatus::Approved)
        .await?
    {
        return Ok(Completion::NotThisBrowser);
    }
    Ok(outcome)
}
