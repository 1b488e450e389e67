//! Helpers shared by the sign-in and token tests (`code_flow.rs`,
//! `first_party.rs`, `token_errors.rs`, `sso.rs`): a browser-like client
//! with a cookie jar (cookies honour their `Path`, and a `Max-Age=0` cookie
//! is deleted), the hosted login form read from its HTML, PKCE pairs made
//! by the independent `openidconnect`/`oauth2` crates, token requests, and
//! JWT segment decoding. Nothing here asserts behaviour of the server
//! beyond what a helper needs to continue; the tests do the checking.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_core::client::{Client, ClientKind, NewClient};
use holdfast_core::tenant::Tenant;
use holdfast_testkit::TestServer;
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::Value;
use url::Url;

pub mod mail_world;

/// The redirect URI every test client registers. Nothing listens there:
/// the tests read the `Location` header and never follow it.
pub const REDIRECT_URI: &str = "https://app.example.com/cb";
/// The test user's name.
pub const USERNAME: &str = "alice";
/// The test user's password (the policy wants at least 8 characters).
pub const PASSWORD: &str = "correct horse battery";

/// A tenant with one public client (`web`, redirect [`REDIRECT_URI`],
/// default grants and scopes) and one user ([`USERNAME`]/[`PASSWORD`]).
pub struct Fixture {
    /// The tenant.
    pub tenant: Tenant,
    /// Its issuer, `{base}/t/{slug}`.
    pub issuer: String,
    /// The public client.
    pub client: Client,
    /// The user's id (the `sub` of their tokens).
    pub user_id: String,
}

impl Fixture {
    /// `{issuer}{path}`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// Creates the standard fixture in a fresh tenant `slug`.
pub async fn fixture(server: &TestServer, slug: &str) -> Fixture {
    let tenant = server.tenant(slug).await;
    fixture_in(server, tenant).await
}

/// Creates the standard client and user in an existing tenant.
pub async fn fixture_in(server: &TestServer, tenant: Tenant) -> Fixture {
    let client = public_client(server, &tenant, "web").await;
    let user = server.user(&tenant, USERNAME, PASSWORD).await;
    Fixture {
        issuer: server.issuer(tenant.slug.as_str()),
        tenant,
        client,
        user_id: user.id,
    }
}

/// Registers a public client with [`REDIRECT_URI`] and default policy.
pub async fn public_client(server: &TestServer, tenant: &Tenant, client_id: &str) -> Client {
    let mut new = NewClient::new(client_id, ClientKind::Public);
    new.redirect_uris = vec![REDIRECT_URI.to_owned()];
    server.client(tenant, new).await.0
}

/// A PKCE S256 pair, made by the `oauth2` crate (not by Holdfast's code).
pub struct Pkce {
    /// `code_challenge`.
    pub challenge: String,
    /// `code_verifier`.
    pub verifier: String,
}

/// A fresh PKCE pair.
pub fn pkce() -> Pkce {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    Pkce {
        challenge: challenge.as_str().to_owned(),
        verifier: verifier.secret().to_owned(),
    }
}

/// The parameters of an ordinary code request by `client_id`: `openid
/// profile`, the given state, a nonce and an S256 challenge.
pub fn code_request(client_id: &str, pkce: &Pkce, state: &str) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile"),
        ("state", state),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Replaces (or adds) `name` in `params`; an empty `value` removes it.
pub fn with(mut params: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    params.retain(|(k, _)| k != name);
    if !value.is_empty() {
        params.push((name.to_owned(), value.to_owned()));
    }
    params
}

/// `{issuer}/authorize?{params}`.
pub fn authorize_url(issuer: &str, params: &[(String, String)]) -> String {
    let mut url = Url::parse(&format!("{issuer}/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// One query parameter of `url`.
pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A cookie the [`Browser`] holds.
#[derive(Debug, Clone)]
struct StoredCookie {
    name: String,
    value: String,
    path: String,
}

/// A browser stand-in: no redirects followed, cookies kept per path.
pub struct Browser {
    http: reqwest::Client,
    jar: Vec<StoredCookie>,
}

/// What the server answered, read in full.
#[derive(Debug)]
pub struct Page {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Page {
    /// The `Location` header as a URL, if any.
    pub fn location(&self) -> Option<Url> {
        let raw = self.headers.get(header::LOCATION)?.to_str().ok()?;
        Url::parse(raw).ok()
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Set-Cookie` header that sets `name`, in full (with attributes).
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| {
                cookie::Cookie::parse(v.to_string())
                    .is_ok_and(|c| c.name() == name && !c.value().is_empty())
            })
            .map(str::to_owned)
    }

    /// The hosted login form on this page, if there is one.
    pub fn login_form(&self) -> Option<LoginForm> {
        LoginForm::parse(&self.body)
    }
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Vec::new(),
        }
    }

    /// The value of cookie `name`, if the jar holds it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value.as_str())
    }

    /// `GET url`.
    pub async fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(url);
        self.send(url, request).await
    }

    /// `POST url` with a form body.
    pub async fn post_form(&mut self, url: &str, pairs: &[(String, String)]) -> Page {
        let request = self.http.post(url).form(pairs);
        self.send(url, request).await
    }

    async fn send(&mut self, url: &str, mut request: reqwest::RequestBuilder) -> Page {
        let path = Url::parse(url).unwrap().path().to_owned();
        let cookies: Vec<String> = self
            .jar
            .iter()
            .filter(|c| path_matches(&path, &c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for value in headers.get_all(header::SET_COOKIE) {
            let Ok(parsed) = cookie::Cookie::parse(value.to_str().unwrap().to_owned()) else {
                continue;
            };
            let cookie_path = parsed.path().unwrap_or("/").to_owned();
            self.jar
                .retain(|c| !(c.name == parsed.name() && c.path == cookie_path));
            let expired = parsed.max_age().is_some_and(|age| age.is_zero());
            if !expired && !parsed.value().is_empty() {
                self.jar.push(StoredCookie {
                    name: parsed.name().to_owned(),
                    value: parsed.value().to_owned(),
                    path: cookie_path,
                });
            }
        }
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    /// Opens the login page at `authorize`, fills in the credentials and
    /// submits the form as it stands (CSRF token and carried parameters
    /// included). Returns the answer to the submission.
    pub async fn sign_in(&mut self, authorize: &str, username: &str, password: &str) -> Page {
        let page = self.get(authorize).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "expected the login page: {}",
            page.body
        );
        let form = page.login_form().expect("the page has a login form");
        self.submit(&form, username, password).await
    }

    /// Submits `form` with the credentials.
    pub async fn submit(&mut self, form: &LoginForm, username: &str, password: &str) -> Page {
        self.submit_with(form, username, password, &[]).await
    }

    /// Submits `form` with the credentials and extra request headers (what
    /// a browser adds: `Origin`, `Sec-Fetch-Site`).
    pub async fn submit_with(
        &mut self,
        form: &LoginForm,
        username: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> Page {
        let mut fields = form.hidden.clone();
        fields.push(("username".to_owned(), username.to_owned()));
        fields.push(("password".to_owned(), password.to_owned()));
        self.post_form_with(&form.action, &fields, headers).await
    }

    /// `POST url` with a form body and extra request headers.
    pub async fn post_form_with(
        &mut self,
        url: &str,
        pairs: &[(String, String)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self.http.post(url).form(pairs);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(url, request).await
    }

    /// Puts a cookie in the jar as if someone else had set it (an attacker
    /// planting one from a sibling domain).
    pub fn plant(&mut self, name: &str, value: &str, path: &str) {
        self.jar.retain(|c| !(c.name == name && c.path == path));
        self.jar.push(StoredCookie {
            name: name.to_owned(),
            value: value.to_owned(),
            path: path.to_owned(),
        });
    }
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path[cookie_path.len()..].starts_with('/')))
}

/// The hosted login form, as a browser would submit it.
#[derive(Debug, Clone)]
pub struct LoginForm {
    /// The form's `action`.
    pub action: String,
    /// The form's `method`.
    pub method: String,
    /// Hidden inputs, in order (the CSRF token and the carried request).
    pub hidden: Vec<(String, String)>,
    /// Names of the visible inputs.
    pub visible: Vec<String>,
    /// The `for` attributes of the `<label>`s.
    pub labels: Vec<String>,
}

impl LoginForm {
    /// Reads the first `<form>` of `html`.
    pub fn parse(html: &str) -> Option<Self> {
        let start = html.find("<form")?;
        let end = start + html[start..].find("</form>")?;
        let form_html = &html[start..end];
        let form_tag = tags(form_html, "form").into_iter().next()?;
        let mut hidden = Vec::new();
        let mut visible = Vec::new();
        for input in tags(form_html, "input") {
            let name = attr(&input, "name").unwrap_or_default();
            if attr(&input, "type").as_deref() == Some("hidden") {
                hidden.push((name, attr(&input, "value").unwrap_or_default()));
            } else {
                visible.push(name);
            }
        }
        let labels = tags(form_html, "label")
            .iter()
            .filter_map(|l| attr(l, "for"))
            .collect();
        Some(Self {
            action: attr(&form_tag, "action")?,
            method: attr(&form_tag, "method").unwrap_or_default(),
            hidden,
            visible,
            labels,
        })
    }

    /// A hidden field's value.
    pub fn hidden(&self, name: &str) -> Option<&str> {
        self.hidden
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The attribute lists of every `<tag ...>` in `html`.
fn tags(html: &str, tag: &str) -> Vec<Vec<(String, String)>> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        if !rest.starts_with(|c: char| c.is_whitespace() || c == '>') {
            continue;
        }
        let Some(close) = rest.find('>') else { break };
        out.push(attributes(&rest[..close]));
        rest = &rest[close..];
    }
    out
}

/// `name="value"` and bare `name` attributes, values entity-decoded.
fn attributes(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if s.is_empty() {
            return out;
        }
        let name_end = s
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        s = &s[name_end..];
        if let Some(after) = s.strip_prefix('=') {
            let (value, rest) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &after[1..];
                    let end = body.find(q).unwrap_or(body.len());
                    (&body[..end], body.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            out.push((name, decode_entities(value)));
            s = rest;
        } else {
            out.push((name, String::new()));
        }
    }
}

fn attr(attrs: &[(String, String)], name: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// Decodes the named entities an HTML escaper emits and numeric ones.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A JSON API answer.
#[derive(Debug)]
pub struct Json {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body, parsed (`Value::Null` when the body is not JSON).
    pub body: Value,
    /// Body as text.
    pub text: String,
}

impl Json {
    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A string member of the body.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }

    /// The body's `error`, after checking the RFC 6749 §5.2 error shape
    /// every error response must have: a JSON object with `error` and
    /// `error_description`, status 4xx, and `Cache-Control: no-store`.
    #[track_caller]
    pub fn oauth_error(&self) -> &str {
        assert!(
            self.status.is_client_error(),
            "expected a 4xx error, got {}: {}",
            self.status,
            self.text
        );
        assert!(
            self.header("content-type")
                .is_some_and(|v| v.starts_with("application/json")),
            "error body must be JSON: {:?}",
            self.headers
        );
        assert!(
            self.header("cache-control")
                .is_some_and(|v| v.contains("no-store")),
            "error responses must carry Cache-Control: no-store: {:?}",
            self.headers
        );
        assert!(
            self.str("error_description").is_some_and(|d| !d.is_empty()),
            "error_description missing: {}",
            self.text
        );
        self.str("error").expect("error member")
    }
}

/// Reads a response into a [`Json`].
pub async fn read_json(response: reqwest::Response) -> Json {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Json {
        status,
        headers,
        body,
        text,
    }
}

/// `POST url` with a form body and no client authentication header.
pub async fn post_form(http: &reqwest::Client, url: &str, pairs: &[(&str, &str)]) -> Json {
    read_json(http.post(url).form(pairs).send().await.unwrap()).await
}

/// A token request at `{issuer}/token`.
pub async fn token(http: &reqwest::Client, issuer: &str, pairs: &[(&str, &str)]) -> Json {
    post_form(http, &format!("{issuer}/token"), pairs).await
}

/// Redeems `code` for the fixture's public client and checks it worked.
pub async fn redeem(http: &reqwest::Client, fx: &Fixture, code: &str, verifier: &str) -> Json {
    let answer = token(
        http,
        &fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &fx.client.client_id),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer
}

/// `GET {issuer}/userinfo` with a Bearer token.
pub async fn userinfo(http: &reqwest::Client, issuer: &str, access_token: &str) -> Json {
    read_json(
        http.get(format!("{issuer}/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Signs the fixture's user in through the hosted page with a fresh
/// [`Browser`] and returns the browser (holding the SSO cookie), the code
/// and the PKCE verifier.
pub async fn browser_code(fx: &Fixture) -> (Browser, String, Pkce) {
    let mut browser = Browser::new();
    let pkce = pkce();
    let url = authorize_url(&fx.issuer, &code_request(&fx.client.client_id, &pkce, "st"));
    let answer = browser.sign_in(&url, USERNAME, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.location().expect("redirect after sign-in");
    let code = query(&location, "code").expect("code in the redirect");
    (browser, code, pkce)
}

/// Decodes segment `index` (0 header, 1 payload) of a compact JWS.
pub fn jwt_part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).expect("JWT segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
}

/// The boxed future of [`oidc_http`].
pub type OidcFuture =
    Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>> + Send>>;

/// An `openidconnect` HTTP client over our reqwest (the crate's own reqwest
/// adapter is for a different reqwest version): `oauth2` implements
/// `AsyncHttpClient` for any `Fn(HttpRequest) -> Future<Output =
/// Result<HttpResponse, E>>`.
pub fn oidc_http(http: reqwest::Client) -> impl Fn(openidconnect::HttpRequest) -> OidcFuture {
    move |request| {
        let http = http.clone();
        Box::pin(async move {
            let response = http.execute(reqwest::Request::try_from(request)?).await?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await?.to_vec();
            // Status and headers came from a valid response.
            Ok(builder.body(body).unwrap())
        })
    }
}
