//! Unit tests of the module above.

use super::*;

#[test]
fn defaults_fill_grant_types_and_scopes() {
    let c = NewClient::new("web", ClientKind::Public)
        .validate()
        .unwrap();
    assert_eq!(
        c.grant_types,
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    );
    assert_eq!(c.scopes, vec!["openid", "profile", "email"]);
    assert_eq!(c.refresh, RefreshPolicy::default());
}

#[test]
fn rfc6749_s4_4_public_clients_cannot_use_client_credentials() {
    let mut c = NewClient::new("spa", ClientKind::Public);
    c.grant_types = vec![GrantType::ClientCredentials];
    assert!(c.validate().is_err());
    let mut c = NewClient::new("svc", ClientKind::Confidential);
    c.grant_types = vec![GrantType::ClientCredentials];
    assert!(c.validate().is_ok());
}

#[test]
fn rotation_none_needs_confidential_or_dpop() {
    let none = RefreshPolicy {
        rotation: RotationMode::None,
        ..Default::default()
    };
    assert!(validate_refresh_policy(&none, ClientKind::Public, false).is_err());
    assert!(validate_refresh_policy(&none, ClientKind::Public, true).is_ok());
    assert!(validate_refresh_policy(&none, ClientKind::Confidential, false).is_ok());
}

#[test]
fn design_s4_unbound_grace_opt_in_only_where_it_changes_something() {
    let opted = RefreshPolicy {
        unbound_grace_accept_risk: true,
        ..Default::default()
    };
    assert!(validate_refresh_policy(&opted, ClientKind::Public, false).is_ok());
    assert!(validate_refresh_policy(&opted, ClientKind::Public, true).is_err());
    assert!(validate_refresh_policy(&opted, ClientKind::Confidential, false).is_err());
    for rotation in [RotationMode::Strict, RotationMode::None] {
        let p = RefreshPolicy { rotation, ..opted };
        assert!(validate_refresh_policy(&p, ClientKind::Public, false).is_err());
    }
    assert!(
        !RefreshPolicy::default().unbound_grace_accept_risk,
        "off by default"
    );
}

#[test]
fn rfc6749_s3_1_2_redirect_uris_are_absolute_without_fragment() {
    for ok in [
        "https://app.example.com/cb",
        "http://localhost:3000/cb",
        "http://127.0.0.1/cb",
        "com.example.app:/oauth",
    ] {
        assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
    }
    for bad in [
        "/relative",
        "https://app.example.com/cb#frag",
        "http://app.example.com/cb",
        "javascript:alert(1)",
        "data:text/html,x",
    ] {
        assert!(validate_redirect_uri(bad).is_err(), "{bad}");
    }
}

#[test]
fn allowed_origins_default_to_the_redirect_uris_origins() {
    let mut c = NewClient::new("spa", ClientKind::Public);
    c.redirect_uris = vec![
        "https://app.example.com/cb".into(),
        "https://app.example.com/other".into(),
        "com.example.app:/x".into(),
    ];
    assert_eq!(
        c.validate().unwrap().allowed_origins,
        vec!["https://app.example.com"]
    );
    assert!(validate_origin("https://app.example.com").is_ok());
    assert!(validate_origin("http://localhost:5173").is_ok());
    for bad in [
        "https://app.example.com/",
        "https://app.example.com/path",
        "null",
        "file:///x",
    ] {
        assert!(validate_origin(bad).is_err(), "{bad}");
    }
}

#[test]
fn rfc6749_s3_3_scope_tokens_exclude_space_quote_and_backslash() {
    assert!(validate_scope_token("read:items").is_ok());
    for bad in ["", "a b", "a\"b", "a\\b", "é"] {
        assert!(validate_scope_token(bad).is_err(), "{bad}");
    }
}

fn client_with_resources(resources: &[&str]) -> Client {
    let mut n = NewClient::new("svc", ClientKind::Confidential);
    n.resources = resources.iter().map(|r| (*r).to_owned()).collect();
    let n = n.validate().unwrap();
    Client {
        id: "1".into(),
        tenant_id: "t".into(),
        client_id: n.client_id,
        kind: n.kind,
        redirect_uris: n.redirect_uris,
        grant_types: n.grant_types,
        scopes: n.scopes,
        access_token_ttl_secs: n.access_token_ttl_secs,
        refresh: n.refresh,
        dpop_required: false,
        refresh_token_in_cookie: false,
        allowed_origins: n.allowed_origins,
        dpop_nonce_required: false,
        mfa_required: false,
        display_name: None,
        resources: n.resources,
        id_token_signed_response_alg: None,
        backchannel_logout: None,
        created_at: 0,
    }
}

#[test]
fn rfc8707_s2_only_listed_resources_and_the_default_audience_are_permitted() {
    const DEFAULT: &str = "https://id.example/t/acme";
    let c = client_with_resources(&["https://api.example/orders"]);
    assert_eq!(c.permitted_resource(None, DEFAULT), Ok(None));
    assert_eq!(
        c.permitted_resource(Some("https://api.example/orders"), DEFAULT),
        Ok(Some("https://api.example/orders".to_owned()))
    );
    assert_eq!(
        c.permitted_resource(Some(DEFAULT), DEFAULT),
        Ok(Some(DEFAULT.to_owned()))
    );
    for other in [
        "https://bank.example/api",
        "https://api.example/orders/",
        "HTTPS://api.example/orders",
    ] {
        assert_eq!(
            c.permitted_resource(Some(other), DEFAULT),
            Err(ResourceError::NotAllowed),
            "{other}"
        );
    }
    assert_eq!(
        c.permitted_resource(Some("https://api.example/x#f"), DEFAULT),
        Err(ResourceError::Malformed)
    );
    // Without a list, only the default audience.
    let plain = client_with_resources(&[]);
    assert_eq!(
        plain.permitted_resource(Some("https://api.example/orders"), DEFAULT),
        Err(ResourceError::NotAllowed)
    );
}

#[test]
fn rfc8707_s2_registered_resources_must_be_absolute_without_fragment() {
    for bad in ["/relative", "https://api.example/#f", "urn"] {
        let mut n = NewClient::new("svc", ClientKind::Confidential);
        n.resources = vec![bad.to_owned()];
        assert!(n.validate().is_err(), "{bad}");
    }
}

#[test]
fn redirect_uris_match_exactly() {
    let mut c = NewClient::new("web", ClientKind::Public);
    c.redirect_uris = vec!["https://app.example.com/cb".into()];
    let c = c.validate().unwrap();
    let client = Client {
        id: "1".into(),
        tenant_id: "t".into(),
        client_id: c.client_id,
        kind: c.kind,
        redirect_uris: c.redirect_uris,
        grant_types: c.grant_types,
        scopes: c.scopes,
        access_token_ttl_secs: c.access_token_ttl_secs,
        refresh: c.refresh,
        dpop_required: c.dpop_required,
        refresh_token_in_cookie: false,
        allowed_origins: c.allowed_origins,
        dpop_nonce_required: false,
        mfa_required: false,
        display_name: None,
        resources: c.resources,
        id_token_signed_response_alg: None,
        backchannel_logout: None,
        created_at: 0,
    };
    assert!(client.redirect_uri_is_registered("https://app.example.com/cb"));
    assert!(!client.redirect_uri_is_registered("https://app.example.com/cb/"));
    assert!(!client.redirect_uri_is_registered("https://app.example.com/cb?x=1"));
    assert!(!client.redirect_uri_is_registered("HTTPS://app.example.com/cb"));
}
