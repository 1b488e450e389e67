//! Self-service accounts through the hosted pages (issue 14), against the
//! real HTTP server, a real SMTP server on loopback and both stores:
//! sign-up by `prompt=create` (OpenID Connect "Initiating User
//! Registration via OpenID Connect 1.0" §4) continuing to the app, email
//! verification by link or code (single use), a taken address answered as
//! a free one, recovery by an emailed link that revokes every session, and
//! readable refusals for replayed or foreign links; the account page's
//! devices, profile and deletion; invitations; and the same flows through
//! the first-party JSON API (`{issuer}/api/…`) with the authorization
//! challenge endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flow;

use std::time::Duration;

use flow::mail_world::{World, run};
use flow::{Browser, LoginForm, Page, REDIRECT_URI, authorize_url, code_request, query};
use holdfast_testkit::ReceivedMail;
use reqwest::StatusCode;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
const NEW_PASSWORD: &str = "lunar kettle 9";

macro_rules! on_both_backends_with_mail {
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

on_both_backends_with_mail!(
    oidc_registration_prompt_create_signs_up_and_the_verification_link_continues_to_the_app,
    verification_code_works_once_and_wrong_codes_are_refused,
    signup_with_a_taken_address_looks_the_same_and_mails_a_reset_link,
    login_of_an_unverified_user_waits_for_the_mailed_code_when_required,
    forgot_password_link_resets_revokes_every_session_and_notifies,
    closed_registration_refuses_sign_up_readably,
    account_page_signs_out_another_device_and_its_refresh_fails,
    account_page_deletes_only_after_a_fresh_sign_in,
    cli_send_reset_mails_a_link_that_sets_a_new_password,
    a_new_password_spends_every_link_still_out,
    login_csrf_a_verification_link_opened_in_another_browser_verifies_but_signs_nobody_in,
    cli_invite_mails_a_link_that_sets_the_first_password_and_verifies_the_address,
    first_party_api_signs_up_verifies_by_code_and_the_challenge_then_signs_in,
    first_party_api_reset_and_password_change_end_every_session,
);

/// `holdfast user create` with an address and a password.
fn create_user(world: &World, username: &str, email: &str, password: &str) {
    world.server.cli(
        BIN,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--username",
            username,
            "--email",
            email,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
}

fn settings(world: &World, registration: &str, verification: &str) {
    world.server.cli(
        BIN,
        &[
            "tenant",
            "update",
            "acme",
            "--registration",
            registration,
            "--email-verification",
            verification,
        ],
        "",
    );
}

/// The message's text with quoted-printable soft breaks and escapes undone.
fn text_of(mail: &ReceivedMail) -> String {
    let joined = mail.data.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::with_capacity(joined.len());
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b as char);
            i += 3;
            continue;
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

/// The first link in `mail` to `{issuer}/{page}?token=…`.
fn link_in(mail: &ReceivedMail, page: &str) -> String {
    let text = text_of(mail);
    let start = text
        .find(&format!("/{page}?token="))
        .unwrap_or_else(|| panic!("no {page} link in {text}"));
    let begin = text[..start].rfind("http").unwrap();
    let end = start
        + text[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
            .unwrap();
    text[begin..end].to_owned()
}

/// The six-digit code in `mail`.
fn code_in(mail: &ReceivedMail) -> String {
    let text = text_of(mail);
    let at = text.find("enter this code: ").expect("a code") + "enter this code: ".len();
    text[at..at + 6].to_owned()
}

async fn mail_to(world: &World, n: usize) -> Vec<ReceivedMail> {
    world.smtp.wait_for(n, Duration::from_secs(20)).await
}

/// Opens the sign-up page through `prompt=create` and submits it.
async fn sign_up(world: &World, browser: &mut Browser, email: &str, pkce: &flow::Pkce) -> Page {
    let params = flow::with(code_request("web", pkce, "st-signup"), "prompt", "create");
    let page = browser.get(&authorize_url(&world.fx.issuer, &params)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = LoginForm::parse(&page.body).expect("a sign-up form");
    assert!(form.action.ends_with("/signup"), "{}", form.action);
    assert!(form.visible.contains(&"email".to_owned()));
    let mut fields = form.hidden.clone();
    fields.push(("email".into(), email.into()));
    fields.push(("name".into(), "Ada Lovelace".into()));
    fields.push(("password".into(), NEW_PASSWORD.into()));
    browser.post_form(&form.action, &fields).await
}

fn code_from(page: &Page) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().expect("a redirect");
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some("st-signup"));
    query(&location, "code").expect("a code")
}

async fn oidc_registration_prompt_create_signs_up_and_the_verification_link_continues_to_the_app(
    world: World,
) {
    settings(&world, "open", "required");
    let discovery: serde_json::Value = world
        .server
        .http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            world.fx.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        discovery["prompt_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"create".into())
    );
    let mut browser = Browser::new();
    let pkce = flow::pkce();
    let page = sign_up(&world, &mut browser, "ada@example.com", &pkce).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Check your email"), "{}", page.body);
    assert!(
        page.set_cookie("holdfast_session").is_none(),
        "not signed in yet"
    );
    let mail = mail_to(&world, 1).await;
    assert_eq!(mail[0].to, ["ada@example.com"]);
    assert!(!mail[0].data.contains(NEW_PASSWORD), "no password in mail");
    let link = link_in(&mail[0], "verify-email");
    // Following the link in the browser that signed up lands signed in at
    // the app, with a code for it.
    let answer = browser.get(&link).await;
    let code = code_from(&answer);
    assert!(answer.set_cookie("holdfast_session").is_some());
    let tokens = flow::redeem(&world.server.http(), &world.fx, &code, &pkce.verifier).await;
    let access = tokens.str("access_token").unwrap().to_owned();
    let info = flow::userinfo(&world.server.http(), &world.fx.issuer, &access).await;
    assert_eq!(info.body["preferred_username"], "ada@example.com");
    assert_eq!(info.body["name"], "Ada Lovelace");
    let user = world
        .server
        .state
        .store
        .users_by_email(&world.fx.tenant.id, "ada@example.com")
        .await
        .unwrap();
    assert!(user[0].email_verified, "the address is verified");
    // The link works once: a replay gets a readable page, no code.
    let replay = Browser::new().get(&link).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
    assert!(replay.body.contains("expired or was already used"));
    assert!(replay.location().is_none());
    // A forged or foreign link: the same.
    let forged = Browser::new()
        .get(&format!(
            "{}/verify-email?token=hfev_forged",
            world.fx.issuer
        ))
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    let other_tenant = world.server.tenant("other").await;
    let foreign = link.replace("/t/acme/", &format!("/t/{}/", other_tenant.slug));
    assert_eq!(
        Browser::new().get(&foreign).await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn verification_code_works_once_and_wrong_codes_are_refused(world: World) {
    settings(&world, "open", "required");
    let mut browser = Browser::new();
    let pkce = flow::pkce();
    let page = sign_up(&world, &mut browser, "grace@example.com", &pkce).await;
    let form = LoginForm::parse(&page.body).expect("the code form");
    assert!(form.action.ends_with("/verify-email"));
    let mail = mail_to(&world, 1).await;
    let code = code_in(&mail[0]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let submit = |code: &str| {
        let mut fields = form.hidden.clone();
        fields.push(("code".into(), code.into()));
        fields
    };
    let answer = browser.post_form(&form.action, &submit(wrong)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(answer.body.contains("That code is not right"));
    let answer = browser.post_form(&form.action, &submit("12ab")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let answer = browser.post_form(&form.action, &submit(&code)).await;
    let redirect_code = code_from(&answer);
    flow::redeem(
        &world.server.http(),
        &world.fx,
        &redirect_code,
        &pkce.verifier,
    )
    .await;
    // Used: the token is spent, and the same form again is refused.
    let ticket = form.hidden("ticket").unwrap();
    let token = world
        .server
        .state
        .store
        .account_token(&world.fx.tenant.id, ticket)
        .await
        .unwrap()
        .unwrap();
    assert!(token.consumed_at.is_some(), "spent");
    let again = browser.post_form(&form.action, &submit(&code)).await;
    assert!(again.status.is_client_error(), "{}", again.body);
    assert!(again.location().is_none());
    // A form post from another site is refused before anything is checked.
    let cross = browser
        .post_form_with(
            &form.action,
            &submit(&code),
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
}

async fn signup_with_a_taken_address_looks_the_same_and_mails_a_reset_link(world: World) {
    settings(&world, "open", "required");
    let first = sign_up(
        &world,
        &mut Browser::new(),
        "lin@example.com",
        &flow::pkce(),
    )
    .await;
    mail_to(&world, 1).await;
    let second = sign_up(
        &world,
        &mut Browser::new(),
        "LIN@example.com",
        &flow::pkce(),
    )
    .await;
    assert_eq!(first.status, second.status);
    assert!(second.body.contains("Check your email"));
    let form_fields = |p: &Page| {
        let f = LoginForm::parse(&p.body).unwrap();
        (f.action, f.visible)
    };
    assert_eq!(form_fields(&first), form_fields(&second), "the same page");
    let mail = mail_to(&world, 2).await;
    let text = text_of(&mail[1]);
    assert!(text.contains("already has one"), "{text}");
    link_in(&mail[1], "reset-password");
    assert_eq!(
        world
            .server
            .state
            .store
            .users_by_email(&world.fx.tenant.id, "lin@example.com")
            .await
            .unwrap()
            .len(),
        1,
        "no second account"
    );
}

async fn login_of_an_unverified_user_waits_for_the_mailed_code_when_required(world: World) {
    create_user(&world, "mo", "mo@example.com", NEW_PASSWORD);
    settings(&world, "closed", "required");
    let mut browser = Browser::new();
    let pkce = flow::pkce();
    let url = authorize_url(&world.fx.issuer, &code_request("web", &pkce, "st-signup"));
    let page = browser.sign_in(&url, "mo", NEW_PASSWORD).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Verify your email address to sign in"));
    assert!(page.set_cookie("holdfast_session").is_none());
    let mail = mail_to(&world, 1).await;
    let form = LoginForm::parse(&page.body).unwrap();
    let mut fields = form.hidden.clone();
    fields.push(("code".into(), code_in(&mail[0])));
    let answer = browser.post_form(&form.action, &fields).await;
    let code = code_from(&answer);
    flow::redeem(&world.server.http(), &world.fx, &code, &pkce.verifier).await;
    // Verified now: the next sign-in goes straight through.
    let again = Browser::new().sign_in(&url, "mo", NEW_PASSWORD).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
}

async fn forgot_password_link_resets_revokes_every_session_and_notifies(world: World) {
    create_user(&world, "rae", "rae@example.com", "old kettle lunar 7");
    // Signed in on one device, with a refresh token.
    let pkce = flow::pkce();
    let url = authorize_url(&world.fx.issuer, &code_request("web", &pkce, "st-signup"));
    let old = Browser::new()
        .sign_in(&url, "rae", "old kettle lunar 7")
        .await;
    let tokens = flow::redeem(
        &world.server.http(),
        &world.fx,
        &code_from(&old),
        &pkce.verifier,
    )
    .await;
    let refresh = tokens.str("refresh_token").unwrap().to_owned();
    // (Time passes: "not before" is to the second.)
    world.server.clock.advance(2);
    // On another, "Forgot password?" from the login page.
    let mut browser = Browser::new();
    let pkce2 = flow::pkce();
    let url2 = authorize_url(&world.fx.issuer, &code_request("web", &pkce2, "st-signup"));
    let login = browser.get(&url2).await;
    let href = login
        .body
        .split("href=\"")
        .find(|s| s.contains("forgot-password"))
        .unwrap();
    let href = flow::decode_entities(&href[..href.find('"').unwrap()]);
    let page = browser.get(&href).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = LoginForm::parse(&page.body).unwrap();
    let ask = |who: &str| {
        let mut fields = form.hidden.clone();
        fields.push(("identifier".into(), who.into()));
        fields
    };
    // An unknown address is answered exactly as a known one.
    let unknown = browser
        .post_form(&form.action, &ask("nobody@example.com"))
        .await;
    let known = browser
        .post_form(&form.action, &ask("rae@example.com"))
        .await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(
        unknown.body.replace("nobody@example.com", "X"),
        known.body.replace("rae@example.com", "X")
    );
    let mail = mail_to(&world, 1).await;
    assert_eq!(mail.len(), 1, "only the real account gets mail");
    assert_eq!(mail[0].to, ["rae@example.com"]);
    let link = link_in(&mail[0], "reset-password");
    // Opening the link only shows the form (a mail scanner spends nothing).
    let shown = browser.get(&link).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let shown_again = browser.get(&link).await;
    assert_eq!(shown_again.status, StatusCode::OK);
    let reset = LoginForm::parse(&shown_again.body).unwrap();
    let mut weak = reset.hidden.clone();
    weak.push(("password".into(), "password".into()));
    let refused = browser.post_form(&reset.action, &weak).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let mut fields = reset.hidden.clone();
    fields.push(("password".into(), NEW_PASSWORD.into()));
    let done = browser.post_form(&reset.action, &fields).await;
    // It resumes the sign-in it started from.
    let code = code_from(&done);
    flow::redeem(&world.server.http(), &world.fx, &code, &pkce2.verifier).await;
    // The old device's refresh token is dead.
    let refreshed = flow::token(
        &world.server.http(),
        &world.fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "web"),
        ],
    )
    .await;
    assert_eq!(
        refreshed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refreshed.text
    );
    assert_eq!(refreshed.oauth_error(), "invalid_grant");
    // A notice went out, and the link is spent.
    let mail = mail_to(&world, 2).await;
    assert!(
        mail[1].data.contains("password was changed"),
        "{}",
        mail[1].data
    );
    let replay = Browser::new().get(&link).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    // The new password works; the old one does not.
    let url3 = authorize_url(&world.fx.issuer, &code_request("web", &flow::pkce(), "s"));
    let old_pw = Browser::new()
        .sign_in(&url3, "rae", "old kettle lunar 7")
        .await;
    assert_eq!(old_pw.status, StatusCode::OK);
    let new_pw = Browser::new().sign_in(&url3, "rae", NEW_PASSWORD).await;
    assert_eq!(new_pw.status, StatusCode::SEE_OTHER);
}

async fn closed_registration_refuses_sign_up_readably(world: World) {
    let pkce = flow::pkce();
    let params = flow::with(code_request("web", &pkce, "s"), "prompt", "create");
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&world.fx.issuer, &params)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("New accounts cannot be created here"));
    assert!(!page.body.contains("Create account"), "no sign-up link");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let direct = browser
        .get(&format!("{}/signup?{query}", world.fx.issuer))
        .await;
    assert_eq!(direct.status, StatusCode::FORBIDDEN);
    assert!(direct.body.contains("New accounts cannot be created here"));
    // Opened: the login page links to sign-up.
    settings(&world, "open", "optional");
    let login = Browser::new()
        .get(&authorize_url(
            &world.fx.issuer,
            &code_request("web", &pkce, "s"),
        ))
        .await;
    assert!(login.body.contains("Create account"));
    // With optional verification a new account goes straight to the app.
    let mut b = Browser::new();
    let signed = sign_up(&world, &mut b, "opt@example.com", &flow::pkce()).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    mail_to(&world, 1).await;
}

/// Every `<form>` of `html` (the account page has several).
fn forms(html: &str) -> Vec<LoginForm> {
    html.match_indices("<form")
        .filter_map(|(i, _)| LoginForm::parse(&html[i..]))
        .collect()
}

fn form_to<'a>(forms: &'a [LoginForm], suffix: &str) -> &'a LoginForm {
    forms
        .iter()
        .find(|f| f.action.ends_with(suffix))
        .unwrap_or_else(|| panic!("no form to {suffix}"))
}

async fn account_page_signs_out_another_device_and_its_refresh_fails(world: World) {
    // Two devices signed in to the app, each with a refresh token.
    let mut devices = Vec::new();
    for _ in 0..2 {
        let mut browser = Browser::new();
        let pkce = flow::pkce();
        let url = authorize_url(&world.fx.issuer, &code_request("web", &pkce, "st-signup"));
        let answer = browser.sign_in(&url, flow::USERNAME, flow::PASSWORD).await;
        let tokens = flow::redeem(
            &world.server.http(),
            &world.fx,
            &code_from(&answer),
            &pkce.verifier,
        )
        .await;
        devices.push((browser, tokens.str("refresh_token").unwrap().to_owned()));
    }
    let (mut mine, my_refresh) = devices.pop().unwrap();
    let (_other, other_refresh) = devices.pop().unwrap();
    // The second device's browser opens the account page (its SSO session).
    let page = mine.get(&world.fx.at("/account")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("My devices"), "{}", page.body);
    assert_eq!(
        page.body.matches("<li class=\"device").count(),
        2,
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("this device</span>").count(), 1);
    let all = forms(&page.body);
    let revoke = all
        .iter()
        .find(|f| f.action.ends_with("/revoke") && !f.action.ends_with("revoke-others"))
        .expect("a sign-out button for the other device");
    // A form post from another site is refused.
    let cross = mine
        .post_form_with(
            &revoke.action,
            &revoke.hidden,
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let done = mine.post_form(&revoke.action, &revoke.hidden).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let refresh = |token: String| {
        let http = world.server.http();
        let issuer = world.fx.issuer.clone();
        async move {
            flow::token(
                &http,
                &issuer,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", "web"),
                ],
            )
            .await
        }
    };
    let theirs = refresh(other_refresh).await;
    assert_eq!(theirs.status, StatusCode::BAD_REQUEST, "{}", theirs.text);
    assert_eq!(theirs.oauth_error(), "invalid_grant");
    let ours = refresh(my_refresh).await;
    assert_eq!(
        ours.status,
        StatusCode::OK,
        "this device stays signed in: {}",
        ours.text
    );
    let page = mine.get(&world.fx.at("/account?done=device")).await;
    assert!(page.body.contains("That device was signed out."));
    assert_eq!(page.body.matches("<li class=\"device").count(), 1);
    // Profile: the name is saved and shows in userinfo's `name`.
    let all = forms(&page.body);
    let profile = form_to(&all, "/account/profile");
    let mut fields = profile.hidden.clone();
    fields.push(("name".into(), "Alice A.".into()));
    let saved = mine.post_form(&profile.action, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let user = world
        .server
        .state
        .store
        .user_by_id(&world.fx.tenant.id, &world.fx.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.user.display_name.as_deref(), Some("Alice A."));
    // Without the SSO cookie: the account page's own sign-in form.
    let anonymous = Browser::new().get(&world.fx.at("/account")).await;
    let form = anonymous.login_form().unwrap();
    assert!(form.action.ends_with("/account/login"));
}

async fn account_page_deletes_only_after_a_fresh_sign_in(world: World) {
    let mut browser = Browser::new();
    let page = browser.get(&world.fx.at("/account")).await;
    let form = page.login_form().unwrap();
    let signed = browser.submit(&form, flow::USERNAME, flow::PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let page = browser.get(&world.fx.at("/account")).await;
    assert!(
        page.body.contains("account/delete"),
        "fresh: deletion offered: {}",
        page.body
    );
    let delete = form_to(&forms(&page.body), "/account/delete").clone();
    // Later, the sign-in is no longer fresh.
    world
        .server
        .clock
        .advance(holdfast_core::self_service::FRESH_LOGIN_SECS + 1);
    let mut fields = delete.hidden.clone();
    fields.push(("confirm".into(), "yes".into()));
    let stale = browser.post_form(&delete.action, &fields).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{}", stale.body);
    assert!(stale.body.contains("sign in again"));
    // Signing in again makes it fresh.
    let again = browser.get(&world.fx.at("/account?reauth=1")).await;
    let form = again.login_form().unwrap();
    browser.submit(&form, flow::USERNAME, flow::PASSWORD).await;
    let page = browser.get(&world.fx.at("/account")).await;
    let delete = form_to(&forms(&page.body), "/account/delete").clone();
    let mut fields = delete.hidden.clone();
    fields.push(("confirm".into(), "yes".into()));
    let gone = browser.post_form(&delete.action, &fields).await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert!(gone.body.contains("Account deleted"));
    assert!(
        world
            .server
            .state
            .store
            .user_by_id(&world.fx.tenant.id, &world.fx.user_id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn cli_send_reset_mails_a_link_that_sets_a_new_password(world: World) {
    create_user(&world, "sam", "sam@example.com", "old kettle lunar 7");
    let sent = world.server.cli(
        BIN,
        &[
            "--public-url",
            world.server.base.as_str(),
            "user",
            "send-reset",
            "--tenant",
            "acme",
            "--user",
            "sam",
        ],
        "",
    );
    assert_eq!(sent["reset_sent_to"], "sam@example.com");
    let mail = mail_to(&world, 1).await;
    let link = link_in(&mail[0], "reset-password");
    let mut browser = Browser::new();
    let page = browser.get(&link).await;
    let form = LoginForm::parse(&page.body).unwrap();
    let mut fields = form.hidden.clone();
    fields.push(("password".into(), NEW_PASSWORD.into()));
    let done = browser.post_form(&form.action, &fields).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Password changed"));
    let url = authorize_url(&world.fx.issuer, &code_request("web", &flow::pkce(), "s"));
    let signed = Browser::new().sign_in(&url, "sam", NEW_PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
}

async fn a_new_password_spends_every_link_still_out(world: World) {
    create_user(&world, "kim", "kim@example.com", "old kettle lunar 7");
    let public_url = world.server.base.to_string();
    world.server.cli(
        BIN,
        &[
            "--public-url",
            &public_url,
            "user",
            "send-reset",
            "--tenant",
            "acme",
            "--user",
            "kim",
        ],
        "",
    );
    let link = link_in(&mail_to(&world, 1).await[0], "reset-password");
    assert_eq!(Browser::new().get(&link).await.status, StatusCode::OK);
    // The password changes another way (an administrator here).
    world.server.cli(
        BIN,
        &[
            "user",
            "set-password",
            "--tenant",
            "acme",
            "--user",
            "kim",
            "--password-stdin",
        ],
        &format!("{NEW_PASSWORD}\n"),
    );
    let spent = Browser::new().get(&link).await;
    assert_eq!(spent.status, StatusCode::BAD_REQUEST, "{}", spent.body);
}

/// Login CSRF: someone who signs up and sends their own link to another
/// person must not sign that person's browser in to their account. The
/// link verifies the address anywhere, but resumes the sign-in only in the
/// browser that asked for it (its mailed-link cookie).
async fn login_csrf_a_verification_link_opened_in_another_browser_verifies_but_signs_nobody_in(
    world: World,
) {
    settings(&world, "open", "required");
    let mut attacker = Browser::new();
    let pkce = flow::pkce();
    let page = sign_up(&world, &mut attacker, "mallory@example.com", &pkce).await;
    assert!(page.body.contains("Check your email"), "{}", page.body);
    let link = link_in(&mail_to(&world, 1).await[0], "verify-email");
    let mut victim = Browser::new();
    let answer = victim.get(&link).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.location().is_none(), "no redirect with a code");
    assert!(
        answer.set_cookie("holdfast_session").is_none(),
        "no SSO session"
    );
    assert!(answer.body.contains("Email verified"), "{}", answer.body);
    assert!(
        answer.body.contains("Continue to sign in"),
        "{}",
        answer.body
    );
    let user = world
        .server
        .state
        .store
        .users_by_email(&world.fx.tenant.id, "mallory@example.com")
        .await
        .unwrap();
    assert!(
        user[0].email_verified,
        "the address is verified all the same"
    );
    // A mailed-link cookie planted from elsewhere is not the one recorded.
    let mut planted = Browser::new();
    planted.plant("holdfast_flow", &"A".repeat(43), "/t/acme");
    let replay = planted.get(&link).await;
    assert_eq!(
        replay.status,
        StatusCode::BAD_REQUEST,
        "spent: {}",
        replay.body
    );
}

async fn cli_invite_mails_a_link_that_sets_the_first_password_and_verifies_the_address(
    world: World,
) {
    // Invitations work whatever the registration mode (here: invite).
    settings(&world, "invite", "required");
    let invited = world.server.cli(
        BIN,
        &[
            "--public-url",
            world.server.base.as_str(),
            "user",
            "invite",
            "--tenant",
            "acme",
            "--email",
            "grace@example.com",
            "--name",
            "Grace Hopper",
        ],
        "",
    );
    assert_eq!(invited["username"], "grace@example.com");
    assert_eq!(invited["invitation_sent_to"], "grace@example.com");
    let mail = mail_to(&world, 1).await;
    assert!(text_of(&mail[0]).contains("Grace Hopper"), "greets by name");
    let link = link_in(&mail[0], "reset-password");
    assert!(link.contains("token=hfin_"), "{link}");
    // Before the invitation is taken up, no password signs in.
    let url = authorize_url(&world.fx.issuer, &code_request("web", &flow::pkce(), "s"));
    let refused = Browser::new().sign_in(&url, "grace@example.com", "").await;
    assert!(refused.location().is_none());
    let mut browser = Browser::new();
    let page = browser.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Choose a password for your account"),
        "{}",
        page.body
    );
    let form = LoginForm::parse(&page.body).unwrap();
    let mut fields = form.hidden.clone();
    fields.push(("password".into(), NEW_PASSWORD.into()));
    let done = browser.post_form(&form.action, &fields).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    // Verified by the invitation: signing in goes straight through under
    // `required`.
    let signed = Browser::new()
        .sign_in(&url, "grace@example.com", NEW_PASSWORD)
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    // The link works once; inviting a taken address is refused.
    assert_eq!(
        Browser::new().get(&link).await.status,
        StatusCode::BAD_REQUEST
    );
    let again = world.server.cli_output(
        BIN,
        &[
            "user",
            "invite",
            "--tenant",
            "acme",
            "--email",
            "grace@example.com",
        ],
        "",
    );
    assert!(!again.status.success(), "a second invitation is refused");
}

/// `POST {issuer}/api/{path}` as the public client `web`.
async fn api(world: &World, path: &str, pairs: &[(&str, &str)]) -> flow::Json {
    let mut all = vec![("client_id", "web")];
    all.extend_from_slice(pairs);
    flow::post_form(
        &world.server.http(),
        &world.fx.at(&format!("/api/{path}")),
        &all,
    )
    .await
}

/// Signs in at the authorization challenge endpoint; the answer, and the
/// PKCE verifier of its code.
async fn challenge(world: &World, username: &str, password: &str) -> (flow::Json, flow::Pkce) {
    let pkce = flow::pkce();
    let answer = flow::post_form(
        &world.server.http(),
        &world.fx.at("/authorize-challenge"),
        &[
            ("client_id", "web"),
            ("username", username),
            ("password", password),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid profile email"),
        ],
    )
    .await;
    (answer, pkce)
}

/// Signs in through the challenge and redeems its code: the tokens.
async fn first_party_tokens(world: &World, username: &str, password: &str) -> flow::Json {
    let (answer, pkce) = challenge(world, username, password).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let code = answer.str("authorization_code").unwrap().to_owned();
    let tokens = flow::token(
        &world.server.http(),
        &world.fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "web"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    tokens
}

async fn refresh_error(world: &World, refresh_token: &str) -> String {
    let answer = flow::token(
        &world.server.http(),
        &world.fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "web"),
        ],
    )
    .await;
    answer.oauth_error().to_owned()
}

async fn first_party_api_signs_up_verifies_by_code_and_the_challenge_then_signs_in(world: World) {
    settings(&world, "open", "required");
    // No client: refused as at the token endpoint.
    let anonymous = flow::post_form(
        &world.server.http(),
        &world.fx.at("/api/signup"),
        &[("email", "lin@example.com"), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(anonymous.oauth_error(), "invalid_client");
    // Bad input: a clear 400 each, and nothing is created.
    let bad_email = api(
        &world,
        "signup",
        &[("email", "not-an-address"), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(bad_email.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_email.oauth_error(), "invalid_request");
    let huge = "x".repeat(400) + "@example.com";
    let too_long = api(
        &world,
        "signup",
        &[("email", &huge), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(too_long.oauth_error(), "invalid_request");
    let weak = api(
        &world,
        "signup",
        &[("email", "lin@example.com"), ("password", "password")],
    )
    .await;
    assert_eq!(weak.oauth_error(), "invalid_request");
    assert!(
        weak.str("error_description").unwrap().contains("password"),
        "{}",
        weak.text
    );
    let missing = api(&world, "signup", &[("email", "lin@example.com")]).await;
    assert_eq!(missing.oauth_error(), "invalid_request");
    assert!(
        world
            .server
            .state
            .store
            .users_by_email(&world.fx.tenant.id, "lin@example.com")
            .await
            .unwrap()
            .is_empty(),
        "refused sign-ups leave nothing behind"
    );

    let created = api(
        &world,
        "signup",
        &[
            ("email", "lin@example.com"),
            ("password", NEW_PASSWORD),
            ("name", "Lin"),
        ],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    assert_eq!(created.str("status"), Some("verification_required"));
    assert!(created.str("ticket").is_some());
    let first = mail_to(&world, 1).await;
    assert_eq!(first[0].to, ["lin@example.com"]);

    // Signing in before verifying: no code, a newly mailed one instead.
    let (early, _) = challenge(&world, "lin@example.com", NEW_PASSWORD).await;
    assert_eq!(early.status, StatusCode::BAD_REQUEST, "{}", early.text);
    assert_eq!(early.oauth_error(), "insufficient_authorization");
    assert_eq!(early.body["email_verification_required"], true);
    assert!(early.str("authorization_code").is_none());
    let ticket = early.str("ticket").unwrap().to_owned();
    let second = mail_to(&world, 2).await;
    let code = code_in(&second[1]);
    // A wrong password learns nothing of the address.
    let (wrong, _) = challenge(&world, "lin@example.com", "not the password").await;
    assert_eq!(wrong.oauth_error(), "invalid_grant");
    assert!(wrong.str("ticket").is_none());

    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let refused = api(
        &world,
        "verify-email",
        &[("ticket", &ticket), ("code", wrong_code)],
    )
    .await;
    assert_eq!(refused.oauth_error(), "invalid_grant");
    let malformed = api(
        &world,
        "verify-email",
        &[("ticket", &ticket), ("code", "12ab")],
    )
    .await;
    assert_eq!(malformed.oauth_error(), "invalid_request");
    let neither = api(&world, "verify-email", &[("ticket", &ticket)]).await;
    assert_eq!(neither.oauth_error(), "invalid_request");
    let verified = api(
        &world,
        "verify-email",
        &[("ticket", &ticket), ("code", &code)],
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.str("status"), Some("verified"));
    let replayed = api(
        &world,
        "verify-email",
        &[("ticket", &ticket), ("code", &code)],
    )
    .await;
    assert_eq!(replayed.oauth_error(), "invalid_grant");
    // The first mail's link went out before: verifying spent it.
    let first_link = link_in(&first[0], "verify-email");
    let stale = api(
        &world,
        "verify-email",
        &[("token", first_link.split("token=").nth(1).unwrap())],
    )
    .await;
    assert_eq!(stale.oauth_error(), "invalid_grant");
    // An app that opens its own links posts the link's token.
    api(
        &world,
        "signup",
        &[("email", "kai@example.com"), ("password", NEW_PASSWORD)],
    )
    .await;
    let third = mail_to(&world, 3).await;
    assert_eq!(third[2].to, ["kai@example.com"]);
    let link = link_in(&third[2], "verify-email");
    let by_link = api(
        &world,
        "verify-email",
        &[("token", link.split("token=").nth(1).unwrap())],
    )
    .await;
    assert_eq!(by_link.status, StatusCode::OK, "{}", by_link.text);
    first_party_tokens(&world, "kai@example.com", NEW_PASSWORD).await;

    let tokens = first_party_tokens(&world, "lin@example.com", NEW_PASSWORD).await;
    let info = flow::userinfo(
        &world.server.http(),
        &world.fx.issuer,
        tokens.str("access_token").unwrap(),
    )
    .await;
    assert_eq!(info.body["email_verified"], true, "{}", info.text);
    assert_eq!(info.body["name"], "Lin");
    // Where verification is optional the API answers a taken address as a
    // new one (it signs nobody in, so nothing tells them apart).
    settings(&world, "open", "optional");
    let taken = api(
        &world,
        "signup",
        &[("email", "lin@example.com"), ("password", NEW_PASSWORD)],
    )
    .await;
    let fresh = api(
        &world,
        "signup",
        &[("email", "neo@example.com"), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);
    assert_eq!(taken.text, fresh.text);
    assert_eq!(fresh.str("status"), Some("created"));
    // Closed registration: access_denied.
    settings(&world, "closed", "required");
    let closed = api(
        &world,
        "signup",
        &[("email", "kai@example.com"), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(closed.oauth_error(), "access_denied");
}

async fn first_party_api_reset_and_password_change_end_every_session(world: World) {
    create_user(&world, "bo", "bo@example.com", "old kettle lunar 7");
    // The clock stands still here: sessions begun in the same second as a
    // password change end with it too.
    let before = first_party_tokens(&world, "bo", "old kettle lunar 7").await;
    // A code signed in with the old password but not yet redeemed.
    let (pending, pending_pkce) = challenge(&world, "bo", "old kettle lunar 7").await;
    let pending_code = pending.str("authorization_code").unwrap().to_owned();
    // Unknown and known identifiers are answered alike; only one mail.
    let unknown = api(
        &world,
        "forgot-password",
        &[("identifier", "nobody@example.com")],
    )
    .await;
    let known = api(
        &world,
        "forgot-password",
        &[("identifier", "bo@example.com")],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.text, known.text);
    let mail = mail_to(&world, 1).await;
    assert_eq!(mail[0].to, ["bo@example.com"]);
    let link = link_in(&mail[0], "reset-password");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let weak = api(
        &world,
        "reset-password",
        &[("token", &token), ("password", "password")],
    )
    .await;
    assert_eq!(weak.oauth_error(), "invalid_request");
    let forged = api(
        &world,
        "reset-password",
        &[("token", "hfpr_forged"), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(forged.oauth_error(), "invalid_grant");
    let reset = api(
        &world,
        "reset-password",
        &[("token", &token), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert_eq!(reset.str("status"), Some("password_reset"));
    let replay = api(
        &world,
        "reset-password",
        &[("token", &token), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(replay.oauth_error(), "invalid_grant");
    assert_eq!(
        refresh_error(&world, before.str("refresh_token").unwrap()).await,
        "invalid_grant",
        "the reset ended the old session"
    );
    let late = flow::token(
        &world.server.http(),
        &world.fx.issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &pending_code),
            ("client_id", "web"),
            ("code_verifier", &pending_pkce.verifier),
        ],
    )
    .await;
    assert_eq!(
        late.oauth_error(),
        "invalid_grant",
        "the reset spent codes still out"
    );

    // Change, with the user's access token and the current password.
    let now = first_party_tokens(&world, "bo", NEW_PASSWORD).await;
    let access = now.str("access_token").unwrap().to_owned();
    let url = world.fx.at("/api/change-password");
    let http = world.server.http();
    let no_token = flow::read_json(
        http.post(&url)
            .form(&[
                ("current_password", NEW_PASSWORD),
                ("new_password", "third kettle lunar 5"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.oauth_error(), "invalid_token");
    let change = |current: &'static str| {
        let http = http.clone();
        let url = url.clone();
        let access = access.clone();
        async move {
            flow::read_json(
                http.post(&url)
                    .bearer_auth(&access)
                    .form(&[
                        ("current_password", current),
                        ("new_password", "third kettle lunar 5"),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let wrong = change("not my password").await;
    assert_eq!(wrong.oauth_error(), "invalid_grant");
    let changed = change(NEW_PASSWORD).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.str("status"), Some("password_changed"));
    assert_eq!(
        refresh_error(&world, now.str("refresh_token").unwrap()).await,
        "invalid_grant",
        "every session ends, this one too"
    );
    let (old, _) = challenge(&world, "bo", NEW_PASSWORD).await;
    assert_eq!(old.oauth_error(), "invalid_grant");
    first_party_tokens(&world, "bo", "third kettle lunar 5").await;
}
