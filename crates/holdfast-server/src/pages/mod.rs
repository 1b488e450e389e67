//! Hosted pages: server-rendered HTML that works without JavaScript.
//!
//! Templates are minijinja with auto-escaping (on for `.html`). Every page
//! carries a strict Content-Security-Policy (no inline script; only the
//! server's own [`SCRIPT`], which passkeys need), refuses
//! framing (`frame-ancestors 'none'`, `X-Frame-Options: DENY`, against
//! clickjacking: RFC 9700 §4.16) and sends no referrer to other origins
//! (`Referrer-Policy: same-origin`: with `no-referrer` a browser sends
//! `Origin: null` on the page's own form posts, which the cross-site check
//! of `http::browser` must refuse).

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

/// The stylesheet, served at `/assets/holdfast.css`.
pub const STYLESHEET: &str = include_str!("holdfast.css");
/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/assets/holdfast.css";
/// The hosted pages' one script: passkey ceremonies (WebAuthn), served at
/// [`SCRIPT_PATH`]. Every page works without it, except passkeys.
pub const SCRIPT: &str = include_str!("passkeys.js");
/// Where the script is served.
pub const SCRIPT_PATH: &str = "/assets/passkeys.js";

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // The templates are compiled into the binary; a syntax error is
        // caught by the render tests, so failing to add one is a bug.
        for (name, source) in [
            ("login.html", include_str!("templates/login.html")),
            ("error.html", include_str!("templates/error.html")),
            ("signed_out.html", include_str!("templates/signed_out.html")),
            ("logout.html", include_str!("templates/logout.html")),
            ("base.html", include_str!("templates/base.html")),
            (
                "passkey_get.html",
                include_str!("templates/passkey_get.html"),
            ),
            ("signup.html", include_str!("templates/signup.html")),
            (
                "check_email.html",
                include_str!("templates/check_email.html"),
            ),
            (
                "forgot_password.html",
                include_str!("templates/forgot_password.html"),
            ),
            (
                "reset_password.html",
                include_str!("templates/reset_password.html"),
            ),
            ("message.html", include_str!("templates/message.html")),
            ("device.html", include_str!("templates/device.html")),
            ("account.html", include_str!("templates/account.html")),
            (
                "second_factor.html",
                include_str!("templates/second_factor.html"),
            ),
            (
                "recovery_codes.html",
                include_str!("templates/recovery_codes.html"),
            ),
            (
                "mail/account.txt",
                include_str!("templates/mail/account.txt"),
            ),
            (
                "mail/account.html",
                include_str!("templates/mail/account.html"),
            ),
            (
                "mail/password_changed.txt",
                include_str!("templates/mail/password_changed.txt"),
            ),
            (
                "mail/password_changed.html",
                include_str!("templates/mail/password_changed.html"),
            ),
        ] {
            if let Err(err) = env.add_template(name, source) {
                tracing::error!(template = name, error = %err, "template does not compile");
            }
        }
        env
    })
}

/// Renders a template; a rendering failure becomes a plain 500 page.
/// Pages outside any tenant (and mails) show no [`Brand`].
pub fn render<T: Serialize>(name: &str, context: T) -> Result<String, minijinja::Error> {
    render_branded(name, &Brand::default(), context)
}

/// Where a tenant's accent stylesheet is served, under its issuer.
pub const BRAND_STYLESHEET: &str = "branding.css";

/// What every hosted page of a tenant shows of its branding (see
/// `base.html`): the logo, the support link and, when the tenant set an
/// accent colour, a second stylesheet that sets it (a stylesheet, not an
/// inline style, so the pages' CSP keeps `style-src 'self'`).
#[derive(Debug, Default, Serialize)]
pub struct Brand<'a> {
    /// The logo's URL.
    pub logo_url: Option<&'a str>,
    /// Where "Need help?" leads.
    pub support_url: Option<&'a str>,
    /// The accent stylesheet's URL; its query changes with the colour, so
    /// a cached copy never shows an old one.
    pub css_url: Option<String>,
}

impl<'a> Brand<'a> {
    /// The branding of `tenant`, whose issuer is `issuer`.
    pub fn of(tenant: &'a holdfast_core::tenant::Tenant, issuer: &url::Url) -> Self {
        let b = &tenant.branding;
        Self {
            logo_url: b.logo_url.as_deref(),
            support_url: b.support_url.as_deref(),
            css_url: b.accent_color.as_deref().map(|colour| {
                format!(
                    "{}/{BRAND_STYLESHEET}?v={}",
                    issuer.as_str().trim_end_matches('/'),
                    colour.trim_start_matches('#')
                )
            }),
        }
    }
}

/// The accent stylesheet for `colour` (checked `#rrggbb`, see
/// `holdfast_core::tenant::parse_accent_color`).
pub fn brand_stylesheet(colour: &str) -> String {
    format!(":root {{ --accent: {colour}; }}\n")
}

/// Renders a hosted page of a tenant: `context` plus its [`Brand`] as
/// `brand`.
pub fn render_branded<T: Serialize>(
    name: &str,
    brand: &Brand<'_>,
    context: T,
) -> Result<String, minijinja::Error> {
    use minijinja::value::{Serde, Value};
    env().get_template(name)?.render(minijinja::context! {
        brand => Value::from(Serde(brand)),
        ..Value::from(Serde(&context))
    })
}

/// The values the login page shows.
#[derive(Debug, Serialize)]
pub struct LoginPage<'a> {
    /// Tenant display name.
    pub tenant_name: &'a str,
    /// The client's name for people (its display name, or its `client_id`).
    pub client_name: &'a str,
    /// Form action URL.
    pub action: &'a str,
    /// CSRF token (also in a cookie).
    pub csrf_token: &'a str,
    /// The authorization request, carried through the form.
    pub params: Vec<(&'a str, &'a str)>,
    /// Pre-filled username.
    pub username: &'a str,
    /// Error message to show.
    pub error: Option<&'a str>,
    /// A notice to show (not an error).
    pub notice: Option<&'a str>,
    /// Where "Forgot password?" leads, if shown.
    pub forgot_url: Option<&'a str>,
    /// Where "Create account" leads, if registration is open.
    pub signup_url: Option<&'a str>,
    /// Stylesheet URL.
    pub css_url: &'a str,
    /// A passwordless passkey sign-in, where the tenant offers passkeys.
    pub passkey: Option<&'a crate::service::passkeys::Ceremony>,
    /// The passkey script's URL.
    pub script_url: &'a str,
}

/// The values the logout confirmation page shows.
#[derive(Debug, Serialize)]
pub struct LogoutPage<'a> {
    /// Tenant display name.
    pub tenant_name: &'a str,
    /// The client that asked, if the request names one.
    pub client_id: Option<&'a str>,
    /// Form action URL.
    pub action: &'a str,
    /// CSRF token (bound to the browser's binding cookie).
    pub csrf_token: &'a str,
    /// The logout request, carried through the form.
    pub params: Vec<(&'a str, &'a str)>,
    /// Stylesheet URL.
    pub css_url: &'a str,
}

/// The values the error page shows.
#[derive(Debug, Serialize)]
pub struct ErrorPage<'a> {
    /// Tenant display name.
    pub tenant_name: &'a str,
    /// What went wrong, for the user.
    pub message: &'a str,
    /// Stylesheet URL.
    pub css_url: &'a str,
}

/// An HTML response with the security headers every page carries.
/// `form_target` is the origin a form on the page may end up at (the
/// client's redirect URI, since `form-action` also governs the redirect
/// that follows a form submission).
pub fn page(
    status: StatusCode,
    html: Result<String, minijinja::Error>,
    form_target: Option<&str>,
) -> Response {
    let (status, body) = match html {
        Ok(body) => (status, body),
        Err(err) => {
            tracing::error!(error = %err, "page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned(),
            )
        }
    };
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https:; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_and_escapes() {
        let login = render(
            "login.html",
            LoginPage {
                tenant_name: "<Acme>",
                client_name: "web",
                action: "/t/acme/login",
                csrf_token: "tok",
                params: vec![("state", "\"><script>")],
                username: "",
                error: Some("Incorrect username or password."),
                notice: None,
                forgot_url: Some("/t/acme/forgot-password?a=1&b=2"),
                signup_url: None,
                css_url: STYLESHEET_PATH,
                passkey: None,
                script_url: SCRIPT_PATH,
            },
        )
        .unwrap();
        assert!(login.contains("Forgot password?") && !login.contains("Create account"));
        assert!(login.contains("forgot-password?a=1&amp;b=2"));
        assert!(login.contains("&lt;Acme&gt;"));
        assert!(!login.contains("<script>"));
        assert!(login.contains(r#"<label for="username">"#));
        assert!(login.contains(r#"name="password""#));
        let error = render(
            "error.html",
            ErrorPage {
                tenant_name: "Acme",
                message: "bad",
                css_url: STYLESHEET_PATH,
            },
        )
        .unwrap();
        assert!(error.contains("bad"));
        let out = render(
            "signed_out.html",
            ErrorPage {
                tenant_name: "Acme",
                message: "",
                css_url: STYLESHEET_PATH,
            },
        )
        .unwrap();
        assert!(out.contains("signed out"));
        let confirm = render(
            "logout.html",
            LogoutPage {
                tenant_name: "Acme",
                client_id: Some("web"),
                action: "/t/acme/end-session/confirm",
                csrf_token: "tok",
                params: vec![("state", "\"><script>")],
                css_url: STYLESHEET_PATH,
            },
        )
        .unwrap();
        assert!(confirm.contains(r#"name="csrf_token""#));
        assert!(!confirm.contains("<script>"));
    }

    #[test]
    fn the_account_pages_render_and_escape() {
        let common = |extra: serde_json::Value| {
            let mut v = serde_json::json!({
                "tenant_name": "<Acme>", "css_url": STYLESHEET_PATH, "csrf_token": "tok",
                "action": "/t/acme/x", "params": [["state", "\"><script>"]],
                "min_length": 8, "email": "a@example.com", "ticket": "tk",
                "title": "Done", "message": "It worked", "token": "hfpr_x",
                "username": "ada", "base": "/t/acme/account", "login_url": "/t/acme/authorize",
            });
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        for name in [
            "signup.html",
            "check_email.html",
            "forgot_password.html",
            "reset_password.html",
            "message.html",
            "account.html",
            "second_factor.html",
            "recovery_codes.html",
        ] {
            let html = render(name, common(serde_json::json!({}))).unwrap();
            assert!(html.contains("&lt;Acme&gt;"), "{name}");
            assert!(!html.contains("<script>"), "{name}");
        }
        let account = render(
            "account.html",
            common(serde_json::json!({
                "fresh": false,
                "devices": [{"sid": "s1", "name": "Chrome on Linux", "current": true, "client_id": "web",
                             "ip": "203.0.113.x", "first_used": "t0", "last_used": "t1"},
                            {"sid": "s2", "name": "Safari on iPhone", "current": false, "client_id": "web",
                             "ip": null, "first_used": "t0", "last_used": "t1"}],
                "others": true,
            })),
        )
        .unwrap();
        assert!(account.contains("this device"));
        assert!(account.contains("account/sessions/s2/revoke"));
        assert!(!account.contains("account/sessions/s1/revoke"));
        assert!(
            account.contains("current_password"),
            "not fresh: current password asked"
        );
        assert!(account.contains("?reauth=1"));
        // The enrolment page: the QR code's SVG as markup (it is ours),
        // everything else escaped.
        let enrol = render(
            "second_factor.html",
            common(serde_json::json!({
                "enrol": {"qr_svg": "<svg viewBox=\"0 0 1 1\"></svg>",
                          "secret": "<b>KEY</b>", "uri": "otpauth://totp/A:b?secret=X&issuer=A"},
            })),
        )
        .unwrap();
        assert!(enrol.contains("<svg viewBox"));
        assert!(enrol.contains("&lt;b&gt;KEY") && !enrol.contains("<b>KEY"));
        assert!(enrol.contains("secret=X&amp;issuer=A"));
        let codes = render(
            "recovery_codes.html",
            common(
                serde_json::json!({"codes": ["abcde-fghjk"], "continue_url": "/t/acme/account"}),
            ),
        )
        .unwrap();
        assert!(codes.contains("<li><code>abcde-fghjk</code></li>"));
        let mail = render(
            "mail/account.txt",
            serde_json::json!({"tenant_name": "Acme", "mail": {
                "greeting_name": "Ada", "paragraphs": ["One"], "link": "https://x/?token=a&b",
                "link_label": "Go", "code": "123456", "footer": "Bye", "subject": "S"}}),
        )
        .unwrap();
        assert!(
            mail.contains("https://x/?token=a&b"),
            "text mail is not escaped: {mail}"
        );
        assert!(mail.contains("123456"));
    }
}
