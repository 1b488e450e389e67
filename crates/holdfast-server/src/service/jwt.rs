//! Minting access tokens ([RFC 9068](https://www.rfc-editor.org/rfc/rfc9068))
//! and ID tokens ([OIDC Core §2](https://openid.net/specs/openid-connect-core-1_0.html#IDToken)),
//! and checking access tokens presented back to Holdfast (userinfo).

use holdfast_core::claims::{
    ACCESS_TOKEN_TYP, Confirmation, IdTokenClaims, IssuedAccessTokenClaims, at_hash,
};
use holdfast_core::client::Client;
use holdfast_core::scope::Scope;
use holdfast_core::tenant::Tenant;
use holdfast_core::user::User;
use holdfast_crypto::jws::verify_compact;
use holdfast_crypto::secret::random_id;
use url::Url;

use crate::keys::KeyError;
use crate::state::AppState;

/// Who and what an access token is for.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    /// `sub`: user id, or client id for client credentials.
    pub subject: String,
    /// Granted scope.
    pub scope: Scope,
    /// `sid`, for user tokens.
    pub session_id: Option<String>,
    /// When the user authenticated.
    pub auth_time: Option<i64>,
    /// Authentication context class.
    pub acr: Option<String>,
    /// Authentication methods.
    pub amr: Option<Vec<String>>,
    /// Resource indicator (RFC 8707), else the tenant's default audience.
    pub resource: Option<String>,
    /// The DPoP key the token is bound to (`cnf.jkt`, RFC 9449 §6).
    pub jkt: Option<String>,
}

/// A signed access token.
#[derive(Debug, Clone)]
pub struct MintedAccessToken {
    /// The JWT.
    pub token: String,
    /// Its claims.
    pub claims: IssuedAccessTokenClaims,
}

/// A fresh `jti`.
pub fn new_jti() -> Result<String, KeyError> {
    Ok(random_id()?)
}

/// Signs an access token for `client` with the tenant's current key.
pub async fn mint_access_token(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    grant: &AccessGrant,
    jti: String,
) -> Result<MintedAccessToken, KeyError> {
    let now = state.now();
    let claims = IssuedAccessTokenClaims {
        iss: issuer.as_str().to_owned(),
        sub: grant.subject.clone(),
        aud: grant
            .resource
            .clone()
            .unwrap_or_else(|| tenant.audience(issuer)),
        exp: now + client.access_token_ttl_secs,
        iat: now,
        jti,
        client_id: client.client_id.clone(),
        scope: grant.scope.to_string(),
        sid: grant.session_id.clone(),
        auth_time: grant.auth_time,
        acr: grant.acr.clone(),
        amr: grant.amr.clone(),
        cnf: grant.jkt.clone().map(|jkt| Confirmation { jkt }),
    };
    let key = state.keys.current(tenant).await?;
    let token = key.sign(ACCESS_TOKEN_TYP, &claims)?;
    Ok(MintedAccessToken { token, claims })
}

/// What an ID token says about the authentication.
#[derive(Debug, Clone)]
pub struct IdTokenInput<'a> {
    /// The user.
    pub user: &'a User,
    /// Granted scope (decides which profile claims go in).
    pub scope: &'a Scope,
    /// The authorization request's nonce.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication context class.
    pub acr: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// The access token issued alongside (for `at_hash`).
    pub access_token: &'a str,
}

/// An ID token when `openid` was granted (OIDC Core §3.1.3.3), else none.
pub async fn id_token_if_openid(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    input: IdTokenInput<'_>,
) -> Result<Option<String>, KeyError> {
    if !input.scope.contains("openid") {
        return Ok(None);
    }
    mint_id_token(state, tenant, issuer, client, input)
        .await
        .map(Some)
}

/// Signs an ID token for `client`, with the algorithm it registered
/// (`id_token_signed_response_alg`, OIDC Dynamic Client Registration 1.0
/// §2), else the tenant's.
pub async fn mint_id_token(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    client: &Client,
    input: IdTokenInput<'_>,
) -> Result<String, KeyError> {
    let now = state.now();
    let alg = client.id_token_alg(tenant.signing_alg);
    let claims = IdTokenClaims {
        iss: issuer.as_str().to_owned(),
        sub: input.user.id.clone(),
        aud: client.client_id.clone(),
        exp: now + client.access_token_ttl_secs.max(300),
        iat: now,
        auth_time: input.auth_time,
        nonce: input.nonce,
        acr: Some(input.acr),
        amr: Some(input.amr),
        sid: input.session_id,
        // OIDC Core §3.1.3.6: the hash "used in the alg Header Parameter of
        // the ID Token's JOSE Header".
        at_hash: Some(at_hash(input.access_token, alg)),
        azp: client.client_id.clone(),
        preferred_username: input
            .scope
            .contains("profile")
            .then(|| input.user.username.clone()),
        email: input
            .scope
            .contains("email")
            .then(|| input.user.email.clone())
            .flatten(),
        email_verified: (input.scope.contains("email") && input.user.email.is_some())
            .then_some(input.user.email_verified),
        name: input
            .scope
            .contains("profile")
            .then(|| input.user.display_name.clone())
            .flatten(),
    };
    let key = state.keys.current_for(tenant, alg, now).await?;
    Ok(key.sign("JWT", &claims)?)
}

/// Why a presented access token is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    /// Signature, type, issuer or shape is wrong.
    #[error("the access token is invalid")]
    Invalid,
    /// Expired.
    #[error("the access token has expired")]
    Expired,
    /// Revoked (the token itself or its session).
    #[error("the access token has been revoked")]
    Revoked,
    /// Key or store trouble on our side.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Verifies an access token presented to Holdfast's own endpoints
/// (userinfo, sessions): [`verify_issued_access_token`], and its audience
/// is Holdfast's.
pub async fn verify_access_token(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    token: &str,
) -> Result<IssuedAccessTokenClaims, AccessTokenError> {
    let claims = verify_issued_access_token(state, tenant, issuer, token).await?;
    // RFC 9068 §4 / RFC 8707: Holdfast's own endpoints are a resource too.
    // A token minted for another resource (`resource=https://api...`) must
    // not be replayable here; tokens for the tenant's default audience or the
    // issuer are ours.
    if claims.aud != tenant.audience(issuer) && claims.aud != issuer.as_str() {
        return Err(AccessTokenError::Invalid);
    }
    Ok(claims)
}

/// Verifies an access token issued by `tenant`, for any audience: signature
/// with a published key (algorithm from the key), `typ: at+jwt` (RFC 9068
/// §4), `iss`, `exp` against the server clock, and that neither it nor its
/// session is revoked. For introspection, which answers for every resource
/// server of the tenant (RFC 7662 §2.2).
pub async fn verify_issued_access_token(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    token: &str,
) -> Result<IssuedAccessTokenClaims, AccessTokenError> {
    let now = state.now();
    let keys = state.keys.published_keys(tenant, now).await?;
    let payload =
        verify_compact(token, &keys, ACCESS_TOKEN_TYP).map_err(|_| AccessTokenError::Invalid)?;
    let claims: IssuedAccessTokenClaims =
        serde_json::from_value(payload).map_err(|_| AccessTokenError::Invalid)?;
    if claims.iss != issuer.as_str() {
        return Err(AccessTokenError::Invalid);
    }
    if claims.exp <= now {
        return Err(AccessTokenError::Expired);
    }
    // Its jti revoked, its session revoked, its user gone, or a user "not
    // before" stamp after it was issued: each kills the token. One query.
    let standing = state
        .store
        .access_token_standing(
            &tenant.id,
            &claims.jti,
            claims.sid.as_deref().map(|sid| (sid, claims.sub.as_str())),
        )
        .await
        .map_err(|e| AccessTokenError::Key(KeyError::Store(e)))?;
    if standing.jti_revoked
        || !standing.session_live
        || !standing.user_exists
        || standing.user_not_before.is_some_and(|nb| claims.iat < nb)
    {
        return Err(AccessTokenError::Revoked);
    }
    Ok(claims)
}
