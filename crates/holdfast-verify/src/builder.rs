//! [`VerifierBuilder`]: a [`Verifier`]'s configuration, with a default fit
//! for production for every option but the issuer and the audience.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use holdfast_crypto::secret::SecretString;
use holdfast_dpop::DpopPolicy;
use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::dpop::{DpopNonces, ReplayCache};
use crate::error::ChallengeConfig;
use crate::jwks::{Discovery, KeyCache};
use crate::revocation::{Introspection, RevocationCheck};

use crate::verifier::{Inner, Verifier};

/// A configuration mistake found by [`VerifierBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The issuer is not an absolute http(s) URL.
    #[error("issuer must be an absolute http(s) URL: {0}")]
    Issuer(String),
    /// No audience was configured: every token would be accepted for every API.
    #[error("at least one audience is required")]
    NoAudience,
    /// The realm contains characters that cannot appear in a challenge.
    #[error("realm must be printable ASCII without '\"' or '\\'")]
    Realm,
    /// The public base URL is not an absolute http(s) URL without query.
    #[error("public base URL must be an absolute http(s) URL without query or fragment")]
    PublicBaseUrl,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
}

enum RevocationConfig {
    Custom(Arc<dyn RevocationCheck>),
    Introspect {
        client_id: String,
        client_secret: SecretString,
        cache_ttl: Duration,
    },
}

/// Builds a [`Verifier`]. Every option has a default fit for production
/// except the two that cannot have one: the issuer and the audience.
pub struct VerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    leeway: Duration,
    refetch_interval: Duration,
    jwks_max_age: Duration,
    realm: Option<String>,
    dpop: DpopPolicy,
    public_base_url: Option<Url>,
    replay_capacity: usize,
    nonces: Option<Arc<dyn DpopNonces>>,
    revocation: Option<RevocationConfig>,
    revocation_fail_open: bool,
    clock: Arc<dyn Clock>,
    http_timeout: Duration,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// Tokens must come from `issuer` (exactly as in their `iss` claim and
    /// in discovery, e.g. `https://auth.example.com/t/acme`).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            leeway: Duration::from_secs(30),
            refetch_interval: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(600),
            realm: None,
            dpop: DpopPolicy::default(),
            public_base_url: None,
            replay_capacity: 200_000,
            nonces: None,
            revocation: None,
            revocation_fail_open: false,
            clock: Arc::new(SystemClock),
            http_timeout: Duration::from_secs(5),
            http: None,
        }
    }

    /// Accepts tokens whose `aud` contains `audience` (repeatable; at least
    /// one is required). Holdfast's default audience is the issuer URL;
    /// set a tenant's own with `holdfast tenant create --audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf`, `iat`. Default 30 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Minimum time between two JWKS fetches caused by unknown `kid`s.
    /// Default 30 s: a new signing key is picked up within that, and a flood
    /// of tokens with random `kid`s costs one fetch per interval.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Age after which the JWKS is refreshed even if every `kid` is known,
    /// so removed keys stop verifying. Default 10 minutes.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// The `realm` in challenges (RFC 6750 §3). Default: none.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// DPoP proof policy: accepted algorithms, `iat` window, `jti` length.
    /// Default: [`DpopPolicy::default`] (ES256, EdDSA/Ed25519, RS256, PS256; ±60 s).
    pub fn dpop_policy(mut self, policy: DpopPolicy) -> Self {
        self.dpop = policy;
        self
    }

    /// The URL clients use to reach this server, e.g.
    /// `https://api.example.com`: DPoP proofs' `htu` is compared with this
    /// plus the request path. **Set it in production.** Without it the URL
    /// is rebuilt from the request (absolute URI, else `http://` + `Host`),
    /// which is only right when nothing rewrites the request on the way.
    pub fn public_base_url(mut self, url: Url) -> Self {
        self.public_base_url = Some(url);
        self
    }

    /// Most DPoP `jti`s remembered at once (default 200 000, ~13 MB; at
    /// 2 × 60 s that sustains ~1 600 DPoP requests a second). When full of
    /// unexpired entries, proofs are refused with 503.
    pub fn replay_cache_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Requires DPoP proofs to carry a nonce from `nonces` (RFC 9449 §9).
    /// Default: no nonce required.
    pub fn dpop_nonces(mut self, nonces: Arc<dyn DpopNonces>) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Checks revocation with `check` after a token passed everything else.
    pub fn revocation_check(mut self, check: Arc<dyn RevocationCheck>) -> Self {
        self.revocation = Some(RevocationConfig::Custom(check));
        self
    }

    /// Checks revocation through the issuer's introspection endpoint (from
    /// discovery) as the confidential client `client_id`, caching answers
    /// for `cache_ttl` (e.g. 10 s). Costs one call per token per `cache_ttl`.
    pub fn introspection(
        mut self,
        client_id: impl Into<String>,
        client_secret: SecretString,
        cache_ttl: Duration,
    ) -> Self {
        self.revocation = Some(RevocationConfig::Introspect {
            client_id: client_id.into(),
            client_secret,
            cache_ttl,
        });
        self
    }

    /// When the revocation check cannot answer: accept the token (`true`)
    /// or refuse with 503 (`false`, the default).
    pub fn revocation_fail_open(mut self, fail_open: bool) -> Self {
        self.revocation_fail_open = fail_open;
        self
    }

    /// The clock. Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Timeout for discovery, JWKS and introspection calls. Default 5 s.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Uses this HTTP client (e.g. with custom root certificates) instead
    /// of building one; `http_timeout` is then the client's business.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the configuration and builds the verifier. No network IO:
    /// keys are fetched on first use, or by [`Verifier::warm_up`].
    pub fn build(self) -> Result<Verifier, ConfigError> {
        let issuer_url =
            Url::parse(&self.issuer).map_err(|_| ConfigError::Issuer(self.issuer.clone()))?;
        if !matches!(issuer_url.scheme(), "http" | "https") || issuer_url.host().is_none() {
            return Err(ConfigError::Issuer(self.issuer));
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::NoAudience);
        }
        if let Some(realm) = &self.realm
            && !holdfast_dpop::challenge::is_plain_quoted_text(realm)
        {
            return Err(ConfigError::Realm);
        }
        if let Some(base) = &self.public_base_url
            && (!matches!(base.scheme(), "http" | "https")
                || base.host().is_none()
                || base.query().is_some()
                || base.fragment().is_some())
        {
            return Err(ConfigError::PublicBaseUrl);
        }
        let http = match self.http {
            Some(client) => client,
            None => reqwest::Client::builder()
                .timeout(self.http_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| ConfigError::Http(e.to_string()))?,
        };
        let discovery = Arc::new(Discovery::new(self.issuer.clone(), http));
        let keys = KeyCache::new(
            Arc::clone(&discovery),
            Arc::clone(&self.clock),
            self.refetch_interval,
            self.jwks_max_age,
        );
        let revocation: Option<Arc<dyn RevocationCheck>> = match self.revocation {
            None => None,
            Some(RevocationConfig::Custom(check)) => Some(check),
            Some(RevocationConfig::Introspect {
                client_id,
                client_secret,
                cache_ttl,
            }) => Some(Arc::new(
                Introspection::discovered(
                    Arc::clone(&discovery),
                    &client_id,
                    &client_secret,
                    Arc::clone(&self.clock),
                )
                .cache_ttl(cache_ttl),
            )),
        };
        let challenge = Arc::new(ChallengeConfig {
            realm: self.realm,
            dpop_algs: self.dpop.algs_header_value(),
        });
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Ok(Verifier {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                audiences: self.audiences,
                leeway: secs(self.leeway),
                replay: ReplayCache::new(self.dpop.iat_window, self.replay_capacity),
                dpop: self.dpop,
                public_base_url: self.public_base_url,
                nonces: self.nonces,
                revocation,
                revocation_fail_open: self.revocation_fail_open,
                clock: self.clock,
                keys,
                challenge,
            }),
        })
    }
}
