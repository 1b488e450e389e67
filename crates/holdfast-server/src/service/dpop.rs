//! DPoP at the authorization server: [RFC 9449](https://www.rfc-editor.org/rfc/rfc9449)
//! §4.3 (proof checks), §7 (Holdfast's own APIs as a protected resource),
//! §8 (server nonces) and the replay rule of §11.1 across nodes. The rules
//! themselves are `holdfast_dpop`'s, the same code `holdfast-verify` runs;
//! this module supplies the state: the tenant's nonce secret, the clock
//! and the store's replay record.
//!
//! Nonces are stateless ([`holdfast_dpop::HmacNonces`], 60 s slots), so any
//! node verifies any nonce: a time slot and an HMAC of it under a
//! per-tenant key derived from the KEK. Proof `jti`s are recorded in the
//! store (per tenant and key) until they leave the `iat` window
//! ([`holdfast_dpop::replay::remember_until`]), so a proof replayed to
//! another node on the same PostgreSQL is refused too. A refresh and a
//! code exchange record their proof in their own transaction
//! ([`replay_record`]), so each commits once; every other request, and
//! either of those when refused before its transaction, records it here.
//!
//! Not supported: DPoP at the authorization endpoint other than the
//! `dpop_jkt` parameter (§10), nonce-per-client keys.

use std::time::Duration;

use axum::http::HeaderMap;
use holdfast_core::client::Client;
use holdfast_core::tenant::Tenant;
use holdfast_dpop::resource::{Presentation, check_presentation};
use holdfast_dpop::{
    DpopError, DpopNonces, DpopPolicy, DpopProof, DpopRefusal, HmacNonces, ProofContext, Scheme,
    replay, verify_proof,
};
use holdfast_store::{ProofRecord, StoreError};
use url::Url;

use crate::service::token::{ProofError, TokenError};
use crate::state::AppState;

/// Length of a nonce time slot.
pub const NONCE_SLOT_SECS: i64 = 60;

/// The tenant's nonces: HMAC under a key derived from the KEK.
fn nonces(state: &AppState, tenant: &Tenant) -> HmacNonces {
    let key = state
        .keys
        .derive(format!("holdfast:dpop-nonce:v1:{}", tenant.id).as_bytes());
    HmacNonces::new(key.as_ref(), Duration::from_secs(NONCE_SLOT_SECS as u64))
}

/// The nonce to offer now (`DPoP-Nonce` header).
pub fn current_nonce(state: &AppState, tenant: &Tenant) -> String {
    nonces(state, tenant).current(state.now())
}

/// The proof policy (algorithms, iat window) of this server.
pub fn policy(state: &AppState) -> DpopPolicy {
    DpopPolicy {
        iat_window: Duration::from_secs(state.config.dpop_iat_window_secs),
        ..DpopPolicy::default()
    }
}

/// Why a DPoP check failed: a refusal the client reads, or the store.
#[derive(Debug, thiserror::Error)]
pub enum DpopCheckError {
    /// Refused by a DPoP rule.
    #[error(transparent)]
    Refused(#[from] DpopRefusal),
    /// The replay record could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the store remembers of `proof` (RFC 9449 §11.1), for a caller that
/// records it inside its own transaction.
pub fn replay_record<'a>(state: &AppState, proof: &'a DpopProof) -> ProofRecord<'a> {
    ProofRecord {
        jkt: &proof.jkt,
        jti: &proof.jti,
        expires_at: replay::remember_until(proof.iat, policy(state).iat_window),
    }
}

/// After a transaction that recorded the proof with `jti` (a rotation, a
/// code redemption): about one request in 64 also clears the expired
/// records (a write of its own, after the answer is decided), as
/// `record_dpop_proof` does for proofs recorded on their own.
pub async fn recorded_in_transaction(state: &AppState, jti: Option<&str>) {
    if jti.is_some_and(holdfast_store::clears_expired)
        && let Err(e) = state.store.forget_expired_dpop_proofs(state.now()).await
    {
        tracing::warn!(error = %e, "clearing expired DPoP proof records failed");
    }
}

/// The token endpoint's answer to a proof seen before.
pub fn replayed() -> TokenError {
    refused(DpopRefusal::Replayed)
}

/// RFC 9449 §11.1: a proof is single-use within its window. Records it, or
/// refuses it as replayed.
async fn record(
    state: &AppState,
    tenant: &Tenant,
    proof: &DpopProof,
    policy: &DpopPolicy,
) -> Result<(), DpopCheckError> {
    let fresh = state
        .store
        .record_dpop_proof(
            &tenant.id,
            &proof.jkt,
            &proof.jti,
            replay::remember_until(proof.iat, policy.iat_window),
            state.now(),
        )
        .await?;
    if fresh {
        Ok(())
    } else {
        Err(DpopRefusal::Replayed.into())
    }
}

/// Checks the proof of a token request for `client` (RFC 9449 §5) and
/// records it against replay: see [`verify_token_request`].
pub async fn check_token_request(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    headers: &[String],
) -> Result<Option<DpopProof>, TokenError> {
    let proof = verify_token_request(state, tenant, issuer, client, headers)?;
    if let Some(proof) = &proof {
        record_token_proof(state, tenant, proof).await?;
    }
    Ok(proof)
}

/// Records a verified token-request proof against replay on its own (a
/// request that writes nothing else, or one refused before its own
/// transaction): `invalid_dpop_proof` if it was recorded before.
pub async fn record_token_proof(
    state: &AppState,
    tenant: &Tenant,
    proof: &DpopProof,
) -> Result<(), TokenError> {
    record(state, tenant, proof, &policy(state))
        .await
        .map_err(|e| match e {
            DpopCheckError::Refused(r) => refused(r),
            DpopCheckError::Store(e) => e.into(),
        })
}

/// Verifies the proof of a token request for `client` (RFC 9449 §4.3): the
/// request's `DPoP` header values, at `{issuer}/token`, with the server's
/// nonce when the client must use one. `Ok(None)` when there is no proof
/// and the client may go without. Not yet recorded against replay: the
/// caller records it ([`check_token_request`], or in its own transaction
/// with [`replay_record`]).
pub fn verify_token_request(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    headers: &[String],
) -> Result<Option<DpopProof>, TokenError> {
    let mut endpoint = issuer.clone();
    endpoint.set_path(&format!("{}/token", issuer.path().trim_end_matches('/')));
    let proof = match headers {
        [] if client.dpop_required => {
            return Err(ProofError::Required.into());
        }
        [] => return Ok(None),
        [one] => one,
        // RFC 9449 §4.3 step 1: "there is not more than one DPoP HTTP request header field".
        _ => return Err(refused(DpopRefusal::MultipleProofs)),
    };
    let now = state.now();
    let nonces = nonces(state, tenant);
    let nonce_check = |n: &str| nonces.accepts(n, now);
    let ctx = ProofContext {
        method: "POST",
        uri: &endpoint,
        now,
        access_token: None,
        bound_jkt: None,
        nonce: client.dpop_nonce_required.then_some(&nonce_check as _),
    };
    let policy = policy(state);
    let proof = verify_proof(proof, &ctx, &policy).map_err(|e| {
        if !matches!(e, DpopError::UseNonce(_)) {
            tracing::info!(tenant = %tenant.slug, error = %e, "DPoP proof refused");
        }
        refused(DpopRefusal::Proof(e))
    })?;
    Ok(Some(proof))
}

/// A refusal at the token endpoint: `use_dpop_nonce` or `invalid_dpop_proof`
/// with the one table's text.
fn refused(refusal: DpopRefusal) -> TokenError {
    match refusal {
        DpopRefusal::Proof(DpopError::UseNonce(_)) => TokenError::UseDpopNonce,
        other => ProofError::Refused(other).into(),
    }
}

/// RFC 9449 §7 for a token presented to Holdfast's own APIs (userinfo,
/// sessions), through the same rule as `holdfast-verify`
/// ([`holdfast_dpop::resource`]): `Ok(None)` for a bearer request,
/// `Ok(Some(proof))` for a DPoP request whose proof passed and is now
/// recorded against replay. `path` is the request's path as received.
#[allow(clippy::too_many_arguments)]
pub async fn check_resource_request(
    state: &AppState,
    tenant: &Tenant,
    scheme: Scheme,
    access_token: &str,
    bound_jkt: Option<&str>,
    method: &str,
    path: &str,
    headers: &HeaderMap,
) -> Result<Option<DpopProof>, DpopCheckError> {
    let policy = policy(state);
    let presentation = Presentation {
        scheme,
        access_token,
        bound_jkt,
        method,
        headers,
        now: state.now(),
        nonce: None,
    };
    let url = || {
        Url::parse(&format!(
            "{}{}",
            state.public_url.as_str().trim_end_matches('/'),
            path
        ))
        .ok()
    };
    let proof = check_presentation(&presentation, url, &policy).inspect_err(|e| {
        tracing::info!(tenant = %tenant.slug, error = %e, "DPoP request refused");
    })?;
    if let Some(proof) = &proof {
        record(state, tenant, proof, &policy).await?;
    }
    Ok(proof)
}
