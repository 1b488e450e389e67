//! The HTTP authentication framing of access tokens: which scheme a
//! request uses ([RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1),
//! [RFC 9449 §7.1](https://www.rfc-editor.org/rfc/rfc9449#section-7.1)) and
//! how `WWW-Authenticate` challenges are written
//! ([RFC 9110 §11.6.1](https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1)).
//!
//! - [`parse_authorization`]: exactly one `Authorization` header, scheme
//!   `Bearer` or `DPoP` (case-insensitive, RFC 9110 §11.1), then one
//!   token68 (RFC 9110 §11.2).
//! - [`Challenge`]: a scheme and its auth-params, every value written as a
//!   quoted-string (RFC 9110 §5.6.4) by [`quoted_string`]: `"` and `\` are
//!   backslash-escaped, characters a header value cannot carry (controls,
//!   non-ASCII) are dropped, so no value can break out of its quotes.
//!
//! Not supported: tokens in a form body or the query (RFC 6750 §2.2, §2.3);
//! auth-params in `Authorization` (neither scheme has any).

use std::fmt;

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::error::AuthorizationError;

/// An HTTP authentication scheme for access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1).
    DPoP,
}

impl Scheme {
    /// The scheme's name as written in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::DPoP => "DPoP",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Authorization: <scheme> <token68>` (RFC 9110 §11.4, RFC 6750 §2.1):
/// the scheme and the access token.
pub fn parse_authorization(headers: &HeaderMap) -> Result<(Scheme, &str), AuthorizationError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthorizationError::Missing)?;
    if values.next().is_some() {
        return Err(AuthorizationError::Multiple);
    }
    let value = value.to_str().map_err(|_| AuthorizationError::Malformed)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::DPoP
    } else {
        return Err(AuthorizationError::UnsupportedScheme);
    };
    let token = rest.trim_matches(' ');
    // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    {
        return Err(AuthorizationError::Malformed);
    }
    Ok((scheme, token))
}

/// One `WWW-Authenticate` challenge: `Scheme name="value", ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    scheme: Scheme,
    params: Vec<(&'static str, String)>,
}

impl Challenge {
    /// A challenge for `scheme` without parameters.
    pub fn new(scheme: Scheme) -> Self {
        Self {
            scheme,
            params: Vec::new(),
        }
    }

    /// Adds the auth-param `name="value"` (in order).
    pub fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.push(name, value);
        self
    }

    /// Adds the auth-param `name="value"` (in order).
    pub fn push(&mut self, name: &'static str, value: impl Into<String>) {
        self.params.push((name, value.into()));
    }

    /// Adds `error` and `error_description` (RFC 6750 §3).
    pub fn error(self, error: &str, description: &str) -> Self {
        self.param("error", error)
            .param("error_description", description)
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The header value.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme.as_str())?;
        for (i, (name, value)) in self.params.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{name}={}", quoted_string(value))?;
        }
        Ok(())
    }
}

/// Several challenges in one header value, comma-separated (RFC 9110
/// §11.6.1: "WWW-Authenticate = [ challenge *( OWS "," OWS challenge ) ]").
pub fn render_all(challenges: &[Challenge]) -> String {
    challenges
        .iter()
        .map(Challenge::render)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `value` as a quoted-string (RFC 9110 §5.6.4): `"` and `\` become
/// quoted-pairs; characters outside printable ASCII, which a header value
/// cannot carry as text, are dropped.
pub fn quoted_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {}
        }
    }
    out.push('"');
    out
}

/// Whether `value` needs no escaping inside quotes: printable ASCII
/// without `"` and `\` (RFC 6750 §3's rule for `realm`, `scope`,
/// `error_description`: `%x20-21 / %x23-5B / %x5D-7E`).
pub fn is_plain_quoted_text(value: &str) -> bool {
    value
        .chars()
        .all(|c| matches!(c, ' '..='~') && c != '"' && c != '\\')
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rfc6750_s2_1_authorization_header_is_parsed_strictly() {
        assert_eq!(
            parse_authorization(&headers(&["Bearer abc.def.ghi"])),
            Ok((Scheme::Bearer, "abc.def.ghi"))
        );
        assert_eq!(
            parse_authorization(&headers(&["dpop abc"])),
            Ok((Scheme::DPoP, "abc"))
        );
        assert_eq!(
            parse_authorization(&headers(&["Bearer abc=="])),
            Ok((Scheme::Bearer, "abc=="))
        );
        assert_eq!(
            parse_authorization(&headers(&[])),
            Err(AuthorizationError::Missing)
        );
        assert_eq!(
            parse_authorization(&headers(&["Basic dXNlcjpwdw=="])),
            Err(AuthorizationError::UnsupportedScheme)
        );
        for bad in ["Bearer", "Bearer ", "Bearer a b", "Bearer a\"b", "DPoP ="] {
            assert_eq!(
                parse_authorization(&headers(&[bad])),
                Err(AuthorizationError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            parse_authorization(&headers(&["Bearer a", "Bearer b"])),
            Err(AuthorizationError::Multiple)
        );
    }

    #[test]
    fn rfc9110_s11_6_1_challenges_render_with_quoted_params() {
        let c = Challenge::new(Scheme::DPoP)
            .param("algs", "ES256 EdDSA")
            .error("invalid_dpop_proof", "the DPoP proof was already used");
        assert_eq!(
            c.render(),
            "DPoP algs=\"ES256 EdDSA\", error=\"invalid_dpop_proof\", \
             error_description=\"the DPoP proof was already used\""
        );
        assert_eq!(Challenge::new(Scheme::Bearer).render(), "Bearer");
        assert_eq!(
            render_all(&[
                Challenge::new(Scheme::Bearer).param("realm", "holdfast"),
                Challenge::new(Scheme::DPoP).param("algs", "ES256"),
            ]),
            "Bearer realm=\"holdfast\", DPoP algs=\"ES256\""
        );
    }

    #[test]
    fn rfc9110_s5_6_4_quotes_and_backslashes_are_escaped_not_broken_out_of() {
        assert_eq!(quoted_string("plain text"), "\"plain text\"");
        assert_eq!(quoted_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        // Controls and non-ASCII cannot go in a header value as text.
        assert_eq!(quoted_string("a\r\nb\té"), "\"ab\"");
        let c = Challenge::new(Scheme::Bearer).param("error_description", "x\", error=\"y");
        assert_eq!(
            c.render(),
            "Bearer error_description=\"x\\\", error=\\\"y\""
        );
        assert!(http::HeaderValue::from_str(&c.render()).is_ok());
        assert!(is_plain_quoted_text("api realm"));
        assert!(!is_plain_quoted_text("a\"b"));
        assert!(!is_plain_quoted_text("a\\b"));
        assert!(!is_plain_quoted_text("é"));
    }
}
