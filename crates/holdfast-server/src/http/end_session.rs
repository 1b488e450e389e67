//! RP-initiated logout, [OpenID Connect RP-Initiated Logout 1.0 §2](https://openid.net/specs/openid-connect-rpinitiated-1_0.html):
//! `GET`/`POST {issuer}/end-session`, advertised as `end_session_endpoint`.
//!
//! Always ends the browser (SSO) session. With a valid `id_token_hint`
//! (signature and issuer checked; expiry not, as §2 allows) it also revokes
//! the session (`sid`) the ID token names, and may redirect to
//! `post_logout_redirect_uri`, which must be registered for the client the
//! hint was issued to (§3: "MUST NOT perform post-logout redirection
//! unless ... registered"). Without a hint the user sees a signed-out page.
//!
//! Not supported: `logout_hint`, `ui_locales`, a confirmation prompt,
//! front-channel logout.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::claims::IdTokenClaims;
use holdfast_crypto::jws::verify_compact;
use holdfast_crypto::secret::sha256_b64;
use url::Url;

use crate::http::authorize::{SESSION_COOKIE, cookie_value, expired_cookie};
use crate::http::caller::Caller;
use crate::http::form::FormPairs;
use crate::http::tenant::TenantContext;
use crate::pages::{self, ErrorPage, STYLESHEET_PATH};
use crate::service::revocation::sign_out;
use crate::state::AppState;

/// `GET {issuer}/end-session`.
pub async fn end_session_get(
    State(state): State<AppState>,
    ctx: TenantContext,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    end_session(&state, &ctx, caller, &headers, &pairs).await
}

/// `POST {issuer}/end-session`.
pub async fn end_session_post(
    State(state): State<AppState>,
    ctx: TenantContext,
    caller: Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    end_session(&state, &ctx, caller, &headers, &form.0).await
}

async fn end_session(
    state: &AppState,
    ctx: &TenantContext,
    Caller(context): Caller,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Response {
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    if let Some(value) = cookie_value(headers, SESSION_COOKIE)
        && let Err(err) = state
            .store
            .delete_browser_session(&ctx.tenant.id, &sha256_b64(value.as_bytes()))
            .await
    {
        tracing::error!(error = %err, "could not delete the browser session");
    }
    let hint = match param("id_token_hint") {
        Some(token) => verified_hint(state, ctx, token).await,
        None => None,
    };
    let mut redirect_to = None;
    if let Some(claims) = &hint {
        if let Some(sid) = &claims.sid {
            let owned = state
                .store
                .session(&ctx.tenant.id, sid)
                .await
                .ok()
                .flatten()
                .filter(|s| s.user_id == claims.sub);
            if let Some(session) = owned {
                let _ = sign_out(
                    state,
                    &ctx.tenant,
                    &claims.sub,
                    &session.id,
                    "signed_out",
                    &context,
                )
                .await;
            }
        }
        if let Some(uri) = param("post_logout_redirect_uri") {
            let client = crate::service::lookup::client(state, &ctx.tenant.id, &claims.aud)
                .await
                .ok()
                .flatten();
            if client.is_some_and(|c| c.client.redirect_uri_is_registered(uri)) {
                redirect_to = Url::parse(uri).ok();
            }
        }
    }
    let mut response = match redirect_to {
        Some(mut url) => {
            if let Some(client_state) = param("state") {
                url.query_pairs_mut().append_pair("state", client_state);
            }
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(url.as_str()) {
                r.headers_mut().insert(header::LOCATION, location);
            }
            r
        }
        None => {
            let css = format!(
                "{}{}",
                state.public_url.as_str().trim_end_matches('/'),
                STYLESHEET_PATH
            );
            let html = pages::render(
                "signed_out.html",
                ErrorPage {
                    tenant_name: &ctx.tenant.display_name,
                    message: "",
                    css_url: &css,
                },
            );
            pages::page(StatusCode::OK, html, None)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&expired_cookie(ctx, SESSION_COOKIE).to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn verified_hint(
    state: &AppState,
    ctx: &TenantContext,
    token: &str,
) -> Option<IdTokenClaims> {
    let keys = state
        .keys
        .published_keys(&ctx.tenant, state.now())
        .await
        .ok()?;
    let payload = verify_compact(token, &keys, "JWT").ok()?;
    let claims: IdTokenClaims = serde_json::from_value(payload).ok()?;
    (claims.iss == ctx.issuer.as_str()).then_some(claims)
}
