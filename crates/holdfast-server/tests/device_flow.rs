//! The device authorization grant, RFC 8628, through the real HTTP server
//! on both back ends: a device asks for codes (§3.1–3.2), polls (§3.4,
//! with every §3.5 answer), its user approves in a browser through the
//! hosted login, and the device's poll gets the same tokens a browser
//! sign-in would. The nasty cases: a code approved in one browser cannot
//! be completed from another, a device code works once and for its own
//! client, a denied or expired request never yields tokens, two polls
//! racing for one approval get one set of tokens.
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md §11 is about src/)

mod flow;

use flow::{Browser, Fixture, PASSWORD, USERNAME, post_form, token};
use holdfast_core::client::{ClientKind, GrantType, NewClient};
use holdfast_core::device::GRANT_TYPE;
use holdfast_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

holdfast_testkit::on_both_backends!(
    rfc8628_s3_device_flow_yields_the_tokens_of_a_hosted_sign_in_once,
    rfc8628_s3_5_polling_too_fast_is_slow_down_and_the_interval_grows,
    rfc8628_s3_5_a_denied_request_is_access_denied_and_an_expired_one_expired_token,
    rfc8628_s5_a_request_approved_in_one_browser_cannot_be_completed_from_another,
    rfc8628_s3_1_only_a_client_registered_for_the_device_grant_gets_codes,
    rfc8628_s3_4_racing_polls_of_one_approved_request_get_one_set_of_tokens,
    rfc8414_s2_discovery_names_the_device_authorization_endpoint,
    rfc8628_s5_1_guessing_user_codes_is_rate_limited,
    rfc8628_s5_only_the_first_browser_to_continue_may_go_on,
    rfc8628_s3_5_a_device_that_comes_back_after_the_code_died_hears_expired_token,
    rfc9449_s11_1_a_replayed_proof_at_a_poll_spends_nothing_and_a_fresh_one_binds_the_tokens,
);

/// A tenant `acme` with the fixture's user and a public client `tv` that
/// may use the device grant (its sign-in returns to the device callback).
async fn device_fixture(server: &TestServer) -> Fixture {
    let mut fx = flow::fixture(server, "acme").await;
    let mut new = NewClient::new("tv", ClientKind::Public);
    new.grant_types = vec![
        GrantType::AuthorizationCode,
        GrantType::DeviceCode,
        GrantType::RefreshToken,
    ];
    new.redirect_uris = vec![format!("{}/device/callback", fx.issuer)];
    new.display_name = Some("Living-room TV".into());
    // DPoP proofs are optional for it; without server nonces, so a test
    // can make one in a line.
    new.dpop_nonce_required = Some(false);
    fx.client = server.client(&fx.tenant, new).await.0;
    fx
}

/// `POST {issuer}/device_authorization` for `client_id`.
async fn ask(server: &TestServer, fx: &Fixture, client_id: &str) -> flow::Json {
    post_form(
        &server.http(),
        &fx.at("/device_authorization"),
        &[("client_id", client_id), ("scope", "openid profile")],
    )
    .await
}

/// Codes for the `tv` client.
async fn codes(server: &TestServer, fx: &Fixture) -> Value {
    let answer = ask(server, fx, "tv").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

/// One poll of the token endpoint with `device_code`, as `client_id`.
async fn poll_as(
    server: &TestServer,
    fx: &Fixture,
    client_id: &str,
    device_code: &str,
) -> flow::Json {
    token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", GRANT_TYPE),
            ("device_code", device_code),
            ("client_id", client_id),
        ],
    )
    .await
}

/// One poll as `tv` with the DPoP proof `proof`.
async fn poll_with_proof(
    server: &TestServer,
    fx: &Fixture,
    codes: &Value,
    proof: &str,
) -> flow::Json {
    let response = server
        .http()
        .post(fx.at("/token"))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", GRANT_TYPE),
            ("device_code", codes["device_code"].as_str().unwrap()),
            ("client_id", "tv"),
        ])
        .send()
        .await
        .unwrap();
    flow::read_json(response).await
}

async fn poll(server: &TestServer, fx: &Fixture, codes: &Value) -> flow::Json {
    poll_as(server, fx, "tv", codes["device_code"].as_str().unwrap()).await
}

/// A refresh (RFC 6749 §6) as `tv` with the refresh token of `tokens`.
async fn refresh_as_tv(server: &TestServer, fx: &Fixture, tokens: &flow::Json) -> flow::Json {
    let refresh_token = tokens.body["refresh_token"].as_str().unwrap();
    token(
        &server.http(),
        &fx.issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "tv"),
        ],
    )
    .await
}

fn error_of(answer: &flow::Json) -> &str {
    answer.body["error"].as_str().unwrap_or_default()
}

/// The value of hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..][..html[start..].find('"').unwrap()].to_owned()
}

/// Opens `verification_uri_complete` in `browser` and presses `decision`;
/// the answer to the press.
async fn decide(browser: &mut Browser, codes: &Value, decision: &str) -> flow::Page {
    let page = browser
        .get(codes["verification_uri_complete"].as_str().unwrap())
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = [
        ("csrf_token".to_owned(), hidden(&page.body, "csrf_token")),
        ("user_code".to_owned(), hidden(&page.body, "user_code")),
        ("decision".to_owned(), decision.to_owned()),
    ];
    browser
        .post_form(codes["verification_uri"].as_str().unwrap(), &form)
        .await
}

/// Approves in `browser` and signs in at the hosted login; the URL the
/// login sends the browser back to (the device callback).
async fn approve_and_sign_in(browser: &mut Browser, codes: &Value) -> url::Url {
    let pressed = decide(browser, codes, "approve").await;
    assert_eq!(pressed.status, StatusCode::SEE_OTHER, "{}", pressed.body);
    let login = pressed.location().unwrap();
    assert!(login.path().ends_with("/authorize"), "{login}");
    let signed_in = browser.sign_in(login.as_str(), USERNAME, PASSWORD).await;
    signed_in.location().expect("the login redirects back")
}

async fn rfc8628_s3_device_flow_yields_the_tokens_of_a_hosted_sign_in_once(server: TestServer) {
    let fx = device_fixture(&server).await;
    let codes = codes(&server, &fx).await;
    // §3.2: the response's members, and a user code a person can type.
    assert_eq!(codes["verification_uri"], fx.at("/device"), "{codes}");
    assert_eq!(codes["interval"], 5);
    assert_eq!(codes["expires_in"], 600);
    let user_code = codes["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert!(
        codes["verification_uri_complete"]
            .as_str()
            .unwrap()
            .contains(user_code)
    );
    assert!(codes["device_code"].as_str().unwrap().starts_with("hfdc_"));

    // §3.5: nobody approved yet.
    let pending = poll(&server, &fx, &codes).await;
    assert_eq!(pending.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&pending),
        "authorization_pending",
        "{}",
        pending.text
    );

    // The user types the code in lowercase without the hyphen: the page
    // knows it, names the application and asks to approve.
    let mut browser = Browser::new();
    let typed = user_code.replace('-', "").to_lowercase();
    let page = browser
        .get(&format!("{}?user_code={typed}", fx.at("/device")))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Living-room TV"), "{}", page.body);
    assert!(page.body.contains(user_code), "{}", page.body);

    let back = approve_and_sign_in(&mut browser, &codes).await;
    assert!(
        back.as_str().starts_with(&fx.at("/device/callback")),
        "{back}"
    );
    let done = browser.get(back.as_str()).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Device signed in"), "{}", done.body);

    server.clock.advance(5);
    let tokens = poll(&server, &fx, &codes).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert!(tokens.body["refresh_token"].is_string(), "{}", tokens.text);
    assert!(tokens.body["id_token"].is_string(), "{}", tokens.text);
    let who = flow::userinfo(
        &server.http(),
        &fx.issuer,
        tokens.body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(who.body["sub"], fx.user_id.as_str());

    // Once only; and the verification page no longer knows the code.
    server.clock.advance(5);
    let again = poll(&server, &fx, &codes).await;
    assert_eq!(error_of(&again), "invalid_grant", "{}", again.text);
    let reopened = browser
        .get(codes["verification_uri_complete"].as_str().unwrap())
        .await;
    assert_eq!(reopened.status, StatusCode::NOT_FOUND);

    // The refresh token is an ordinary one.
    let refreshed = refresh_as_tv(&server, &fx, &tokens).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);

    // An unknown device code, and one sent by another client.
    let unknown = poll_as(&server, &fx, "tv", "hfdc_nothing").await;
    assert_eq!(error_of(&unknown), "invalid_grant");
    let other = codes_for_web_refused(&server, &fx).await;
    assert_eq!(other, "unauthorized_client");
    let fresh = self::codes(&server, &fx).await;
    let stolen = poll_as(&server, &fx, "web", fresh["device_code"].as_str().unwrap()).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    assert!(
        ["invalid_grant", "unauthorized_client"].contains(&error_of(&stolen)),
        "{}",
        stolen.text
    );
}

/// The fixture's `web` client (no device grant) asking for codes: its error.
async fn codes_for_web_refused(server: &TestServer, fx: &Fixture) -> String {
    let answer = ask(server, fx, "web").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    error_of(&answer).to_owned()
}

async fn rfc8628_s3_5_polling_too_fast_is_slow_down_and_the_interval_grows(server: TestServer) {
    let fx = device_fixture(&server).await;
    let codes = codes(&server, &fx).await;
    assert_eq!(
        error_of(&poll(&server, &fx, &codes).await),
        "authorization_pending"
    );
    server.clock.advance(2);
    assert_eq!(error_of(&poll(&server, &fx, &codes).await), "slow_down");
    // "increased by 5 seconds for this and all subsequent requests": 10 s now.
    server.clock.advance(6);
    assert_eq!(error_of(&poll(&server, &fx, &codes).await), "slow_down");
    server.clock.advance(16);
    assert_eq!(
        error_of(&poll(&server, &fx, &codes).await),
        "authorization_pending"
    );
}

async fn rfc8628_s3_5_a_denied_request_is_access_denied_and_an_expired_one_expired_token(
    server: TestServer,
) {
    let fx = device_fixture(&server).await;
    let denied = codes(&server, &fx).await;
    let mut browser = Browser::new();
    let pressed = decide(&mut browser, &denied, "deny").await;
    assert_eq!(pressed.status, StatusCode::OK, "{}", pressed.body);
    let answer = poll(&server, &fx, &denied).await;
    assert_eq!(error_of(&answer), "access_denied", "{}", answer.text);

    let late = codes(&server, &fx).await;
    server.clock.advance(601);
    assert_eq!(error_of(&poll(&server, &fx, &late).await), "expired_token");
    // The page does not offer an expired code either.
    let page = browser
        .get(late["verification_uri_complete"].as_str().unwrap())
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

async fn rfc8628_s5_a_request_approved_in_one_browser_cannot_be_completed_from_another(
    server: TestServer,
) {
    let fx = device_fixture(&server).await;
    let codes = codes(&server, &fx).await;
    // An attacker approves their own device's code, then lures the victim
    // through the sign-in: the victim's browser lacks the approving
    // browser's binding, so the callback completes nothing.
    let mut attacker = Browser::new();
    let pressed = decide(&mut attacker, &codes, "approve").await;
    let login = pressed.location().unwrap();
    let mut victim = Browser::new();
    let back = victim
        .sign_in(login.as_str(), USERNAME, PASSWORD)
        .await
        .location()
        .unwrap();
    let refused = victim.get(back.as_str()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    server.clock.advance(5);
    assert_eq!(
        error_of(&poll(&server, &fx, &codes).await),
        "authorization_pending"
    );

    // A forged approval (no CSRF token of this browser) approves nothing.
    let mut forger = Browser::new();
    let forged = forger
        .post_form(
            codes["verification_uri"].as_str().unwrap(),
            &[
                (
                    "user_code".to_owned(),
                    codes["user_code"].as_str().unwrap().to_owned(),
                ),
                ("decision".to_owned(), "approve".to_owned()),
                ("csrf_token".to_owned(), "1.AAAA".to_owned()),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
}

async fn rfc8628_s3_1_only_a_client_registered_for_the_device_grant_gets_codes(server: TestServer) {
    let fx = device_fixture(&server).await;
    assert_eq!(
        codes_for_web_refused(&server, &fx).await,
        "unauthorized_client"
    );
    // The grant without the callback: refused too, saying what is missing.
    let mut new = NewClient::new("kiosk", ClientKind::Public);
    new.grant_types = vec![GrantType::AuthorizationCode, GrantType::DeviceCode];
    new.redirect_uris = vec![flow::REDIRECT_URI.to_owned()];
    server.client(&fx.tenant, new).await;
    let answer = ask(&server, &fx, "kiosk").await;
    assert_eq!(error_of(&answer), "unauthorized_client", "{}", answer.text);
    assert!(answer.text.contains("device/callback"), "{}", answer.text);
    // An unknown client, and a scope beyond the client's.
    let unknown = ask(&server, &fx, "nobody").await;
    assert_eq!(error_of(&unknown), "invalid_client");
    let wide = post_form(
        &server.http(),
        &fx.at("/device_authorization"),
        &[("client_id", "tv"), ("scope", "openid admin:everything")],
    )
    .await;
    assert_eq!(error_of(&wide), "invalid_scope", "{}", wide.text);
}

async fn rfc8628_s3_4_racing_polls_of_one_approved_request_get_one_set_of_tokens(
    server: TestServer,
) {
    let fx = device_fixture(&server).await;
    let codes = codes(&server, &fx).await;
    let mut browser = Browser::new();
    let back = approve_and_sign_in(&mut browser, &codes).await;
    browser.get(back.as_str()).await;
    let polls = (0..6).map(|_| poll(&server, &fx, &codes));
    let answers = futures_util::future::join_all(polls).await;
    let granted = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(
        granted,
        1,
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_eq!(error_of(refused), "invalid_grant", "{}", refused.text);
    }
    // The winner's tokens were not revoked by the losers.
    let winner = answers.iter().find(|a| a.status == StatusCode::OK).unwrap();
    let who = flow::userinfo(
        &server.http(),
        &fx.issuer,
        winner.body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(who.status, StatusCode::OK, "{}", who.text);
}

async fn rfc8414_s2_discovery_names_the_device_authorization_endpoint(server: TestServer) {
    let fx = device_fixture(&server).await;
    let metadata: Value = server
        .http()
        .get(fx.at("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["device_authorization_endpoint"],
        fx.at("/device_authorization")
    );
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from(GRANT_TYPE))
    );
}

async fn rfc8628_s5_1_guessing_user_codes_is_rate_limited(server: TestServer) {
    let fx = device_fixture(&server).await;
    let codes = codes(&server, &fx).await;
    let mut browser = Browser::new();
    // Guesses from one address, each a different well-formed code.
    let alphabet = holdfast_core::device::USER_CODE_ALPHABET;
    let mut statuses = Vec::new();
    for i in 0..80 {
        let guess: String = (0..8)
            .map(|k| char::from(alphabet[(i * 7 + k * 3) % alphabet.len()]))
            .collect();
        let page = browser
            .get(&format!("{}?user_code={guess}", fx.at("/device")))
            .await;
        statuses.push(page.status);
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        statuses.len() > 5,
        "a person's few typos pass: {statuses:?}"
    );
    // Once limited, the address learns nothing, even about a real code.
    let real = browser
        .get(codes["verification_uri_complete"].as_str().unwrap())
        .await;
    assert_eq!(real.status, StatusCode::TOO_MANY_REQUESTS);
    // The limit lifts with time (the first request expired meanwhile).
    server.clock.advance(16 * 60);
    let fresh = self::codes(&server, &fx).await;
    let later = browser
        .get(fresh["verification_uri_complete"].as_str().unwrap())
        .await;
    assert_eq!(later.status, StatusCode::OK, "{}", later.body);
}

async fn rfc8628_s5_only_the_first_browser_to_continue_may_go_on(server: TestServer) {
    let fx = device_fixture(&server).await;
    let codes = codes(&server, &fx).await;
    let mut owner = Browser::new();
    let first = decide(&mut owner, &codes, "approve").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    // Someone who saw the code on the owner's screen cannot take over.
    let mut onlooker = Browser::new();
    let second = decide(&mut onlooker, &codes, "approve").await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    // Nor cancel the owner's sign-in under way.
    let cancel = decide(&mut onlooker, &codes, "deny").await;
    assert_eq!(cancel.status, StatusCode::CONFLICT, "{}", cancel.body);
    // The owner pressing Continue again (back button) goes on, to the
    // same sign-in.
    let again = decide(&mut owner, &codes, "approve").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(again.location(), first.location());
    let back = owner
        .sign_in(first.location().unwrap().as_str(), USERNAME, PASSWORD)
        .await
        .location()
        .unwrap();
    let done = owner.get(back.as_str()).await;
    assert!(done.body.contains("Device signed in"), "{}", done.body);
    server.clock.advance(5);
    assert_eq!(poll(&server, &fx, &codes).await.status, StatusCode::OK);
    // A deny that comes after the sign-in finished changes nothing: the
    // code is no longer open.
    let late = codes_then_approved_elsewhere(&server, &fx).await;
    assert_eq!(late.status, StatusCode::NOT_FOUND, "{}", late.body);
}

/// A request approved in one browser and then denied from another: the
/// denying browser's answer.
async fn codes_then_approved_elsewhere(server: &TestServer, fx: &Fixture) -> flow::Page {
    let codes = codes(server, fx).await;
    let mut denier = Browser::new();
    let page = denier
        .get(codes["verification_uri_complete"].as_str().unwrap())
        .await;
    let mut approver = Browser::new();
    let back = approve_and_sign_in(&mut approver, &codes).await;
    approver.get(back.as_str()).await;
    denier
        .post_form(
            codes["verification_uri"].as_str().unwrap(),
            &[
                ("csrf_token".to_owned(), hidden(&page.body, "csrf_token")),
                ("user_code".to_owned(), hidden(&page.body, "user_code")),
                ("decision".to_owned(), "deny".to_owned()),
            ],
        )
        .await
}

async fn rfc8628_s3_5_a_device_that_comes_back_after_the_code_died_hears_expired_token(
    server: TestServer,
) {
    let fx = device_fixture(&server).await;
    let codes = codes(&server, &fx).await;
    let mut browser = Browser::new();
    let back = approve_and_sign_in(&mut browser, &codes).await;
    browser.get(back.as_str()).await;
    // The sign-in's code lives a minute; the device slept through it.
    server.clock.advance(61);
    let answer = poll(&server, &fx, &codes).await;
    assert_eq!(error_of(&answer), "expired_token", "{}", answer.text);
}

async fn rfc9449_s11_1_a_replayed_proof_at_a_poll_spends_nothing_and_a_fresh_one_binds_the_tokens(
    server: TestServer,
) {
    use holdfast_dpop::DpopAlg;
    use holdfast_dpop::client::{DpopKey, ProofClaims};
    let fx = device_fixture(&server).await;
    let codes = codes(&server, &fx).await;
    let key = DpopKey::generate(DpopAlg::ES256).unwrap();
    let proof = |key: &DpopKey| {
        key.proof(&ProofClaims::new(
            "POST",
            &fx.at("/token"),
            server.state.now(),
        ))
        .unwrap()
    };
    let first = proof(&key);
    let pending = poll_with_proof(&server, &fx, &codes, &first).await;
    assert_eq!(
        error_of(&pending),
        "authorization_pending",
        "{}",
        pending.text
    );
    let mut browser = Browser::new();
    let back = approve_and_sign_in(&mut browser, &codes).await;
    browser.get(back.as_str()).await;
    server.clock.advance(5);
    // The same proof again: refused, and the approval is still there.
    let replayed = poll_with_proof(&server, &fx, &codes, &first).await;
    assert_eq!(
        error_of(&replayed),
        "invalid_dpop_proof",
        "{}",
        replayed.text
    );
    let fresh = poll_with_proof(&server, &fx, &codes, &proof(&key)).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
    assert_eq!(fresh.body["token_type"], "DPoP");
    // RFC 9449 §5: the public client's refresh token is bound to the key.
    let unbound = refresh_as_tv(&server, &fx, &fresh).await;
    assert_eq!(unbound.status, StatusCode::BAD_REQUEST, "{}", unbound.text);
}
