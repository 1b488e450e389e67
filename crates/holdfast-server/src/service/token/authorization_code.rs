//! The authorization code grant at the token endpoint:
//! [RFC 6749 §4.1.3](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3)
//! with PKCE ([RFC 7636 §4.5–4.6](https://www.rfc-editor.org/rfc/rfc7636#section-4.6)).
//!
//! RFC 6749 §4.1.2: "If an authorization code is used more than once, the
//! authorization server MUST deny the request and SHOULD revoke (when
//! possible) all tokens previously issued based on that authorization
//! code." Holdfast records what each code issued on the code itself, in the
//! same transaction that consumes it, so a replay revokes that session and
//! access token.

use holdfast_core::client::{Client, ClientKind, GrantType};
use holdfast_core::pkce::CodeChallenge;
use holdfast_core::scope::Scope;
use holdfast_core::tenant::Tenant;
use holdfast_crypto::secret::{REFRESH_TOKEN_PREFIX, generate_token, sha256_b64};
use holdfast_store::{
    AuditEvent, AuthCodeRecord, CodeIssuance, Continuation, Redemption, SessionRecord,
};
use url::Url;

use holdfast_dpop::DpopProof;

use super::{
    GrantError, ProofError, RequestError, TargetError, TokenError, TokenRequest, TokenResponse,
    response,
};
use crate::service::audit;
use crate::service::jwt::{
    AccessGrant, IdTokenInput, id_token_if_openid, mint_access_token, new_jti,
};
use crate::state::AppState;

/// Redeems a code. The DPoP proof, if any, is recorded against replay in
/// the redemption's own transaction (one commit per exchange); a request
/// refused before it gets there records its proof on its own, so a
/// replayed proof is `invalid_dpop_proof` whatever else is wrong with the
/// request, as at every token request.
pub async fn exchange(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    request: &TokenRequest,
    proof: Option<&DpopProof>,
) -> Result<TokenResponse, TokenError> {
    let presented = match request.param("code") {
        Some(code) => Presented {
            digest: sha256_b64(code.as_bytes()),
            redirect_uri: request.param("redirect_uri"),
            code_verifier: request.param("code_verifier"),
            proof_recorded: false,
        },
        None => {
            let refusal = RequestError::MissingCode.into();
            return refused(state, tenant, proof, refusal).await;
        }
    };
    exchange_presented(state, tenant, issuer, client, request, proof, presented).await
}

/// A code as the token request presents it: its digest, and what RFC 6749
/// §4.1.3 and RFC 7636 §4.5 have the client send with it. The device grant
/// (`device_code.rs`) presents the code its user's sign-in left waiting,
/// with the server-held verifier.
pub struct Presented<'a> {
    /// SHA-256 of the code.
    pub digest: String,
    /// The `redirect_uri` sent with it.
    pub redirect_uri: Option<&'a str>,
    /// The PKCE `code_verifier`.
    pub code_verifier: Option<&'a str>,
    /// Whether the request's DPoP proof was recorded against replay
    /// already (the device grant records it before its poll changes
    /// anything); else the redemption's transaction records it.
    pub proof_recorded: bool,
}

/// Redeems a presented code: [`exchange`] after the code is found.
pub async fn exchange_presented(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    request: &TokenRequest,
    proof: Option<&DpopProof>,
    presented: Presented<'_>,
) -> Result<TokenResponse, TokenError> {
    // The proof to record here, if it is not recorded yet.
    let unrecorded = proof.filter(|_| !presented.proof_recorded);
    match check(state, tenant, issuer, client, request, proof, presented).await {
        Ok(Checked::Redeemable(code)) => {
            redeem(state, tenant, issuer, client, request, proof, code).await
        }
        Ok(Checked::Consumed { digest }) => {
            // RFC 6749 §4.1.2: a second use is refused and what the first
            // issued is revoked (only for the client the code belongs to,
            // so another client cannot revoke someone else's tokens this
            // way), unless the proof is a replay: then nothing changes.
            let recorded = unrecorded.map(|p| crate::service::dpop::replay_record(state, p));
            if !state
                .store
                .revoke_code_issuance(&tenant.id, &digest, state.now(), recorded)
                .await?
            {
                return Err(crate::service::dpop::replayed());
            }
            tracing::warn!(tenant = %tenant.slug, client_id = %client.client_id, "authorization code replayed; its tokens are revoked");
            crate::service::revocation::counted("code_replay", 1);
            Err(GrantError::CodeReplayed.into())
        }
        Err(refusal) => refused(state, tenant, unrecorded, refusal).await,
    }
}

/// A refusal before the redeeming transaction: the proof is recorded on
/// its own, so it cannot be replayed either.
async fn refused<T>(
    state: &AppState,
    tenant: &Tenant,
    proof: Option<&DpopProof>,
    refusal: TokenError,
) -> Result<T, TokenError> {
    if let Some(proof) = proof {
        crate::service::dpop::record_token_proof(state, tenant, proof).await?;
    }
    Err(refusal)
}

/// A code that passed every check, ready to redeem.
struct Redeemable {
    /// [`Presented::proof_recorded`], carried to the redemption.
    proof_recorded: bool,
    digest: String,
    record: AuthCodeRecord,
    user: holdfast_core::user::User,
    scope: Scope,
}

/// What [`check`] found.
enum Checked {
    /// Redeem it.
    Redeemable(Box<Redeemable>),
    /// This client's code, used before.
    Consumed { digest: String },
}

/// The checks of RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707 §2 and RFC 9449
/// §10 on the `presented` code of `request`; reads only.
async fn check(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    request: &TokenRequest,
    proof: Option<&DpopProof>,
    presented: Presented<'_>,
) -> Result<Checked, TokenError> {
    let digest = presented.digest;
    let now = state.now();
    let record = state
        .store
        .auth_code(&tenant.id, &digest)
        .await?
        .ok_or(GrantError::UnknownCode)?;

    // RFC 6749 §4.1.3: "ensure that the authorization code was issued to the
    // authenticated confidential client, or ... to the public client".
    if record.client_id != client.client_id {
        return Err(GrantError::CodeOfAnotherClient.into());
    }
    if record.consumed_at.is_some() {
        return Ok(Checked::Consumed { digest });
    }
    if record.expires_at <= now {
        return Err(GrantError::CodeExpired.into());
    }
    // RFC 6749 §4.1.3: redirect_uri "REQUIRED, if the redirect_uri parameter
    // was included in the authorization request ... and their values MUST be
    // identical."
    if let Some(expected) = &record.redirect_uri
        && presented.redirect_uri != Some(expected.as_str())
    {
        return Err(GrantError::RedirectUriMismatch.into());
    }
    // RFC 7636 §4.6: if the values are not equal, "invalid_grant".
    CodeChallenge::from_stored(record.code_challenge.clone())
        .verify(presented.code_verifier)
        .map_err(GrantError::Pkce)?;
    // RFC 8707 §2: a resource named here must be one the client may have
    // and the one the code was granted for (Holdfast grants one per code).
    let default_audience = tenant.audience(issuer);
    if let Some(resource) =
        client.permitted_resource(request.param("resource"), &default_audience)?
        && resource != record.resource.as_deref().unwrap_or(&default_audience)
    {
        return Err(TargetError::DiffersFromAuthorization.into());
    }
    // RFC 9449 §10: a code pre-bound with dpop_jkt is redeemed only with a
    // proof by that key.
    if let Some(bound) = &record.dpop_jkt
        && proof.is_none_or(|p| &p.jkt != bound)
    {
        return Err(ProofError::CodeBoundToAnotherKey.into());
    }
    let user = state
        .store
        .user_by_id(&tenant.id, &record.user_id)
        .await?
        .ok_or(GrantError::UserGone)?;
    // A "not before" stamp (revoke-all, password reset) kills codes from
    // authentications before it; a disabled user redeems none.
    if user.not_before.is_some_and(|nb| record.auth_time < nb) || user.disabled_at.is_some() {
        return Err(GrantError::AuthenticationRevoked.into());
    }
    let scope = Scope::parse(&record.scope).map_err(|_| GrantError::StoredScopeCorrupt)?;
    Ok(Checked::Redeemable(Box::new(Redeemable {
        proof_recorded: presented.proof_recorded,
        digest,
        record,
        user: user.user,
        scope,
    })))
}

/// Consumes the checked code into a new family (or the live one it
/// continues) and answers with its tokens.
async fn redeem(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    request: &TokenRequest,
    proof: Option<&DpopProof>,
    code: Box<Redeemable>,
) -> Result<TokenResponse, TokenError> {
    // The proof to record in the redemption's transaction, if any.
    let recorded = proof.filter(|_| !code.proof_recorded);
    let Redeemable {
        proof_recorded: _,
        digest,
        record,
        user,
        scope,
    } = *code;
    let now = state.now();
    let refresh_token = if client.allows_grant(GrantType::RefreshToken) {
        Some(generate_token(REFRESH_TOKEN_PREFIX)?)
    } else {
        None
    };
    let refresh_token_digest = refresh_token
        .as_ref()
        .map(|t| sha256_b64(t.expose().as_bytes()));
    let mut family = match &refresh_token_digest {
        Some(_) => family_to_continue(state, tenant, client, &record, &scope, proof).await?,
        None => None,
    };
    let (session_id, access) = loop {
        let session = match &family {
            Some(live) => SessionRecord {
                auth_time: record.auth_time,
                acr: record.acr.clone(),
                amr: record.amr.clone(),
                ..live.clone()
            },
            None => new_session(tenant, client, &record, &scope, request, proof, now),
        };
        let jti = new_jti()?;
        let grant = AccessGrant {
            subject: user.id.clone(),
            scope: scope.clone(),
            session_id: Some(session.id.clone()),
            auth_time: Some(record.auth_time),
            acr: Some(record.acr.clone()),
            amr: Some(record.amr.clone()),
            resource: record.resource.clone(),
            jkt: proof.map(|p| p.jkt.clone()),
        };
        let access = mint_access_token(state, tenant, issuer, client, &grant, jti.clone()).await?;
        let continues = family.as_ref().map(|live| Continuation {
            used_after: now.saturating_sub(client.refresh.idle_lifetime_secs),
            audit: AuditEvent {
                user_id: Some(user.id.clone()),
                client_id: Some(client.client_id.clone()),
                session_id: Some(live.id.clone()),
                reason: Some(record.acr.clone()),
                ..audit::event(state, tenant, "session_raised", &request.context)
            },
        });
        let session_id = session.id.clone();
        let issuance = CodeIssuance {
            access_jti: jti,
            access_exp: access.claims.exp,
            session,
            refresh_token_digest: refresh_token_digest.clone(),
            continues,
        };
        match state
            .store
            .redeem_auth_code(
                &tenant.id,
                &digest,
                &issuance,
                now,
                recorded.map(|p| crate::service::dpop::replay_record(state, p)),
            )
            .await?
        {
            Redemption::Redeemed => {
                crate::service::dpop::recorded_in_transaction(
                    state,
                    recorded.map(|p| p.jti.as_str()),
                )
                .await;
                if family.is_some() {
                    metrics::counter!("holdfast_sessions_raised_total").increment(1);
                }
                break (session_id, access);
            }
            Redemption::Replayed => return Err(GrantError::CodeReplayed.into()),
            Redemption::Unknown => return Err(GrantError::UnknownCode.into()),
            Redemption::ReplayedProof => return Err(crate::service::dpop::replayed()),
            // The family ended between the read and the write: a new one.
            Redemption::NotContinued => family = None,
        }
    };
    let id_token = id_token_if_openid(
        state,
        tenant,
        issuer,
        client,
        IdTokenInput {
            user: &user,
            scope: &scope,
            nonce: record.nonce.clone(),
            auth_time: record.auth_time,
            acr: record.acr.clone(),
            amr: record.amr.clone(),
            session_id: Some(session_id),
            access_token: &access.token,
        },
    )
    .await?;
    Ok(response(
        client,
        access,
        scope.to_string(),
        refresh_token.map(|t| t.expose().to_owned()),
        id_token,
    ))
}

/// The live family this code continues instead of starting one, if any:
/// the newest one of the same user and client, made under the same browser
/// (SSO) session, bound to the key of this request's DPoP proof, with the
/// same scope and resource, no newer sign-in, not idle or past its lifetime. Such a code is a
/// step-up or a new sign-in of the same app on the same device, and the
/// issue's rule is one session per device: it raises that family's `acr`,
/// `amr` and `auth_time` (decision 0008, 6). Only a DPoP-bound public
/// family qualifies: the key proves it is the same holder, and the token
/// it replaces can then be told apart (its holder's retry is refused, a
/// copy's presentation is reuse).
async fn family_to_continue(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    record: &AuthCodeRecord,
    scope: &Scope,
    proof: Option<&DpopProof>,
) -> Result<Option<SessionRecord>, TokenError> {
    let (Some(browser_session), Some(proof)) = (&record.browser_session, proof) else {
        return Ok(None);
    };
    if client.kind != ClientKind::Public {
        return Ok(None);
    }
    let now = state.now();
    let sessions = state
        .store
        .list_sessions(&tenant.id, &record.user_id, now)
        .await?;
    Ok(sessions.into_iter().find(|s| {
        s.client_id == client.client_id
            && s.browser_session.as_ref() == Some(browser_session)
            && s.dpop_jkt.as_deref() == Some(proof.jkt.as_str())
            && s.resource == record.resource
            // Never lower a family: an older sign-in's code starts its own.
            && record.auth_time >= s.auth_time
            && Scope::parse(&s.scope).is_ok_and(|granted| &granted == scope)
            && now < s.last_used_at.saturating_add(client.refresh.idle_lifetime_secs)
            && now < s.created_at.saturating_add(client.refresh.absolute_lifetime_secs)
    }))
}

/// A new family for the code.
fn new_session(
    tenant: &Tenant,
    client: &Client,
    record: &AuthCodeRecord,
    scope: &Scope,
    request: &TokenRequest,
    proof: Option<&DpopProof>,
    now: i64,
) -> SessionRecord {
    SessionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        user_id: record.user_id.clone(),
        client_id: client.client_id.clone(),
        scope: scope.to_string(),
        resource: record.resource.clone(),
        auth_time: record.auth_time,
        acr: record.acr.clone(),
        amr: record.amr.clone(),
        created_at: now,
        last_used_at: now,
        expires_at: now + client.refresh.absolute_lifetime_secs,
        revoked_at: None,
        revoked_reason: None,
        // RFC 9449 §5: a public client's refresh tokens are bound to the
        // key of the proof that obtained them; a confidential client's
        // are not (it authenticates instead).
        dpop_jkt: proof
            .filter(|_| client.kind == ClientKind::Public)
            .map(|p| p.jkt.clone()),
        device_id: Some(device_id(request)),
        user_agent: request.context.user_agent.clone(),
        ip: request.context.ip.clone(),
        browser_session: record.browser_session.clone(),
    }
}

/// The client's stable device id (`device_id` parameter, at most 128
/// printable characters), or a new random one. One session per device
/// login: signing in on another device never touches this one.
fn device_id(request: &TokenRequest) -> String {
    request
        .param("device_id")
        .filter(|d| d.len() <= 128 && d.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
