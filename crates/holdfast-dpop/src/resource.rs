//! DPoP at a protected resource, [RFC 9449 §7](https://www.rfc-editor.org/rfc/rfc9449#section-7):
//! the rule that decides, for a token that verified, whether the request
//! is acceptable under its scheme, and the proof check that goes with it.
//! Used by `holdfast-verify` and by the Holdfast server's own APIs
//! (userinfo, sessions), so both answer alike.
//!
//! | scheme | token has `cnf.jkt` | outcome |
//! |---|---|---|
//! | `Bearer` | no | a bearer token; a stray `DPoP` header is ignored (nothing to bind it to) |
//! | `Bearer` | yes | [`DpopRefusal::BoundTokenAsBearer`] (§7.2: "MUST NOT" be accepted as a bearer token) |
//! | `DPoP` | no | [`DpopRefusal::UnboundTokenAsDpop`] (§7.1: the scheme is for bound tokens) |
//! | `DPoP` | yes | exactly one `DPoP` header (§4.3 step 1), a proof for this method and URL, with `ath`, by the bound key ([`crate::verify_proof`]) |
//!
//! Left to the caller: verifying the token itself, and recording the
//! proof's `(jkt, jti)` against replay ([`crate::replay`]) once everything
//! else passed, so refused proofs cannot fill the replay store.

use http::HeaderMap;
use url::Url;

use crate::DPOP_HEADER;
use crate::challenge::Scheme;
use crate::error::{DpopError, DpopRefusal};
use crate::policy::DpopPolicy;
use crate::proof::{DpopProof, NonceCheck, ProofContext, verify_proof};

/// A verified access token as presented with a request.
#[derive(Clone, Copy)]
pub struct Presentation<'a> {
    /// The `Authorization` scheme.
    pub scheme: Scheme,
    /// The access token.
    pub access_token: &'a str,
    /// The token's `cnf.jkt`, if it is DPoP-bound.
    pub bound_jkt: Option<&'a str>,
    /// The request's HTTP method.
    pub method: &'a str,
    /// The request's headers (for `DPoP`).
    pub headers: &'a HeaderMap,
    /// Now, Unix seconds.
    pub now: i64,
    /// `Some` when the resource requires a nonce: the rule accepting it.
    pub nonce: Option<NonceCheck<'a>>,
}

impl std::fmt::Debug for Presentation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presentation")
            .field("scheme", &self.scheme)
            .field("bound_jkt", &self.bound_jkt)
            .field("method", &self.method)
            .field("now", &self.now)
            .field("nonce_required", &self.nonce.is_some())
            .finish_non_exhaustive()
    }
}

/// §7.1/§7.2: the key a proof must be made with, `None` when the request
/// is a plain bearer request (see the module's table).
pub fn required_binding(
    scheme: Scheme,
    bound_jkt: Option<&str>,
) -> Result<Option<&str>, DpopRefusal> {
    match (scheme, bound_jkt) {
        // RFC 9449 §7.2: a DPoP-bound token must not be accepted as a
        // bearer token, whatever else comes with it.
        (Scheme::Bearer, Some(_)) => Err(DpopRefusal::BoundTokenAsBearer),
        (Scheme::Bearer, None) => Ok(None),
        // RFC 9449 §7.1: the DPoP scheme is for DPoP-bound tokens.
        (Scheme::DPoP, None) => Err(DpopRefusal::UnboundTokenAsDpop),
        (Scheme::DPoP, Some(jkt)) => Ok(Some(jkt)),
    }
}

/// RFC 9449 §4.3 step 1: "there is not more than one DPoP HTTP request
/// header field". `Ok(None)` when there is none; a value that is not
/// visible ASCII is a malformed proof.
pub fn single_proof(headers: &HeaderMap) -> Result<Option<&str>, DpopRefusal> {
    let mut proofs = headers.get_all(DPOP_HEADER).iter();
    let Some(proof) = proofs.next() else {
        return Ok(None);
    };
    if proofs.next().is_some() {
        return Err(DpopRefusal::MultipleProofs);
    }
    proof
        .to_str()
        .map(Some)
        .map_err(|_| DpopRefusal::Proof(DpopError::Malformed))
}

/// Applies the module's table to a verified token: `Ok(None)` for a bearer
/// request, `Ok(Some(proof))` for a DPoP request whose proof passed every
/// check (record it against replay next). `url` gives the absolute URL the
/// client addressed (`htu`), asked for only when a proof is checked;
/// `None` means it cannot be known, which no proof can match.
pub fn check_presentation(
    presentation: &Presentation<'_>,
    url: impl FnOnce() -> Option<Url>,
    policy: &DpopPolicy,
) -> Result<Option<DpopProof>, DpopRefusal> {
    let Some(jkt) = required_binding(presentation.scheme, presentation.bound_jkt)? else {
        return Ok(None);
    };
    let proof = single_proof(presentation.headers)?.ok_or(DpopRefusal::MissingProof)?;
    let url = url().ok_or(DpopRefusal::Proof(DpopError::UriMismatch))?;
    let ctx = ProofContext {
        method: presentation.method,
        uri: &url,
        now: presentation.now,
        // RFC 9449 §7.1: "the resource server MUST check the ath claim".
        access_token: Some(presentation.access_token),
        bound_jkt: Some(jkt),
        nonce: presentation.nonce,
    };
    verify_proof(proof, &ctx, policy)
        .map(Some)
        .map_err(DpopRefusal::Proof)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::DpopAlg;
    use crate::client::{DpopKey, ProofClaims};

    const NOW: i64 = 1_700_000_000;
    const URL: &str = "https://api.example.com/items";
    const AT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.sig";

    fn with_proofs(proofs: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for p in proofs {
            h.append(DPOP_HEADER, HeaderValue::from_str(p).unwrap());
        }
        h
    }

    fn check(
        scheme: Scheme,
        bound: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Option<DpopProof>, DpopRefusal> {
        let p = Presentation {
            scheme,
            access_token: AT,
            bound_jkt: bound,
            method: "GET",
            headers,
            now: NOW,
            nonce: None,
        };
        check_presentation(&p, || Url::parse(URL).ok(), &DpopPolicy::default())
    }

    #[test]
    fn rfc9449_s7_2_bound_token_as_bearer_is_refused_even_with_a_proof() {
        let key = DpopKey::generate(DpopAlg::ES256).unwrap();
        let proof = key
            .proof(&ProofClaims::new("GET", URL, NOW).access_token(AT))
            .unwrap();
        assert_eq!(
            check(Scheme::Bearer, Some(key.jkt()), &with_proofs(&[&proof])),
            Err(DpopRefusal::BoundTokenAsBearer)
        );
        // An unbound token is a bearer token; a stray proof changes nothing.
        assert_eq!(
            check(Scheme::Bearer, None, &with_proofs(&[&proof])),
            Ok(None)
        );
    }

    #[test]
    fn rfc9449_s7_1_unbound_token_under_dpop_is_refused() {
        assert_eq!(
            check(Scheme::DPoP, None, &HeaderMap::new()),
            Err(DpopRefusal::UnboundTokenAsDpop)
        );
        assert_eq!(
            DpopRefusal::UnboundTokenAsDpop.challenge_scheme(),
            Scheme::Bearer
        );
    }

    #[test]
    fn rfc9449_s7_1_bound_token_needs_one_proof_with_ath_by_its_key() {
        let key = DpopKey::generate(DpopAlg::ES256).unwrap();
        let jkt = Some(key.jkt());
        assert_eq!(
            check(Scheme::DPoP, jkt, &HeaderMap::new()),
            Err(DpopRefusal::MissingProof)
        );
        let good = key
            .proof(&ProofClaims::new("GET", URL, NOW).access_token(AT))
            .unwrap();
        assert_eq!(
            check(Scheme::DPoP, jkt, &with_proofs(&[&good, &good])),
            Err(DpopRefusal::MultipleProofs)
        );
        let no_ath = key.proof(&ProofClaims::new("GET", URL, NOW)).unwrap();
        assert_eq!(
            check(Scheme::DPoP, jkt, &with_proofs(&[&no_ath])),
            Err(DpopRefusal::Proof(DpopError::MissingClaim("ath")))
        );
        let other = DpopKey::generate(DpopAlg::ES256).unwrap();
        assert_eq!(
            check(Scheme::DPoP, Some(other.jkt()), &with_proofs(&[&good])),
            Err(DpopRefusal::Proof(DpopError::KeyMismatch))
        );
        let ok = check(Scheme::DPoP, jkt, &with_proofs(&[&good]))
            .unwrap()
            .unwrap();
        assert_eq!(ok.jkt, key.jkt());
        // No known URL: no proof can match.
        let p = Presentation {
            scheme: Scheme::DPoP,
            access_token: AT,
            bound_jkt: jkt,
            method: "GET",
            headers: &with_proofs(&[&good]),
            now: NOW,
            nonce: None,
        };
        assert_eq!(
            check_presentation(&p, || None, &DpopPolicy::default()),
            Err(DpopRefusal::Proof(DpopError::UriMismatch))
        );
    }

    #[test]
    fn rfc9449_s4_3_step1_header_lookup_ignores_case() {
        let mut h = HeaderMap::new();
        // Clients write `DPoP`; header names compare case-insensitively.
        let name = http::HeaderName::from_bytes(b"DPoP").unwrap();
        h.append(name, HeaderValue::from_static("a.b.c"));
        assert_eq!(single_proof(&h), Ok(Some("a.b.c")));
        let mut bad = HeaderMap::new();
        bad.append(DPOP_HEADER, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(
            single_proof(&bad),
            Err(DpopRefusal::Proof(DpopError::Malformed))
        );
    }
}
