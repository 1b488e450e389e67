//! The refresh token grant, [RFC 6749 §6](https://www.rfc-editor.org/rfc/rfc6749#section-6),
//! with confirmed rotation (docs/design.md §4, `holdfast_core::refresh::rotation`).
//!
//! RFC 6749 §6: the server MUST "validate the refresh token" and "ensure
//! that the refresh token was issued to the authenticated client"; the
//! requested scope "MUST NOT include any scope not originally granted".
//! RFC 9700 §4.14.2: a refresh token used twice revokes the active one.
//! The grace retry of docs/design.md §4 step 4 is an exception to that only for
//! a presenter that proves it holds the family (its DPoP key, or client
//! authentication), or for a public client that opted in to the risk.
//!
//! The steps: digest the presented token; prepare a child and seal it under
//! a key derived from the presented token (so a grace retry can return the
//! same child without the server ever storing it in clear); let the store
//! apply the pure decision atomically (reading the token, its family and
//! its user together); then mint the access token.

use holdfast_core::client::{Client, ClientKind};
use holdfast_core::refresh::rotation::{AskedResource, Decision, Presentation, RejectReason};
use holdfast_core::scope::Scope;
use holdfast_core::tenant::Tenant;
use holdfast_crypto::aead::{open_under_token, seal_under_token};
use holdfast_crypto::secret::{REFRESH_TOKEN_PREFIX, generate_token, sha256_b64};
use holdfast_store::{AuditEvent, PresentOutcome, RefreshPresentation};
use url::Url;

use holdfast_dpop::DpopProof;

use super::{
    GrantError, RequestError, ScopeError, TargetError, TokenError, TokenRequest, TokenResponse,
    response,
};
use crate::service::audit;
use crate::service::jwt::{
    AccessGrant, IdTokenInput, id_token_if_openid, mint_access_token, new_jti,
};
use crate::state::AppState;

/// Presents a refresh token and, if the family allows, issues tokens.
pub async fn exchange(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    request: &TokenRequest,
    proof: Option<&DpopProof>,
) -> Result<TokenResponse, TokenError> {
    let presented = request
        .param("refresh_token")
        .ok_or(RequestError::MissingRefreshToken)?;
    let digest = sha256_b64(presented.as_bytes());
    let now = state.now();
    // A narrower scope may be asked for (RFC 6749 §6). Its syntax is checked
    // here; whether it was granted is part of the locked decision below, so
    // a refused request changes nothing (under strict rotation a committed
    // rotation followed by an error would turn the client's retry into reuse).
    let asked = request
        .param("scope")
        .map(|raw| Scope::parse(raw).map_err(|_| ScopeError::Malformed))
        .transpose()?;
    // RFC 8707 §2.2: a refresh may name a resource to narrow the token's
    // audience, but only to one the client may have (checked here) and the
    // family was granted (checked in the locked decision below).
    let default_audience = tenant.audience(issuer);
    let asked_resource = client.permitted_resource(request.param("resource"), &default_audience)?;
    let child = generate_token(REFRESH_TOKEN_PREFIX)?;
    let child_digest = sha256_b64(child.expose().as_bytes());
    let child_sealed = seal_under_token(presented, digest.as_bytes(), child.expose().as_bytes())?;
    let proof_jkt = proof.map(|p| p.jkt.as_str());
    let presentation = RefreshPresentation {
        tenant_id: &tenant.id,
        token_digest: &digest,
        presenter: Presentation {
            client_id: &client.client_id,
            // `authenticate` returns a confidential client only once its
            // secret verified: its grace retries prove it holds the family
            // (docs/design.md §4 step 4). A public client is only identified.
            client_authenticated: client.kind == ClientKind::Confidential,
            proof_jkt,
            asked_scope: asked.as_ref(),
            asked_resource: asked_resource.as_deref().map(|resource| AskedResource {
                resource,
                default_audience: &default_audience,
            }),
            policy: client.refresh,
            now,
        },
        child_digest: &child_digest,
        child_sealed: &child_sealed,
        // The store sets the kind from its decision, and the user and session.
        audit: AuditEvent {
            client_id: Some(client.client_id.clone()),
            ..audit::event(state, tenant, "", &request.context)
        },
        // RFC 9449 §11.1, in the same transaction as the decision.
        proof: proof.map(|p| crate::service::dpop::replay_record(state, p)),
    };
    let (decision, token, session, user) =
        match state.store.present_refresh_token(&presentation).await? {
            PresentOutcome::Unknown => {
                return Err(GrantError::UnknownRefreshToken.into());
            }
            PresentOutcome::ReplayedProof => return Err(crate::service::dpop::replayed()),
            PresentOutcome::Decided {
                decision,
                token,
                session,
                user,
            } => (decision, token, session, user),
        };
    let result = match decision {
        Decision::Rotate => "rotated",
        Decision::KeepToken => "kept",
        Decision::ReplayChild => "grace_retry",
        Decision::Reuse => "reuse_detected",
        Decision::Reject(_) => "refused",
    };
    metrics::counter!("holdfast_refreshes_total", "result" => result).increment(1);
    crate::service::dpop::recorded_in_transaction(state, proof.map(|p| p.jti.as_str())).await;
    if decision == Decision::Reuse {
        crate::service::revocation::counted("refresh_token_reuse", 1);
    }
    let refresh_token = match decision {
        Decision::Rotate => Some(child.expose().to_owned()),
        Decision::KeepToken => Some(presented.to_owned()),
        Decision::ReplayChild => {
            let sealed = token
                .child_sealed
                .as_deref()
                .ok_or(GrantError::RefreshTokenUsed)?;
            let opened = open_under_token(presented, digest.as_bytes(), sealed)
                .map_err(|_| GrantError::RefreshTokenUsed)?;
            Some(String::from_utf8(opened.to_vec()).map_err(|_| GrantError::RefreshTokenUsed)?)
        }
        Decision::Reuse => {
            tracing::warn!(tenant = %tenant.slug, sid = %session.id, "refresh token reuse; session revoked");
            return Err(GrantError::RefreshTokenUsed.into());
        }
        Decision::Reject(RejectReason::ScopeNotGranted) => {
            return Err(ScopeError::BeyondGrant.into());
        }
        Decision::Reject(RejectReason::ResourceNotGranted) => {
            return Err(TargetError::BeyondGrant.into());
        }
        Decision::Reject(reason) => return Err(GrantError::Refused(reason).into()),
    };
    // The decision checked that any requested scope was granted.
    let scope = match asked {
        Some(asked) => asked,
        None => Scope::parse(&session.scope).map_err(|_| GrantError::StoredScopeCorrupt)?,
    };
    let grant = AccessGrant {
        subject: user.id.clone(),
        scope: scope.clone(),
        session_id: Some(session.id.clone()),
        auth_time: Some(session.auth_time),
        acr: Some(session.acr.clone()),
        amr: Some(session.amr.clone()),
        // A family granted a resource the client may no longer have (its
        // allow-list changed, or the family predates allow-lists) gets the
        // default audience instead: never a token for a resource outside it.
        resource: session.resource.clone().filter(|r| {
            client
                .permitted_resource(Some(r), &default_audience)
                .is_ok()
        }),
        jkt: proof.map(|p| p.jkt.clone()),
    };
    let access = mint_access_token(state, tenant, issuer, client, &grant, new_jti()?).await?;
    let id_token = id_token_if_openid(
        state,
        tenant,
        issuer,
        client,
        IdTokenInput {
            user: &user,
            scope: &scope,
            nonce: None,
            auth_time: session.auth_time,
            acr: session.acr.clone(),
            amr: session.amr.clone(),
            session_id: Some(session.id.clone()),
            access_token: &access.token,
        },
    )
    .await?;
    Ok(response(
        client,
        access,
        scope.to_string(),
        refresh_token,
        id_token,
    ))
}
