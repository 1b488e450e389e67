//! The administration tenant ([`ADMIN_TENANT`]): the people and clients
//! that administer this server through the admin API and the console.
//!
//! - [`bootstrap`] (`holdfast admin bootstrap`) makes the tenant, the
//!   console's client, the first administrator and, if asked, a
//!   client-credentials client for automation.
//! - [`grant`] (`holdfast admin grant`) gives a person of the tenant the
//!   whole server or one tenant.
//! - [`ensure_builtin_clients`] keeps the console's public client and the
//!   CLI's ([`CLI_CLIENT_ID`], for `holdfast --server URL login`, the
//!   device authorization grant of RFC 8628) registered for this server's
//!   public URL; `serve` calls it at start, so both follow a changed
//!   `--public-url`.
//!
//! Permissions are scopes (`holdfast_core::admin`): the console asks for
//! `holdfast:admin` and a person's grants narrow it.

use holdfast_core::admin::{SERVER_SCOPE, tenant_scope};
use holdfast_core::client::{Client, ClientKind, GrantType, NewClient};
use holdfast_core::keys::SigningAlg;
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::user::User;
use holdfast_crypto::secret::{SecretString, generate_token};
use url::Url;

use crate::service::admin::{self, Actor, AdminError, NewTenant};
use crate::state::AppState;

/// The slug of the administration tenant.
pub const ADMIN_TENANT: &str = "admin";
/// The `client_id` of the console, a public client of [`ADMIN_TENANT`].
pub const CONSOLE_CLIENT_ID: &str = "console";
/// The `client_id` of the command line's `login` (RFC 8628 device
/// authorization grant), a public client of [`ADMIN_TENANT`].
pub const CLI_CLIENT_ID: &str = "holdfast-cli";

/// Where the console is served and where it receives the authorization
/// response: `{public_url}/admin/`.
pub fn console_url(public_url: &Url) -> String {
    let mut url = public_url.clone();
    url.set_path(&format!(
        "{}/admin/",
        public_url.path().trim_end_matches('/')
    ));
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// The administration tenant, if it exists yet.
pub async fn administration_tenant(state: &AppState) -> Result<Option<Tenant>, AdminError> {
    let slug = TenantSlug::parse(ADMIN_TENANT)?;
    Ok(state.store.tenant_by_slug(&slug).await?)
}

/// The console's client as it should be for `public_url`: public, DPoP
/// bound (RFC 9449), code + refresh, asking for the admin scope.
fn console_client(public_url: &Url, _tenant: &Tenant, existing: Option<&Client>) -> NewClient {
    let mut new = match existing {
        Some(c) => NewClient::of(c),
        None => {
            let mut n = NewClient::new(CONSOLE_CLIENT_ID, ClientKind::Public);
            n.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
            n.scopes = vec!["openid".into(), "profile".into(), SERVER_SCOPE.into()];
            n.display_name = Some("Holdfast console".into());
            n
        }
    };
    new.dpop_required = true;
    let redirect = console_url(public_url);
    if !new.redirect_uris.contains(&redirect) {
        new.redirect_uris.push(redirect);
    }
    let origin = public_url.origin().ascii_serialization();
    if !new.allowed_origins.contains(&origin) {
        new.allowed_origins.push(origin);
    }
    new
}

/// The CLI's client as it should be for `public_url`: public, the device
/// grant (whose sign-in runs through the hosted login, hence the code
/// grant and the device callback as its redirect URI) and refresh, asking
/// for the admin scope. An existing client keeps its grants as an
/// administrator left them: removing its device grant turns the CLI's
/// `login` off for good (an administrators' phishing surface some
/// operators will not want, RFC 8628 §5.4); it only follows a changed
/// public URL while it still has the grant.
fn cli_client(public_url: &Url, tenant: &Tenant, existing: Option<&Client>) -> NewClient {
    let mut new = match existing {
        Some(c) => NewClient::of(c),
        None => {
            let mut n = NewClient::new(CLI_CLIENT_ID, ClientKind::Public);
            n.grant_types = vec![
                GrantType::AuthorizationCode,
                GrantType::DeviceCode,
                GrantType::RefreshToken,
            ];
            n.scopes = vec!["openid".into(), "profile".into(), SERVER_SCOPE.into()];
            n.display_name = Some("Holdfast command line".into());
            n
        }
    };
    let issuer = holdfast_core::tenant::issuer_url(public_url, &tenant.slug);
    let redirect = crate::service::device::callback_url(&issuer);
    if new.grant_types.contains(&GrantType::DeviceCode) && !new.redirect_uris.contains(&redirect) {
        new.redirect_uris.push(redirect);
    }
    new
}

/// Registers the console's and the CLI's clients in `tenant`, or adds
/// this server's URLs to them when they lack them (another public URL, an
/// older bootstrap). Changes nothing when they are already right.
pub async fn ensure_builtin_clients(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
) -> Result<(), AdminError> {
    ensure_client(state, tenant, actor, CONSOLE_CLIENT_ID, console_client).await?;
    ensure_client(state, tenant, actor, CLI_CLIENT_ID, cli_client).await
}

async fn ensure_client(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    client_id: &str,
    wanted: fn(&Url, &Tenant, Option<&Client>) -> NewClient,
) -> Result<(), AdminError> {
    let existing = state
        .store
        .client_by_client_id(&tenant.id, client_id)
        .await?
        .map(|record| record.client);
    let wanted = wanted(&state.public_url, tenant, existing.as_ref());
    match existing {
        None => match admin::create_client(state, tenant, actor, wanted).await {
            // Another node registered it at the same moment.
            Ok(_) | Err(AdminError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        },
        Some(current) if NewClient::of(&current) == wanted => Ok(()),
        Some(current) => {
            admin::update_client(state, tenant, actor, &current, None, wanted).await?;
            Ok(())
        }
    }
}

/// What [`bootstrap`] asks for.
#[derive(Debug)]
pub struct BootstrapRequest {
    /// The first administrator's username.
    pub username: String,
    /// Their email address (for password resets), if any.
    pub email: Option<String>,
    /// Their password; one is generated (and returned once) without it.
    pub password: Option<SecretString>,
    /// A confidential client-credentials client to create for automation,
    /// with scope `holdfast:admin`.
    pub automation_client: Option<String>,
}

/// What [`bootstrap`] made.
#[derive(Debug)]
pub struct Bootstrapped {
    /// The administration tenant.
    pub tenant: Tenant,
    /// Whether this call created it.
    pub tenant_created: bool,
    /// The first administrator.
    pub user: User,
    /// Their password, when it was generated here (shown once).
    pub generated_password: Option<SecretString>,
    /// The automation client's id and secret (shown once).
    pub automation: Option<(String, SecretString)>,
}

/// Makes the administration tenant (if missing), the console's client and
/// a whole-server administrator.
pub async fn bootstrap(
    state: &AppState,
    actor: &Actor,
    request: BootstrapRequest,
) -> Result<Bootstrapped, AdminError> {
    let (tenant, tenant_created) = match administration_tenant(state).await? {
        Some(t) => (t, false),
        None => {
            let new = NewTenant {
                slug: ADMIN_TENANT.to_owned(),
                display_name: Some("Holdfast administration".to_owned()),
                signing_alg: SigningAlg::ES256,
                audience: None,
            };
            match admin::create_tenant(state, actor, new).await {
                Ok(t) => (t, true),
                Err(AdminError::Conflict(_)) => (admin::tenant(state, ADMIN_TENANT).await?, false),
                Err(e) => Err(e)?,
            }
        }
    };
    ensure_builtin_clients(state, &tenant, actor).await?;
    let (password, generated_password) = match request.password {
        Some(p) => (p, None),
        None => {
            let p = generate_token("")?;
            (p.clone(), Some(p))
        }
    };
    let user = admin::create_user(
        state,
        &tenant,
        actor,
        &request.username,
        request.email.as_deref(),
        password,
    )
    .await?;
    state.store.grant_admin(&user.id, SERVER_SCOPE).await?;
    granted_event(state, &tenant, actor, &user, SERVER_SCOPE).await?;
    let automation = match request.automation_client {
        Some(client_id) => {
            let mut new = NewClient::new(&client_id, ClientKind::Confidential);
            new.grant_types = vec![GrantType::ClientCredentials];
            new.scopes = vec![SERVER_SCOPE.to_owned()];
            new.display_name = Some("Automation".to_owned());
            let (_, secret) = admin::create_client(state, &tenant, actor, new).await?;
            secret.map(|s| (client_id, s))
        }
        None => None,
    };
    Ok(Bootstrapped {
        tenant,
        tenant_created,
        user,
        generated_password,
        automation,
    })
}

/// Who a grant is for: the whole server or one tenant.
#[derive(Debug, Clone)]
pub enum GrantReach {
    /// Every tenant (`holdfast:admin`).
    Server,
    /// One tenant, by slug (`holdfast:admin:{slug}`).
    Tenant(String),
}

/// Gives `username` of the administration tenant `reach`; the scope
/// granted. Takes effect on the person's next call: tokens already issued
/// carry the scope the console asked for, and grants are read per call.
pub async fn grant(
    state: &AppState,
    actor: &Actor,
    username: &str,
    reach: &GrantReach,
) -> Result<String, AdminError> {
    let Some(tenant) = administration_tenant(state).await? else {
        return Err(AdminError::NotFound(
            "this server has no administration tenant yet: run `holdfast admin bootstrap`".into(),
        ));
    };
    let scope = match reach {
        GrantReach::Server => SERVER_SCOPE.to_owned(),
        GrantReach::Tenant(slug) => {
            // The tenant must exist: a grant for a typo would reach nothing.
            let target = admin::tenant(state, slug).await?;
            tenant_scope(target.slug.as_str())
        }
    };
    let user = admin::user(state, &tenant, username).await?;
    state.store.grant_admin(&user.id, &scope).await?;
    granted_event(state, &tenant, actor, &user, &scope).await?;
    Ok(scope)
}

async fn granted_event(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    user: &User,
    scope: &str,
) -> Result<(), AdminError> {
    let event = admin::audit_event(
        state,
        tenant,
        actor,
        "user_admin",
        Some(&user.id),
        None,
        &format!("admin_granted:{scope}"),
    );
    Ok(state.store.record_event(&event).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_lives_under_the_public_urls_path() {
        let at_root = Url::parse("https://auth.example.com/").unwrap();
        assert_eq!(console_url(&at_root), "https://auth.example.com/admin/");
        let under = Url::parse("https://example.com/auth/").unwrap();
        assert_eq!(console_url(&under), "https://example.com/auth/admin/");
    }
}
