//! Local DPoP policy: which `alg`s are accepted (RFC 9449 §4.3 step 5,
//! "acceptable per local policy") and how wide the `iat` window is
//! (§4.3 step 11, §11.1).

use std::time::Duration;

use jsonwebtoken::Algorithm;

/// An asymmetric signature algorithm accepted for DPoP proofs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DpopAlg {
    /// ECDSA with P-256 and SHA-256 (RFC 7518 §3.4).
    ES256,
    /// EdDSA with Ed25519 (RFC 8037 §3.1).
    EdDSA,
    /// Ed25519 under its fully specified name (RFC 9864), which replaces
    /// the polymorphic `EdDSA`; current clients send it (panva's `dpop` 2.x
    /// does for Ed25519 keys). Same key type and signature as `EdDSA`.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    RS256,
    /// RSASSA-PSS with SHA-256 (RFC 7518 §3.5).
    PS256,
}

impl DpopAlg {
    /// Every algorithm this module can check, preferred first.
    pub const ALL: [DpopAlg; 5] = [
        Self::ES256,
        Self::EdDSA,
        Self::Ed25519,
        Self::RS256,
        Self::PS256,
    ];

    /// The JOSE name (`ES256`, `EdDSA`, `Ed25519`, `RS256`, `PS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::Ed25519 => "Ed25519",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
        }
    }

    /// Parses a JOSE `alg` name; `None` for anything not listed above,
    /// including `none` and every HMAC algorithm.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Whether two names denote the same algorithm (`EdDSA` for Ed25519 keys
    /// and `Ed25519`).
    pub(crate) fn same_as(self, other: DpopAlg) -> bool {
        self.jsonwebtoken() == other.jsonwebtoken()
    }

    pub(crate) fn jsonwebtoken(self) -> Algorithm {
        match self {
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA | Self::Ed25519 => Algorithm::EdDSA,
            Self::RS256 => Algorithm::RS256,
            Self::PS256 => Algorithm::PS256,
        }
    }
}

/// Local policy for proofs. `Default` is what Holdfast ships with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Accepted algorithms (RFC 9449 §4.3 step 5: "supported by the
    /// application, and is acceptable per local policy"). Default: all of
    /// [`DpopAlg::ALL`]. This is also what to advertise as
    /// `dpop_signing_alg_values_supported` and in `WWW-Authenticate: DPoP algs=`.
    pub algs: Vec<DpopAlg>,
    /// How far `iat` may be from now, either way. Default 60 s: enough for
    /// clock skew, short enough that a replay cache only needs to remember
    /// `jti`s for twice this long.
    pub iat_window: Duration,
    /// Longest `jti` accepted, in bytes. Default 256: a UUID is 36, 256 bits
    /// of base64url are 43; the bound keeps replay caches small.
    pub max_jti_len: usize,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self {
            algs: DpopAlg::ALL.to_vec(),
            iat_window: Duration::from_secs(60),
            max_jti_len: 256,
        }
    }
}

impl DpopPolicy {
    /// The accepted algorithms as a space-separated list, for
    /// `WWW-Authenticate: DPoP algs="..."` (RFC 9449 §7.1).
    pub fn algs_header_value(&self) -> String {
        self.algs
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(crate) fn window_secs(&self) -> i64 {
        i64::try_from(self.iat_window.as_secs()).unwrap_or(i64::MAX)
    }
}
