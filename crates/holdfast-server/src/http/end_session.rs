//! RP-initiated logout, [OpenID Connect RP-Initiated Logout 1.0 §2](https://openid.net/specs/openid-connect-rpinitiated-1_0.html):
//! `GET`/`POST {issuer}/end-session`, advertised as `end_session_endpoint`,
//! and its confirmation form, `POST {issuer}/end-session/confirm`.
//!
//! §6 (Security Considerations): "Logout requests without a valid
//! id_token_hint value are a potential means of denial of service; therefore,
//! OPs should obtain explicit confirmation from the End-User before acting
//! upon them." So the SSO session ends at once only when the request
//! carries a valid `id_token_hint` **and** comes from the browser holding
//! the session the hint is about: the SSO cookie's browser session is the
//! one the hint's family (`sid`) was signed in under, for the same `sub`.
//! Anything else that finds a live SSO session gets a confirmation page (a
//! form posting back with a CSRF token bound to this browser,
//! `service::csrf`); a cross-site `GET` with only the cookie ends nothing.
//! Without a live SSO session there is nothing to end: nothing is revoked
//! (a hint alone, even a leaked one, never revokes anything) and the user
//! goes on as below.
//!
//! A *valid* hint: signed by one of the tenant's published keys as an ID
//! token (`typ: JWT`), `iss` this tenant's issuer, `aud` a client of this
//! tenant, and (§2) the `client_id` parameter, if any, equal to it. Its
//! `exp` is not checked: §2 "The OP SHOULD accept ID Tokens when the RP
//! identified by the ID Token's aud claim and/or sid claim has a current
//! session or had a recent session at the OP, even when the exp time has
//! passed", and an expired hint only ever identifies a session of the
//! browser asking.
//!
//! Signing out (at once or confirmed) deletes the browser session and
//! revokes the hint's family if it is the signed-in user's. Then the user
//! is sent to `post_logout_redirect_uri` with `state` if it is registered for
//! the client the hint (or `client_id`) names (§3: "MUST NOT perform
//! post-logout redirection unless ... registered"), else shown a
//! signed-out page.
//!
//! Not supported: `logout_hint`, `ui_locales`, front-channel logout,
//! separately registered `post_logout_redirect_uris` (the client's redirect
//! URIs serve).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::claims::IdTokenClaims;
use holdfast_core::client::Client;
use holdfast_crypto::jws::verify_compact;
use holdfast_crypto::secret::{constant_time_eq, sha256_b64};
use holdfast_store::BrowserSessionRecord;
use url::Url;

use crate::http::authorize::{csp_source, error_page};
use crate::http::browser::{self, append_cookie, cookie_value, session_cookie_name};
use crate::http::caller::Caller;
use crate::http::form::FormPairs;
use crate::http::tenant::TenantContext;
use crate::pages::{self, LogoutPage, STYLESHEET_PATH};
use crate::service::RequestContext;
use crate::service::csrf::{self, FormPurpose};
use crate::service::login::browser_session;
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

/// `POST {issuer}/end-session` (§2: "MUST support the use of the HTTP GET
/// and POST methods").
pub async fn end_session_post(
    State(state): State<AppState>,
    ctx: TenantContext,
    caller: Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    end_session(&state, &ctx, caller, &headers, &form.0).await
}

/// The parameters of a logout request (§2), empty ones as absent.
#[derive(Debug, Default)]
struct LogoutRequest {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

impl LogoutRequest {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let param = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        Self {
            id_token_hint: param("id_token_hint"),
            client_id: param("client_id"),
            post_logout_redirect_uri: param("post_logout_redirect_uri"),
            state: param("state"),
        }
    }

    /// What the confirmation form carries (and its token covers).
    fn to_pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("id_token_hint", &self.id_token_hint),
            ("client_id", &self.client_id),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// What a logout request is about, once checked.
struct Checked {
    /// The claims of a valid `id_token_hint`.
    hint: Option<IdTokenClaims>,
    /// The client the request names (hint `aud`, or `client_id`).
    client: Option<Client>,
    /// The live browser session of the SSO cookie, with its digest.
    browser: Option<(String, BrowserSessionRecord)>,
}

async fn check(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    request: &LogoutRequest,
) -> Result<Checked, Response> {
    let hint = match &request.id_token_hint {
        Some(token) => verified_hint(state, ctx, token).await,
        None => None,
    };
    let client_id = match (&hint, &request.client_id) {
        // §2: "When both client_id and id_token_hint are present, the OP
        // MUST verify that the Client Identifier matches the one used when
        // issuing the ID Token."
        (Some((claims, _)), Some(id)) if claims.aud != *id => {
            return Err(error_page(
                state,
                ctx,
                StatusCode::BAD_REQUEST,
                "This sign-out request names another application than its ID token.",
            ));
        }
        (Some((claims, _)), _) => Some(claims.aud.clone()),
        (None, id) => id.clone(),
    };
    let client = match (&hint, client_id) {
        (Some((_, client)), _) => Some(client.clone()),
        (None, Some(id)) => crate::service::lookup::client(state, &ctx.tenant.id, &id)
            .await
            .ok()
            .flatten()
            .map(|r| r.client),
        (None, None) => None,
    };
    let browser = match cookie_value(headers, &session_cookie_name(state, ctx)) {
        Some(value) => match browser_session(state, &ctx.tenant, &value).await {
            Ok(found) => found.map(|s| (sha256_b64(value.as_bytes()), s)),
            Err(err) => {
                tracing::error!(error = %err, "could not read the browser session");
                return Err(error_page(
                    state,
                    ctx,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The server is temporarily unavailable. Please try again shortly.",
                ));
            }
        },
        None => None,
    };
    Ok(Checked {
        hint: hint.map(|(claims, _)| claims),
        client,
        browser,
    })
}

async fn end_session(
    state: &AppState,
    ctx: &TenantContext,
    Caller(context): Caller,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Response {
    let request = LogoutRequest::from_pairs(pairs);
    let checked = match check(state, ctx, headers, &request).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let Some((digest, session)) = &checked.browser else {
        // No SSO session here: nothing to end and nothing to confirm. A hint
        // without the browser holding its session revokes nothing.
        return finish(state, ctx, &request, checked.client.as_ref());
    };
    let from_that_browser = match &checked.hint {
        Some(claims) => hint_is_of_browser_session(state, ctx, claims, digest, session).await,
        None => false,
    };
    if !from_that_browser {
        // §6: "OPs should obtain explicit confirmation from the End-User".
        return confirmation_page(state, ctx, headers, &request, checked.client.as_ref());
    }
    sign_out_browser(state, ctx, &context, &checked).await;
    finish(state, ctx, &request, checked.client.as_ref())
}

/// `POST {issuer}/end-session/confirm`: the user confirmed on the page.
pub async fn confirm(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    // Only the confirmation page itself may post here.
    if let Some(refused) = browser::refuse_cross_site(
        &state,
        &ctx,
        &headers,
        "logout confirmation",
        "This sign-out did not come from the sign-out page. You are still signed in.",
    ) {
        return refused;
    }
    let request = LogoutRequest::from_pairs(&form.0);
    if !csrf::verify(
        &state,
        &ctx.tenant,
        FormPurpose::Logout,
        browser::binding(&state, &headers).as_ref(),
        &request.to_pairs(),
        form.get("csrf_token").unwrap_or_default(),
    ) {
        return error_page(
            &state,
            &ctx,
            StatusCode::FORBIDDEN,
            "This sign-out page expired or did not come from this browser. You are still signed in.",
        );
    }
    let checked = match check(&state, &ctx, &headers, &request).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    sign_out_browser(&state, &ctx, &context, &checked).await;
    finish(&state, &ctx, &request, checked.client.as_ref())
}

/// Whether the hint's family was signed in under this browser session: the
/// code that made it was issued under the SSO cookie the request carries.
async fn hint_is_of_browser_session(
    state: &AppState,
    ctx: &TenantContext,
    claims: &IdTokenClaims,
    digest: &str,
    session: &BrowserSessionRecord,
) -> bool {
    let Some(sid) = &claims.sid else {
        return false;
    };
    if claims.sub != session.user_id {
        return false;
    }
    let family = state
        .store
        .session(&ctx.tenant.id, sid)
        .await
        .ok()
        .flatten();
    family.is_some_and(|f| {
        f.user_id == claims.sub
            && f.client_id == claims.aud
            && f.browser_session
                .as_deref()
                .is_some_and(|b| constant_time_eq(b.as_bytes(), digest.as_bytes()))
    })
}

/// Ends the browser session, and revokes the hint's family if it is the
/// signed-in user's (its other device's too: the user asked for it here).
async fn sign_out_browser(
    state: &AppState,
    ctx: &TenantContext,
    context: &RequestContext,
    checked: &Checked,
) {
    let Some((digest, session)) = &checked.browser else {
        return;
    };
    if let Err(err) = state
        .store
        .delete_browser_session(&ctx.tenant.id, digest)
        .await
    {
        tracing::error!(error = %err, "could not delete the browser session");
    }
    let Some(claims) = &checked.hint else {
        return;
    };
    let Some(sid) = &claims.sid else {
        return;
    };
    if claims.sub != session.user_id {
        return;
    }
    let family = state
        .store
        .session(&ctx.tenant.id, sid)
        .await
        .ok()
        .flatten();
    if let Some(family) = family.filter(|f| f.user_id == claims.sub && f.revoked_at.is_none())
        && let Err(err) = sign_out(
            state,
            &ctx.tenant,
            &claims.sub,
            &family.id,
            "signed_out",
            context,
        )
        .await
    {
        tracing::error!(error = %err, "could not revoke the session named by the ID token hint");
    }
}

/// The registered post-logout redirect, if the request asks for one.
fn redirect_target(request: &LogoutRequest, client: Option<&Client>) -> Option<Url> {
    let uri = request.post_logout_redirect_uri.as_deref()?;
    // §3: "The OP MUST NOT perform post-logout redirection unless ... the
    // post_logout_redirect_uri ... has been registered".
    client
        .filter(|c| c.redirect_uri_is_registered(uri))
        .and_then(|_| Url::parse(uri).ok())
}

/// A way back to the app when no redirect was asked for: the origin of
/// the client's first registered redirect URI (web origins only).
fn app_home(client: &Client) -> Option<String> {
    let url = Url::parse(client.redirect_uris.first()?).ok()?;
    matches!(url.scheme(), "https" | "http").then(|| url.origin().ascii_serialization() + "/")
}

/// After signing out (or finding nothing to end): the redirect or the
/// signed-out page, and the SSO cookie deleted.
fn finish(
    state: &AppState,
    ctx: &TenantContext,
    request: &LogoutRequest,
    client: Option<&Client>,
) -> Response {
    let mut response = match redirect_target(request, client) {
        Some(mut url) => {
            if let Some(client_state) = &request.state {
                url.query_pairs_mut().append_pair("state", client_state);
            }
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(url.as_str()) {
                r.headers_mut().insert(header::LOCATION, location);
            }
            r.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        None => {
            let html = pages::render_branded(
                "signed_out.html",
                &pages::Brand::of(&ctx.tenant, &ctx.issuer),
                serde_json::json!({
                    "tenant_name": ctx.tenant.display_name,
                    "css_url": css_url(state),
                    "back_url": client.and_then(app_home),
                }),
            );
            pages::page(StatusCode::OK, html, None)
        }
    };
    append_cookie(
        &mut response,
        browser::expired(state, ctx, session_cookie_name(state, ctx)),
    );
    response
}

fn confirmation_page(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    request: &LogoutRequest,
    client: Option<&Client>,
) -> Response {
    let Ok((binding, new_cookie)) = browser::binding_or_new(state, ctx, headers) else {
        return error_page(
            state,
            ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is temporarily unavailable.",
        );
    };
    let pairs = request.to_pairs();
    let token = csrf::token(state, &ctx.tenant, FormPurpose::Logout, &binding, &pairs);
    let action = format!("{}/end-session/confirm", ctx.issuer);
    let css = css_url(state);
    let html = pages::render_branded(
        "logout.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        LogoutPage {
            tenant_name: &ctx.tenant.display_name,
            client_id: client.map(|c| c.client_id.as_str()),
            action: &action,
            csrf_token: &token,
            params: pairs.clone(),
            css_url: &css,
        },
    );
    // form-action also governs the redirect that follows the submission.
    let target = redirect_target(request, client).map(|u| csp_source(u.as_str()));
    let mut response = pages::page(StatusCode::OK, html, target.as_deref());
    if let Some(cookie) = new_cookie {
        append_cookie(&mut response, cookie);
    }
    response
}

fn css_url(state: &AppState) -> String {
    format!(
        "{}{}",
        state.public_url.as_str().trim_end_matches('/'),
        STYLESHEET_PATH
    )
}

/// The claims and client of a valid hint (see the module docs), else `None`.
async fn verified_hint(
    state: &AppState,
    ctx: &TenantContext,
    token: &str,
) -> Option<(IdTokenClaims, Client)> {
    let keys = state
        .keys
        .published_keys(&ctx.tenant, state.now())
        .await
        .ok()?;
    let payload = verify_compact(token, &keys, "JWT").ok()?;
    let claims: IdTokenClaims = serde_json::from_value(payload).ok()?;
    // §2: "the OP MUST validate that it was the issuer of the ID Token".
    if claims.iss != ctx.issuer.as_str() {
        return None;
    }
    let client = crate::service::lookup::client(state, &ctx.tenant.id, &claims.aud)
        .await
        .ok()
        .flatten()?;
    Some((claims, client.client))
}
