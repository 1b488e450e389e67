//! Authorization server metadata: RFC 8414 §2 and OpenID Connect Discovery
//! 1.0 §3, one document served at both well-known locations (RFC 8414 §3
//! `/.well-known/oauth-authorization-server/t/{slug}` and OIDC Discovery §4
//! `{issuer}/.well-known/openid-configuration`).
//!
//! Every URL in the document is derived from the issuer, so a client needs
//! nothing but the issuer to find the rest. RFC 8414 §3.3: "The `issuer`
//! value returned MUST be identical to the authorization server's issuer
//! identifier value into which the well-known URI string was inserted."

use serde::Serialize;
use url::Url;

use crate::client::GrantType;
use crate::keys::SigningAlg;

/// The metadata document. Field names are the registered metadata names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerMetadata {
    /// RFC 8414 §2 REQUIRED.
    pub issuer: String,
    /// RFC 8414 §2 REQUIRED for the code grant.
    pub authorization_endpoint: String,
    /// RFC 8414 §2 REQUIRED unless only the implicit grant is supported.
    pub token_endpoint: String,
    /// RFC 8414 §2 / OIDC Discovery REQUIRED.
    pub jwks_uri: String,
    /// OIDC Discovery RECOMMENDED.
    pub userinfo_endpoint: String,
    /// RFC 7009 via RFC 8414 §2.
    pub revocation_endpoint: String,
    /// RFC 7662 via RFC 8414 §2.
    pub introspection_endpoint: String,
    /// OIDC RP-Initiated Logout §2.1.
    pub end_session_endpoint: String,
    /// Holdfast extension: the user's sessions API (list, revoke one, revoke others).
    pub holdfast_sessions_endpoint: String,
    /// Holdfast extension: sign out the current session with its access token.
    pub holdfast_logout_endpoint: String,
    /// OAuth 2.0 for First-Party Applications §4.1.
    pub authorization_challenge_endpoint: String,
    /// RFC 8628 §4: where a device asks for its codes.
    pub device_authorization_endpoint: String,
    /// RFC 8414 §2 REQUIRED.
    pub response_types_supported: Vec<&'static str>,
    /// RFC 8414 §2.
    pub response_modes_supported: Vec<&'static str>,
    /// RFC 8414 §2.
    pub grant_types_supported: Vec<&'static str>,
    /// RFC 8414 §2.
    pub scopes_supported: Vec<&'static str>,
    /// RFC 8414 §2.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 8414 §2.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 8414 §2.
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 8414 §2: S256 only (OAuth 2.1 §4.1.1, RFC 9700 §2.1.1).
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// OIDC Discovery REQUIRED.
    pub subject_types_supported: Vec<&'static str>,
    /// OIDC Discovery REQUIRED.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// OIDC Discovery.
    pub claims_supported: Vec<&'static str>,
    /// OpenID Connect "Initiating User Registration via OpenID Connect 1.0"
    /// §4.1: the `prompt` values understood (`create` opens sign-up).
    pub prompt_values_supported: Vec<&'static str>,
    /// OIDC Discovery: the `acr` values issued and understood in
    /// `acr_values` (`holdfast_core::mfa`).
    pub acr_values_supported: Vec<&'static str>,
    /// OIDC Discovery.
    pub claims_parameter_supported: bool,
    /// OIDC Discovery.
    pub request_parameter_supported: bool,
    /// OIDC Discovery.
    pub request_uri_parameter_supported: bool,
    /// RFC 9449 §5.1: algorithms accepted in DPoP proofs.
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 9207 §3: the `iss` authorization response parameter is sent.
    pub authorization_response_iss_parameter_supported: bool,
    /// OIDC Back-Channel Logout 1.0 §2.1: logout tokens are sent to
    /// clients that register a `backchannel_logout_uri`.
    pub backchannel_logout_supported: bool,
    /// OIDC Back-Channel Logout 1.0 §2.1: they carry `sid`.
    pub backchannel_logout_session_supported: bool,
}

impl ServerMetadata {
    /// Builds the metadata for the tenant whose issuer is `issuer`. ID
    /// tokens come signed with the tenant's algorithm or, for a client that
    /// registered `id_token_signed_response_alg=RS256`, with RS256.
    pub fn for_issuer(issuer: &Url, signing_alg: SigningAlg) -> Self {
        let base = issuer.as_str().trim_end_matches('/').to_owned();
        let at = |path: &str| format!("{base}/{path}");
        Self {
            issuer: base.clone(),
            authorization_endpoint: at("authorize"),
            token_endpoint: at("token"),
            jwks_uri: at("jwks.json"),
            userinfo_endpoint: at("userinfo"),
            revocation_endpoint: at("revoke"),
            introspection_endpoint: at("introspect"),
            end_session_endpoint: at("end-session"),
            holdfast_sessions_endpoint: at("sessions"),
            holdfast_logout_endpoint: at("logout"),
            authorization_challenge_endpoint: at("authorize-challenge"),
            device_authorization_endpoint: at("device_authorization"),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: GrantType::ALL.iter().map(|g| g.as_str()).collect(),
            scopes_supported: vec!["openid", "profile", "email", "offline_access"],
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            revocation_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            introspection_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
            ],
            code_challenge_methods_supported: vec!["S256"],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: signing_alg
                .id_token_algs()
                .into_iter()
                .map(SigningAlg::as_str)
                .collect(),
            claims_supported: vec![
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "sid",
                "at_hash",
                "preferred_username",
                "email",
                "email_verified",
                "name",
            ],
            prompt_values_supported: vec!["none", "login", "consent", "select_account", "create"],
            acr_values_supported: crate::mfa::ACR_VALUES_SUPPORTED.to_vec(),
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            dpop_signing_alg_values_supported: vec!["ES256", "EdDSA", "Ed25519", "RS256", "PS256"],
            authorization_response_iss_parameter_supported: true,
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8414_s3_3_every_endpoint_hangs_off_the_issuer() {
        let issuer = Url::parse("https://auth.example.com/t/acme").unwrap();
        let m = ServerMetadata::for_issuer(&issuer, SigningAlg::EdDSA);
        assert_eq!(m.issuer, "https://auth.example.com/t/acme");
        for url in [
            &m.authorization_endpoint,
            &m.token_endpoint,
            &m.jwks_uri,
            &m.userinfo_endpoint,
        ] {
            assert!(url.starts_with("https://auth.example.com/t/acme/"), "{url}");
        }
        assert_eq!(m.code_challenge_methods_supported, vec!["S256"]);
        assert_eq!(
            m.id_token_signing_alg_values_supported,
            vec!["EdDSA", "RS256"]
        );
    }
}
