//! The device authorization grant's endpoints,
//! [RFC 8628](https://www.rfc-editor.org/rfc/rfc8628) (the flow is
//! described in `service::device`; the poll is the token endpoint's).
//!
//! | route | what |
//! |---|---|
//! | `POST {issuer}/device_authorization` | §3.1–3.2: a device asks for its codes (JSON, client authentication as at the token endpoint) |
//! | `GET {issuer}/device` | §3.3: the verification page; with `?user_code=` (§3.3.1 `verification_uri_complete`), the approval |
//! | `POST {issuer}/device` | approve or deny (same-origin, CSRF token bound to the browser and the code); approving sets the `holdfast_device` cookie that marks the approving browser |
//! | `GET {issuer}/device/callback` | where the hosted login returns; leaves the code for the device's next poll |

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::SameSite;
use holdfast_core::device::UserCode;
use serde_json::json;
use std::collections::HashMap;

use crate::http::accounts::message;
use crate::http::authorize::{css_url, error_page, internal};
use crate::http::browser::{self, append_cookie};
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::form::{FormPairs, FormParams};
use crate::http::tenant::TenantContext;
use crate::pages;
use crate::service::client_auth::authenticate;
use crate::service::csrf::{self, FormPurpose};
use crate::service::device::{self, Approval, Completion};
use crate::service::throttle::{self, ThrottleError};
use crate::service::token::TokenRequest;
use crate::state::AppState;

/// `POST {issuer}/device_authorization` (RFC 8628 §3.1): "The client
/// makes a device authorization request ... using the
/// application/x-www-form-urlencoded format"; answered per §3.2, errors
/// per RFC 6749 §5.2.
pub async fn authorization(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    form: FormParams,
) -> Result<Response, ApiError> {
    let credentials = crate::http::token::credentials(&headers, &form)?;
    let request = TokenRequest {
        params: form.0,
        credentials,
        context,
        dpop: Vec::new(),
    };
    let client = authenticate(&state, &ctx.tenant, &request.credentials, &request.context).await?;
    let answer = device::start(&state, &ctx.tenant, &ctx.issuer, &client, &request).await?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(answer),
    )
        .into_response())
}

/// `GET {issuer}/device`: the code entry form, or, with a `user_code` of
/// an open request, what asks and the buttons to approve or deny.
pub async fn page(
    State(state): State<AppState>,
    ctx: TenantContext,
    Caller(context): Caller,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let typed = query.get("user_code").map(String::as_str).unwrap_or("");
    if typed.is_empty() {
        return entry(&state, &ctx, StatusCode::OK, "", None);
    }
    let (record, client) = match open_request(&state, &ctx, typed, &context).await {
        Ok(open) => open,
        Err(refused) => return refused,
    };
    let Ok((binding, new_cookie)) = browser::binding_or_new(&state, &ctx, &headers) else {
        return unavailable(&state, &ctx, "no randomness");
    };
    let code = UserCode::parse(&record.user_code).map(|c| c.display());
    let token = csrf::token(
        &state,
        &ctx.tenant,
        FormPurpose::Device,
        &binding,
        &[("user_code", &record.user_code)],
    );
    let mut response = render(
        &state,
        &ctx,
        StatusCode::OK,
        json!({
            "client_name": client.display_name.as_deref().unwrap_or(&client.client_id),
            "user_code": code.as_deref().unwrap_or(&record.user_code),
            "csrf_token": token,
        }),
    );
    if let Some(cookie) = new_cookie {
        append_cookie(&mut response, cookie);
    }
    response
}

/// `POST {issuer}/device`: the approval form.
pub async fn decide(
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
        "device approval",
        "This approval did not come from the device sign-in page. Nothing was approved.",
    ) {
        return refused;
    }
    let typed = form.get("user_code").unwrap_or_default();
    let record = match open_request(&state, &ctx, typed, &context).await {
        Ok((record, _client)) => record,
        Err(refused) => return refused,
    };
    let binding = browser::binding(&state, &headers);
    if !csrf::verify(
        &state,
        &ctx.tenant,
        FormPurpose::Device,
        binding.as_ref(),
        &[("user_code", &record.user_code)],
        form.get("csrf_token").unwrap_or_default(),
    ) {
        return error_page(
            &state,
            &ctx,
            StatusCode::FORBIDDEN,
            "This page expired or did not come from this browser. Nothing was approved.",
        );
    }
    match form.get("decision") {
        Some("approve") => {
            let held = browser::device_binding(&state, &ctx, &headers);
            match device::approve(&state, &ctx.tenant, &ctx.issuer, &record, held.as_ref()).await {
                Ok(Approval::SignIn { login, binding }) => {
                    let mut response = Redirect::to(login.as_str()).into_response();
                    if let Some(binding) = binding {
                        append_cookie(
                            &mut response,
                            browser::cookie(
                                &state,
                                &ctx,
                                browser::device_cookie_name(&state, &ctx),
                                binding.value().to_owned(),
                                SameSite::Lax,
                                Some(holdfast_core::device::LIFETIME_SECS),
                            ),
                        );
                    }
                    response
                }
                Ok(Approval::Taken) => taken(&state, &ctx, typed),
                Err(e) => unavailable(&state, &ctx, e),
            }
        }
        Some("deny") => match device::deny(
            &state,
            &record,
            browser::device_binding(&state, &ctx, &headers).as_ref(),
        )
        .await
        {
            Ok(true) => message(
                &state,
                &ctx,
                StatusCode::OK,
                "Device not signed in",
                "You denied the sign-in. The device will not get access.",
                None,
            ),
            Ok(false) => taken(&state, &ctx, typed),
            Err(e) => unavailable(&state, &ctx, e),
        },
        _ => error_page(
            &state,
            &ctx,
            StatusCode::BAD_REQUEST,
            "Choose Continue or Deny.",
        ),
    }
}

/// `GET {issuer}/device/callback`: the hosted login's answer (RFC 6749
/// §4.1.2 / §4.1.2.1) for a device request.
pub async fn callback(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(request_id) = query.get("state") else {
        return error_page(
            &state,
            &ctx,
            StatusCode::BAD_REQUEST,
            "This page is only reached from a device sign-in.",
        );
    };
    let code = query.get("code").map(String::as_str);
    let binding = browser::device_binding(&state, &ctx, &headers);
    let completion =
        device::complete(&state, &ctx.tenant, request_id, binding.as_ref(), code).await;
    // The approval cookie has served once the request is decided (not
    // before: a stray link to this page must not end an approval).
    let decided = matches!(completion, Ok(Completion::Done | Completion::Failed));
    let mut response = match completion {
        Ok(Completion::Done) => message(
            &state,
            &ctx,
            StatusCode::OK,
            "Device signed in",
            "You are signed in on your device. You can close this page.",
            None,
        ),
        Ok(Completion::Failed) => message(
            &state,
            &ctx,
            StatusCode::OK,
            "Device not signed in",
            "The sign-in did not finish, so the device gets no access. Start again on the device.",
            None,
        ),
        Ok(Completion::NotThisBrowser) => error_page(
            &state,
            &ctx,
            StatusCode::BAD_REQUEST,
            "This device sign-in did not start in this browser, or it expired. Start again on the device.",
        ),
        Err(e) => unavailable(&state, &ctx, e),
    };
    if decided {
        append_cookie(
            &mut response,
            browser::expired(&state, &ctx, browser::device_cookie_name(&state, &ctx)),
        );
    }
    response
}

/// The open request whose user code is `typed`, after counting the try
/// (RFC 8628 §5.1: "the authorization server should rate-limit user code
/// attempts"): per code and address, per code, per address
/// (`holdfast_core::device::THROTTLE`); too many is a 429 page, and a
/// code with no open request the entry form again (404).
async fn open_request(
    state: &AppState,
    ctx: &TenantContext,
    typed: &str,
    context: &crate::service::RequestContext,
) -> Result<
    (
        holdfast_store::DeviceAuthorizationRecord,
        holdfast_core::client::Client,
    ),
    Response,
> {
    // One subject per code however it was typed (case, hyphen, spaces);
    // what is no code at all counts against the address alone.
    let code = UserCode::parse(typed);
    let limits = holdfast_core::device::THROTTLE;
    let counted = throttle::before_request(
        state,
        &ctx.tenant,
        "device_user_code",
        code.as_ref().map(UserCode::as_str),
        context,
        &limits,
        "device",
    )
    .await;
    match counted {
        Ok(()) => {}
        Err(ThrottleError::Throttled(_)) => {
            return Err(error_page(
                state,
                ctx,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many tries. Wait a few minutes, then enter the code your device shows.",
            ));
        }
        Err(ThrottleError::Store(e)) => return Err(unavailable(state, ctx, e)),
    }
    let opened = match &code {
        Some(code) => device::open_request(state, &ctx.tenant, code).await,
        None => Ok(None),
    };
    match opened {
        Ok(Some(open)) => Ok(open),
        Ok(None) => Err(entry(
            state,
            ctx,
            StatusCode::NOT_FOUND,
            typed,
            Some("That code is not valid, or it expired. Check the code on your device."),
        )),
        Err(e) => Err(unavailable(state, ctx, e)),
    }
}

/// Another browser approved this request first, or it moved on.
fn taken(state: &AppState, ctx: &TenantContext, typed: &str) -> Response {
    entry(
        state,
        ctx,
        StatusCode::CONFLICT,
        typed,
        Some(
            "This code was already used in another browser. Start again on your device if that was not you.",
        ),
    )
}

fn entry(
    state: &AppState,
    ctx: &TenantContext,
    status: StatusCode,
    typed: &str,
    error: Option<&str>,
) -> Response {
    render(
        state,
        ctx,
        status,
        json!({
            "typed": typed.chars().take(32).collect::<String>(),
            "error": error,
        }),
    )
}

/// `device.html` with `fields` (the entry form's, or the approval's) and
/// what every state of the page shows.
fn render(
    state: &AppState,
    ctx: &TenantContext,
    status: StatusCode,
    mut fields: serde_json::Value,
) -> Response {
    fields["tenant_name"] = json!(ctx.tenant.display_name);
    fields["css_url"] = json!(css_url(state));
    fields["action"] = json!(device::verification_url(&ctx.issuer));
    let html = pages::render_branded(
        "device.html",
        &pages::Brand::of(&ctx.tenant, &ctx.issuer),
        fields,
    );
    pages::page(status, html, None)
}

fn unavailable(state: &AppState, ctx: &TenantContext, err: impl std::fmt::Display) -> Response {
    error_page(state, ctx, StatusCode::SERVICE_UNAVAILABLE, &internal(err))
}
