//! DPoP at the authorization server: [RFC 9449 §4.3](https://www.rfc-editor.org/rfc/rfc9449#section-4.3)
//! (proof checks, in `holdfast_crypto::dpop`), §8 (server nonces) and the
//! replay rule of §11.1 across nodes.
//!
//! Nonces are stateless, so any node verifies any nonce: a nonce is a time
//! slot and an HMAC of it under a per-tenant key derived from the KEK.
//! Nonces of the current and the previous slot are accepted. Proof `jti`s are
//! recorded in the store (per tenant and key) until they leave the `iat`
//! window, so a proof replayed to another node on the same PostgreSQL is
//! refused too.
//!
//! Not supported: DPoP at the authorization endpoint other than the
//! `dpop_jkt` parameter (§10), nonce-per-client keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_core::client::Client;
use holdfast_core::tenant::Tenant;
use holdfast_crypto::dpop::{DpopError, DpopPolicy, DpopProof, ProofContext, verify_proof};
use holdfast_crypto::secret::{constant_time_eq, hmac_sha256};
use url::Url;

use crate::service::token::TokenError;
use crate::state::AppState;

/// Length of a nonce time slot.
pub const NONCE_SLOT_SECS: i64 = 60;

fn nonce_for_slot(state: &AppState, tenant: &Tenant, slot: i64) -> String {
    let key = state
        .keys
        .derive(format!("holdfast:dpop-nonce:v1:{}", tenant.id).as_bytes());
    let mac = hmac_sha256(key.as_ref(), &slot.to_be_bytes());
    format!("{slot}.{}", URL_SAFE_NO_PAD.encode(&mac[..18]))
}

/// The nonce to offer now (`DPoP-Nonce` header).
pub fn current_nonce(state: &AppState, tenant: &Tenant) -> String {
    nonce_for_slot(state, tenant, state.now().div_euclid(NONCE_SLOT_SECS))
}

/// Whether `nonce` belongs to the current or the previous slot.
pub fn nonce_is_valid(state: &AppState, tenant: &Tenant, nonce: &str) -> bool {
    let current = state.now().div_euclid(NONCE_SLOT_SECS);
    let Some(slot) = nonce
        .split_once('.')
        .and_then(|(s, _)| s.parse::<i64>().ok())
    else {
        return false;
    };
    (slot == current || slot == current - 1)
        && constant_time_eq(
            nonce.as_bytes(),
            nonce_for_slot(state, tenant, slot).as_bytes(),
        )
}

/// The proof policy (algorithms, iat window) of this server.
pub fn policy(state: &AppState) -> DpopPolicy {
    DpopPolicy {
        iat_window: std::time::Duration::from_secs(state.config.dpop_iat_window_secs),
        ..DpopPolicy::default()
    }
}

/// Checks the `DPoP` header(s) of a request to `uri` with `method`.
/// `Ok(None)` when there is no proof. The proof's `jti` is recorded; a
/// replay is refused.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    state: &AppState,
    tenant: &Tenant,
    headers: &[String],
    method: &str,
    uri: &Url,
    access_token: Option<&str>,
    bound_jkt: Option<&str>,
    nonce_required: bool,
) -> Result<Option<DpopProof>, TokenError> {
    let proof = match headers {
        [] => return Ok(None),
        [one] => one,
        // RFC 9449 §4.3 step 1: "there is not more than one DPoP HTTP request header field".
        _ => return Err(TokenError::InvalidDpopProof("more than one DPoP header")),
    };
    let nonce_check = |n: &str| nonce_is_valid(state, tenant, n);
    let ctx = ProofContext {
        method,
        uri,
        now: state.now(),
        access_token,
        bound_jkt,
        nonce: nonce_required.then_some(&nonce_check as _),
    };
    let policy = policy(state);
    let proof = verify_proof(proof, &ctx, &policy).map_err(|e| match e {
        DpopError::UseNonce(_) => TokenError::UseDpopNonce,
        other => {
            tracing::info!(tenant = %tenant.slug, error = %other, "DPoP proof refused");
            TokenError::InvalidDpopProof(describe(&other))
        }
    })?;
    // RFC 9449 §11.1: a proof is single-use within its window.
    let window = policy.iat_window.as_secs() as i64;
    let fresh = state
        .store
        .record_dpop_proof(
            &tenant.id,
            &proof.jkt,
            &proof.jti,
            proof.iat + window,
            state.now(),
        )
        .await?;
    if !fresh {
        return Err(TokenError::InvalidDpopProof(
            "the DPoP proof was already used",
        ));
    }
    Ok(Some(proof))
}

/// Checks the proof of a token request for `client`.
pub async fn check_token_request(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    headers: &[String],
) -> Result<Option<DpopProof>, TokenError> {
    let endpoint = Url::parse(&format!("{issuer}/token"))
        .map_err(|_| TokenError::InvalidRequest("bad issuer".into()))?;
    let proof = check(
        state,
        tenant,
        headers,
        "POST",
        &endpoint,
        None,
        None,
        client.dpop_nonce_required,
    )
    .await?;
    if proof.is_none() && client.dpop_required {
        return Err(TokenError::InvalidDpopProof(
            "this client must send a DPoP proof",
        ));
    }
    Ok(proof)
}

fn describe(e: &DpopError) -> &'static str {
    match e {
        DpopError::Malformed => "the DPoP proof is not a well-formed JWT",
        DpopError::MissingHeader(_) => "the DPoP proof lacks a required header",
        DpopError::MissingClaim(_) => "the DPoP proof lacks a required claim",
        DpopError::WrongType => "the DPoP proof's typ must be dpop+jwt",
        DpopError::UnsupportedAlg => "the DPoP proof's alg is not supported",
        DpopError::KeyAlgMismatch => "the DPoP proof's jwk does not fit its alg",
        DpopError::InvalidKey => "the DPoP proof's jwk is invalid",
        DpopError::PrivateKey => "the DPoP proof's jwk contains private key material",
        DpopError::BadSignature => "the DPoP proof's signature does not verify",
        DpopError::InvalidJti => "the DPoP proof's jti is invalid",
        DpopError::MethodMismatch => "the DPoP proof's htm does not match the request",
        DpopError::UriMismatch => "the DPoP proof's htu does not match the request",
        DpopError::IatOutOfWindow => "the DPoP proof's iat is outside the accepted window",
        DpopError::AthMismatch => "the DPoP proof's ath does not match the access token",
        DpopError::KeyMismatch => "the DPoP proof's key is not the one the token is bound to",
        DpopError::UseNonce(_) => "a DPoP nonce is required",
    }
}
