//! Second factors through the hosted pages (issue 15), against the real
//! HTTP server, a real SMTP server on loopback and both stores: TOTP
//! (RFC 6238) enrolment on the account page with codes an authenticator app
//! would compute (the independent `totp-rs` crate reading the page's
//! `otpauth://` URI), sign-in with password and code, each code once,
//! recovery codes once each, `acr`/`amr`/`auth_time` (OIDC Core §2,
//! RFC 8176) in ID tokens, access tokens, introspection and after refresh,
//! `acr_values` step-up raising the same browser session, a tenant policy
//! that forces enrolment, and removal (fresh two-factor sign-in, mailed,
//! audited). Bad input: wrong, replayed and malformed codes, tampered or
//! foreign second-step forms, a guessing run (429), and the first-party
//! challenge refusing to skip the factor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flow;

use std::time::Duration;

use flow::mail_world::{World, run};
use flow::{Browser, LoginForm, Page, authorize_url, code_request, jwt_part, query};
use holdfast_core::client::{ClientKind, NewClient};
use holdfast_core::clock::Clock;
use holdfast_dpop::DpopAlg;
use holdfast_dpop::client::{DpopKey, ProofClaims};
use reqwest::StatusCode;
use serde_json::Value;
use totp_rs::Totp;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::run(holdfast_testkit::Backend::Sqlite, super::$name).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::run(holdfast_testkit::Backend::Postgres, super::$name).await;
                }
            }
        )*
    };
}

on_both_backends!(
    rfc6238_totp_enrolled_on_the_account_page_then_each_sign_in_needs_a_code_once,
    recovery_codes_sign_in_once_each_and_can_be_replaced,
    oidc_acr_values_2_steps_up_the_same_browser_session,
    tenant_mfa_required_forces_enrolment_at_the_next_sign_in,
    a_client_that_requires_mfa_asks_for_it_and_its_neighbours_do_not,
    removing_the_factor_needs_a_fresh_two_factor_sign_in_and_is_mailed_and_audited,
    tampered_foreign_and_guessed_second_steps_are_refused_without_a_500,
    first_party_challenge_never_skips_the_second_factor,
    rfc9470_a_step_up_continues_the_devices_family,
);

fn forms(html: &str) -> Vec<LoginForm> {
    html.match_indices("<form")
        .filter_map(|(i, _)| LoginForm::parse(&html[i..]))
        .collect()
}

fn form_to(page: &Page, suffix: &str) -> LoginForm {
    forms(&page.body)
        .into_iter()
        .find(|f| f.action.ends_with(suffix))
        .unwrap_or_else(|| panic!("no form to {suffix} in {}", page.body))
}

async fn post(browser: &mut Browser, form: &LoginForm, extra: &[(&str, &str)]) -> Page {
    let mut fields = form.hidden.clone();
    fields.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    browser.post_form(&form.action, &fields).await
}

/// Submits the second-factor form on `page` with `code`.
async fn second_step(browser: &mut Browser, page: &Page, code: &str) -> Page {
    post(
        browser,
        &form_to(page, "/login/second-factor"),
        &[("code", code)],
    )
    .await
}

/// The `otpauth://` link of an enrolment page, read as an app would.
fn totp_of(page: &Page) -> Totp {
    let start = page
        .body
        .find("id=\"otpauth\" href=\"")
        .unwrap_or_else(|| panic!("no otpauth link: {}", page.body))
        + "id=\"otpauth\" href=\"".len();
    let end = start + page.body[start..].find('"').unwrap();
    let uri = flow::decode_entities(&page.body[start..end]);
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    Totp::from_url_unchecked(&uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
}

/// The code an app shows now (the server's clock).
fn code_now(world: &World, totp: &Totp) -> String {
    totp.generate(u64::try_from(world.server.clock.now()).unwrap())
        .to_string()
}

/// The recovery codes a page lists.
fn recovery_codes_on(page: &Page) -> Vec<String> {
    assert!(page.body.contains("Your recovery codes"), "{}", page.body);
    page.body
        .split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find("</code>").unwrap()].to_owned())
        .collect()
}

/// Signs `browser` in to the app with the password; the answer (a
/// redirect with a code, or the second step's page).
async fn password_step(world: &World, browser: &mut Browser, params: &[(String, String)]) -> Page {
    password_step_as(world, browser, params, ALICE).await
}

const ALICE: (&str, &str) = (flow::USERNAME, flow::PASSWORD);
const CAROL: (&str, &str) = ("carol", "carols long password");

async fn password_step_as(
    world: &World,
    browser: &mut Browser,
    params: &[(String, String)],
    (username, password): (&str, &str),
) -> Page {
    browser
        .sign_in(&authorize_url(&world.fx.issuer, params), username, password)
        .await
}

fn code_of(answer: &Page) -> String {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    query(&answer.location().unwrap(), "code").expect("a code in the redirect")
}

/// Enrols TOTP on the account page of `browser` (signed in, fresh): the
/// app's view of the key, and the recovery codes shown.
async fn enrol(world: &World, browser: &mut Browser) -> (Totp, Vec<String>) {
    let account = browser.get(&world.fx.at("/account")).await;
    assert!(
        account.body.contains("Two-step sign-in"),
        "{}",
        account.body
    );
    let begin = post(browser, &form_to(&account, "/account/totp/begin"), &[]).await;
    assert_eq!(begin.status, StatusCode::OK, "{}", begin.body);
    assert!(begin.body.contains("<svg"), "a QR code: {}", begin.body);
    let totp = totp_of(&begin);
    let secret = begin.body.split("id=\"totp-secret\">").nth(1).unwrap();
    assert!(
        secret.starts_with(&totp.secret().to_base32()),
        "the key to type is the QR code's"
    );
    let confirm = form_to(&begin, "/account/totp/confirm");
    let wrong = post(browser, &confirm, &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    assert!(wrong.body.contains("not right"), "{}", wrong.body);
    let code = code_now(world, &totp);
    let done = post(
        browser,
        &form_to(&wrong, "/account/totp/confirm"),
        &[("code", &code)],
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let codes = recovery_codes_on(&done);
    (totp, codes)
}

/// A browser signed in to the app (one factor).
async fn signed_in_browser(world: &World) -> Browser {
    signed_in_as(world, ALICE).await
}

async fn signed_in_as(world: &World, who: (&str, &str)) -> Browser {
    let mut browser = Browser::new();
    let pkce = flow::pkce();
    let answer = password_step_as(world, &mut browser, &code_request("web", &pkce, "s"), who).await;
    code_of(&answer);
    browser
}

fn claims(token: &str) -> Value {
    jwt_part(token, 1)
}

fn amr(v: &Value) -> Vec<String> {
    v["amr"]
        .as_array()
        .unwrap_or_else(|| panic!("no amr in {v}"))
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

async fn confidential_introspector(world: &World) -> (String, String) {
    let mut new = NewClient::new("api", ClientKind::Confidential);
    new.redirect_uris = vec![flow::REDIRECT_URI.to_owned()];
    let (client, secret) = world.server.client(&world.fx.tenant, new).await;
    (client.client_id, secret.unwrap().expose().to_owned())
}

async fn introspect(world: &World, who: &(String, String), token: &str) -> Value {
    let response = world
        .server
        .http()
        .post(world.fx.at("/introspect"))
        .basic_auth(&who.0, Some(&who.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn rfc6238_totp_enrolled_on_the_account_page_then_each_sign_in_needs_a_code_once(
    world: World,
) {
    let mut first = signed_in_browser(&world).await;
    let (totp, codes) = enrol(&world, &mut first).await;
    assert_eq!(codes.len(), 10);
    let account = first.get(&world.fx.at("/account?done=mfa")).await;
    assert!(account.body.contains("Two-step sign-in is on."));
    assert!(
        account
            .body
            .contains("<span id=\"recovery-left\">10</span>")
    );

    // Another device: the password alone no longer signs in.
    world.server.clock.advance(31);
    let mut second = Browser::new();
    let pkce = flow::pkce();
    let params = code_request("web", &pkce, "st-2");
    let step = password_step(&world, &mut second, &params).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    assert!(step.body.contains("authenticator app"), "{}", step.body);
    assert!(
        step.set_cookie("holdfast_session").is_none(),
        "no session yet"
    );
    let form = form_to(&step, "/login/second-factor");
    let code = code_now(&world, &totp);
    let answer = post(&mut second, &form, &[("code", &code)]).await;
    let tokens = flow::redeem(
        &world.server.http(),
        &world.fx,
        &code_of(&answer),
        &pkce.verifier,
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let id = claims(tokens.str("id_token").unwrap());
    let access = claims(tokens.str("access_token").unwrap());
    let now = world.server.clock.now();
    for c in [&id, &access] {
        assert_eq!(c["acr"], "2", "{c}");
        assert_eq!(amr(c), ["pwd", "otp", "mfa"], "{c}");
        assert_eq!(c["auth_time"].as_i64(), Some(now), "{c}");
    }
    // Introspection says the same, of both tokens.
    let api = confidential_introspector(&world).await;
    for token in ["access_token", "refresh_token"] {
        let body = introspect(&world, &api, tokens.str(token).unwrap()).await;
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["acr"], "2", "{token}: {body}");
        assert_eq!(amr(&body), ["pwd", "otp", "mfa"], "{token}");
        assert_eq!(body["auth_time"].as_i64(), Some(now), "{token}");
    }
    // A refresh keeps them.
    world.server.clock.advance(5);
    let refreshed = flow::token(
        &world.server.http(),
        &world.fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.str("refresh_token").unwrap()),
            ("client_id", "web"),
        ],
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let after = claims(refreshed.str("access_token").unwrap());
    assert_eq!(after["acr"], "2");
    assert_eq!(amr(&after), ["pwd", "otp", "mfa"]);
    assert_eq!(after["auth_time"].as_i64(), Some(now));

    // RFC 6238 §5.2: the same code again, in a third browser, is refused.
    let mut third = Browser::new();
    let pkce3 = flow::pkce();
    let step = password_step(&world, &mut third, &code_request("web", &pkce3, "st-3")).await;
    let replay = second_step(&mut third, &step, &code).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
    assert!(replay.body.contains("used already"), "{}", replay.body);
    // So is the previous step's code, and a malformed one.
    for bad in ["12345", "abcdef", "1234567", &"9".repeat(5000)] {
        let form = form_to(&replay, "/login/second-factor");
        let refused = post(&mut third, &form, &[("code", bad)]).await;
        assert!(
            refused.status == StatusCode::BAD_REQUEST
                || refused.status == StatusCode::PAYLOAD_TOO_LARGE,
            "{}: {}",
            refused.status,
            refused.body
        );
    }
    // The next step's code works.
    world.server.clock.advance(30);
    let next = code_now(&world, &totp);
    let step = password_step(&world, &mut third, &code_request("web", &pkce3, "st-3")).await;
    let ok = second_step(&mut third, &step, &next).await;
    code_of(&ok);
    // The SSO session the code made is two-factor: no second step again.
    let again = third
        .get(&authorize_url(
            &world.fx.issuer,
            &code_request("web", &flow::pkce(), "st-4"),
        ))
        .await;
    code_of(&again);
    // The account page's own sign-in asks for the code too.
    let mut fourth = Browser::new();
    let page = fourth.get(&world.fx.at("/account")).await;
    let login = page.login_form().unwrap();
    let step = fourth.submit(&login, flow::USERNAME, flow::PASSWORD).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    world.server.clock.advance(30);
    let code = code_now(&world, &totp);
    let done = second_step(&mut fourth, &step, &code).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let account = fourth.get(&world.fx.at("/account")).await;
    assert!(account.body.contains("Signed in as"), "{}", account.body);
    // Audit: the enrolment is recorded.
    let events = world
        .server
        .state
        .store
        .events(&world.fx.tenant.id, 0, 500)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "account" && e.reason.as_deref() == Some("mfa_enrolled"))
    );
}

async fn recovery_codes_sign_in_once_each_and_can_be_replaced(world: World) {
    let mut first = signed_in_browser(&world).await;
    let (_totp, codes) = enrol(&world, &mut first).await;
    let mut second = Browser::new();
    let pkce = flow::pkce();
    let step = password_step(&world, &mut second, &code_request("web", &pkce, "r")).await;
    // Typed in capitals with a space: still the code.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let answer = second_step(&mut second, &step, &typed).await;
    let tokens = flow::redeem(
        &world.server.http(),
        &world.fx,
        &code_of(&answer),
        &pkce.verifier,
    )
    .await;
    let id = claims(tokens.str("id_token").unwrap());
    assert_eq!(id["acr"], "2");
    assert_eq!(amr(&id), ["pwd", "otp", "mfa"]);
    // Spent: a second use is refused.
    let mut third = Browser::new();
    let step = password_step(&world, &mut third, &code_request("web", &flow::pkce(), "r")).await;
    let again = second_step(&mut third, &step, &codes[0]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    let account = first.get(&world.fx.at("/account")).await;
    assert!(
        account.body.contains("<span id=\"recovery-left\">9</span>"),
        "{}",
        account.body
    );
    // New codes replace the old ones.
    let fresh = post(
        &mut first,
        &form_to(&account, "/account/recovery-codes"),
        &[],
    )
    .await;
    let new_codes = recovery_codes_on(&fresh);
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !codes.contains(c)));
    let old = second_step(&mut third, &again, &codes[1]).await;
    assert_eq!(
        old.status,
        StatusCode::BAD_REQUEST,
        "an old code died: {}",
        old.body
    );
    let new = second_step(&mut third, &old, &new_codes[3]).await;
    code_of(&new);
}

async fn oidc_acr_values_2_steps_up_the_same_browser_session(world: World) {
    // Two one-factor sessions, no factor enrolled yet.
    let mut late = signed_in_browser(&world).await;
    let mut browser = signed_in_browser(&world).await;
    let pkce = flow::pkce();
    let params = flow::with(code_request("web", &pkce, "up"), "acr_values", "2");
    // prompt=none cannot show the step: interaction_required.
    let silent = browser
        .get(&authorize_url(
            &world.fx.issuer,
            &flow::with(params.clone(), "prompt", "none"),
        ))
        .await;
    assert_eq!(silent.status, StatusCode::SEE_OTHER);
    assert_eq!(
        query(&silent.location().unwrap(), "error").as_deref(),
        Some("interaction_required")
    );
    // Without a factor, a cookie alone cannot add one: the password comes
    // first, then the set-up, the codes, and on.
    let login = browser.get(&authorize_url(&world.fx.issuer, &params)).await;
    let form = login
        .login_form()
        .expect("the password form, not the set-up");
    assert!(form.action.ends_with("/login"), "{}", login.body);
    assert!(!login.body.contains("otpauth"), "{}", login.body);
    let step = browser.submit(&form, flow::USERNAME, flow::PASSWORD).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    let totp = totp_of(&step);
    let shown = second_step(&mut browser, &step, &code_now(&world, &totp)).await;
    assert_eq!(recovery_codes_on(&shown).len(), 10);
    let go_on = shown.body.split("id=\"continue\" href=\"").nth(1).unwrap();
    let go_on = flow::decode_entities(&go_on[..go_on.find('"').unwrap()]);
    let answer = browser.get(&go_on).await;
    let tokens = flow::redeem(
        &world.server.http(),
        &world.fx,
        &code_of(&answer),
        &pkce.verifier,
    )
    .await;
    let id = claims(tokens.str("id_token").unwrap());
    assert_eq!(id["acr"], "2", "{id}");
    assert_eq!(amr(&id), ["pwd", "otp", "mfa"]);

    // Step-up: the other one-factor session of the (now enrolled) user is
    // asked for just the code, and that same browser session is raised.
    world.server.clock.advance(31);
    let session_before = late.cookie("holdfast_session").unwrap().to_owned();
    let pkce2 = flow::pkce();
    let params2 = flow::with(code_request("web", &pkce2, "up2"), "acr_values", "2");
    let step = late.get(&authorize_url(&world.fx.issuer, &params2)).await;
    assert!(
        step.body.contains("This needs a recent second step"),
        "{}",
        step.body
    );
    let answer = second_step(&mut late, &step, &code_now(&world, &totp)).await;
    let tokens = flow::redeem(
        &world.server.http(),
        &world.fx,
        &code_of(&answer),
        &pkce2.verifier,
    )
    .await;
    let id = claims(tokens.str("id_token").unwrap());
    assert_eq!(id["acr"], "2", "{id}");
    assert_eq!(amr(&id), ["pwd", "otp", "mfa"]);
    assert_eq!(id["auth_time"].as_i64(), Some(world.server.clock.now()));
    assert_eq!(late.cookie("holdfast_session").unwrap(), session_before);

    // A new device of the enrolled user: even without acr_values the code
    // is asked for.
    world.server.clock.advance(31);
    let mut other = Browser::new();
    let step = password_step(&world, &mut other, &code_request("web", &flow::pkce(), "x")).await;
    assert!(step.body.contains("Two-step sign-in"), "{}", step.body);
    let form = form_to(&step, "/login/second-factor");
    let answer = post(&mut other, &form, &[("code", &code_now(&world, &totp))]).await;
    code_of(&answer);
    // An unknown acr value asks for nothing more.
    let plain = other
        .get(&authorize_url(
            &world.fx.issuer,
            &flow::with(
                code_request("web", &flow::pkce(), "y"),
                "acr_values",
                "urn:x:gold",
            ),
        ))
        .await;
    code_of(&plain);
    // Discovery lists the values.
    let (_, discovery) = flow_discovery(&world).await;
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!(["1", "2"])
    );
}

async fn flow_discovery(world: &World) -> (StatusCode, Value) {
    let response = world
        .server
        .http()
        .get(world.fx.at("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn tenant_mfa_required_forces_enrolment_at_the_next_sign_in(world: World) {
    world
        .server
        .cli(BIN, &["tenant", "update", "acme", "--mfa", "required"], "");
    let mut browser = Browser::new();
    let pkce = flow::pkce();
    let params = code_request("web", &pkce, "req");
    let step = password_step(&world, &mut browser, &params).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    assert!(step.body.contains("needs a second step"), "{}", step.body);
    let totp = totp_of(&step);
    let shown = second_step(&mut browser, &step, &code_now(&world, &totp)).await;
    recovery_codes_on(&shown);
    let answer = browser.get(&authorize_url(&world.fx.issuer, &params)).await;
    let tokens = flow::redeem(
        &world.server.http(),
        &world.fx,
        &code_of(&answer),
        &pkce.verifier,
    )
    .await;
    assert_eq!(claims(tokens.str("access_token").unwrap())["acr"], "2");
}

/// `holdfast user create` of [`CAROL`], with an address.
fn create_carol(world: &World) {
    world.server.cli(
        BIN,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            CAROL.0,
            "--email",
            "carol@example.com",
            "--password-stdin",
        ],
        &format!("{}\n", CAROL.1),
    );
}

async fn a_client_that_requires_mfa_asks_for_it_and_its_neighbours_do_not(world: World) {
    // `holdfast client create --mfa-required`, and `client update` turning
    // it on for another client (before the server has read either).
    world.server.cli(
        BIN,
        &[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "payroll",
            "--public",
            "--redirect-uri",
            flow::REDIRECT_URI,
            "--mfa-required",
        ],
        "",
    );
    world.server.cli(
        BIN,
        &[
            "client",
            "create",
            "--tenant",
            "acme",
            "--client-id",
            "vault",
            "--public",
            "--redirect-uri",
            flow::REDIRECT_URI,
        ],
        "",
    );
    let updated = world.server.cli_output(
        BIN,
        &[
            "client",
            "update",
            "--tenant",
            "acme",
            "--client-id",
            "vault",
            "--mfa-required",
            "true",
        ],
        "",
    );
    assert!(updated.status.success(), "{updated:?}");
    let updated = String::from_utf8_lossy(&updated.stdout);
    assert!(updated.contains("\"mfa_required\":true"), "{updated}");
    create_carol(&world);
    // The tenant's other client: the password is enough.
    let mut browser = signed_in_browser(&world).await;
    // Payroll: the same browser's one-factor session must add a factor,
    // after the password again.
    let pkce = flow::pkce();
    let params = code_request("payroll", &pkce, "p");
    let login = browser.get(&authorize_url(&world.fx.issuer, &params)).await;
    let form = login.login_form().expect("the password form");
    let step = browser.submit(&form, flow::USERNAME, flow::PASSWORD).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    let totp = totp_of(&step);
    let shown = second_step(&mut browser, &step, &code_now(&world, &totp)).await;
    recovery_codes_on(&shown);
    let answer = browser.get(&authorize_url(&world.fx.issuer, &params)).await;
    let code = code_of(&answer);
    let tokens = world
        .server
        .http()
        .post(world.fx.at("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", "payroll"),
            ("redirect_uri", flow::REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = tokens.json().await.unwrap();
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["acr"],
        "2",
        "{tokens}"
    );
    // Vault's first-party challenge refuses the password alone.
    let challenge = flow::post_form(
        &world.server.http(),
        &world.fx.at("/authorize-challenge"),
        &[
            ("client_id", "vault"),
            ("username", CAROL.0),
            ("password", CAROL.1),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(
        challenge.oauth_error(),
        "insufficient_authorization",
        "{}",
        challenge.text
    );
}

async fn removing_the_factor_needs_a_fresh_two_factor_sign_in_and_is_mailed_and_audited(
    world: World,
) {
    create_carol(&world);
    let mut browser = signed_in_as(&world, CAROL).await;
    let (totp, _codes) = enrol(&world, &mut browser).await;
    // Stale: the page asks for a new sign-in, and a post is refused.
    world.server.clock.advance(3600);
    let account = browser.get(&world.fx.at("/account")).await;
    assert!(
        !account.body.contains("/account/totp/remove"),
        "{}",
        account.body
    );
    let mut fresh = Browser::new();
    let page = fresh.get(&world.fx.at("/account")).await;
    let step = fresh
        .submit(&page.login_form().unwrap(), CAROL.0, CAROL.1)
        .await;
    let done = second_step(&mut fresh, &step, &code_now(&world, &totp)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let account = fresh.get(&world.fx.at("/account")).await;
    let removed = post(&mut fresh, &form_to(&account, "/account/totp/remove"), &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    // Two notices: the app was added, then removed.
    let mails = world.smtp.wait_for(2, Duration::from_secs(20)).await;
    for subject in [
        "An authenticator app was added",
        "Two-step sign-in was turned off",
    ] {
        let mail = mails
            .iter()
            .find(|m| m.data.contains(subject))
            .unwrap_or_else(|| panic!("no notice {subject:?}"));
        assert!(mail.to.iter().any(|r| r.contains("carol@example.com")));
    }
    let events = world
        .server
        .state
        .store
        .events(&world.fx.tenant.id, 0, 500)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("mfa_removed"))
    );
    // The password alone signs in again.
    let mut after = Browser::new();
    let answer = password_step_as(
        &world,
        &mut after,
        &code_request("web", &flow::pkce(), "a"),
        CAROL,
    )
    .await;
    code_of(&answer);
}

async fn tampered_foreign_and_guessed_second_steps_are_refused_without_a_500(world: World) {
    let mut first = signed_in_browser(&world).await;
    let (totp, _) = enrol(&world, &mut first).await;
    let other = world
        .server
        .user(&world.fx.tenant, "bob", "bobs long password")
        .await;
    let mut browser = Browser::new();
    let step = password_step(
        &world,
        &mut browser,
        &code_request("web", &flow::pkce(), "t"),
    )
    .await;
    let form = form_to(&step, "/login/second-factor");
    let code = code_now(&world, &totp);
    // Another user's id in the signed fields: refused, nothing signed in.
    let mut tampered = form.clone();
    for (k, v) in &mut tampered.hidden {
        if k == "mfa_user" {
            *v = other.id.clone();
        }
    }
    let refused = post(&mut browser, &tampered, &[("code", &code)]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.set_cookie("holdfast_session").is_none());
    // The same form from another browser (no binding cookie): refused.
    let mut stranger = Browser::new();
    let foreign = post(&mut stranger, &form, &[("code", &code)]).await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST, "{}", foreign.body);
    // Cross-site: refused before anything.
    let mut fields = form.hidden.clone();
    fields.push(("code".into(), code.clone()));
    let cross = browser
        .post_form_with(&form.action, &fields, &[("sec-fetch-site", "cross-site")])
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // Too late: the second step must follow the password within minutes.
    world.server.clock.advance(601);
    let late = post(&mut browser, &form, &[("code", &code_now(&world, &totp))]).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.body);
    // A guessing run is throttled (429), and a right code then waits too.
    let step = password_step(
        &world,
        &mut browser,
        &code_request("web", &flow::pkce(), "g"),
    )
    .await;
    let mut page = step;
    let mut throttled = false;
    for guess in 0..30 {
        let form = form_to(&page, "/login/second-factor");
        page = post(
            &mut browser,
            &form,
            &[("code", &format!("{:06}", 100_000 + guess))],
        )
        .await;
        assert_ne!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    }
    assert!(throttled, "wrong codes are throttled");
    let form = form_to(&page, "/login/second-factor");
    let blocked = post(&mut browser, &form, &[("code", &code_now(&world, &totp))]).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn first_party_challenge_never_skips_the_second_factor(world: World) {
    let mut first = signed_in_browser(&world).await;
    enrol(&world, &mut first).await;
    let pkce = flow::pkce();
    let answer = flow::post_form(
        &world.server.http(),
        &world.fx.at("/authorize-challenge"),
        &[
            ("client_id", "web"),
            ("username", flow::USERNAME),
            ("password", flow::PASSWORD),
            ("scope", "openid"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.oauth_error(), "insufficient_authorization");
    assert!(
        answer.text.contains("\"mfa_required\":true"),
        "{}",
        answer.text
    );
    assert!(answer.str("authorization_code").is_none());
}

/// A token request with a DPoP proof by `key` (RFC 9449 §4), getting the
/// server's nonce first the way a client does (§8: `use_dpop_nonce`).
async fn bound_token(world: &World, key: &DpopKey, pairs: &[(&str, &str)]) -> flow::Json {
    let url = world.fx.at("/token");
    let send = |nonce: Option<String>| {
        let mut claims = ProofClaims::new("POST", &url, world.server.clock.now());
        if let Some(n) = &nonce {
            claims = claims.nonce(n);
        }
        let proof = key.proof(&claims).unwrap();
        world
            .server
            .http()
            .post(&url)
            .header("DPoP", proof)
            .form(pairs)
            .send()
    };
    let first = flow::read_json(send(None).await.unwrap()).await;
    if first.status == StatusCode::BAD_REQUEST && first.oauth_error() == "use_dpop_nonce" {
        let nonce = first.header("dpop-nonce").expect("a DPoP-Nonce").to_owned();
        return flow::read_json(send(Some(nonce)).await.unwrap()).await;
    }
    first
}

async fn redeem_bound(world: &World, key: &DpopKey, code: &str, verifier: &str) -> flow::Json {
    let answer = bound_token(
        world,
        key,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", flow::REDIRECT_URI),
            ("client_id", "web"),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer
}

async fn refresh_bound(world: &World, key: &DpopKey, refresh_token: &str) -> flow::Json {
    bound_token(
        world,
        key,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "web"),
        ],
    )
    .await
}

/// Issue 15: "A step-up keeps the same device session (its family) and
/// raises its acr/auth_time, rather than creating a second session for the
/// same browser and app." The step-up code, redeemed by the family's DPoP
/// key from the same browser session, continues that family: the same
/// `sid`, `acr` "2" and the new `auth_time`, kept by refreshes; the token it
/// replaced is refused to its holder without ending the family, and is
/// reuse (the family revoked) once the grace window is over. Another key,
/// or no proof, starts a family of its own.
async fn rfc9470_a_step_up_continues_the_devices_family(world: World) {
    // `late` is a one-factor session; the user sets up the app elsewhere.
    let mut enrolled = signed_in_browser(&world).await;
    let mut late = signed_in_browser(&world).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let pkce = flow::pkce();
    let answer = late
        .get(&authorize_url(
            &world.fx.issuer,
            &code_request("web", &pkce, "a"),
        ))
        .await;
    let first = redeem_bound(&world, &key, &code_of(&answer), &pkce.verifier).await;
    let sid = claims(first.str("id_token").unwrap())["sid"].clone();
    assert_eq!(claims(first.str("access_token").unwrap())["acr"], "1");
    let (totp, _) = enrol(&world, &mut enrolled).await;

    world.server.clock.advance(31);
    let pkce = flow::pkce();
    let params = flow::with(code_request("web", &pkce, "up"), "acr_values", "2");
    let step = late.get(&authorize_url(&world.fx.issuer, &params)).await;
    let answer = second_step(&mut late, &step, &code_now(&world, &totp)).await;
    let raised = redeem_bound(&world, &key, &code_of(&answer), &pkce.verifier).await;
    let id = claims(raised.str("id_token").unwrap());
    assert_eq!(id["sid"], sid, "the same family: {id}");
    let access = claims(raised.str("access_token").unwrap());
    assert_eq!(access["acr"], "2", "{access}");
    assert_eq!(amr(&access), ["pwd", "otp", "mfa"]);
    assert_eq!(access["auth_time"].as_i64(), Some(world.server.clock.now()));
    assert_eq!(access["sid"], sid);

    // The replaced token, retried by its holder: refused, nothing ended.
    let old = first.str("refresh_token").unwrap();
    let retry = refresh_bound(&world, &key, old).await;
    assert_eq!(retry.status, StatusCode::BAD_REQUEST, "{}", retry.text);
    assert_eq!(retry.oauth_error(), "invalid_grant");
    // The new one refreshes, and the family stays raised.
    world.server.clock.advance(5);
    let refreshed = refresh_bound(&world, &key, raised.str("refresh_token").unwrap()).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let access = claims(refreshed.str("access_token").unwrap());
    assert_eq!(
        (access["acr"].clone(), access["sid"].clone()),
        ("2".into(), sid.clone())
    );
    assert_eq!(
        access["auth_time"].as_i64(),
        Some(world.server.clock.now() - 5)
    );
    let sessions = world
        .server
        .state
        .store
        .list_sessions(
            &world.fx.tenant.id,
            &world.fx.user_id,
            world.server.clock.now(),
        )
        .await
        .unwrap();
    let of_late: Vec<_> = sessions
        .iter()
        .filter(|s| s.dpop_jkt.as_deref() == Some(key.jkt()))
        .collect();
    assert_eq!(of_late.len(), 1, "one family for the device: {sessions:?}");
    assert_eq!(of_late[0].acr, "2");
    let events = world
        .server
        .state
        .store
        .events(&world.fx.tenant.id, 0, 1000)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "session_raised" && e.session_id.as_deref() == sid.as_str()),
        "{events:?}"
    );

    // Another key in the same browser, or no proof at all: a new family.
    let other = DpopKey::generate(DpopAlg::ES256).unwrap();
    let pkce = flow::pkce();
    let answer = late
        .get(&authorize_url(
            &world.fx.issuer,
            &code_request("web", &pkce, "b"),
        ))
        .await;
    let elsewhere = redeem_bound(&world, &other, &code_of(&answer), &pkce.verifier).await;
    assert_ne!(claims(elsewhere.str("id_token").unwrap())["sid"], sid);
    let pkce = flow::pkce();
    let answer = late
        .get(&authorize_url(
            &world.fx.issuer,
            &code_request("web", &pkce, "c"),
        ))
        .await;
    let bare = flow::redeem(
        &world.server.http(),
        &world.fx,
        &code_of(&answer),
        &pkce.verifier,
    )
    .await;
    assert_ne!(claims(bare.str("id_token").unwrap())["sid"], sid);

    // Past the grace window the replaced token is reuse: the family ends.
    world.server.clock.advance(120);
    let late_retry = refresh_bound(&world, &key, old).await;
    assert_eq!(
        late_retry.oauth_error(),
        "invalid_grant",
        "{}",
        late_retry.text
    );
    let newest = refreshed.str("refresh_token").unwrap();
    let after = refresh_bound(&world, &key, newest).await;
    assert_eq!(
        after.oauth_error(),
        "invalid_grant",
        "reuse revoked the family: {}",
        after.text
    );
}
