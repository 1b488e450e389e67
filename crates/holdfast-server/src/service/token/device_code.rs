//! The device authorization grant at the token endpoint:
//! [RFC 8628 §3.4–3.5](https://www.rfc-editor.org/rfc/rfc8628#section-3.4).
//!
//! The device polls with its `device_code`. Until its user has approved
//! and signed in (`service::device`), the answer is
//! `authorization_pending`, or `slow_down` to a device that polls faster
//! than its interval ("the interval MUST be increased by 5 seconds for
//! this and all subsequent requests"); then `expired_token` or
//! `access_denied` end it. Once the sign-in left its authorization code
//! waiting, one poll takes it (a compare-and-set on the request's status,
//! so two concurrent polls cannot both redeem it) and redeems it as the
//! authorization code grant does, with the verifier only the server knows:
//! the same session, tokens, ID token and audit as a browser sign-in.
//!
//! The DPoP proof, if any, is recorded against replay before the poll
//! changes anything (`service::token::exchange`), so a replayed proof
//! neither slows a device down nor spends its approval. A redemption that
//! fails on the server's side (the store, a signing key) puts the request
//! back (if its code is still unspent), so the device's next poll tries
//! again.

use holdfast_core::client::Client;
use holdfast_core::device::{DeviceStatus, Poll, poll, slowed};
use holdfast_core::tenant::Tenant;
use holdfast_crypto::secret::sha256_b64;
use holdfast_dpop::DpopProof;
use holdfast_store::{DeviceAuthorizationRecord, DeviceLookup};
use url::Url;

use super::authorization_code::{Presented, exchange_presented};
use super::{DevicePoll, GrantError, RequestError, TokenError, TokenRequest, TokenResponse};
use crate::service::device::callback_url;
use crate::state::AppState;

/// Answers one poll.
pub async fn exchange(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    request: &TokenRequest,
    proof: Option<&DpopProof>,
) -> Result<TokenResponse, TokenError> {
    let taken = take(state, tenant, client, request).await?;
    let redirect_uri = callback_url(issuer);
    let presented = Presented {
        digest: taken.code_digest.clone(),
        redirect_uri: Some(&redirect_uri),
        code_verifier: Some(&taken.code_verifier),
        proof_recorded: true,
    };
    match exchange_presented(state, tenant, issuer, client, request, proof, presented).await {
        // The approval's code lives a minute: a device that comes back
        // later hears that its sign-in is over (RFC 8628 §3.5).
        Err(TokenError::InvalidGrant(GrantError::CodeExpired)) => {
            Err(TokenError::Device(DevicePoll::Expired))
        }
        Err(TokenError::Internal(e)) => {
            put_back(state, tenant, &taken, &e).await;
            Err(TokenError::Internal(e))
        }
        answer => answer,
    }
}

/// After a server-side failure, the request waits again for the next poll,
/// unless its code was redeemed before the failure (an ID token that could
/// not be signed after the commit, say): a second redemption would be a
/// code replay and revoke the first one's tokens, so that request stays
/// spent and the device starts again.
async fn put_back(
    state: &AppState,
    tenant: &Tenant,
    taken: &Taken,
    failure: &crate::keys::KeyError,
) {
    let unredeemed = match state.store.auth_code(&tenant.id, &taken.code_digest).await {
        Ok(found) => found.is_some_and(|c| c.consumed_at.is_none()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether a failed device redemption committed; the request stays spent");
            false
        }
    };
    if !unredeemed {
        tracing::warn!(error = %failure, "device code redemption failed after its code was spent; the device must start again");
        return;
    }
    let mut back = taken.record.clone();
    back.status = DeviceStatus::Authorized;
    match state
        .store
        .update_device_authorization(&back, DeviceStatus::Consumed)
        .await
    {
        Ok(_) => {
            tracing::warn!(error = %failure, "device code redemption failed on the server side; the request waits again")
        }
        Err(e) => {
            tracing::warn!(error = %e, first = %failure, "device code redemption failed and its request could not be put back")
        }
    }
}

/// A request marked consumed, with the code its sign-in left waiting.
struct Taken {
    record: DeviceAuthorizationRecord,
    code_digest: String,
    code_verifier: String,
}

/// The request, once it is marked consumed with its code waiting; or the
/// poll's answer.
async fn take(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    request: &TokenRequest,
) -> Result<Taken, TokenError> {
    let device_code = request
        .param("device_code")
        .ok_or(RequestError::MissingDeviceCode)?;
    let digest = sha256_b64(device_code.as_bytes());
    let record = state
        .store
        .device_authorization(&tenant.id, DeviceLookup::DeviceCode(&digest))
        .await?
        .ok_or(GrantError::UnknownDeviceCode)?;
    if record.client_id != client.client_id {
        return Err(GrantError::DeviceCodeOfAnotherClient.into());
    }
    let now = state.now();
    let polled = |interval| {
        let mut next = record.clone();
        next.last_polled_at = Some(now);
        next.interval_secs = interval;
        next
    };
    match poll(
        record.status,
        record.expires_at,
        record.last_polled_at,
        record.interval_secs,
        now,
    ) {
        Poll::Used => Err(GrantError::DeviceCodeUsed.into()),
        Poll::Denied => Err(TokenError::Device(DevicePoll::Denied)),
        Poll::Expired => Err(TokenError::Device(DevicePoll::Expired)),
        Poll::Pending => {
            // A lost race with the approval only delays the next poll.
            let _ = state
                .store
                .update_device_authorization(&polled(record.interval_secs), record.status)
                .await?;
            Err(TokenError::Device(DevicePoll::Pending))
        }
        Poll::SlowDown => {
            let _ = state
                .store
                .update_device_authorization(&polled(slowed(record.interval_secs)), record.status)
                .await?;
            Err(TokenError::Device(DevicePoll::SlowDown))
        }
        Poll::Ready => {
            let (Some(code_digest), Some(code_verifier)) =
                (record.code_digest.clone(), record.code_verifier.clone())
            else {
                return Err(GrantError::UnknownDeviceCode.into());
            };
            let mut taken = polled(record.interval_secs);
            taken.status = DeviceStatus::Consumed;
            if !state
                .store
                .update_device_authorization(&taken, DeviceStatus::Authorized)
                .await?
            {
                return Err(GrantError::DeviceCodeUsed.into());
            }
            Ok(Taken {
                record: taken,
                code_digest,
                code_verifier,
            })
        }
    }
}
