//! The second step of a hosted sign-in (issue 15): a TOTP or recovery
//! code, or a passkey (`service::passkeys`), after the password; TOTP enrolment where the tenant (or the
//! request's `acr_values`) requires a second factor and the user has none,
//! and the step-up of a signed-in browser session.
//!
//! `POST {issuer}/login/second-factor` is the one target. The page carries
//! what the first step proved as hidden fields (the user, when and how they
//! authenticated, the session a step-up raises, where to go next) beside
//! the authorization request, and a CSRF token (`service::csrf`, purpose
//! `SecondFactor`) over all of them and the browser's binding: the fields
//! cannot be changed, and the form works only in the browser that passed
//! the first step, for [`PENDING_TTL_SECS`] after it.
//!
//! - `acr_values` (OIDC Core §3.1.2.1) sets a floor (`holdfast_core::mfa`);
//!   a session below it is asked for exactly the missing factor, and on
//!   success *the same* browser session is raised (`acr` "2", `amr` with
//!   `otp` and `mfa`, `auth_time` now): no second session appears.
//! - With `prompt=none`, a session that needs the step answers
//!   `interaction_required` (OIDC Core §3.1.2.6).
//! - Enrolment shows the QR code (server-rendered SVG) and the key; the
//!   first code confirms it, and the recovery codes are shown once, with a
//!   link that resumes the request (now signed in at `acr` "2").

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use holdfast_core::authorize::{AuthorizationRequest, AuthorizeParams};
use holdfast_core::mfa::{AMR_PASSWORD, Strength, with_second_factor};
use holdfast_core::user::User;
use holdfast_crypto::secret::sha256_b64;
use serde_json::json;

use crate::http::authorize::{
    complete_sign_in, csp_source, css_url, error_page, internal, query_of, redirect_with_code,
    script_url, session_cookie, validated,
};
use crate::http::browser::{self, append_cookie, cookie_value, session_cookie_name};
use crate::http::caller::Caller;
use crate::http::form::FormPairs;
use crate::http::tenant::TenantContext;
use crate::pages;
use crate::service::csrf::{self, FormPurpose};
use crate::service::login::{CodeGrant, browser_session, issue_code, start_browser_session};
use crate::service::mfa::{self, MfaError};
use crate::service::passkeys;
use crate::state::AppState;

/// How long after the password the second step may be completed.
pub const PENDING_TTL_SECS: i64 = 600;

pub use crate::service::mfa::Need;

/// What a sign-in for `request` (none: the account page) needs
/// ([`mfa::need`]); the request asks for two factors by `acr_values` or
/// through its client's policy.
pub async fn need(
    state: &AppState,
    ctx: &TenantContext,
    request: Option<&AuthorizationRequest>,
    user_id: &str,
    current: Strength,
) -> Result<Need, MfaError> {
    let asked =
        request.is_some_and(|r| r.acr_floor == Some(Strength::TwoFactors) || r.client_mfa_required);
    mfa::need(state, &ctx.tenant, user_id, current, asked).await
}

/// The status of a refused code or set-up.
pub fn status_of(e: &MfaError) -> StatusCode {
    match e {
        MfaError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        e if e.is_server_side() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The enrolment part of the second-factor page.
pub fn enrolment_json(e: &mfa::Enrolment) -> serde_json::Value {
    json!({ "qr_svg": e.qr_svg, "secret": e.secret_base32, "uri": e.uri })
}

/// Where the sign-in goes once complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Back to the authorization request (a code for the client).
    Authorize,
    /// The account page.
    Account,
}

/// What the first step proved, carried (signed) by the second step's form.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The user.
    pub user_id: String,
    /// When the first step authenticated them.
    pub auth_time: i64,
    /// How (`amr`).
    pub amr: Vec<String>,
    /// The browser session a step-up raises (its digest), if any.
    pub raise: Option<String>,
    /// Where to go next.
    pub next: Next,
}

impl Pending {
    /// A fresh password sign-in of `user`, at `auth_time`.
    pub fn after_password(user: &User, auth_time: i64, next: Next) -> Self {
        Self {
            user_id: user.id.clone(),
            auth_time,
            amr: vec![AMR_PASSWORD.to_owned()],
            raise: None,
            next,
        }
    }

    fn fields(&self, mode: Need) -> Vec<(&'static str, String)> {
        vec![
            ("mfa_user", self.user_id.clone()),
            ("mfa_time", self.auth_time.to_string()),
            ("mfa_amr", self.amr.join(" ")),
            ("mfa_raise", self.raise.clone().unwrap_or_default()),
            (
                "mfa_next",
                match self.next {
                    Next::Authorize => "authorize",
                    Next::Account => "account",
                }
                .to_owned(),
            ),
            (
                "mfa_mode",
                if mode == Need::Enrolment {
                    "enrol"
                } else {
                    "code"
                }
                .to_owned(),
            ),
        ]
    }

    fn from_form(form: &FormPairs) -> Option<(Self, Need)> {
        let get = |k| form.get(k).unwrap_or_default();
        let next = match get("mfa_next") {
            "authorize" => Next::Authorize,
            "account" => Next::Account,
            _ => return None,
        };
        let mode = match get("mfa_mode") {
            "enrol" => Need::Enrolment,
            "code" => Need::Code,
            _ => return None,
        };
        let pending = Self {
            user_id: form.get("mfa_user")?.to_owned(),
            auth_time: get("mfa_time").parse().ok()?,
            amr: get("mfa_amr").split(' ').map(str::to_owned).collect(),
            raise: form
                .get("mfa_raise")
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            next,
        };
        Some((pending, mode))
    }
}

/// The pairs the CSRF token covers: the request, then the pending fields.
fn signed_pairs<'a>(
    params: &'a AuthorizeParams,
    fields: &'a [(&'static str, String)],
) -> Vec<(&'a str, &'a str)> {
    let mut pairs = params.to_pairs();
    pairs.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
    pairs
}

/// The second step's page: a code form (`Need::Code`) or the enrolment
/// (`Need::Enrolment`: a pending secret is made, or shown again).
#[allow(clippy::too_many_arguments)]
pub async fn page(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    request: Option<&AuthorizationRequest>,
    params: &AuthorizeParams,
    user: &User,
    pending: &Pending,
    mode: Need,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (mode, enrolment) = if mode == Need::Enrolment {
        match mfa::begin_enrolment(state, &ctx.tenant, user).await {
            Ok(e) => (Need::Enrolment, Some(e)),
            Err(MfaError::AlreadyEnrolled) => (Need::Code, None),
            Err(e) => {
                return error_page(
                    state,
                    ctx,
                    StatusCode::SERVICE_UNAVAILABLE,
                    &e.user_message(),
                );
            }
        }
    } else {
        (Need::Code, None)
    };
    let Ok((binding, new_cookie)) = browser::binding_or_new(state, ctx, headers) else {
        return error_page(
            state,
            ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is temporarily unavailable.",
        );
    };
    // A code (TOTP or recovery) or, where the user has one, a passkey.
    let (codes, passkey) = if mode == Need::Code {
        let passkey = match passkeys::begin_second_factor(state, &ctx.tenant, user, &binding).await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "could not offer a passkey for the second step");
                None
            }
        };
        let totp = mfa::has_totp(state, &ctx.tenant, &user.id)
            .await
            .unwrap_or(true);
        (totp || passkey.is_none(), passkey)
    } else {
        (true, None)
    };
    let fields = pending.fields(mode);
    let pairs = signed_pairs(params, &fields);
    let token = csrf::token(
        state,
        &ctx.tenant,
        FormPurpose::SecondFactor,
        &binding,
        &pairs,
    );
    let html = pages::render_branded(
        "second_factor.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        json!({
            "tenant_name": ctx.tenant.display_name,
            "css_url": css_url(state),
            "client_name": request.map(|r| r.client_name.as_str()),
            "action": format!("{}/login/second-factor", ctx.issuer),
            "csrf_token": token,
            "params": pairs,
            "enrol": enrolment.as_ref().map(enrolment_json),
            "step_up": pending.raise.is_some(),
            "codes": codes,
            "passkey": passkey,
            "script_url": script_url(state),
            "error": error,
        }),
    );
    let csp = request.map(|r| csp_source(&r.redirect_uri));
    let mut response = pages::page(status, html, csp.as_deref());
    if let Some(cookie) = new_cookie {
        append_cookie(&mut response, cookie);
    }
    response
}

/// `POST {issuer}/login/second-factor`.
pub async fn submit(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    if let Some(refused) = browser::refuse_cross_site(
        &state,
        &ctx,
        &headers,
        "second factor post",
        "This code did not come from the sign-in page. Go back to the application and sign in again.",
    ) {
        return refused;
    }
    let expired = |state: &AppState, ctx: &TenantContext| {
        error_page(
            state,
            ctx,
            StatusCode::BAD_REQUEST,
            "This sign-in expired or did not come from this browser. Go back to the application and sign in again.",
        )
    };
    let Some((pending, mode)) = Pending::from_form(&form) else {
        return expired(&state, &ctx);
    };
    let params = AuthorizeParams::from_pairs(form.iter());
    let fields = pending.fields(mode);
    let now = state.now();
    if !csrf::verify(
        &state,
        &ctx.tenant,
        FormPurpose::SecondFactor,
        browser::binding(&state, &headers).as_ref(),
        &signed_pairs(&params, &fields),
        form.get("csrf_token").unwrap_or_default(),
    ) {
        return expired(&state, &ctx);
    }
    // A step-up must come from the browser holding the session it raises;
    // a first sign-in must finish soon after the password.
    let raised = match pending.raise.as_deref() {
        // Only a code raises a session; setting up a factor follows a password.
        Some(_) if mode == Need::Enrolment => return expired(&state, &ctx),
        Some(digest) => {
            let here = cookie_value(&headers, &session_cookie_name(&state, &ctx));
            let live = match here {
                Some(value) => browser_session(&state, &ctx.tenant, &value).await,
                None => Ok(None),
            };
            match live {
                Ok(Some(s)) if s.id_digest == digest && s.user_id == pending.user_id => Some(s),
                Ok(_) => return expired(&state, &ctx),
                Err(e) => {
                    return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e));
                }
            }
        }
        None if now - pending.auth_time > PENDING_TTL_SECS || pending.auth_time > now => {
            return expired(&state, &ctx);
        }
        None => None,
    };
    let request = match pending.next {
        Next::Authorize => match validated(&state, &ctx, &params).await {
            Ok(r) => Some(r),
            Err(response) => return response,
        },
        Next::Account => None,
    };
    let user = match state
        .store
        .user_by_id(&ctx.tenant.id, &pending.user_id)
        .await
    {
        // A "not before" stamp (sign out everywhere, a new password) ends
        // a second step begun before it, as it ends the session.
        Ok(Some(r))
            if r.disabled_at.is_none() && r.not_before.is_none_or(|nb| pending.auth_time >= nb) =>
        {
            r.user
        }
        Ok(_) => return expired(&state, &ctx),
        Err(e) => return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    let code = form.get("code").unwrap_or_default();
    let answer = form.get("passkey_credential").filter(|a| !a.is_empty());
    let outcome = match (mode, answer) {
        (Need::Code, Some(answer)) => passkeys::finish_second_factor(
            &state,
            &ctx.tenant,
            &user,
            browser::binding(&state, &headers).as_ref(),
            answer,
            form.get("passkey_state").unwrap_or_default(),
        )
        .await
        .map(|()| (holdfast_core::mfa::AMR_HWK, None))
        .map_err(|e| {
            metrics::counter!("holdfast_passkey_failures_total").increment(1);
            let status = if e.is_server_side() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, e.user_message())
        }),
        _ => match mode {
            Need::Enrolment => mfa::confirm_enrolment(&state, &ctx.tenant, &user, code, &context)
                .await
                .map(|codes| (holdfast_core::mfa::AMR_OTP, Some(codes))),
            _ => mfa::verify(&state, &ctx.tenant, &user, code, &context)
                .await
                .map(|method| (method, None)),
        }
        .map_err(|e| (status_of(&e), e.user_message())),
    };
    let (method, recovery_codes) = match outcome {
        Ok(done) => done,
        Err((status, message)) => {
            return page(
                &state,
                &ctx,
                &headers,
                request.as_ref(),
                &params,
                &user,
                &pending,
                mode,
                status,
                Some(&message),
            )
            .await;
        }
    };
    let amr = with_second_factor(&pending.amr, method);
    finish(
        &state,
        &ctx,
        request.as_ref(),
        &params,
        &user,
        raised.map(|s| s.id_digest),
        amr,
        recovery_codes,
    )
    .await
}

/// The second factor was proved: raise the session (step-up) or start
/// one, then go on — or first show new recovery codes, once.
#[allow(clippy::too_many_arguments)]
async fn finish(
    state: &AppState,
    ctx: &TenantContext,
    request: Option<&AuthorizationRequest>,
    params: &AuthorizeParams,
    user: &User,
    raise: Option<String>,
    amr: Vec<String>,
    recovery_codes: Option<Vec<String>>,
) -> Response {
    let now = state.now();
    if let (None, None, Some(request)) = (&raise, &recovery_codes, request) {
        // The common case: a code, then straight back to the client.
        return complete_sign_in(state, ctx, request, user, now, amr).await;
    }
    let mut new_session = None;
    let session_digest = match raise {
        Some(digest) => {
            match state
                .store
                .raise_browser_session(&ctx.tenant.id, &digest, now, &amr)
                .await
            {
                Ok(true) => digest,
                Ok(false) => {
                    return error_page(
                        state,
                        ctx,
                        StatusCode::BAD_REQUEST,
                        "This sign-in expired. Go back to the application and sign in again.",
                    );
                }
                Err(e) => {
                    return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e));
                }
            }
        }
        None => match start_browser_session(state, &ctx.tenant, user, now, &amr).await {
            Ok(value) => {
                let digest = sha256_b64(value.expose().as_bytes());
                new_session = Some(value);
                digest
            }
            Err(e) => return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
        },
    };
    let continue_url = match request {
        Some(_) => format!("{}/authorize?{}", ctx.issuer, query_of(params)),
        None => format!("{}/account?done=signed_in", ctx.issuer),
    };
    let mut response = match (recovery_codes, request) {
        (Some(codes), _) => recovery_codes_page(state, ctx, &codes, &continue_url),
        (None, Some(request)) => {
            match issue_code(
                state,
                &ctx.tenant,
                CodeGrant::from(request),
                &user.id,
                now,
                amr,
                Some(&session_digest),
            )
            .await
            {
                Ok(code) => redirect_with_code(ctx, request, &code),
                Err(e) => {
                    return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e));
                }
            }
        }
        (None, None) => crate::http::account_page::see_other(&continue_url),
    };
    if let Some(value) = new_session {
        append_cookie(&mut response, session_cookie(state, ctx, &value));
    }
    response
}

/// The recovery codes, shown once, and a link that goes on.
pub fn recovery_codes_page(
    state: &AppState,
    ctx: &TenantContext,
    codes: &[String],
    continue_url: &str,
) -> Response {
    let html = pages::render_branded(
        "recovery_codes.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        json!({
            "tenant_name": ctx.tenant.display_name,
            "css_url": css_url(state),
            "codes": codes,
            "continue_url": continue_url,
        }),
    );
    pages::page(StatusCode::OK, html, None)
}
