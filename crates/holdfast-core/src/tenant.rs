//! Tenants: one per project family that shares users and sign-in.
//!
//! A tenant is addressed by its slug; its issuer is `{public_url}/t/{slug}`
//! (OIDC Discovery §4 requires the issuer to be an https URL with no query or
//! fragment; Holdfast allows http only when the operator configured it, for
//! development on loopback).

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ValidationError;
use crate::keys::SigningAlg;

/// A tenant's URL-safe identifier: 1–63 characters of `a-z`, `0-9` and inner `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);

impl TenantSlug {
    /// Parses a slug, refusing anything that is not safe in a URL path segment.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = (1..=63).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::TenantSlug)
        }
    }

    /// The slug as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantSlug {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantSlug> for String {
    fn from(value: TenantSlug) -> Self {
        value.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant as the domain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Stable internal id (UUID text).
    pub id: String,
    /// URL identifier.
    pub slug: TenantSlug,
    /// Human-readable name shown on hosted pages.
    pub display_name: String,
    /// Algorithm of the tenant's signing keys.
    pub signing_alg: SigningAlg,
    /// Default `aud` for access tokens; `None` means "the issuer".
    pub default_audience: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// What the hosted pages show besides the name.
    pub branding: Branding,
}

/// A tenant's look on its hosted pages (login, sign-up, account, errors,
/// signed out): a logo, an accent colour and where people get help. Every
/// value is checked by the `parse_*` functions before it is stored, so a
/// page can put it in an attribute without more ado.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Branding {
    /// The logo's URL, shown above the tenant's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Buttons' and links' colour, `#rrggbb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    /// Where "Need help?" leads: a web page or a `mailto:` address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
}

impl Branding {
    /// Whether nothing is set (the server's default look).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A logo URL as the hosted pages load it: absolute `https` (plain `http`
/// only on loopback, for development), at most 2,048 characters.
pub fn parse_logo_url(raw: &str) -> Result<String, ValidationError> {
    parse_brand_link(raw, "logo URL", false)
}

/// A support link: like a logo URL, or a `mailto:` address.
pub fn parse_support_url(raw: &str) -> Result<String, ValidationError> {
    parse_brand_link(raw, "support URL", true)
}

fn parse_brand_link(raw: &str, what: &'static str, mail: bool) -> Result<String, ValidationError> {
    let raw = raw.trim();
    let bad = ValidationError::BrandUrl(what);
    if raw.len() > 2048 {
        return Err(bad);
    }
    let url = Url::parse(raw).map_err(|_| bad.clone())?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let ok = match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => loopback,
        "mailto" => mail && crate::user::parse_email(url.path()).is_ok(),
        _ => false,
    };
    if !ok {
        return Err(bad);
    }
    Ok(url.to_string())
}

/// An accent colour: `#rgb` or `#rrggbb`, stored as lowercase `#rrggbb`.
pub fn parse_accent_color(raw: &str) -> Result<String, ValidationError> {
    let hex = raw
        .trim()
        .strip_prefix('#')
        .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or(ValidationError::AccentColor)?
        .to_ascii_lowercase();
    match hex.len() {
        6 => Ok(format!("#{hex}")),
        3 => Ok(hex.chars().fold(String::from("#"), |mut s, c| {
            s.push(c);
            s.push(c);
            s
        })),
        _ => Err(ValidationError::AccentColor),
    }
}

impl Tenant {
    /// The access-token audience used when a request names no resource.
    pub fn audience(&self, issuer: &Url) -> String {
        self.default_audience
            .clone()
            .unwrap_or_else(|| issuer.as_str().trim_end_matches('/').to_owned())
    }
}

/// A tenant's display name as hosted pages and mails show it: trimmed,
/// 1–100 characters, no control characters.
pub fn parse_display_name(raw: &str) -> Result<String, crate::error::ValidationError> {
    let name = raw.trim();
    let length = name.chars().count();
    if !(1..=100).contains(&length) || name.chars().any(char::is_control) {
        return Err(crate::error::ValidationError::DisplayName);
    }
    Ok(name.to_owned())
}

/// Builds a tenant's issuer URL: `{public_url}/t/{slug}`, no trailing slash.
pub fn issuer_url(public_url: &Url, slug: &TenantSlug) -> Url {
    let base = public_url.as_str().trim_end_matches('/');
    // A slug is a-z0-9- only, so the joined string is always a valid URL.
    Url::parse(&format!("{base}/t/{slug}")).unwrap_or_else(|_| public_url.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branding_links_must_be_https_or_loopback_http() {
        assert_eq!(
            parse_logo_url(" https://cdn.example.com/logo.svg ").unwrap(),
            "https://cdn.example.com/logo.svg"
        );
        assert!(parse_logo_url("http://localhost:8080/l.png").is_ok());
        assert!(parse_support_url("mailto:help@example.com").is_ok());
        let long = format!("https://example.com/{}", "a".repeat(2048));
        for bad in [
            "",
            "logo.png",
            "http://cdn.example.com/l.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "mailto:help@example.com",
            &long,
        ] {
            assert_eq!(
                parse_logo_url(bad),
                Err(ValidationError::BrandUrl("logo URL")),
                "{bad}"
            );
        }
        assert!(parse_support_url("mailto:not-an-address").is_err());
    }

    #[test]
    fn accent_colours_are_hex_and_normalised() {
        assert_eq!(parse_accent_color("#AbC").unwrap(), "#aabbcc");
        assert_eq!(parse_accent_color("#0f766e").unwrap(), "#0f766e");
        for bad in [
            "",
            "0f766e",
            "#12",
            "#12345g",
            "red",
            "#1234567",
            "#0f766e;}",
        ] {
            assert_eq!(
                parse_accent_color(bad),
                Err(ValidationError::AccentColor),
                "{bad}"
            );
        }
    }

    #[test]
    fn slugs_accept_lowercase_digits_and_inner_hyphens() {
        for ok in ["a", "acme", "acme-prod", "t1", &"x".repeat(63)] {
            assert!(TenantSlug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn slugs_refuse_anything_unsafe_in_a_path() {
        for bad in [
            "",
            "-a",
            "a-",
            "Acme",
            "a/b",
            "a b",
            "é",
            "..",
            &"x".repeat(64),
        ] {
            assert_eq!(
                TenantSlug::parse(bad),
                Err(ValidationError::TenantSlug),
                "{bad}"
            );
        }
    }

    #[test]
    fn issuer_is_public_url_slash_t_slash_slug_without_trailing_slash() {
        let slug = TenantSlug::parse("acme").unwrap();
        let with_slash = Url::parse("https://auth.example.com/").unwrap();
        let with_path = Url::parse("https://example.com/auth/").unwrap();
        assert_eq!(
            issuer_url(&with_slash, &slug).as_str(),
            "https://auth.example.com/t/acme"
        );
        assert_eq!(
            issuer_url(&with_path, &slug).as_str(),
            "https://example.com/auth/t/acme"
        );
    }
}
