//! The claims of a Holdfast access token: [RFC 9068 §2.2](https://www.rfc-editor.org/rfc/rfc9068#section-2.2)
//! plus `sid`, `auth_time`, `acr`, `amr` (RFC 9068 §2.2.1) and `cnf`
//! ([RFC 9449 §6](https://www.rfc-editor.org/rfc/rfc9449#section-6)).
//!
//! Parsed once, from the verified payload, into typed fields; claims this
//! type does not know are still reachable through
//! [`crate::VerifiedClaims::custom`].
//!
//! Not supported: `scope` as a JSON array (RFC 9068 §2.2.3 says a string);
//! RFC 9068 §2.2.3.1 `groups`/`roles`/`entitlements` as typed fields (read
//! them with `custom`).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// Whether `aud` names `audience`.
    pub fn contains(&self, audience: &str) -> bool {
        self.0.iter().any(|a| a == audience)
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience(vec![v.to_owned()]))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience(vec![v]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(a) = seq.next_element::<String>()? {
                    out.push(a);
                }
                Ok(Audience(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `cnf` claim (RFC 7800 §3.1) as RFC 9449 §6.1 uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// JWK SHA-256 thumbprint of the key the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// A verified access token's claims, as any RFC 9068 issuer may write them
/// (one or many audiences, `nbf`). Holdfast's own issuing side is
/// `holdfast_core::claims::IssuedAccessTokenClaims`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessTokenClaims {
    /// Issuer (checked against the configured issuer).
    pub iss: String,
    /// Subject: the user id, or the client id for client credentials.
    pub sub: String,
    /// Audience (checked against the configured audiences).
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds, if present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-delimited (RFC 9068 §2.2.3); empty if none.
    pub scope: String,
    /// Session (token family) id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the user last authenticated, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Authentication context class reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Confirmation: present on DPoP-bound tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl AccessTokenClaims {
    /// The granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// The thumbprint the token is bound to, if it is DPoP-bound.
    pub fn bound_jkt(&self) -> Option<&str> {
        self.cnf.as_ref().and_then(|c| c.jkt.as_deref())
    }
}

/// The payload as read, before required claims are checked; wrong JSON
/// types read as absent so the error can name the claim.
#[derive(Deserialize)]
pub(crate) struct RawClaims {
    #[serde(default, deserialize_with = "lenient::string")]
    iss: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    sub: Option<String>,
    #[serde(default, deserialize_with = "lenient::audience")]
    aud: Option<Audience>,
    #[serde(default, deserialize_with = "lenient::numeric_date")]
    exp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::numeric_date")]
    iat: Option<i64>,
    #[serde(default, deserialize_with = "lenient::numeric_date")]
    nbf: Option<i64>,
    #[serde(default, deserialize_with = "lenient::string")]
    jti: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    scope: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    sid: Option<String>,
    #[serde(default, deserialize_with = "lenient::numeric_date")]
    auth_time: Option<i64>,
    #[serde(default, deserialize_with = "lenient::string")]
    acr: Option<String>,
    #[serde(default)]
    amr: Option<Vec<String>>,
    #[serde(default)]
    cnf: Option<Confirmation>,
}

impl RawClaims {
    /// RFC 9068 §2.2: `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti`
    /// are REQUIRED. Returns the first missing one.
    pub(crate) fn into_claims(self) -> Result<AccessTokenClaims, &'static str> {
        Ok(AccessTokenClaims {
            iss: self.iss.ok_or("iss")?,
            sub: self.sub.ok_or("sub")?,
            aud: self.aud.ok_or("aud")?,
            exp: self.exp.ok_or("exp")?,
            iat: self.iat.ok_or("iat")?,
            nbf: self.nbf,
            jti: self.jti.ok_or("jti")?,
            client_id: self.client_id.ok_or("client_id")?,
            scope: self.scope.unwrap_or_default(),
            sid: self.sid,
            auth_time: self.auth_time,
            acr: self.acr,
            amr: self.amr,
            cnf: self.cnf,
        })
    }
}

mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    use super::Audience;

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            _ => None,
        })
    }

    pub fn audience<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Audience>, D::Error> {
        // A malformed `aud` (number, array of numbers) reads as absent.
        // Through `Value`, so a failure cannot leave the outer parser mid-array.
        Ok(Audience::deserialize(Value::deserialize(d)?).ok())
    }

    /// RFC 7519 §2 NumericDate: a number, possibly fractional (truncated).
    pub fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    // In range by the filter above.
                    .map(|f| f.trunc() as i64)
            }),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: serde_json::Value) -> Result<AccessTokenClaims, &'static str> {
        serde_json::from_value::<RawClaims>(v)
            .unwrap()
            .into_claims()
    }

    fn full() -> serde_json::Value {
        json!({"iss": "i", "sub": "s", "aud": "a", "exp": 2, "iat": 1, "jti": "j",
               "client_id": "c", "scope": "openid admin"})
    }

    #[test]
    fn rfc7519_s4_1_3_aud_is_a_string_or_an_array() {
        assert!(parse(full()).unwrap().aud.contains("a"));
        let mut v = full();
        v["aud"] = json!(["x", "a"]);
        assert!(parse(v).unwrap().aud.contains("a"));
    }

    #[test]
    fn rfc9068_s2_2_required_claims_are_named_when_missing() {
        for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
            let mut v = full();
            v.as_object_mut().unwrap().remove(claim);
            assert_eq!(parse(v).unwrap_err(), claim);
        }
        let mut v = full();
        v["exp"] = json!("soon");
        assert_eq!(parse(v).unwrap_err(), "exp");
    }

    #[test]
    fn scopes_are_space_delimited() {
        let c = parse(full()).unwrap();
        assert!(c.has_scope("admin"));
        assert!(!c.has_scope("adm"));
        assert_eq!(c.scopes().count(), 2);
    }
}
