//! The hosted self-service pages (issue 14), without JavaScript like the
//! login page: sign-up (reached from the login page, and by `prompt=create`
//! per OpenID Connect "Initiating User Registration via OpenID Connect 1.0"
//! §4), email verification by link or code, and password recovery.
//!
//! | route | what |
//! |---|---|
//! | `GET, POST {issuer}/signup` | the sign-up form (carries the authorization request) |
//! | `GET {issuer}/verify-email?token=…` | a verification link |
//! | `POST {issuer}/verify-email` | the verification-code form |
//! | `GET, POST {issuer}/forgot-password` | asks for a reset link |
//! | `GET, POST {issuer}/reset-password` | a reset link's new-password form |
//!
//! Every form is CSRF-protected as the login form is (`service::csrf`,
//! cross-site posts refused by `http::browser`). A link or code that resumes
//! an authorization request answers it with a code, signed in; one that
//! does not shows what happened. Replayed, expired or foreign links get a
//! readable page (400), never a 500. The rules live in
//! `service::accounts`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use holdfast_core::authorize::{AuthorizationRequest, AuthorizeParams};
use holdfast_core::self_service::Purpose;
use holdfast_core::user::User;
use holdfast_crypto::secret::{SecretString, constant_time_eq, sha256_b64};
use serde_json::json;
use std::collections::HashMap;

use crate::http::authorize::{
    csp_source, css_url, error_page, query_of, sign_in_and_continue, validated,
};
use crate::http::browser::{self, append_cookie};
use crate::http::caller::Caller;
use crate::http::form::FormPairs;
use crate::http::tenant::TenantContext;
use crate::pages;
use crate::service::RequestContext;
use crate::service::accounts::{self, AccountError, Redeemed, SignUp, SignUpOutcome};
use crate::service::csrf::{self, BrowserBinding, FormPurpose};
use crate::state::AppState;

/// Renders a self-service template with the tenant's common values.
#[allow(clippy::too_many_arguments)]
fn render_page(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    status: StatusCode,
    template: &str,
    purpose: FormPurpose,
    bound: &[(&str, &str)],
    mut values: serde_json::Value,
    form_target: Option<&str>,
) -> Response {
    let Ok((binding, new_cookie)) = browser::binding_or_new(state, ctx, headers) else {
        return error_page(
            state,
            ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is temporarily unavailable.",
        );
    };
    let token = csrf::token(state, &ctx.tenant, purpose, &binding, bound);
    if let Some(map) = values.as_object_mut() {
        map.insert("tenant_name".into(), json!(ctx.tenant.display_name));
        map.insert("css_url".into(), json!(css_url(state)));
        map.insert("csrf_token".into(), json!(token));
    }
    with_cookie(
        pages::page(
            status,
            pages::render_branded(
                template,
                &pages::Brand::of(&ctx.tenant, &ctx.issuer),
                values,
            ),
            form_target,
        ),
        new_cookie,
    )
}

/// A page that says what happened, with an optional way on.
pub(crate) fn message(
    state: &AppState,
    ctx: &TenantContext,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    let html = pages::render_branded(
        "message.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        json!({
            "tenant_name": ctx.tenant.display_name,
            "css_url": css_url(state),
            "title": title,
            "message": text,
            "link": link.map(|l| l.0),
            "link_label": link.map(|l| l.1),
        }),
    );
    pages::page(status, html, None)
}

fn status_of(err: &AccountError) -> StatusCode {
    match err {
        AccountError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        AccountError::RegistrationClosed => StatusCode::FORBIDDEN,
        e if e.is_server_side() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn expired_form(state: &AppState, ctx: &TenantContext) -> Response {
    error_page(
        state,
        ctx,
        StatusCode::FORBIDDEN,
        "This form expired or did not come from this page. Go back and try again.",
    )
}

fn cross_site(state: &AppState, ctx: &TenantContext, headers: &HeaderMap) -> Option<Response> {
    browser::refuse_cross_site(
        state,
        ctx,
        headers,
        "self-service post",
        "This request did not come from this site's own page. Go back and try again.",
    )
}

fn verify_csrf(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    purpose: FormPurpose,
    bound: &[(&str, &str)],
    form: &FormPairs,
) -> bool {
    csrf::verify(
        state,
        &ctx.tenant,
        purpose,
        browser::binding(state, headers).as_ref(),
        bound,
        form.get("csrf_token").unwrap_or_default(),
    )
}

/// The sign-up form for `request`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn signup_form(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    params: &AuthorizeParams,
    email: &str,
    name: &str,
    error: Option<(&str, StatusCode)>,
) -> Response {
    let min_length = accounts::min_password_length(state, &ctx.tenant).await;
    // "I already have an account": the same request, without `create`.
    let mut login = params.clone();
    login.prompt = None;
    let bound = params.to_pairs();
    render_page(
        state,
        ctx,
        headers,
        error.map_or(StatusCode::OK, |e| e.1),
        "signup.html",
        FormPurpose::SignUp,
        &bound,
        json!({
            "client_name": request.client_name,
            "action": format!("{}/signup", ctx.issuer),
            "params": bound,
            "email": email,
            "name": name,
            "min_length": min_length,
            "error": error.map(|e| e.0),
            "login_url": format!("{}/authorize?{}", ctx.issuer, query_of(&login)),
        }),
        Some(&csp_source(&request.redirect_uri)),
    )
}

/// The "check your email" page with the code form for `ticket`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_email_page(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    ticket: &str,
    error: Option<&str>,
    form_target: Option<&str>,
) -> Response {
    render_page(
        state,
        ctx,
        headers,
        status,
        "check_email.html",
        FormPurpose::VerifyCode,
        &[("ticket", ticket), ("email", email)],
        json!({
            "action": format!("{}/verify-email", ctx.issuer),
            "email": email,
            "ticket": ticket,
            "error": error,
        }),
        form_target,
    )
}

/// A user signed in with the right password but an unverified address
/// where verification is required: a new link and code, and the code page.
pub(crate) async fn verification_needed(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    params: &AuthorizeParams,
    user: &User,
    context: &RequestContext,
) -> Response {
    let email = user.email.clone().unwrap_or_default();
    let target = csp_source(&request.redirect_uri);
    let (binding, cookie) = match flow_binding(state, ctx, headers) {
        Ok(b) => b,
        Err(page) => return page,
    };
    let sent = accounts::send_verification(
        state,
        &ctx.tenant,
        &ctx.issuer,
        user,
        &email,
        Some(Continuation::of(params, &binding)),
        None,
        context,
    )
    .await;
    let page = match sent {
        Ok(ticket) => check_email_page(
            state,
            ctx,
            headers,
            StatusCode::OK,
            &email,
            &ticket,
            Some("Verify your email address to sign in."),
            Some(&target),
        ),
        Err(e) => error_page(state, ctx, status_of(&e), &e.user_message()),
    };
    with_cookie(page, Some(cookie))
}

/// What a mailed link keeps of the sign-in it came from: the authorization
/// request, and the digest of the mailed-link binding of the browser that
/// asked (`http::browser::flow_binding_or_new`). The link resumes the
/// request signed in only in that browser.
#[derive(serde::Serialize, serde::Deserialize)]
struct Continuation {
    request: Vec<(String, String)>,
    browser: String,
}

impl Continuation {
    fn of(params: &AuthorizeParams, binding: &BrowserBinding) -> String {
        serde_json::to_string(&Self {
            request: params
                .to_pairs()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            browser: sha256_b64(binding.value().as_bytes()),
        })
        .unwrap_or_default()
    }

    fn parse(stored: &str) -> Option<Self> {
        serde_json::from_str(stored).ok()
    }

    fn params(&self) -> AuthorizeParams {
        AuthorizeParams::from_pairs(self.request.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Whether the request comes from the browser that asked for the mail.
    fn same_browser(&self, state: &AppState, headers: &HeaderMap) -> bool {
        browser::flow_binding(state, headers).is_some_and(|b| {
            constant_time_eq(
                sha256_b64(b.value().as_bytes()).as_bytes(),
                self.browser.as_bytes(),
            )
        })
    }
}

fn params_of(continuation: &str) -> Option<AuthorizeParams> {
    Continuation::parse(continuation).map(|c| c.params())
}

/// The mailed-link binding for a continuation, and the cookie that keeps
/// it; `Err` is the page to answer.
// The error is the response itself, built at most once per request.
#[allow(clippy::result_large_err)]
fn flow_binding(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
) -> Result<(BrowserBinding, cookie::Cookie<'static>), Response> {
    browser::flow_binding_or_new(state, ctx, headers).map_err(|_| {
        error_page(
            state,
            ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is temporarily unavailable.",
        )
    })
}

fn with_cookie(mut response: Response, cookie: Option<cookie::Cookie<'static>>) -> Response {
    if let Some(cookie) = cookie {
        append_cookie(&mut response, cookie);
    }
    response
}

/// `GET {issuer}/signup?{authorization request}`.
pub async fn signup_get(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let params = AuthorizeParams::from_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let request = match validated(&state, &ctx, &params).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    if !accounts::registration_open(&state, &ctx.tenant).await {
        return error_page(
            &state,
            &ctx,
            StatusCode::FORBIDDEN,
            &AccountError::RegistrationClosed.user_message(),
        );
    }
    signup_form(&state, &ctx, &headers, &request, &params, "", "", None).await
}

/// `POST {issuer}/signup`.
pub async fn signup_post(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    if let Some(refused) = cross_site(&state, &ctx, &headers) {
        return refused;
    }
    let params = AuthorizeParams::from_pairs(form.iter());
    let request = match validated(&state, &ctx, &params).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let email = form.get("email").unwrap_or_default();
    let name = form.get("name").unwrap_or_default();
    if !verify_csrf(
        &state,
        &ctx,
        &headers,
        FormPurpose::SignUp,
        &params.to_pairs(),
        &form,
    ) {
        return signup_form(
            &state,
            &ctx,
            &headers,
            &request,
            &params,
            email,
            name,
            Some((
                "Your form expired. Please try again.",
                StatusCode::FORBIDDEN,
            )),
        )
        .await;
    }
    let input = SignUp {
        email,
        name,
        password: SecretString::new(form.get("password").unwrap_or_default()),
    };
    let (binding, cookie) = match flow_binding(&state, &ctx, &headers) {
        Ok(b) => b,
        Err(page) => return page,
    };
    let outcome = accounts::sign_up(
        &state,
        &ctx.tenant,
        &ctx.issuer,
        input,
        Some(Continuation::of(&params, &binding)),
        &context,
    )
    .await;
    let page = match outcome {
        Ok(SignUpOutcome::SignedIn(user)) => {
            sign_in_and_continue(
                &state,
                &ctx,
                &headers,
                &request,
                &params,
                &user,
                state.now(),
            )
            .await
        }
        Ok(SignUpOutcome::CheckEmail { email, ticket, .. }) => check_email_page(
            &state,
            &ctx,
            &headers,
            StatusCode::OK,
            &email,
            &ticket,
            None,
            Some(&csp_source(&request.redirect_uri)),
        ),
        Err(e) => {
            signup_form(
                &state,
                &ctx,
                &headers,
                &request,
                &params,
                email,
                name,
                Some((&e.user_message(), status_of(&e))),
            )
            .await
        }
    };
    with_cookie(page, Some(cookie))
}

/// After a link or code was used: resume the request it kept, signed in,
/// in the browser that asked for it; elsewhere, say what happened and
/// offer the sign-in (which asks for the password).
async fn after_redeem(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    redeemed: Redeemed,
    auth_time: i64,
    done: (&str, &str),
) -> Response {
    let (done_title, done_text) = done;
    if let Some(continuation) = redeemed
        .token
        .continuation
        .as_deref()
        .and_then(Continuation::parse)
    {
        let params = continuation.params();
        let request = match validated(state, ctx, &params).await {
            Ok(r) => r,
            Err(response) => return response,
        };
        if continuation.same_browser(state, headers) {
            return sign_in_and_continue(
                state,
                ctx,
                headers,
                &request,
                &params,
                &redeemed.user,
                auth_time,
            )
            .await;
        }
        let login = format!("{}/authorize?{}", ctx.issuer, query_of(&params));
        return message(
            state,
            ctx,
            StatusCode::OK,
            done_title,
            &format!("{done_text} Sign in to continue."),
            Some((&login, "Continue to sign in")),
        );
    }
    let account = format!("{}/account", ctx.issuer);
    message(
        state,
        ctx,
        StatusCode::OK,
        done_title,
        done_text,
        Some((&account, "Go to your account")),
    )
}

const EMAIL_VERIFIED: (&str, &str) = (
    "Email verified",
    "Thank you: your email address is verified.",
);

fn not_usable(state: &AppState, ctx: &TenantContext, e: &AccountError) -> Response {
    message(
        state,
        ctx,
        status_of(e),
        "This link cannot be used",
        &e.user_message(),
        None,
    )
}

/// `GET {issuer}/verify-email?token=…`: a verification link.
pub async fn verify_link(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    match accounts::verify_link(&state, &ctx.tenant, token, &context).await {
        Ok(redeemed) => {
            // The password was given when the link was asked for.
            let auth_time = redeemed.token.created_at;
            after_redeem(&state, &ctx, &headers, redeemed, auth_time, EMAIL_VERIFIED).await
        }
        Err(e) => not_usable(&state, &ctx, &e),
    }
}

/// `POST {issuer}/verify-email`: the code form.
pub async fn verify_code(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    if let Some(refused) = cross_site(&state, &ctx, &headers) {
        return refused;
    }
    let ticket = form.get("ticket").unwrap_or_default();
    let email = form.get("email").unwrap_or_default();
    if !verify_csrf(
        &state,
        &ctx,
        &headers,
        FormPurpose::VerifyCode,
        &[("ticket", ticket), ("email", email)],
        &form,
    ) {
        return expired_form(&state, &ctx);
    }
    let code = form.get("code").unwrap_or_default();
    match accounts::verify_code(&state, &ctx.tenant, ticket, code, &context).await {
        Ok(redeemed) => {
            let auth_time = redeemed.token.created_at;
            after_redeem(&state, &ctx, &headers, redeemed, auth_time, EMAIL_VERIFIED).await
        }
        Err(e @ (AccountError::WrongCode | AccountError::Invalid(_))) => {
            // The form stays: the redirect target is the carried request's.
            let target = state
                .store
                .account_token(&ctx.tenant.id, ticket)
                .await
                .ok()
                .flatten()
                .and_then(|t| t.continuation)
                .and_then(|c| params_of(&c))
                .and_then(|p| p.redirect_uri)
                .map(|uri| csp_source(&uri));
            check_email_page(
                &state,
                &ctx,
                &headers,
                StatusCode::BAD_REQUEST,
                email,
                ticket,
                Some(&e.user_message()),
                target.as_deref(),
            )
        }
        Err(e) => not_usable(&state, &ctx, &e),
    }
}

/// The authorization request a recovery form carries, if it names a client.
async fn carried_request(
    state: &AppState,
    ctx: &TenantContext,
    params: &AuthorizeParams,
) -> Result<Option<AuthorizationRequest>, Response> {
    if params.client_id.is_none() {
        return Ok(None);
    }
    validated(state, ctx, params).await.map(Some)
}

#[allow(clippy::too_many_arguments)]
fn forgot_page(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    params: &AuthorizeParams,
    status: StatusCode,
    identifier: &str,
    sent: bool,
    error: Option<&str>,
) -> Response {
    let bound = params.to_pairs();
    let login_url = if params.client_id.is_some() {
        format!("{}/authorize?{}", ctx.issuer, query_of(params))
    } else {
        format!("{}/account", ctx.issuer)
    };
    render_page(
        state,
        ctx,
        headers,
        status,
        "forgot_password.html",
        FormPurpose::ForgotPassword,
        &bound,
        json!({
            "action": format!("{}/forgot-password", ctx.issuer),
            "params": bound,
            "identifier": identifier,
            "sent": sent,
            "error": error,
            "login_url": login_url,
        }),
        None,
    )
}

/// `GET {issuer}/forgot-password[?{authorization request}]`.
pub async fn forgot_get(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let params = AuthorizeParams::from_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Err(response) = carried_request(&state, &ctx, &params).await {
        return response;
    }
    forgot_page(
        &state,
        &ctx,
        &headers,
        &params,
        StatusCode::OK,
        "",
        false,
        None,
    )
}

/// `POST {issuer}/forgot-password`.
pub async fn forgot_post(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    if let Some(refused) = cross_site(&state, &ctx, &headers) {
        return refused;
    }
    let params = AuthorizeParams::from_pairs(form.iter());
    let request = match carried_request(&state, &ctx, &params).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    if !verify_csrf(
        &state,
        &ctx,
        &headers,
        FormPurpose::ForgotPassword,
        &params.to_pairs(),
        &form,
    ) {
        return expired_form(&state, &ctx);
    }
    let identifier = form.get("identifier").unwrap_or_default();
    let (binding, cookie) = match flow_binding(&state, &ctx, &headers) {
        Ok(b) => b,
        Err(page) => return page,
    };
    let continuation = request
        .as_ref()
        .map(|_| Continuation::of(&params, &binding));
    let page = match accounts::request_reset(
        &state,
        &ctx.tenant,
        &ctx.issuer,
        identifier,
        continuation,
        &context,
    )
    .await
    {
        Ok(()) => forgot_page(
            &state,
            &ctx,
            &headers,
            &params,
            StatusCode::OK,
            identifier,
            true,
            None,
        ),
        Err(e) => forgot_page(
            &state,
            &ctx,
            &headers,
            &params,
            status_of(&e),
            identifier,
            false,
            Some(&e.user_message()),
        ),
    };
    with_cookie(page, Some(cookie))
}

async fn reset_form(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    token: &str,
    error: Option<(&str, StatusCode)>,
) -> Response {
    let record = match accounts::usable_token(
        state,
        &ctx.tenant,
        token,
        &[Purpose::ResetPassword, Purpose::Invite],
    )
    .await
    {
        Ok(t) => t,
        Err(e) => return not_usable(state, ctx, &e),
    };
    let username = match state
        .store
        .user_by_id(&ctx.tenant.id, &record.user_id)
        .await
    {
        Ok(Some(r)) => r.user.username,
        Ok(None) => {
            return not_usable(
                state,
                ctx,
                &AccountError::NotUsable(holdfast_core::self_service::Refusal::Unknown),
            );
        }
        Err(e) => return not_usable(state, ctx, &AccountError::Store(e)),
    };
    let min_length = accounts::min_password_length(state, &ctx.tenant).await;
    let target = record
        .continuation
        .as_deref()
        .and_then(params_of)
        .and_then(|p| p.redirect_uri)
        .map(|uri| csp_source(&uri));
    render_page(
        state,
        ctx,
        headers,
        error.map_or(StatusCode::OK, |e| e.1),
        "reset_password.html",
        FormPurpose::ResetPassword,
        &[("token", token)],
        json!({
            "action": format!("{}/reset-password", ctx.issuer),
            "token": token,
            "invite": record.purpose == Purpose::Invite,
            "username": username,
            "min_length": min_length,
            "error": error.map(|e| e.0),
        }),
        target.as_deref(),
    )
}

/// `GET {issuer}/reset-password?token=…`: shows the form; the link is
/// spent only when the new password is set (a mail scanner's fetch costs
/// nothing).
pub async fn reset_get(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    reset_form(&state, &ctx, &headers, token, None).await
}

/// `POST {issuer}/reset-password`.
pub async fn reset_post(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    if let Some(refused) = cross_site(&state, &ctx, &headers) {
        return refused;
    }
    let token = form.get("token").unwrap_or_default();
    if !verify_csrf(
        &state,
        &ctx,
        &headers,
        FormPurpose::ResetPassword,
        &[("token", token)],
        &form,
    ) {
        return expired_form(&state, &ctx);
    }
    let password = SecretString::new(form.get("password").unwrap_or_default());
    match accounts::reset_password(&state, &ctx.tenant, token, password, &context).await {
        Ok(redeemed) => {
            after_redeem(
                &state,
                &ctx,
                &headers,
                redeemed,
                state.now(),
                (
                    "Password changed",
                    "Your new password is set, and every device that was signed in has been signed out.",
                ),
            )
            .await
        }
        Err(e @ AccountError::NotUsable(_)) => not_usable(&state, &ctx, &e),
        Err(e) => {
            reset_form(
                &state,
                &ctx,
                &headers,
                token,
                Some((&e.user_message(), status_of(&e))),
            )
            .await
        }
    }
}
