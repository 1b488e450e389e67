//! What a person sees who lands somewhere that is not a hosted page: the
//! server root, a tenant's root, an unknown tenant, a `GET` of a form's
//! `POST` endpoint, a path that does not exist, or any JSON error an
//! endpoint answers a browser's navigation with.
//!
//! Content negotiation ([RFC 9110 §12.5.1](https://www.rfc-editor.org/rfc/rfc9110#section-12.5.1)):
//! a `GET` or `HEAD` whose `Accept` names `text/html` (every browser's
//! navigation does; `fetch` and API clients send `*/*` or
//! `application/json`) gets a readable page with the same status; everyone
//! else gets the OAuth-shaped JSON of RFC 6749 §5.2 as before. Both carry
//! `Vary: Accept`. Only the description meant for the client is shown,
//! HTML-escaped by the template.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use holdfast_core::tenant::TenantSlug;
use serde_json::json;

use crate::http::authorize::css_url;
use crate::http::error::Shown;
use crate::http::tenant::TenantContext;
use crate::pages;
use crate::service::lookup;
use crate::state::AppState;

/// The server's name on pages that belong to no tenant.
const SERVER_NAME: &str = "Holdfast";

/// The favicon (`/favicon.ico`, where browsers look for it), an SVG.
const FAVICON: &str = include_str!("../pages/favicon.svg");

/// Whether the request is a browser asking for a page.
fn wants_html(method: &Method, headers: &HeaderMap) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|media| {
                let mut parts = media.split(';');
                let name = parts.next().unwrap_or("").trim();
                // `q=0` means "not this one" (RFC 9110 §12.4.2).
                let refused = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
                });
                (name.eq_ignore_ascii_case("text/html")
                    || name.eq_ignore_ascii_case("application/xhtml+xml"))
                    && !refused
            })
}

/// The tenant slug of a `/t/{slug}/…` path, if the path has one.
fn slug_of(path: &str) -> Option<TenantSlug> {
    let rest = path.strip_prefix("/t/")?;
    TenantSlug::parse(rest.split('/').next()?).ok()
}

/// Middleware: turns a JSON error answered to a browser's navigation into
/// a page (same status, same headers but the body's).
pub async fn html_for_browsers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let html = wants_html(request.method(), request.headers());
    let slug = slug_of(request.uri().path());
    let mut response = next.run(request).await;
    if !html {
        vary_accept(&mut response);
        return response;
    }
    let Some(shown) = response.extensions().get::<Shown>().cloned() else {
        return response;
    };
    let status = response.status();
    let tenant_name = match &slug {
        Some(slug) => lookup::tenant(&state, slug)
            .await
            .ok()
            .flatten()
            .map(|t| t.display_name),
        None => None,
    };
    let (title, text) = explain(status, &shown, tenant_name.is_some() || slug.is_none());
    let account = match (&slug, &tenant_name) {
        (Some(slug), Some(_)) => Some(format!(
            "{}/t/{slug}/account",
            state.public_url.as_str().trim_end_matches('/')
        )),
        _ => None,
    };
    let mut page = message(
        &state,
        status,
        tenant_name.as_deref().unwrap_or(SERVER_NAME),
        title,
        &text,
        account.as_deref().map(|a| (a, "Your account")),
    );
    // Keep what the endpoint said besides its body (a challenge, a nonce,
    // `Retry-After`, `Allow`), but the page's own type, length and policy.
    let mut kept = HeaderMap::new();
    let mut last = None;
    for (name, value) in response.headers_mut().drain() {
        // `drain` names a header once, then gives its further values.
        let name = match name {
            Some(name) => {
                last = Some(name.clone());
                name
            }
            None => match &last {
                Some(name) => name.clone(),
                None => continue,
            },
        };
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !page.headers().contains_key(&name)
        {
            kept.append(name, value);
        }
    }
    page.headers_mut().extend(kept);
    vary_accept(&mut page);
    page
}

fn vary_accept(response: &mut Response) {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept"));
}

/// A title and a sentence for a person, from the status and what the
/// endpoint said. `known`: the tenant in the path exists (or there is none).
fn explain(status: StatusCode, shown: &Shown, known: bool) -> (&'static str, String) {
    match status {
        StatusCode::NOT_FOUND if !known => (
            "Unknown sign-in service",
            "There is no sign-in service at this address. Check the link you followed.".to_owned(),
        ),
        StatusCode::NOT_FOUND => (
            "Page not found",
            "There is no page at this address. Check the link you followed.".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "Nothing to see here",
            "This address takes a form sent by a page, not a visit. Go back to the application and start again.".to_owned(),
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            "Too many attempts",
            "Too many attempts were made. Wait a little and try again.".to_owned(),
        ),
        s if s.is_server_error() => (
            "Something went wrong",
            "The server could not complete the request. Try again in a moment.".to_owned(),
        ),
        _ => (
            "This did not work",
            format!(
                "The request was refused: {}. Go back to the application and try again.",
                shown.description
            ),
        ),
    }
}

fn message(
    state: &AppState,
    status: StatusCode,
    name: &str,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    let html = pages::render(
        "message.html",
        json!({
            "tenant_name": name,
            "css_url": css_url(state),
            "title": title,
            "message": text,
            "link": link.map(|l| l.0),
            "link_label": link.map(|l| l.1),
        }),
    );
    pages::page(status, html, None)
}

/// `GET /`: what this server is. A page for a browser; for an API client,
/// the server's name and version.
pub async fn root(State(state): State<AppState>, method: Method, headers: HeaderMap) -> Response {
    let mut response = if wants_html(&method, &headers) {
        message(
            &state,
            StatusCode::OK,
            SERVER_NAME,
            "Sign-in server",
            "This is a Holdfast sign-in server. Applications send you to their own sign-in page; \
             there is nothing to do here.",
            None,
        )
    } else {
        axum::Json(json!({
            "service": "holdfast",
            "version": env!("CARGO_PKG_VERSION"),
        }))
        .into_response()
    };
    vary_accept(&mut response);
    response
}

/// `GET /t/{tenant}`: the tenant's root. A page naming the tenant with a
/// link to the account page; for an API client, the issuer and where its
/// discovery document is (OIDC Discovery §4, RFC 8414 §3).
pub async fn tenant_root(
    State(state): State<AppState>,
    ctx: TenantContext,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let issuer = ctx.issuer.as_str().trim_end_matches('/').to_owned();
    let mut response = if wants_html(&method, &headers) {
        let account = format!("{issuer}/account");
        crate::http::accounts::message(
            &state,
            &ctx,
            StatusCode::OK,
            "Sign-in",
            &format!(
                "This is where you sign in to {}'s applications. Open an application to sign in, \
                 or manage your account here.",
                ctx.tenant.display_name
            ),
            Some((&account, "Your account")),
        )
    } else {
        axum::Json(json!({
            "issuer": issuer,
            "openid_configuration": format!("{issuer}/.well-known/openid-configuration"),
        }))
        .into_response()
    };
    vary_accept(&mut response);
    response
}

/// `GET /favicon.ico`.
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn rfc9110_s12_5_1_a_navigation_wants_html_an_api_client_does_not() {
        let chromium = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        assert!(wants_html(&Method::GET, &accept(chromium)));
        assert!(!wants_html(&Method::POST, &accept(chromium)));
        assert!(!wants_html(&Method::GET, &accept("*/*")));
        assert!(!wants_html(&Method::GET, &accept("application/json")));
        assert!(!wants_html(
            &Method::GET,
            &accept("text/html;q=0, application/json")
        ));
        assert!(!wants_html(&Method::GET, &HeaderMap::new()));
    }

    #[test]
    fn a_tenant_slug_is_read_from_the_path() {
        assert_eq!(
            slug_of("/t/acme/login").map(|s| s.to_string()).as_deref(),
            Some("acme")
        );
        assert_eq!(
            slug_of("/t/acme").map(|s| s.to_string()).as_deref(),
            Some("acme")
        );
        assert!(slug_of("/nowhere").is_none());
        assert!(slug_of("/t/").is_none());
    }
}
