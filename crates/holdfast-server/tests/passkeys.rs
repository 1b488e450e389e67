//! Passkeys (issue 15, WebAuthn Level 3) at the HTTP edge, on both
//! stores, with a server whose public URL is `http://localhost:{port}`
//! (WebAuthn has no relying party on an IP address). The ceremonies
//! themselves run in Chromium's virtual authenticator
//! (`clients/js/test/passkeys.test.mjs`); here: where passkeys are
//! offered, the CSP that lets only the server's own script run, and
//! answers a client can send that must be refused with a 4xx and a clear
//! page, writing nothing: malformed JSON, well-formed garbage, a replayed
//! or tampered sealed state, another browser's state, a huge answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flow;

use flow::{Browser, LoginForm, Page, authorize_url, code_request};
use holdfast_server::config::ServerConfig;
use holdfast_testkit::{Backend, TestServer};
use reqwest::StatusCode;

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
    webauthn_passkeys_are_offered_where_the_public_url_has_a_domain,
    webauthn_answers_that_do_not_verify_are_refused_with_a_page_and_write_nothing,
);

struct World {
    server: TestServer,
    fx: flow::Fixture,
}

async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(World) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(server) = TestServer::start_with(
        backend,
        ServerConfig {
            public_url: Some("http://localhost:0/".parse().unwrap()),
            ..ServerConfig::default()
        },
    )
    .await
    else {
        return;
    };
    let fx = flow::fixture(&server, "acme").await;
    test(World { server, fx }).await;
}

fn passkey_form(page: &Page) -> LoginForm {
    let at = page
        .body
        .find("<form id=\"passkey-form\"")
        .unwrap_or_else(|| panic!("no passkey form in {}", page.body));
    LoginForm::parse(&page.body[at..]).unwrap()
}

async fn login_page(world: &World, browser: &mut Browser) -> Page {
    let url = authorize_url(&world.fx.issuer, &code_request("web", &flow::pkce(), "s"));
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page
}

/// Posts the passkey form with `answer` as the credential (and the
/// form's own sealed state unless `state` is given).
async fn answer(
    browser: &mut Browser,
    form: &LoginForm,
    answer: &str,
    state: Option<&str>,
) -> Page {
    let mut fields = form.hidden.clone();
    for (k, v) in &mut fields {
        if k == "passkey_credential" {
            *v = answer.to_owned();
        }
        if let (Some(state), "passkey_state") = (state, k.as_str()) {
            *v = state.to_owned();
        }
    }
    browser.post_form(&form.action, &fields).await
}

async fn webauthn_passkeys_are_offered_where_the_public_url_has_a_domain(world: World) {
    assert_eq!(world.server.base.host_str(), Some("localhost"));
    let mut browser = Browser::new();
    let page = login_page(&world, &mut browser).await;
    let form = passkey_form(&page);
    assert!(form.action.ends_with("/t/acme/login"), "{}", form.action);
    assert!(form.hidden("passkey_state").is_some_and(|s| s.len() > 40));
    assert!(
        page.body.contains("autocomplete=\"username webauthn\""),
        "the username field offers passkeys in its autofill"
    );
    // The options are WebAuthn request options for this RP, with a
    // challenge and user verification required.
    let start = page.body.find("data-options=\"").unwrap() + "data-options=\"".len();
    let end = start + page.body[start..].find('"').unwrap();
    let options: serde_json::Value =
        serde_json::from_str(&flow::decode_entities(&page.body[start..end])).unwrap();
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert!(options["publicKey"]["challenge"].as_str().unwrap().len() >= 43);
    // Only the server's own script runs (no inline script).
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let script = reqwest::get(world.server.url("/assets/passkeys.js"))
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains("navigator.credentials")
    );
    // The RP ID is a tenant setting: the host or a suffix of it, nothing else.
    let base = world.server.base.as_str().trim_end_matches('/').to_owned();
    let set = |value: &str| {
        world.server.cli_output(
            BIN,
            &[
                "--public-url",
                &base,
                "tenant",
                "update",
                "acme",
                "--passkey-rp-id",
                value,
            ],
            "",
        )
    };
    let refused = set("evil.example");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("relying-party ID"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let kept = set("localhost");
    assert!(
        kept.status.success(),
        "{}",
        String::from_utf8_lossy(&kept.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&kept.stdout).unwrap();
    assert_eq!(shown["passkey_rp_id"], "localhost");
    // A server on an IP address has no RP ID: no passkey form at all.
    let Some(bare) = TestServer::start(world.server.backend).await else {
        return;
    };
    let fx = flow::fixture(&bare, "acme").await;
    let url = authorize_url(&fx.issuer, &code_request("web", &flow::pkce(), "s"));
    let page = Browser::new().get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("passkey-form"), "{}", page.body);
}

async fn webauthn_answers_that_do_not_verify_are_refused_with_a_page_and_write_nothing(
    world: World,
) {
    let mut browser = Browser::new();
    let page = login_page(&world, &mut browser).await;
    let form = passkey_form(&page);
    let state = form.hidden("passkey_state").unwrap().to_owned();
    // Not JSON: refused before the state is touched.
    let refused = answer(&mut browser, &form, "{not json", None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("could not be checked"),
        "{}",
        refused.body
    );
    assert!(refused.login_form().is_some(), "the login page again");
    // Well-formed, but nothing an authenticator signed.
    let garbage = r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"authenticatorData":"AAAA","clientDataJSON":"e30","signature":"AAAA","userHandle":"AAAAAAAAAAAAAAAAAAAAAA"}}"#;
    let refused = answer(&mut browser, &form, garbage, None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.set_cookie("holdfast_session").is_none());
    // That spent the ceremony: the same state again is stale.
    let again = answer(&mut browser, &form, garbage, None).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(again.body.contains("expired"), "{}", again.body);
    // A tampered sealed state does not open.
    let fresh = passkey_form(&again);
    let mut flipped = fresh.hidden("passkey_state").unwrap().to_owned();
    let last = if flipped.ends_with('A') { "B" } else { "A" };
    flipped.replace_range(flipped.len() - 1.., last);
    let tampered = answer(&mut browser, &fresh, garbage, Some(&flipped)).await;
    assert_eq!(
        tampered.status,
        StatusCode::BAD_REQUEST,
        "{}",
        tampered.body
    );
    assert!(tampered.body.contains("expired"), "{}", tampered.body);
    // Another browser's state (valid CSRF here, state sealed to that one).
    let mut stranger = Browser::new();
    let theirs = passkey_form(&login_page(&world, &mut stranger).await);
    let foreign = answer(
        &mut browser,
        &passkey_form(&tampered),
        garbage,
        theirs.hidden("passkey_state"),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST, "{}", foreign.body);
    assert!(foreign.body.contains("expired"), "{}", foreign.body);
    // A huge answer is refused by the body limit, not parsed: a 413, or
    // the connection closed before the server read it all.
    let mut fields = form.hidden.clone();
    fields.push(("passkey_credential".into(), "x".repeat(2 * 1024 * 1024)));
    fields.push(("passkey_state".into(), state.clone()));
    match world
        .server
        .http()
        .post(&form.action)
        .form(&fields)
        .send()
        .await
    {
        Ok(r) => assert!(r.status().is_client_error(), "{}", r.status()),
        Err(e) => assert!(!e.is_timeout() && !e.is_decode(), "{e}"),
    }

    // The account page: a garbage registration, a bad name, and renaming
    // or removing a credential that is not the user's.
    let mut account = Browser::new();
    let signed = account
        .sign_in(&world.fx.at("/account"), flow::USERNAME, flow::PASSWORD)
        .await;
    let page = if signed.status == StatusCode::SEE_OTHER {
        account.get(&world.fx.at("/account")).await
    } else {
        signed
    };
    let add = passkey_form(&page);
    assert!(
        add.action.ends_with("/account/passkeys/add"),
        "{}",
        add.action
    );
    let mut fields = add.hidden.clone();
    fields.push(("name".into(), "Laptop".into()));
    for (k, v) in &mut fields {
        if k == "passkey_credential" {
            *v = r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"attestationObject":"oA","clientDataJSON":"e30"}}"#.into();
        }
    }
    let refused = account.post_form(&add.action, &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("could not be checked"),
        "{}",
        refused.body
    );
    let add = passkey_form(&refused);
    let mut fields = add.hidden.clone();
    fields.push(("name".into(), "n".repeat(65)));
    let refused = account.post_form(&add.action, &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("a name of 1 to 64"),
        "{}",
        refused.body
    );
    let csrf = add.hidden("csrf_token").unwrap().to_owned();
    let rename = account
        .post_form(
            &world.fx.at("/account/passkeys/rename"),
            &[
                ("csrf_token".into(), csrf.clone()),
                ("credential_id".into(), "c29tZW9uZSBlbHNlJ3M".into()),
                ("name".into(), "Mine now".into()),
            ],
        )
        .await;
    assert_eq!(rename.status, StatusCode::BAD_REQUEST, "{}", rename.body);
    assert!(rename.body.contains("not registered"), "{}", rename.body);
    let remove = account
        .post_form(
            &world.fx.at("/account/passkeys/remove"),
            &[
                ("csrf_token".into(), csrf),
                ("credential_id".into(), "c29tZW9uZSBlbHNlJ3M".into()),
            ],
        )
        .await;
    assert!(remove.status.is_client_error(), "{}", remove.body);
    let stored = world
        .server
        .state
        .store
        .passkeys(&world.fx.tenant.id, &world.fx.user_id)
        .await
        .unwrap();
    assert!(stored.is_empty(), "nothing was registered: {stored:?}");
}
