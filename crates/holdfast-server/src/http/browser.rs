//! The hosted pages' defences in the browser: cookie names and attributes,
//! the CSRF binding cookie (`service::csrf`), and refusing cross-site form
//! posts.
//!
//! - **Cookies.** On https they carry the `__Host-` prefix
//!   ([RFC 6265bis §4.1.3.2](https://datatracker.ietf.org/doc/html/draft-ietf-httpbis-rfc6265bis#section-4.1.3.2):
//!   `Secure`, `Path=/`, no `Domain`), so neither a sibling domain nor a
//!   plain-http page can plant them: planting the CSRF binding or an SSO
//!   cookie is how login CSRF signs a victim into the attacker's account.
//!   `Path=/` is shared by all tenants, so the SSO cookie names its tenant;
//!   the binding is one per browser (each tenant's tokens use their own
//!   key). On http (development only) they are unprefixed and scoped to the
//!   tenant's path.
//! - **Cross-site posts.** A hosted form's submission must come from the
//!   hosted page itself: Fetch Metadata `Sec-Fetch-Site` must be
//!   `same-origin` (or `none`: the user's own action), and an `Origin`
//!   header must be the server's own origin (`null`, sent from sandboxed
//!   and opaque contexts, is refused). `same-site` is refused too: a sibling
//!   subdomain is exactly who could plant cookies. A request with neither
//!   header (not a browser, or a very old one) still needs a valid token.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use cookie::{Cookie, SameSite};

use crate::http::tenant::TenantContext;
use crate::service::csrf::BrowserBinding;
use crate::state::AppState;

/// The SSO cookie on http (development).
pub const SESSION_COOKIE: &str = "holdfast_session";
/// The CSRF binding cookie on http (development).
pub const CSRF_COOKIE: &str = "holdfast_csrf";
/// The mailed-link cookie on http (development): ties a link's sign-in to
/// the browser that asked for the mail.
pub const FLOW_COOKIE: &str = "holdfast_flow";
/// The cookie of a device approval (RFC 8628): which browser approved a
/// device request, so only its sign-in completes it (the CSRF binding
/// cannot serve: a sign-in replaces it).
pub const DEVICE_COOKIE: &str = "holdfast_device";

fn https(state: &AppState) -> bool {
    state.public_url.scheme() == "https"
}

/// The SSO cookie's name: `__Host-holdfast_session-{tenant}` on https.
pub fn session_cookie_name(state: &AppState, ctx: &TenantContext) -> Cow<'static, str> {
    if https(state) {
        Cow::Owned(format!("__Host-{SESSION_COOKIE}-{}", ctx.tenant.slug))
    } else {
        Cow::Borrowed(SESSION_COOKIE)
    }
}

/// The CSRF binding cookie's name: `__Host-holdfast_csrf` on https.
pub fn csrf_cookie_name(state: &AppState) -> &'static str {
    if https(state) {
        "__Host-holdfast_csrf"
    } else {
        CSRF_COOKIE
    }
}

/// The mailed-link cookie's name: `__Host-holdfast_flow` on https.
pub fn flow_cookie_name(state: &AppState) -> &'static str {
    if https(state) {
        "__Host-holdfast_flow"
    } else {
        FLOW_COOKIE
    }
}

/// The device-approval cookie's name: `__Host-holdfast_device-{tenant}`
/// on https (one per tenant, as the `__Host-` path is `/`), else the
/// plain name under the tenant's path.
pub fn device_cookie_name(state: &AppState, ctx: &TenantContext) -> Cow<'static, str> {
    if https(state) {
        Cow::Owned(format!("__Host-{DEVICE_COOKIE}-{}", ctx.tenant.slug))
    } else {
        Cow::Borrowed(DEVICE_COOKIE)
    }
}

/// The browser's device-approval binding in tenant `ctx`, if it holds one.
pub fn device_binding(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
) -> Option<BrowserBinding> {
    binding_named(headers, &device_cookie_name(state, ctx))
}

/// A hosted-page cookie: `HttpOnly`, and `__Host-` rules on https (`Secure`,
/// `Path=/`), else the tenant's path. `max_age_secs: None` is a session
/// cookie; `Some(0)` deletes.
pub fn cookie(
    state: &AppState,
    ctx: &TenantContext,
    name: Cow<'static, str>,
    value: String,
    same_site: SameSite,
    max_age_secs: Option<i64>,
) -> Cookie<'static> {
    let path = if https(state) {
        "/".to_owned()
    } else {
        ctx.issuer.path().to_owned()
    };
    let mut builder = Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .secure(https(state))
        .same_site(same_site);
    if let Some(secs) = max_age_secs {
        builder = builder.max_age(cookie::time::Duration::seconds(secs));
    }
    builder.build()
}

/// A cookie that deletes `name` (with the attributes it was set with, as
/// a `__Host-` cookie needs).
pub fn expired(state: &AppState, ctx: &TenantContext, name: Cow<'static, str>) -> Cookie<'static> {
    cookie(state, ctx, name, String::new(), SameSite::Lax, Some(0))
}

/// Adds `Set-Cookie: cookie` to `response`.
pub fn append_cookie(response: &mut Response, cookie: Cookie<'static>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The browser's CSRF binding, if its cookie holds a well-formed one.
pub fn binding(state: &AppState, headers: &HeaderMap) -> Option<BrowserBinding> {
    binding_named(headers, csrf_cookie_name(state))
}

fn binding_named(headers: &HeaderMap, name: &str) -> Option<BrowserBinding> {
    cookie_value(headers, name).and_then(|v| BrowserBinding::parse(&v))
}

/// The browser's binding, or a new one and the cookie that gives it to the
/// browser. Reusing the binding keeps forms open in several tabs valid.
pub fn binding_or_new(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
) -> Result<(BrowserBinding, Option<Cookie<'static>>), holdfast_crypto::CryptoError> {
    if let Some(existing) = binding(state, headers) {
        return Ok((existing, None));
    }
    let made = BrowserBinding::generate()?;
    // Strict: only the hosted page's own posts carry it.
    let set = cookie(
        state,
        ctx,
        Cow::Borrowed(csrf_cookie_name(state)),
        made.value().to_owned(),
        SameSite::Strict,
        None,
    );
    Ok((made, Some(set)))
}

/// The browser's mailed-link binding, if it holds one.
pub fn flow_binding(state: &AppState, headers: &HeaderMap) -> Option<BrowserBinding> {
    binding_named(headers, flow_cookie_name(state))
}

/// The browser's mailed-link binding (or a new one) and the cookie that
/// keeps it, set again with each new link so it lives as long as the
/// longest-lived link that can resume a sign-in (24 h) from then. A link
/// that resumes a sign-in does so only in a browser holding the binding
/// it was mailed from (else anyone sent the link would be signed in to its
/// account: login CSRF). `Lax`, unlike the CSRF binding: a link followed
/// from a webmail page is a cross-site navigation, and must carry it.
pub fn flow_binding_or_new(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
) -> Result<(BrowserBinding, Cookie<'static>), holdfast_crypto::CryptoError> {
    let binding = match flow_binding(state, headers) {
        Some(existing) => existing,
        None => BrowserBinding::generate()?,
    };
    let set = cookie(
        state,
        ctx,
        Cow::Borrowed(flow_cookie_name(state)),
        binding.value().to_owned(),
        SameSite::Lax,
        Some(holdfast_core::self_service::Purpose::VerifyEmail.ttl_secs()),
    );
    Ok((binding, set))
}

/// The hosted answer to a cross-site form post, if this is one: a 403 page
/// saying `message`, the refusal logged as `what`.
pub fn refuse_cross_site(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    what: &str,
    message: &str,
) -> Option<Response> {
    let reason = cross_site(state, headers)?;
    tracing::info!(tenant = %ctx.tenant.slug, reason, "cross-site {what} refused");
    Some(crate::http::authorize::error_page(
        state,
        ctx,
        axum::http::StatusCode::FORBIDDEN,
        message,
    ))
}

/// Why a form post is refused as cross-site, if it is.
pub fn cross_site(state: &AppState, headers: &HeaderMap) -> Option<&'static str> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or(""));
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some("Sec-Fetch-Site is not same-origin");
    }
    if let Some(origin) = header("origin") {
        let own = state.public_url.origin().ascii_serialization();
        if origin != own {
            return Some("Origin is not this server");
        }
    }
    None
}
