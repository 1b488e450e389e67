//! Signing a user in: password check, the authorization server's own
//! browser session (single sign-on), and issuing authorization codes.
//!
//! Wrong password and unknown user take the same path (a full Argon2id
//! verification, against a dummy hash for unknown users) and yield the same
//! error, so neither the answer nor its timing tells whether a username
//! exists.

use holdfast_core::authorize::AuthorizationRequest;
use holdfast_core::pkce::CodeChallenge;
use holdfast_core::scope::Scope;
use holdfast_core::tenant::Tenant;
use holdfast_core::user::{User, normalize_username};
use holdfast_crypto::secret::{SecretString, generate_token, sha256_b64};
use holdfast_store::{AuditEvent, AuthCodeRecord, BrowserSessionRecord, StoreError};

use crate::service::RequestContext;
use crate::service::audit;
use crate::service::password::{Admission, PasswordError};
use crate::service::throttle::{self, ThrottleError};
use crate::state::AppState;

/// Authorization codes live 60 seconds (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL_SECS: i64 = 60;
/// A browser (SSO) session lasts at most 12 hours.
pub const BROWSER_SESSION_TTL_SECS: i64 = 12 * 3600;
/// Prefix of authorization codes.
pub const CODE_PREFIX: &str = "hfac_";
/// The `amr` of a password login (RFC 8176 §2).
pub const AMR_PASSWORD: &str = holdfast_core::mfa::AMR_PASSWORD;

/// Why signing in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong username or password (deliberately one variant).
    #[error("invalid username or password")]
    BadCredentials,
    /// Too many failed attempts for this account or from this address:
    /// refused before the password was checked (docs/design.md §8).
    #[error(transparent)]
    Throttled(#[from] crate::service::throttle::Throttled),
    /// Hashing pool unavailable or its queue full.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness failure.
    #[error(transparent)]
    Crypto(#[from] holdfast_crypto::CryptoError),
}

/// Checks a username and password in the hashing-queue place `admission`
/// (which the endpoint takes before anything else, so a full queue refuses
/// at once and costs nothing more); the same work and the same error
/// whether or not the user exists. The attempt is counted before the password is
/// checked, and refused unchecked once a limit is reached
/// ([`crate::service::throttle`]).
pub async fn authenticate_user(
    state: &AppState,
    admission: Admission,
    tenant: &Tenant,
    client_id: &str,
    username: &str,
    password: SecretString,
    context: &RequestContext,
) -> Result<User, LoginError> {
    let normalized = normalize_username(username);
    let reservation = throttle::before_password(state, tenant, client_id, &normalized, context)
        .await
        .map_err(|e| match e {
            ThrottleError::Throttled(t) => LoginError::Throttled(t),
            ThrottleError::Store(e) => LoginError::Store(e),
        })?;
    let record = state
        .store
        .user_by_username(&tenant.id, &normalized)
        .await?;
    let disabled = record.as_ref().is_some_and(|r| r.disabled_at.is_some());
    let (user, hash) = match record {
        Some(r) => (Some(r.user), Some(r.password_hash)),
        None => (None, None),
    };
    let ok = admission.verify(password, hash).await?;
    let event = |kind: &str, user_id: Option<&str>, reason: &str| AuditEvent {
        user_id: user_id.map(str::to_owned),
        client_id: Some(client_id.to_owned()),
        reason: Some(reason.to_owned()),
        ..audit::event(state, tenant, kind, context)
    };
    match (ok, user) {
        (true, Some(user)) if !disabled => {
            tracing::info!(tenant = %tenant.slug, user_id = %user.id, "login succeeded");
            throttle::password_succeeded(state, tenant, reservation).await?;
            metrics::counter!("holdfast_logins_total", "outcome" => "succeeded", "method" => "password")
                .increment(1);
            state
                .store
                .record_event(&event("login_succeeded", Some(&user.id), "password"))
                .await?;
            Ok(user)
        }
        (_, user) => {
            tracing::info!(tenant = %tenant.slug, "login failed");
            metrics::counter!("holdfast_login_failures_total").increment(1);
            metrics::counter!("holdfast_logins_total", "outcome" => "failed", "method" => "password")
                .increment(1);
            // The reservation stands: this failure is counted.
            drop(reservation);
            // A disabled user is told what anyone with a wrong password is,
            // after the same hashing: the answer says nothing about them.
            let reason = match (&user, disabled) {
                (Some(_), true) => "user_disabled",
                (Some(_), false) => "wrong_password",
                (None, _) => "unknown_user",
            };
            state
                .store
                .record_event(&event(
                    "login_failed",
                    user.as_ref().map(|u| u.id.as_str()),
                    reason,
                ))
                .await?;
            Err(LoginError::BadCredentials)
        }
    }
}

/// Starts a browser session of `user`, authenticated at `auth_time` by
/// the methods `amr`; returns the cookie value.
pub async fn start_browser_session(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    auth_time: i64,
    amr: &[String],
) -> Result<SecretString, LoginError> {
    let value = generate_token("hfbs_")?;
    let now = state.now();
    state
        .store
        .insert_browser_session(&BrowserSessionRecord {
            id_digest: sha256_b64(value.expose().as_bytes()),
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            auth_time,
            amr: amr.to_vec(),
            created_at: now,
            expires_at: now + BROWSER_SESSION_TTL_SECS,
        })
        .await?;
    Ok(value)
}

/// The live browser session named by a cookie value, if any.
pub async fn browser_session(
    state: &AppState,
    tenant: &Tenant,
    cookie_value: &str,
) -> Result<Option<BrowserSessionRecord>, LoginError> {
    let found = state
        .store
        .browser_session(&tenant.id, &sha256_b64(cookie_value.as_bytes()))
        .await?;
    Ok(found.filter(|s| s.expires_at > state.now()))
}

/// What an authorization code is for.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    /// Client.
    pub client_id: String,
    /// Redirect URI, when the request named one.
    pub redirect_uri: Option<String>,
    /// Scope.
    pub scope: Scope,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub challenge: CodeChallenge,
    /// Resource indicator.
    pub resource: Option<String>,
    /// DPoP key the code is pre-bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
}

impl From<&AuthorizationRequest> for CodeGrant {
    fn from(r: &AuthorizationRequest) -> Self {
        Self {
            client_id: r.client_id.clone(),
            redirect_uri: r.redirect_uri_in_request.then(|| r.redirect_uri.clone()),
            scope: r.scope.clone(),
            nonce: r.nonce.clone(),
            challenge: r.challenge.clone(),
            resource: r.resource.clone(),
            dpop_jkt: r.dpop_jkt.clone(),
        }
    }
}

/// Issues a single-use authorization code for `user`. `browser_session` is
/// the digest of the SSO session the code is issued under, if any: the
/// token family the code makes belongs to that browser session (so
/// RP-initiated logout can tell whether an ID token hint comes from the
/// browser holding it).
pub async fn issue_code(
    state: &AppState,
    tenant: &Tenant,
    grant: CodeGrant,
    user_id: &str,
    auth_time: i64,
    amr: Vec<String>,
    browser_session: Option<&str>,
) -> Result<SecretString, LoginError> {
    let code = generate_token(CODE_PREFIX)?;
    let now = state.now();
    state
        .store
        .insert_auth_code(&AuthCodeRecord {
            code_digest: sha256_b64(code.expose().as_bytes()),
            tenant_id: tenant.id.clone(),
            client_id: grant.client_id,
            user_id: user_id.to_owned(),
            redirect_uri: grant.redirect_uri,
            scope: grant.scope.to_string(),
            nonce: grant.nonce,
            code_challenge: grant.challenge.as_str().to_owned(),
            resource: grant.resource,
            auth_time,
            acr: holdfast_core::mfa::acr_of(&amr).to_owned(),
            amr,
            created_at: now,
            expires_at: now + CODE_TTL_SECS,
            consumed_at: None,
            session_id: None,
            access_jti: None,
            access_exp: None,
            dpop_jkt: grant.dpop_jkt,
            browser_session: browser_session.map(str::to_owned),
        })
        .await?;
    metrics::counter!("holdfast_codes_issued_total").increment(1);
    Ok(code)
}
