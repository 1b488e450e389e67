//! The client credentials grant, [RFC 6749 §4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4).
//!
//! "The client credentials grant type MUST only be used by confidential
//! clients" (§4.4); "A refresh token SHOULD NOT be included" (§4.4.3), and
//! Holdfast never includes one. The token's `sub` is the client id
//! (RFC 9068 §2.2). OpenID scopes make no sense without a user and are
//! refused.

use holdfast_core::client::{Client, ClientKind};
use holdfast_core::scope::Scope;
use holdfast_core::tenant::Tenant;
use url::Url;

use holdfast_dpop::DpopProof;

use super::{
    ClientNotAuthorized, ScopeError, TokenError, TokenRequest, TokenResponse, requested_scope,
    response,
};
use crate::service::jwt::{AccessGrant, mint_access_token, new_jti};
use crate::state::AppState;

const USER_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Issues an access token to the client itself.
pub async fn exchange(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    request: &TokenRequest,
    proof: Option<&DpopProof>,
) -> Result<TokenResponse, TokenError> {
    if client.kind != ClientKind::Confidential {
        return Err(ClientNotAuthorized::ClientCredentialsNeedConfidential.into());
    }
    let allowed = Scope::from_tokens(
        client
            .scopes
            .iter()
            .filter(|s| !USER_SCOPES.contains(&s.as_str()))
            .cloned(),
    );
    let scope = requested_scope(request, &allowed, ScopeError::BeyondClient)?;
    // RFC 8707 §2: only a resource on the client's allow-list.
    let resource =
        client.permitted_resource(request.param("resource"), &tenant.audience(issuer))?;
    let grant = AccessGrant {
        subject: client.client_id.clone(),
        scope: scope.clone(),
        session_id: None,
        auth_time: None,
        acr: None,
        amr: None,
        resource,
        jkt: proof.map(|p| p.jkt.clone()),
    };
    let access = mint_access_token(state, tenant, issuer, client, &grant, new_jti()?).await?;
    Ok(response(client, access, scope.to_string(), None, None))
}
