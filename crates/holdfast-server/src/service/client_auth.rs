//! Client authentication at the token and challenge endpoints:
//! [RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)
//! (`client_secret_basic`, `client_secret_post`) and `none` for public
//! clients (§2.1, identified by `client_id` alone).
//!
//! "The client MUST NOT use more than one authentication method in each
//! request" (§2.3). Secrets are compared as SHA-256 digests in constant time.
//!
//! Not supported: `client_secret_jwt`, `private_key_jwt`, mTLS (RFC 8705).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use holdfast_core::client::{Client, ClientKind};
use holdfast_core::tenant::Tenant;
use holdfast_crypto::secret::{SecretString, verify_secret_digest};

use crate::service::RequestContext;
use crate::service::throttle;
use crate::service::token::{ClientAuthFailure, RequestError, TokenError};
use crate::state::AppState;

/// How the client presented itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// HTTP Basic (`client_secret_basic`).
    Basic {
        /// client_id.
        client_id: String,
        /// client secret.
        secret: SecretString,
    },
    /// Form body (`client_secret_post`).
    Post {
        /// client_id.
        client_id: String,
        /// client secret.
        secret: SecretString,
    },
    /// Only a `client_id` (public clients).
    None {
        /// client_id.
        client_id: String,
    },
    /// Nothing that identifies a client.
    Missing,
}

impl ClientCredentials {
    /// Collects credentials from the `Authorization` header and the form.
    /// Two methods at once, or a malformed header, is `invalid_request`.
    pub fn from_request(
        authorization: Option<&str>,
        form_client_id: Option<&str>,
        form_secret: Option<&str>,
    ) -> Result<Self, TokenError> {
        match (authorization, form_secret) {
            (Some(header), None) => {
                let (client_id, secret) = parse_basic(header)?;
                if form_client_id.is_some_and(|id| id != client_id) {
                    return Err(RequestError::ClientIdMismatch.into());
                }
                Ok(Self::Basic { client_id, secret })
            }
            (Some(_), Some(_)) => Err(RequestError::TwoAuthenticationMethods.into()),
            (None, Some(secret)) => match form_client_id {
                Some(id) => Ok(Self::Post {
                    client_id: id.to_owned(),
                    secret: SecretString::new(secret),
                }),
                None => Err(RequestError::SecretWithoutClientId.into()),
            },
            (None, None) => Ok(match form_client_id {
                Some(id) => Self::None {
                    client_id: id.to_owned(),
                },
                None => Self::Missing,
            }),
        }
    }

    fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// RFC 6749 §2.3.1 / RFC 7617: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &str) -> Result<(String, SecretString), TokenError> {
    let bad = || TokenError::InvalidClient {
        reason: ClientAuthFailure::MalformedBasic,
        basic: true,
    };
    let (scheme, encoded) = header.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(RequestError::UnsupportedAuthorizationScheme.into());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((unescape(id), SecretString::new(unescape(secret))))
}

/// Authenticates the client of `tenant`. Every failure is `invalid_client`
/// (401), with a `WWW-Authenticate: Basic` challenge when Basic was tried;
/// a secret from a (client, address) that guessed wrong too often is
/// refused unchecked (429, [`TokenError::Throttled`]).
pub async fn authenticate(
    state: &AppState,
    tenant: &Tenant,
    creds: &ClientCredentials,
    context: &RequestContext,
) -> Result<Client, TokenError> {
    let basic = creds.used_basic();
    let fail = |reason| TokenError::InvalidClient { reason, basic };
    let (client_id, secret) = match creds {
        ClientCredentials::Basic { client_id, secret }
        | ClientCredentials::Post { client_id, secret } => (client_id, Some(secret)),
        ClientCredentials::None { client_id } => (client_id, None),
        ClientCredentials::Missing => return Err(fail(ClientAuthFailure::Missing)),
    };
    // A secret is a guess worth counting, whoever it names (docs/design.md §8):
    // a throttled (client, address) is refused before any comparison.
    let attempt = match secret {
        Some(_) => Some(throttle::before_client_secret(state, tenant, client_id, context).await?),
        None => None,
    };
    let record = crate::service::lookup::client(state, &tenant.id, client_id).await?;
    let checked = match record {
        None => Err(fail(ClientAuthFailure::UnknownOrWrongSecret)),
        Some(record) => match (record.client.kind, secret, record.secret_digest.as_deref()) {
            (ClientKind::Confidential, Some(secret), Some(digest))
                if verify_secret_digest(secret.expose(), digest) =>
            {
                Ok(record.client)
            }
            (ClientKind::Confidential, None, _) => Err(fail(ClientAuthFailure::SecretRequired)),
            (ClientKind::Confidential, _, _) => Err(fail(ClientAuthFailure::UnknownOrWrongSecret)),
            (ClientKind::Public, None, _) => Ok(record.client),
            (ClientKind::Public, Some(_), _) => {
                Err(fail(ClientAuthFailure::PublicClientWithSecret))
            }
        },
    };
    // A wrong secret is counted (and may be the one that reaches the limit).
    if let (Err(_), Some(attempt)) = (&checked, attempt) {
        throttle::client_secret_failed(state, tenant, client_id, attempt, context).await?;
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_s2_3_1_basic_credentials_are_form_urlencoded_then_base64() {
        let header = format!("Basic {}", STANDARD.encode("my%20app:p%3Ass+word"));
        let (id, secret) = parse_basic(&header).unwrap();
        assert_eq!(id, "my app");
        assert_eq!(secret.expose(), "p:ss word");
    }

    #[test]
    fn rfc6749_s2_3_two_methods_at_once_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        assert!(matches!(
            ClientCredentials::from_request(Some(&header), Some("a"), Some("b")),
            Err(TokenError::InvalidRequest(
                RequestError::TwoAuthenticationMethods
            ))
        ));
    }
}
