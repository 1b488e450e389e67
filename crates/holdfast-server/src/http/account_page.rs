//! The account page (issue 14), `{issuer}/account`: the user's own view of
//! their account, signed in through the tenant's hosted login (the SSO
//! cookie), without JavaScript.
//!
//! | route | what |
//! |---|---|
//! | `GET {issuer}/account` | the page, or its sign-in form (`?reauth=1`: sign in again) |
//! | `POST {issuer}/account/login` | that sign-in form |
//! | `POST {issuer}/account/profile` | display name |
//! | `POST {issuer}/account/email` | change (or re-verify) the address (fresh sign-in only) |
//! | `POST {issuer}/account/password` | change the password (current one, or a fresh sign-in) |
//! | `POST {issuer}/account/sessions/{sid}/revoke` | sign out one device |
//! | `POST {issuer}/account/sessions/revoke-others` | sign out every other device |
//! | `POST {issuer}/account/delete` | delete the account (fresh sign-in only) |
//! | `POST {issuer}/account/totp/begin` | show a new authenticator key and its QR code (fresh sign-in only) |
//! | `POST {issuer}/account/totp/confirm` | turn it on with a first code; shows the recovery codes once |
//! | `POST {issuer}/account/totp/remove` | turn it off (fresh two-factor sign-in only; mailed notice) |
//! | `POST {issuer}/account/recovery-codes` | replace the recovery codes (fresh two-factor sign-in only) |
//! | `POST {issuer}/account/passkeys/add` | register a passkey (fresh sign-in only; mailed notice) |
//! | `POST {issuer}/account/passkeys/rename` | rename one |
//! | `POST {issuer}/account/passkeys/remove` | remove one (fresh two-factor sign-in only; mailed notice) |
//! | `POST {issuer}/account/logout` | sign out here |
//!
//! Every form is refused cross-site (`http::browser`) and carries a CSRF
//! token bound to the browser's binding cookie *and* its SSO session, so
//! a token is worthless in another browser or after signing out. "Fresh"
//! means signed in within `holdfast_core::self_service::FRESH_LOGIN_SECS`.
//! Signing a device out revokes its sessions (refresh tokens die at once)
//! and ends its browser session.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use holdfast_core::self_service::{FRESH_LOGIN_SECS, approximate_ip, device_name};
use holdfast_core::user::User;
use holdfast_crypto::secret::SecretString;
use holdfast_store::BrowserSessionRecord;
use serde_json::json;
use std::collections::HashMap;

use crate::http::authorize::{css_url, error_page, internal, session_cookie};
use crate::http::browser::{self, append_cookie, cookie_value, session_cookie_name};
use crate::http::caller::Caller;
use crate::http::form::FormPairs;
use crate::http::second_factor::{self, Need, Next, Pending};
use crate::http::tenant::TenantContext;
use crate::pages::{self, LoginPage};
use crate::service::accounts::{self, AccountError};
use crate::service::csrf::{self, FormPurpose};
use crate::service::login::{
    LoginError, authenticate_user, browser_session, start_browser_session,
};
use crate::service::mfa::{self, MfaError};
use crate::service::passkeys::{self, PasskeyError};
use crate::service::revocation::sign_out;
use crate::state::AppState;
use holdfast_core::authorize::AuthorizeParams;
use holdfast_core::mfa::{AMR_PASSWORD, Strength};

/// The `client_id` account-page sign-ins are recorded under.
pub const ACCOUNT_CLIENT: &str = "holdfast:account";

/// Who is signed in to this browser, if anyone is (and may still be).
struct Signed {
    user: User,
    session: BrowserSessionRecord,
}

impl Signed {
    fn fresh(&self, now: i64) -> bool {
        now - self.session.auth_time <= FRESH_LOGIN_SECS
    }

    /// Signed in with two factors.
    fn strong(&self) -> bool {
        Strength::of_amr(&self.session.amr) >= Strength::TwoFactors
    }
}

async fn signed_in(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
) -> Result<Option<Signed>, Response> {
    let Some(value) = cookie_value(headers, &session_cookie_name(state, ctx)) else {
        return Ok(None);
    };
    let unavailable = |e: &dyn std::fmt::Display| {
        error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e))
    };
    let Some(session) = browser_session(state, &ctx.tenant, &value)
        .await
        .map_err(|e| unavailable(&e))?
    else {
        return Ok(None);
    };
    let record = state
        .store
        .user_by_id(&ctx.tenant.id, &session.user_id)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(record
        .filter(|r| r.disabled_at.is_none())
        .filter(|r| r.not_before.is_none_or(|nb| session.auth_time >= nb))
        .map(|r| Signed {
            user: r.user,
            session,
        }))
}

pub(crate) fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn account_url(ctx: &TenantContext) -> String {
    format!("{}/account", ctx.issuer)
}

fn login_page(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    status: StatusCode,
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
    let token = csrf::token(state, &ctx.tenant, FormPurpose::AccountLogin, &binding, &[]);
    let action = format!("{}/account/login", ctx.issuer);
    let forgot = format!("{}/forgot-password", ctx.issuer);
    let css = css_url(state);
    let html = pages::render_branded(
        "login.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        LoginPage {
            tenant_name: &ctx.tenant.display_name,
            client_name: "",
            action: &action,
            csrf_token: &token,
            params: Vec::new(),
            username,
            error,
            notice: None,
            forgot_url: Some(&forgot),
            signup_url: None,
            css_url: &css,
            passkey: None,
            script_url: "",
        },
    );
    let mut response = pages::page(status, html, None);
    if let Some(cookie) = new_cookie {
        append_cookie(&mut response, cookie);
    }
    response
}

/// What the `?done=` notice says (a fixed table: nothing the URL says is
/// shown as such).
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "profile" => "Your name was saved.",
        "password" => "Your password was changed. Your other devices were signed out.",
        "device" => "That device was signed out.",
        "others" => "Every other device was signed out.",
        "mfa" => "Two-step sign-in is on.",
        "mfa_removed" => "Two-step sign-in is off.",
        "passkey" => "The passkey was added.",
        "passkey_renamed" => "The passkey was renamed.",
        "passkey_removed" => "The passkey was removed.",
        "signed_in" => "You are signed in.",
        _ => return None,
    })
}

async fn account_page(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    signed: &Signed,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let now = state.now();
    let Ok((binding, new_cookie)) = browser::binding_or_new(state, ctx, headers) else {
        return error_page(
            state,
            ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is temporarily unavailable.",
        );
    };
    let bound = [("bs", signed.session.id_digest.as_str())];
    let token = csrf::token(state, &ctx.tenant, FormPurpose::Account, &binding, &bound);
    let sessions =
        match crate::service::lookup::live_sessions(state, &ctx.tenant.id, &signed.user.id).await {
            Ok(s) => s,
            Err(e) => return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
        };
    let mine = Some(signed.session.id_digest.as_str());
    let devices: Vec<_> = sessions
        .iter()
        .map(|s| {
            json!({
                "sid": s.id,
                "name": device_name(s.user_agent.as_deref()),
                "client_id": s.client_id,
                "ip": approximate_ip(s.ip.as_deref()),
                "first_used": crate::cli::output::time(s.created_at),
                "last_used": crate::cli::output::time(s.last_used_at),
                "current": s.browser_session.as_deref() == mine,
            })
        })
        .collect();
    let others = sessions
        .iter()
        .any(|s| s.browser_session.as_deref() != mine);
    let min_length = accounts::min_password_length(state, &ctx.tenant).await;
    let mfa_state = async {
        let totp = mfa::has_totp(state, &ctx.tenant, &signed.user.id).await?;
        let left = mfa::recovery_codes_left(state, &ctx.tenant, &signed.user.id).await?;
        Ok::<_, MfaError>((totp, left))
    };
    let (totp, recovery_left) = match mfa_state.await {
        Ok(s) => s,
        Err(e) => return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    let passkeys_available = passkeys::available(state, &ctx.tenant).await;
    let keys = match passkeys::list(state, &ctx.tenant, &signed.user.id).await {
        Ok(keys) => keys,
        Err(e) => return error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    let listed: Vec<_> = keys
        .iter()
        .map(|k| {
            json!({
                "id": k.credential_id,
                "name": k.name,
                "created": crate::cli::output::time(k.created_at),
                "last_used": k.last_used_at.map(crate::cli::output::time),
            })
        })
        .collect();
    // A new passkey needs a fresh sign-in, as every new factor does.
    let ceremony = if passkeys_available && signed.fresh(now) {
        match passkeys::begin_registration(state, &ctx.tenant, &signed.user, &binding).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "could not offer a passkey registration");
                None
            }
        }
    } else {
        None
    };
    let html = pages::render_branded(
        "account.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        json!({
            "tenant_name": ctx.tenant.display_name,
            "css_url": css_url(state),
            "wide": true,
            "csrf_token": token,
            "base": account_url(ctx),
            "username": signed.user.username,
            "display_name": signed.user.display_name.clone().unwrap_or_default(),
            "email": signed.user.email,
            "email_verified": signed.user.email_verified,
            "fresh": signed.fresh(now),
            "strong": signed.strong(),
            "totp": totp,
            "recovery_left": recovery_left,
            "passkeys_available": passkeys_available,
            "passkeys": listed,
            "passkey": ceremony,
            "script_url": crate::http::authorize::script_url(state),
            "devices": devices,
            "others": others,
            "min_length": min_length,
            "notice": notice,
            "error": error,
        }),
    );
    let mut response = pages::page(status, html, None);
    if let Some(cookie) = new_cookie {
        append_cookie(&mut response, cookie);
    }
    response
}

/// The account page again, with what went wrong.
async fn page_with_error(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    signed: &Signed,
    status: StatusCode,
    message: &str,
) -> Response {
    account_page(state, ctx, headers, signed, status, None, Some(message)).await
}

/// `GET {issuer}/account`.
pub async fn show(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let signed = match signed_in(&state, &ctx, &headers).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    match signed {
        Some(signed) if !query.contains_key("reauth") => {
            let done = notice(query.get("done").map(String::as_str));
            account_page(&state, &ctx, &headers, &signed, StatusCode::OK, done, None).await
        }
        Some(signed) => login_page(
            &state,
            &ctx,
            &headers,
            StatusCode::OK,
            &signed.user.username,
            None,
        ),
        None => login_page(&state, &ctx, &headers, StatusCode::OK, "", None),
    }
}

/// `POST {issuer}/account/login`.
pub async fn login(
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
        "account login",
        "This sign-in did not come from the sign-in page. Open your account page and sign in again.",
    ) {
        return refused;
    }
    let username = form.get("username").unwrap_or_default();
    if !csrf::verify(
        &state,
        &ctx.tenant,
        FormPurpose::AccountLogin,
        browser::binding(&state, &headers).as_ref(),
        &[],
        form.get("csrf_token").unwrap_or_default(),
    ) {
        return login_page(
            &state,
            &ctx,
            &headers,
            StatusCode::FORBIDDEN,
            username,
            Some("Your sign-in form expired. Please try again."),
        );
    }
    let Ok(admission) = state.passwords.admit() else {
        return login_page(
            &state,
            &ctx,
            &headers,
            StatusCode::SERVICE_UNAVAILABLE,
            username,
            Some("The server is busy. Please try again in a moment."),
        );
    };
    let password = SecretString::new(form.get("password").unwrap_or_default());
    let user = match authenticate_user(
        &state,
        admission,
        &ctx.tenant,
        ACCOUNT_CLIENT,
        username,
        password,
        &context,
    )
    .await
    {
        Ok(user) => user,
        Err(LoginError::BadCredentials) => {
            return login_page(
                &state,
                &ctx,
                &headers,
                StatusCode::OK,
                username,
                Some("Incorrect username or password."),
            );
        }
        Err(LoginError::Throttled(t)) => {
            let e = AccountError::Throttled(t);
            return login_page(
                &state,
                &ctx,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                username,
                Some(&e.user_message()),
            );
        }
        Err(e) => return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    if user.email.is_some()
        && !user.email_verified
        && accounts::verification_required(&state, &ctx.tenant).await
    {
        return login_page(
            &state,
            &ctx,
            &headers,
            StatusCode::FORBIDDEN,
            username,
            Some("Verify your email address first: sign in to an application to get a new link."),
        );
    }
    let now = state.now();
    // The tenant's policy holds here too: a factor, or setting one up.
    match second_factor::need(&state, &ctx, None, &user.id, Strength::OneFactor).await {
        Ok(Need::Nothing) => {}
        Ok(mode) => {
            let pending = Pending::after_password(&user, now, Next::Account);
            return second_factor::page(
                &state,
                &ctx,
                &headers,
                None,
                &AuthorizeParams::default(),
                &user,
                &pending,
                mode,
                StatusCode::OK,
                None,
            )
            .await;
        }
        Err(e) => return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    }
    let amr = [AMR_PASSWORD.to_owned()];
    let value = match start_browser_session(&state, &ctx.tenant, &user, now, &amr).await {
        Ok(v) => v,
        Err(e) => return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    let mut response = see_other(&format!("{}?done=signed_in", account_url(&ctx)));
    append_cookie(&mut response, session_cookie(&state, &ctx, &value));
    response
}

/// The checks every account form passes: same site, signed in, and a
/// token for this browser and this sign-in.
async fn guard(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    form: &FormPairs,
) -> Result<Signed, Response> {
    if let Some(refused) = browser::refuse_cross_site(
        state,
        ctx,
        headers,
        "account change",
        "This request did not come from your account page. Open it and try again.",
    ) {
        return Err(refused);
    }
    let Some(signed) = signed_in(state, ctx, headers).await? else {
        return Err(see_other(&account_url(ctx)));
    };
    let bound = [("bs", signed.session.id_digest.as_str())];
    if !csrf::verify(
        state,
        &ctx.tenant,
        FormPurpose::Account,
        browser::binding(state, headers).as_ref(),
        &bound,
        form.get("csrf_token").unwrap_or_default(),
    ) {
        return Err(error_page(
            state,
            ctx,
            StatusCode::FORBIDDEN,
            "This form expired or did not come from your account page. Open it and try again.",
        ));
    }
    Ok(signed)
}

fn status_of(e: &AccountError) -> StatusCode {
    match e {
        AccountError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        AccountError::NeedsFreshLogin => StatusCode::FORBIDDEN,
        e if e.is_server_side() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// `POST {issuer}/account/profile`.
pub async fn profile(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let name = match holdfast_core::self_service::parse_person_name(
        form.get("name").unwrap_or_default(),
    ) {
        Ok(name) => name,
        Err(_) => {
            return page_with_error(
                &state,
                &ctx,
                &headers,
                &signed,
                StatusCode::BAD_REQUEST,
                "Names are at most 200 characters, without control characters.",
            )
            .await;
        }
    };
    let event = accounts::account_event(
        &state,
        &ctx.tenant,
        &signed.user.id,
        "profile_changed",
        &context,
    );
    match state
        .store
        .set_display_name(&ctx.tenant.id, &signed.user.id, name.as_deref(), &event)
        .await
    {
        Ok(()) => see_other(&format!("{}?done=profile", account_url(&ctx))),
        Err(e) => error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    }
}

/// `POST {issuer}/account/email`: the new address gets a link and code.
pub async fn email(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // A new address plus a reset is the whole account: only a fresh
    // sign-in may change it.
    if !signed.fresh(state.now()) {
        let e = AccountError::NeedsFreshLogin;
        return page_with_error(
            &state,
            &ctx,
            &headers,
            &signed,
            status_of(&e),
            &e.user_message(),
        )
        .await;
    }
    let new_email = form.get("email").unwrap_or_default();
    match accounts::change_email(
        &state,
        &ctx.tenant,
        &ctx.issuer,
        &signed.user,
        new_email,
        &context,
    )
    .await
    {
        Ok((email, ticket)) => crate::http::accounts::check_email_page(
            &state,
            &ctx,
            &headers,
            StatusCode::OK,
            &email,
            &ticket,
            None,
            None,
        ),
        Err(e) => {
            page_with_error(
                &state,
                &ctx,
                &headers,
                &signed,
                status_of(&e),
                &e.user_message(),
            )
            .await
        }
    }
}

/// `POST {issuer}/account/password`.
pub async fn password(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let current = form.get("current_password").map(SecretString::new);
    let new_password = SecretString::new(form.get("new_password").unwrap_or_default());
    let fresh = signed.fresh(state.now());
    if let Err(e) = accounts::change_password(
        &state,
        &ctx.tenant,
        &signed.user.id,
        current,
        fresh,
        new_password,
        &context,
    )
    .await
    {
        return page_with_error(
            &state,
            &ctx,
            &headers,
            &signed,
            status_of(&e),
            &e.user_message(),
        )
        .await;
    }
    // Every session ended; this browser goes on with a new one.
    // The old browser session is dead already ("not before"); removing its
    // row is tidiness, so a failure is only logged.
    if let Err(e) = state
        .store
        .delete_browser_session(&ctx.tenant.id, &signed.session.id_digest)
        .await
    {
        tracing::warn!(error = %e, "could not remove the replaced browser session");
    }
    let value = match start_browser_session(
        &state,
        &ctx.tenant,
        &signed.user,
        state.now(),
        // A password typed now, not the old session's factors.
        &[AMR_PASSWORD.to_owned()],
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    let mut response = see_other(&format!("{}?done=password", account_url(&ctx)));
    append_cookie(&mut response, session_cookie(&state, &ctx, &value));
    response
}

/// Signs a device out: its session (refresh tokens), and the browser
/// session it was signed in under, unless that is this browser's.
async fn sign_out_device(
    state: &AppState,
    ctx: &TenantContext,
    signed: &Signed,
    session: &holdfast_store::SessionRecord,
    reason: &str,
    context: &crate::service::RequestContext,
) -> Result<(), holdfast_store::StoreError> {
    sign_out(
        state,
        &ctx.tenant,
        &signed.user.id,
        &session.id,
        reason,
        context,
    )
    .await?;
    if let Some(bs) = session.browser_session.as_deref()
        && bs != signed.session.id_digest
    {
        state
            .store
            .delete_browser_session(&ctx.tenant.id, bs)
            .await?;
    }
    Ok(())
}

/// `POST {issuer}/account/sessions/{sid}/revoke`.
pub async fn revoke_one(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    Path((_, sid)): Path<(String, String)>,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let sessions = match crate::service::lookup::live_sessions(
        &state,
        &ctx.tenant.id,
        &signed.user.id,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    // Someone else's session looks exactly like a missing one.
    let Some(session) = sessions.iter().find(|s| s.id == sid) else {
        return page_with_error(
            &state,
            &ctx,
            &headers,
            &signed,
            StatusCode::NOT_FOUND,
            "That device is not signed in any more.",
        )
        .await;
    };
    match sign_out_device(
        &state,
        &ctx,
        &signed,
        session,
        "signed_out_by_user",
        &context,
    )
    .await
    {
        Ok(()) => see_other(&format!("{}?done=device", account_url(&ctx))),
        Err(e) => error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    }
}

/// `POST {issuer}/account/sessions/revoke-others`.
pub async fn revoke_others(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let sessions = match crate::service::lookup::live_sessions(
        &state,
        &ctx.tenant.id,
        &signed.user.id,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    let mine = Some(signed.session.id_digest.as_str());
    for session in sessions
        .iter()
        .filter(|s| s.browser_session.as_deref() != mine)
    {
        if let Err(e) = sign_out_device(
            &state,
            &ctx,
            &signed,
            session,
            "signed_out_other_devices",
            &context,
        )
        .await
        {
            return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e));
        }
    }
    see_other(&format!("{}?done=others", account_url(&ctx)))
}

/// `POST {issuer}/account/delete`: only after a fresh sign-in.
pub async fn delete(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !signed.fresh(state.now()) {
        let e = AccountError::NeedsFreshLogin;
        return page_with_error(
            &state,
            &ctx,
            &headers,
            &signed,
            status_of(&e),
            &e.user_message(),
        )
        .await;
    }
    if form.get("confirm") != Some("yes") {
        return page_with_error(
            &state,
            &ctx,
            &headers,
            &signed,
            StatusCode::BAD_REQUEST,
            "Tick the box to confirm.",
        )
        .await;
    }
    let event = accounts::account_event(
        &state,
        &ctx.tenant,
        &signed.user.id,
        "account_deleted_by_user",
        &context,
    );
    if let Err(e) = state
        .store
        .delete_user(&ctx.tenant.id, &signed.user.id, event.at, &event)
        .await
    {
        return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e));
    }
    let mut response = crate::http::accounts::message(
        &state,
        &ctx,
        StatusCode::OK,
        "Account deleted",
        "Your account was deleted and every device was signed out.",
        None,
    );
    append_cookie(
        &mut response,
        browser::expired(&state, &ctx, session_cookie_name(&state, &ctx)),
    );
    response
}

/// `POST {issuer}/account/logout`: ends this browser's sign-in.
pub async fn logout(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = state
        .store
        .delete_browser_session(&ctx.tenant.id, &signed.session.id_digest)
        .await
    {
        return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e));
    }
    let account = account_url(&ctx);
    let mut response = crate::http::accounts::message(
        &state,
        &ctx,
        StatusCode::OK,
        "Signed out",
        "You are signed out here.",
        Some((&account, "Sign in again")),
    );
    append_cookie(
        &mut response,
        browser::expired(&state, &ctx, session_cookie_name(&state, &ctx)),
    );
    response
}

/// A second-factor change needs a fresh sign-in (and, to change a factor
/// already on, one that used it): the page saying so, or `None`.
async fn refuse_unless_fresh(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    signed: &Signed,
    with_factor: bool,
) -> Option<Response> {
    if signed.fresh(state.now()) && (!with_factor || signed.strong()) {
        return None;
    }
    let e = AccountError::NeedsFreshLogin;
    Some(
        page_with_error(
            state,
            ctx,
            headers,
            signed,
            status_of(&e),
            &e.user_message(),
        )
        .await,
    )
}

/// The enrolment page of the account page: the QR code, the key, and a
/// form for the first code.
fn enrolment_page(
    state: &AppState,
    ctx: &TenantContext,
    token: &str,
    enrolment: &mfa::Enrolment,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let html = pages::render_branded(
        "second_factor.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        json!({
            "tenant_name": ctx.tenant.display_name,
            "css_url": css_url(state),
            "account": true,
            "action": format!("{}/totp/confirm", account_url(ctx)),
            "csrf_token": token,
            "params": [],
            "enrol": second_factor::enrolment_json(enrolment),
            "cancel_url": account_url(ctx),
            "error": error,
        }),
    );
    pages::page(status, html, None)
}

/// `POST {issuer}/account/totp/begin`.
pub async fn totp_begin(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(refused) = refuse_unless_fresh(&state, &ctx, &headers, &signed, false).await {
        return refused;
    }
    match mfa::begin_enrolment(&state, &ctx.tenant, &signed.user).await {
        Ok(enrolment) => enrolment_page(
            &state,
            &ctx,
            form.get("csrf_token").unwrap_or_default(),
            &enrolment,
            StatusCode::OK,
            None,
        ),
        Err(e) => {
            page_with_error(
                &state,
                &ctx,
                &headers,
                &signed,
                second_factor::status_of(&e),
                &e.user_message(),
            )
            .await
        }
    }
}

/// `POST {issuer}/account/totp/confirm`: the first code turns the factor
/// on, raises this browser's session to two factors, and the recovery
/// codes are shown once.
pub async fn totp_confirm(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(refused) = refuse_unless_fresh(&state, &ctx, &headers, &signed, false).await {
        return refused;
    }
    let code = form.get("code").unwrap_or_default();
    let codes =
        match mfa::confirm_enrolment(&state, &ctx.tenant, &signed.user, code, &context).await {
            Ok(codes) => codes,
            Err(e) => {
                // Show the same key again, with what went wrong.
                return match mfa::begin_enrolment(&state, &ctx.tenant, &signed.user).await {
                    Ok(enrolment) => enrolment_page(
                        &state,
                        &ctx,
                        form.get("csrf_token").unwrap_or_default(),
                        &enrolment,
                        second_factor::status_of(&e),
                        Some(&e.user_message()),
                    ),
                    Err(_) => see_other(&account_url(&ctx)),
                };
            }
        };
    let amr =
        holdfast_core::mfa::with_second_factor(&signed.session.amr, holdfast_core::mfa::AMR_OTP);
    if let Err(e) = state
        .store
        // The methods grow; the authentication time does not (a factor
        // set up now is no new sign-in).
        .raise_browser_session(
            &ctx.tenant.id,
            &signed.session.id_digest,
            signed.session.auth_time,
            &amr,
        )
        .await
    {
        tracing::warn!(error = %e, "could not raise the browser session after enrolment");
    }
    second_factor::recovery_codes_page(
        &state,
        &ctx,
        &codes,
        &format!("{}?done=mfa", account_url(&ctx)),
    )
}

/// `POST {issuer}/account/recovery-codes`: new codes, shown once; the old
/// ones stop working.
pub async fn recovery_codes(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(refused) = refuse_unless_fresh(&state, &ctx, &headers, &signed, true).await {
        return refused;
    }
    match mfa::regenerate_recovery_codes(&state, &ctx.tenant, &signed.user, &context).await {
        Ok(codes) => second_factor::recovery_codes_page(&state, &ctx, &codes, &account_url(&ctx)),
        Err(e) => {
            page_with_error(
                &state,
                &ctx,
                &headers,
                &signed,
                second_factor::status_of(&e),
                &e.user_message(),
            )
            .await
        }
    }
}

/// `POST {issuer}/account/totp/remove`: needs a fresh sign-in that used
/// the factor; recorded, and the user is told by mail.
pub async fn totp_remove(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(refused) = refuse_unless_fresh(&state, &ctx, &headers, &signed, true).await {
        return refused;
    }
    match mfa::remove_totp(&state, &ctx.tenant, &signed.user, &context).await {
        Ok(()) => see_other(&format!("{}?done=mfa_removed", account_url(&ctx))),
        Err(e) => {
            page_with_error(
                &state,
                &ctx,
                &headers,
                &signed,
                second_factor::status_of(&e),
                &e.user_message(),
            )
            .await
        }
    }
}

/// After a passkey change: the account page with `?done=` on success,
/// else again with what went wrong.
async fn passkey_changed(
    state: &AppState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    signed: &Signed,
    result: Result<(), PasskeyError>,
    done: &str,
) -> Response {
    match result {
        Ok(()) => see_other(&format!("{}?done={done}", account_url(ctx))),
        Err(e) => {
            let status = if e.is_server_side() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            page_with_error(state, ctx, headers, signed, status, &e.user_message()).await
        }
    }
}

/// `POST {issuer}/account/passkeys/add`: the browser's answer to the
/// registration the page offered (fresh sign-in only); recorded, and the
/// user is told by mail.
pub async fn passkey_add(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // A new passkey signs in alone, as two factors: where the account has
    // a factor already, adding one needs a fresh sign-in that used it.
    let has_factor = match mfa::need(
        &state,
        &ctx.tenant,
        &signed.user.id,
        Strength::OneFactor,
        false,
    )
    .await
    {
        Ok(need) => need == Need::Code,
        Err(e) => return error_page(&state, &ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(e)),
    };
    if let Some(refused) = refuse_unless_fresh(&state, &ctx, &headers, &signed, has_factor).await {
        return refused;
    }
    let added = passkeys::finish_registration(
        &state,
        &ctx.tenant,
        &signed.user,
        browser::binding(&state, &headers).as_ref(),
        form.get("name").unwrap_or_default(),
        form.get("passkey_credential").unwrap_or_default(),
        form.get("passkey_state").unwrap_or_default(),
        &context,
    )
    .await;
    passkey_changed(
        &state,
        &ctx,
        &headers,
        &signed,
        added.map(|_| ()),
        "passkey",
    )
    .await
}

/// `POST {issuer}/account/passkeys/rename`.
pub async fn passkey_rename(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let renamed = passkeys::rename(
        &state,
        &ctx.tenant,
        &signed.user,
        form.get("credential_id").unwrap_or_default(),
        form.get("name").unwrap_or_default(),
    )
    .await;
    passkey_changed(
        &state,
        &ctx,
        &headers,
        &signed,
        renamed.map(|_| ()),
        "passkey_renamed",
    )
    .await
}

/// `POST {issuer}/account/passkeys/remove`: needs a fresh sign-in that
/// used a second factor; recorded, and the user is told by mail.
pub async fn passkey_remove(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormPairs,
) -> Response {
    let signed = match guard(&state, &ctx, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(refused) = refuse_unless_fresh(&state, &ctx, &headers, &signed, true).await {
        return refused;
    }
    let removed = passkeys::remove(
        &state,
        &ctx.tenant,
        &signed.user,
        form.get("credential_id").unwrap_or_default(),
        &context,
    )
    .await;
    passkey_changed(
        &state,
        &ctx,
        &headers,
        &signed,
        removed.map(|_| ()),
        "passkey_removed",
    )
    .await
}
