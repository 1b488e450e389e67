//! The authorization endpoint and the hosted login form:
//! [RFC 6749 §4.1.1–4.1.2](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1),
//! [OIDC Core §3.1.2](https://openid.net/specs/openid-connect-core-1_0.html#AuthorizationEndpoint),
//! [RFC 9207](https://www.rfc-editor.org/rfc/rfc9207) (`iss` in the response).
//!
//! `GET`/`POST {issuer}/authorize` validates the request (see
//! `holdfast_core::authorize`), then either answers from the browser session
//! (single sign-on), or shows the login form, or (for `prompt=none`) returns
//! `login_required`. `POST {issuer}/login` is the form's target: it refuses
//! a cross-site post (`Sec-Fetch-Site`, `Origin`), checks the CSRF token
//! (an HMAC over the carried request and the browser's binding cookie,
//! `service::csrf`), re-validates the carried request, checks the password,
//! starts the browser session and redirects with a code.
//!
//! The SSO cookie is `HttpOnly; SameSite=Lax` (it must ride on the
//! top-level navigation from the client back to `/authorize`), the CSRF
//! binding cookie `HttpOnly; SameSite=Strict`; on https both are `__Host-`
//! cookies, else scoped to the tenant's path (`http::browser`).
//!
//! Not supported: consent screens (first-party model: the tenant owns its
//! clients), `response_mode=form_post`, account selection.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cookie::SameSite;
use holdfast_core::OAuthErrorCode;
use holdfast_core::authorize::{
    AuthorizationRequest, AuthorizeError, AuthorizeParams, LoginDecision, login_decision, validate,
};
use holdfast_crypto::secret::{SecretString, sha256_b64};
use url::Url;

use crate::http::browser::{self, append_cookie, session_cookie_name};
use crate::http::caller::Caller;
use crate::http::form::FormPairs;
use crate::http::second_factor::{self, Need, Next, Pending};
use crate::http::tenant::TenantContext;
use crate::pages::{self, ErrorPage, LoginPage, STYLESHEET_PATH};
use crate::service::csrf::{self, FormPurpose};
use crate::service::login::{
    AMR_PASSWORD, BROWSER_SESSION_TTL_SECS, CodeGrant, LoginError, authenticate_user,
    browser_session, issue_code, start_browser_session,
};
use crate::service::passkeys;
use crate::state::AppState;
use holdfast_core::mfa::Strength;

pub use crate::http::browser::{CSRF_COOKIE, SESSION_COOKIE, cookie_value};

/// `GET {issuer}/authorize`.
pub async fn authorize_get(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let params = AuthorizeParams::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    authorize(&state, &ctx, &headers, &params).await
}

/// `POST {issuer}/authorize` (OIDC Core §3.1.2.1: "MUST support the use of
/// the HTTP GET and POST methods").
pub async fn authorize_post(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let params = AuthorizeParams::from_pairs(form.iter());
    authorize(&state, &ctx, &headers, &params).await
}

async fn authorize(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    params: &AuthorizeParams,
) -> Response {
    let request = match validated(state, ctx, params).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let session = match cookie_value(headers, &session_cookie_name(state, ctx)) {
        Some(value) => match browser_session(state, &ctx.tenant, &value).await {
            Ok(session) => session,
            Err(err) => {
                return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(err));
            }
        },
        None => None,
    };
    let open = crate::service::accounts::registration_open(state, &ctx.tenant).await;
    let now = state.now();
    match login_decision(session.as_ref().map(|s| s.auth_time), &request, now) {
        LoginDecision::UseSession => {
            // The decision only says UseSession when a session exists.
            let Some(session) = session else {
                return login_form(state, ctx, headers, open, &request, params, "", None).await;
            };
            let user_exists = state
                .store
                .user_by_id(&ctx.tenant.id, &session.user_id)
                .await;
            let user = match user_exists {
                // A "not before" stamp ends single sign-on from before it.
                Ok(Some(r)) if r.not_before.is_none_or(|nb| session.auth_time >= nb) => r.user,
                Ok(_) => {
                    return login_form(state, ctx, headers, open, &request, params, "", None).await;
                }
                Err(err) => {
                    return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(err));
                }
            };
            // Step-up: a session below what the request (or the tenant)
            // needs is asked for exactly the missing factor, and raised.
            let current = Strength::of_amr(&session.amr);
            match second_factor::need(state, ctx, Some(&request), &session.user_id, current).await {
                Ok(Need::Nothing) => {}
                Ok(_) if request.prompt.none => {
                    return redirect_error(
                        ctx,
                        &request.redirect_uri,
                        request.state.as_deref(),
                        OAuthErrorCode::InteractionRequired,
                        "a second factor is needed",
                    );
                }
                // Setting up a factor is no step-up: a cookie alone (of any
                // age) must not add one, so the password comes first.
                Ok(Need::Enrolment) => {
                    let hint = request.login_hint.clone().unwrap_or_default();
                    return login_form(state, ctx, headers, open, &request, params, &hint, None)
                        .await;
                }
                Ok(mode) => {
                    let pending = Pending {
                        user_id: session.user_id.clone(),
                        auth_time: session.auth_time,
                        amr: session.amr.clone(),
                        raise: Some(session.id_digest.clone()),
                        next: Next::Authorize,
                    };
                    return second_factor::page(
                        state,
                        ctx,
                        headers,
                        Some(&request),
                        params,
                        &user,
                        &pending,
                        mode,
                        StatusCode::OK,
                        None,
                    )
                    .await;
                }
                Err(err) => {
                    return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(err));
                }
            }
            let issued = issue_code(
                state,
                &ctx.tenant,
                CodeGrant::from(&request),
                &session.user_id,
                session.auth_time,
                session.amr,
                Some(&session.id_digest),
            )
            .await;
            match issued {
                Ok(code) => redirect_with_code(ctx, &request, &code),
                Err(err) => error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(err)),
            }
        }
        LoginDecision::LoginRequired => redirect_error(
            ctx,
            &request.redirect_uri,
            request.state.as_deref(),
            OAuthErrorCode::LoginRequired,
            "the user must sign in",
        ),
        LoginDecision::ShowForm => {
            let hint = request.login_hint.clone().unwrap_or_default();
            login_form(state, ctx, headers, open, &request, params, &hint, None).await
        }
        // OpenID Connect "Initiating User Registration" §4: where sign-up
        // is not open, the login page says so.
        LoginDecision::ShowSignUp if open => {
            crate::http::accounts::signup_form(state, ctx, headers, &request, params, "", "", None)
                .await
        }
        LoginDecision::ShowSignUp => {
            let mut response = login_form(
                state,
                ctx,
                headers,
                open,
                &request,
                params,
                "",
                Some("New accounts cannot be created here. Sign in with an existing account."),
            )
            .await;
            *response.status_mut() = StatusCode::OK;
            response
        }
    }
}

/// `POST {issuer}/login`: the hosted form's submission.
pub async fn login(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    // Login CSRF (RFC 6749 §10.12): only the hosted page itself may post
    // here, never another site's form.
    if let Some(refused) = browser::refuse_cross_site(
        &state,
        &ctx,
        &headers,
        "login post",
        "This sign-in did not come from the sign-in page. Go back to the application and sign in again.",
    ) {
        return refused;
    }
    let params = AuthorizeParams::from_pairs(form.iter());
    let request = match validated(&state, &ctx, &params).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let open = crate::service::accounts::registration_open(&state, &ctx.tenant).await;
    let username = form.get("username").unwrap_or_default();
    // The token must be this browser's, for this request: a planted cookie
    // with a forged, empty or someone else's token is refused.
    if !csrf::verify(
        &state,
        &ctx.tenant,
        FormPurpose::Login,
        browser::binding(&state, &headers).as_ref(),
        &params.to_pairs(),
        form.get("csrf_token").unwrap_or_default(),
    ) {
        let mut response = login_form(
            &state,
            &ctx,
            &headers,
            open,
            &request,
            &params,
            username,
            Some("Your sign-in form expired. Please try again."),
        )
        .await;
        if response.status() == StatusCode::OK {
            *response.status_mut() = StatusCode::FORBIDDEN;
        }
        return response;
    }
    if let Some(answer) = form.get("passkey_credential").filter(|a| !a.is_empty()) {
        return passkey_login(
            &state,
            &ctx,
            &headers,
            &context,
            open,
            &request,
            &params,
            answer,
            form.get("passkey_state").unwrap_or_default(),
        )
        .await;
    }
    // A place in the hashing queue before the password: when it is full,
    // the sign-in is refused at once (503 + Retry-After) and costs nothing more.
    let admission = match state.passwords.admit() {
        Ok(admission) => admission,
        Err(_) => {
            let mut response = error_page(
                &state,
                &ctx,
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy. Please try again in a moment.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    };
    let password = SecretString::new(form.get("password").unwrap_or_default());
    let user = match authenticate_user(
        &state,
        admission,
        &ctx.tenant,
        &request.client_id,
        username,
        password,
        &context,
    )
    .await
    {
        Ok(user) => user,
        Err(LoginError::BadCredentials) => {
            return login_form(
                &state,
                &ctx,
                &headers,
                open,
                &request,
                &params,
                username,
                Some("Incorrect username or password."),
            )
            .await;
        }
        Err(LoginError::Throttled(t)) => {
            // RFC 6585 §4: 429 with Retry-After; the same words whether or
            // not the account exists.
            let minutes = (t.retry_after_secs + 59) / 60;
            let message = format!(
                "Too many failed sign-in attempts. Please try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut response = login_form(
                &state,
                &ctx,
                &headers,
                open,
                &request,
                &params,
                username,
                Some(&message),
            )
            .await;
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            if let Ok(value) = HeaderValue::from_str(&t.retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        Err(err) => {
            return error_page(
                &state,
                &ctx,
                StatusCode::SERVICE_UNAVAILABLE,
                &internal(err),
            );
        }
    };
    // Sign-in waits for a verified address where the tenant says so: a new
    // link and code go out, and following either resumes this request.
    if user.email.is_some()
        && !user.email_verified
        && crate::service::accounts::verification_required(&state, &ctx.tenant).await
    {
        return crate::http::accounts::verification_needed(
            &state, &ctx, &headers, &request, &params, &user, &context,
        )
        .await;
    }
    let now = state.now();
    sign_in_and_continue(&state, &ctx, &headers, &request, &params, &user, now).await
}

/// A passwordless sign-in with a passkey (the login page's passkey form):
/// two factors at once (`amr` `hwk user mfa`), so no second step follows.
/// A refused answer shows the login page again with what went wrong.
#[allow(clippy::too_many_arguments)]
async fn passkey_login(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    context: &crate::service::RequestContext,
    open: bool,
    request: &AuthorizationRequest,
    params: &AuthorizeParams,
    answer: &str,
    sealed: &str,
) -> Response {
    // Recorded as the password path records its sign-ins.
    let record = |kind: &'static str, user_id: Option<String>, reason: &'static str| async move {
        let event = holdfast_store::AuditEvent {
            user_id,
            client_id: Some(request.client_id.clone()),
            reason: Some(reason.to_owned()),
            ..crate::service::audit::event(state, &ctx.tenant, kind, context)
        };
        if let Err(e) = state.store.record_event(&event).await {
            tracing::warn!(error = %e, "could not record a passkey sign-in");
        }
    };
    let binding = browser::binding(state, headers);
    let proved =
        passkeys::finish_sign_in(state, &ctx.tenant, binding.as_ref(), answer, sealed).await;
    let refused = |e: passkeys::PasskeyError| async move {
        metrics::counter!("holdfast_passkey_failures_total").increment(1);
        let status = if e.is_server_side() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_REQUEST
        };
        let mut response = login_form(
            state,
            ctx,
            headers,
            open,
            request,
            params,
            "",
            Some(&e.user_message()),
        )
        .await;
        *response.status_mut() = status;
        response
    };
    let user_id = match proved {
        Ok(user_id) => user_id,
        Err(e) => {
            if !e.is_server_side() {
                metrics::counter!("holdfast_logins_total", "outcome" => "failed", "method" => "passkey")
                    .increment(1);
                record("login_failed", None, "passkey_refused").await;
            }
            return refused(e).await;
        }
    };
    let user = match state.store.user_by_id(&ctx.tenant.id, &user_id).await {
        Ok(Some(r)) if r.disabled_at.is_none() => r.user,
        Ok(_) => {
            record("login_failed", Some(user_id), "user_disabled").await;
            return refused(passkeys::PasskeyError::Unknown).await;
        }
        Err(e) => return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    tracing::info!(tenant = %ctx.tenant.slug, user_id = %user.id, "login succeeded with a passkey");
    metrics::counter!("holdfast_logins_total", "outcome" => "succeeded", "method" => "passkey")
        .increment(1);
    record("login_succeeded", Some(user.id.clone()), "passkey").await;
    // As after a password: sign-in waits for a verified address where the
    // tenant says so.
    if user.email.is_some()
        && !user.email_verified
        && crate::service::accounts::verification_required(state, &ctx.tenant).await
    {
        return crate::http::accounts::verification_needed(
            state, ctx, headers, request, params, &user, context,
        )
        .await;
    }
    let now = state.now();
    complete_sign_in(
        state,
        ctx,
        request,
        &user,
        now,
        holdfast_core::mfa::passkey_amr(),
    )
    .await
}

/// After the password (or a mailed link that stands for it): asks for the
/// second factor where one is needed (`http::second_factor`), else signs
/// `user` in as [`complete_sign_in`] does. Every hosted sign-in passes
/// here, so none skips the second factor.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sign_in_and_continue(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    params: &AuthorizeParams,
    user: &holdfast_core::user::User,
    auth_time: i64,
) -> Response {
    let need = second_factor::need(state, ctx, Some(request), &user.id, Strength::OneFactor).await;
    match need {
        Ok(Need::Nothing) => {
            complete_sign_in(
                state,
                ctx,
                request,
                user,
                auth_time,
                vec![AMR_PASSWORD.to_owned()],
            )
            .await
        }
        Ok(mode) => {
            let pending = Pending::after_password(user, auth_time, Next::Authorize);
            second_factor::page(
                state,
                ctx,
                headers,
                Some(request),
                params,
                user,
                &pending,
                mode,
                StatusCode::OK,
                None,
            )
            .await
        }
        Err(e) => error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    }
}

/// The SSO cookie holding `value`.
pub(crate) fn session_cookie(
    state: &AppState,
    ctx: &TenantContext,
    value: &SecretString,
) -> cookie::Cookie<'static> {
    browser::cookie(
        state,
        ctx,
        session_cookie_name(state, ctx),
        value.expose().to_owned(),
        SameSite::Lax,
        Some(BROWSER_SESSION_TTL_SECS),
    )
}

/// Starts a browser session for `user` (authenticated at `auth_time` by
/// `amr`), and answers the authorization request with a code and the SSO
/// cookie; the CSRF binding is renewed.
pub(crate) async fn complete_sign_in(
    state: &AppState,
    ctx: &TenantContext,
    request: &AuthorizationRequest,
    user: &holdfast_core::user::User,
    auth_time: i64,
    amr: Vec<String>,
) -> Response {
    let session_value = match start_browser_session(state, &ctx.tenant, user, auth_time, &amr).await
    {
        Ok(value) => value,
        Err(err) => {
            return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(err));
        }
    };
    let browser_session = sha256_b64(session_value.expose().as_bytes());
    let code = match issue_code(
        state,
        &ctx.tenant,
        CodeGrant::from(request),
        &user.id,
        auth_time,
        amr,
        Some(&browser_session),
    )
    .await
    {
        Ok(code) => code,
        Err(err) => {
            return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(err));
        }
    };
    let mut response = redirect_with_code(ctx, request, &code);
    append_cookie(&mut response, session_cookie(state, ctx, &session_value));
    // The binding has served its purpose: a new sign-in gets a new one.
    append_cookie(
        &mut response,
        browser::expired(state, ctx, browser::csrf_cookie_name(state).into()),
    );
    response
}

pub(crate) async fn validated(
    state: &AppState,
    ctx: &TenantContext,
    params: &AuthorizeParams,
) -> Result<AuthorizationRequest, Response> {
    let client = match params.client_id.as_deref() {
        Some(id) => crate::service::lookup::client(state, &ctx.tenant.id, id)
            .await
            .map_err(|err| error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(err)))?
            .map(|r| r.client),
        None => None,
    };
    let default_audience = ctx.tenant.audience(&ctx.issuer);
    validate(params, client.as_ref(), &default_audience).map_err(|err| match err {
        AuthorizeError::Page(message) => error_page(state, ctx, StatusCode::BAD_REQUEST, &message),
        AuthorizeError::Redirect {
            redirect_uri,
            state: client_state,
            code,
            description,
        } => redirect_error(
            ctx,
            &redirect_uri,
            client_state.as_deref(),
            code,
            &description,
        ),
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn login_form(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    registration_open: bool,
    request: &AuthorizationRequest,
    params: &AuthorizeParams,
    username: &str,
    error: Option<&str>,
) -> Response {
    let Ok((binding, new_cookie)) = browser::binding_or_new(state, ctx, headers) else {
        return error_page(
            state,
            ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is temporarily unavailable.",
        );
    };
    let csrf = csrf::token(
        state,
        &ctx.tenant,
        FormPurpose::Login,
        &binding,
        &params.to_pairs(),
    );
    let action = format!("{}/login", ctx.issuer);
    let passkey = passkey_sign_in(state, ctx, &binding).await;
    let css = css_url(state);
    let query = query_of(params);
    let forgot = format!("{}/forgot-password?{query}", ctx.issuer);
    let signup = format!("{}/signup?{query}", ctx.issuer);
    let html = pages::render_branded(
        "login.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        LoginPage {
            tenant_name: &ctx.tenant.display_name,
            client_name: &request.client_name,
            action: &action,
            csrf_token: &csrf,
            params: params.to_pairs(),
            username,
            error,
            notice: None,
            forgot_url: Some(&forgot),
            signup_url: registration_open.then_some(signup.as_str()),
            css_url: &css,
            passkey: passkey.as_ref(),
            script_url: &script_url(state),
        },
    );
    let mut response = pages::page(
        StatusCode::OK,
        html,
        Some(&csp_source(&request.redirect_uri)),
    );
    if let Some(cookie) = new_cookie {
        append_cookie(&mut response, cookie);
    }
    response
}

/// A passwordless sign-in's options for the login page, where the tenant
/// can offer passkeys (`None` hides the passkey button).
pub(crate) async fn passkey_sign_in(
    state: &AppState,
    ctx: &TenantContext,
    binding: &crate::service::csrf::BrowserBinding,
) -> Option<passkeys::Ceremony> {
    match passkeys::begin_sign_in(state, &ctx.tenant, binding).await {
        Ok(ceremony) => Some(ceremony),
        Err(passkeys::PasskeyError::Unavailable) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not start a passkey sign-in");
            None
        }
    }
}

/// The hosted error page of tenant `ctx`.
pub(crate) fn error_page(
    state: &AppState,
    ctx: &TenantContext,
    status: StatusCode,
    message: &str,
) -> Response {
    let css = css_url(state);
    let html = pages::render_branded(
        "error.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        ErrorPage {
            tenant_name: &ctx.tenant.display_name,
            message,
            css_url: &css,
        },
    );
    pages::page(status, html, None)
}

/// The authorization request as a query string (for links that carry it).
pub(crate) fn query_of(params: &AuthorizeParams) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.to_pairs())
        .finish()
}

pub(crate) fn internal(err: impl std::fmt::Display) -> String {
    tracing::error!(error = %err, "authorization request failed on the server side");
    "The server is temporarily unavailable. Please try again shortly.".to_owned()
}

/// Where the hosted pages' one script (passkeys) is served.
pub(crate) fn script_url(state: &AppState) -> String {
    format!(
        "{}{}",
        state.public_url.as_str().trim_end_matches('/'),
        pages::SCRIPT_PATH
    )
}

pub(crate) fn css_url(state: &AppState) -> String {
    format!(
        "{}{}",
        state.public_url.as_str().trim_end_matches('/'),
        STYLESHEET_PATH
    )
}

/// RFC 6749 §4.1.2: code and state as query parameters of the redirect URI
/// (keeping its own query, §3.1.2), plus `iss` (RFC 9207 §2).
pub(crate) fn redirect_with_code(
    ctx: &TenantContext,
    request: &AuthorizationRequest,
    code: &SecretString,
) -> Response {
    let mut pairs = vec![("code", code.expose())];
    if let Some(state) = request.state.as_deref() {
        pairs.push(("state", state));
    }
    redirect(ctx, &request.redirect_uri, &pairs)
}

/// RFC 6749 §4.1.2.1: the error, its description and the state.
fn redirect_error(
    ctx: &TenantContext,
    redirect_uri: &str,
    state: Option<&str>,
    code: OAuthErrorCode,
    description: &str,
) -> Response {
    let mut pairs = vec![("error", code.as_str()), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    redirect(ctx, redirect_uri, &pairs)
}

fn redirect(ctx: &TenantContext, redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    // The redirect URI was validated as an absolute URL at registration.
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "invalid redirect URI").into_response();
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        query.append_pair("iss", ctx.issuer.as_str());
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The CSP source for a redirect URI: its origin, or for a native app's
/// private-use scheme (RFC 8252 §7.1), the scheme.
pub(crate) fn csp_source(uri: &str) -> String {
    holdfast_core::client::origin_of(uri).unwrap_or_else(|| match uri.split_once(':') {
        Some((scheme, _)) => format!("{scheme}:"),
        None => "'none'".to_owned(),
    })
}
