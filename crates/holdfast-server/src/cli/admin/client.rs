//! `holdfast client create|update|list|show|delete`.

use holdfast_core::client::{BackchannelLogout, Client, ClientKind, NewClient};
use holdfast_core::tenant::Tenant;
use serde_json::{Value, json};

use crate::cli::args::{BackchannelLogoutArgs, ClientCommand, ClientCreateArgs, ClientUpdateArgs};
use crate::cli::output::{Output, Table, lines_of};
use crate::service::admin::{self, Actor};
use crate::state::AppState;

/// Runs `holdfast client ...`.
pub async fn run(state: &AppState, command: &ClientCommand, out: Output) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create(args) => create(state, args, out).await,
        ClientCommand::Update(args) => update(state, args, out).await,
        ClientCommand::List { tenant } => {
            let tenant = admin::tenant(state, tenant).await?;
            let clients = state.store.list_clients(&tenant.id).await?;
            let mut table = Table::new(&["CLIENT ID", "KIND", "REDIRECT URIS"]);
            let mut items = Vec::new();
            for c in clients.iter().map(|r| &r.client) {
                items.push(json!({"client_id": c.client_id, "kind": c.kind.as_str(), "redirect_uris": c.redirect_uris}));
                table.row([
                    c.client_id.clone(),
                    c.kind.as_str().to_owned(),
                    c.redirect_uris.join(" "),
                ]);
            }
            out.print_list(items, &table, "no clients");
            Ok(())
        }
        ClientCommand::Show { tenant, client_id } => {
            let tenant = admin::tenant(state, tenant).await?;
            let client = admin::client(state, &tenant, client_id).await?;
            let value = client_json(&tenant, &client.client);
            let human = lines_of(&value);
            out.print(value, human);
            Ok(())
        }
        ClientCommand::Delete { tenant, client_id } => {
            let tenant = admin::tenant(state, tenant).await?;
            let ended = admin::delete_client(state, &tenant, &Actor::cli(), client_id).await?;
            out.print(
                json!({"tenant": tenant.slug, "client_id": client_id, "deleted": true, "sessions_ended": ended}),
                format!("deleted client '{client_id}'; {ended} session(s) of it ended"),
            );
            Ok(())
        }
    }
}

/// `holdfast client create`: registers the client; a confidential client's
/// secret is printed here once and never again.
async fn create(state: &AppState, args: &ClientCreateArgs, out: Output) -> anyhow::Result<()> {
    let tenant = admin::tenant(state, &args.tenant).await?;
    let kind = if args.confidential {
        ClientKind::Confidential
    } else {
        ClientKind::Public
    };
    let mut new = NewClient::new(args.client_id.clone(), kind);
    new.redirect_uris = args.redirect_uris.clone();
    new.grant_types = args.grant_types.clone();
    new.scopes = args.scopes.clone();
    new.access_token_ttl_secs = args.access_token_ttl;
    new.refresh.rotation = args.rotation;
    new.refresh.grace_window_secs = args.grace_window;
    new.refresh.retry_limit = args.retry_limit;
    new.refresh.unbound_grace_accept_risk = args.unbound_grace_accept_risk;
    new.refresh.idle_lifetime_secs = args.idle_lifetime;
    new.refresh.absolute_lifetime_secs = args.absolute_lifetime;
    new.dpop_required = args.dpop_required;
    new.refresh_token_in_cookie = args.refresh_token_cookie;
    new.mfa_required = args.mfa_required;
    new.display_name = args
        .display_name
        .as_deref()
        .map(holdfast_core::tenant::parse_display_name)
        .transpose()?;
    new.allowed_origins = args.allowed_origins.clone();
    new.resources = args.resources.clone();
    new.id_token_signed_response_alg = args.id_token_signed_response_alg;
    new.backchannel_logout = backchannel_of(&args.backchannel);
    let (client, secret) = admin::create_client(state, &tenant, &Actor::cli(), new).await?;
    let grants: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
    let mut value = client_json(&tenant, &client);
    let mut human = format!(
        "created {} client '{}' in tenant '{}'\n  grant types: {}\n  scopes:      {}\n  ID tokens:   {}",
        client.kind.as_str(),
        client.client_id,
        tenant.slug,
        grants.join(" "),
        client.scopes.join(" "),
        client.id_token_alg(tenant.signing_alg)
    );
    if client.refresh.unbound_grace_accept_risk {
        human.push_str(
            "\n  warning:     unbound refresh tokens get grace retries: a thief replaying one \
             inside the window takes over the session (--unbound-grace-accept-risk)",
        );
    }
    if let Some(secret) = &secret {
        value["client_secret"] = json!(secret.expose());
        human.push_str(&format!(
            "\n  client secret (shown once, store it now): {}",
            secret.expose()
        ));
    }
    out.print(value, human);
    Ok(())
}

/// A client's settings as `create` and `show` print them (never a secret).
fn client_json(tenant: &Tenant, client: &Client) -> Value {
    let grants: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
    json!({
        "tenant": tenant.slug, "client_id": client.client_id, "display_name": client.display_name, "kind": client.kind.as_str(),
        "redirect_uris": client.redirect_uris, "grant_types": grants, "scopes": client.scopes,
        "access_token_ttl": client.access_token_ttl_secs, "dpop_required": client.dpop_required, "refresh_token_cookie": client.refresh_token_in_cookie, "mfa_required": client.mfa_required, "allowed_origins": client.allowed_origins,
        "rotation": client.refresh.rotation.as_str(), "unbound_grace_accept_risk": client.refresh.unbound_grace_accept_risk,
        "grace_window": client.refresh.grace_window_secs, "retry_limit": client.refresh.retry_limit,
        "idle_lifetime": client.refresh.idle_lifetime_secs, "absolute_lifetime": client.refresh.absolute_lifetime_secs,
        "dpop_nonce_required": client.dpop_nonce_required,
        "resources": client.resources,
        "id_token_signed_response_alg": client.id_token_alg(tenant.signing_alg).as_str(),
        "backchannel_logout_uri": client.backchannel_logout.as_ref().map(|b| &b.uri),
        "backchannel_logout_session_required": client.backchannel_logout.as_ref().is_some_and(|b| b.session_required),
    })
}

fn backchannel_of(args: &BackchannelLogoutArgs) -> Option<BackchannelLogout> {
    args.backchannel_logout_uri
        .as_ref()
        .map(|uri| BackchannelLogout {
            uri: uri.clone(),
            session_required: args.backchannel_logout_session_required,
        })
}

/// `holdfast client update`: sets or removes the back-channel logout
/// registration (OIDC Back-Channel Logout 1.0 §2.2), or whether sign-ins
/// need a second factor. A running server sees it within its client
/// cache's few seconds.
async fn update(state: &AppState, args: &ClientUpdateArgs, out: Output) -> anyhow::Result<()> {
    let tenant = admin::tenant(state, &args.tenant).await?;
    let logout = backchannel_of(&args.backchannel);
    if let Some(raw) = &args.display_name {
        let name = match raw.trim() {
            "" => None,
            _ => Some(holdfast_core::tenant::parse_display_name(raw)?),
        };
        state
            .store
            .set_client_display_name(&tenant.id, &args.client_id, name.as_deref())
            .await?;
        if args.mfa_required.is_none() && logout.is_none() && !args.no_backchannel_logout {
            out.print(
                json!({ "tenant": tenant.slug, "client_id": args.client_id, "display_name": name }),
                format!(
                    "client '{}' is shown as '{}'",
                    args.client_id,
                    name.as_deref().unwrap_or(&args.client_id)
                ),
            );
            return Ok(());
        }
    }
    if let Some(required) = args.mfa_required {
        state
            .store
            .set_client_mfa_required(&tenant.id, &args.client_id, required)
            .await?;
        if logout.is_none() && !args.no_backchannel_logout {
            out.print(
                json!({ "tenant": tenant.slug, "client_id": args.client_id, "mfa_required": required }),
                format!(
                    "client '{}': a second factor is {}",
                    args.client_id,
                    if required { "required" } else { "up to the tenant" }
                ),
            );
            return Ok(());
        }
    }
    if logout.is_none() && !args.no_backchannel_logout {
        anyhow::bail!(
            "nothing to change: give --backchannel-logout-uri URL, --no-backchannel-logout, --mfa-required true|false or --display-name NAME"
        );
    }
    if let Some(l) = &logout {
        l.validate()?;
    }
    state
        .store
        .set_backchannel_logout(&tenant.id, &args.client_id, logout.as_ref())
        .await?;
    out.print(
        json!({
            "tenant": tenant.slug, "client_id": args.client_id,
            "backchannel_logout_uri": logout.as_ref().map(|b| &b.uri),
            "backchannel_logout_session_required": logout.as_ref().is_some_and(|b| b.session_required),
        }),
        match &logout {
            Some(l) => format!("client '{}' now gets logout tokens at {}", args.client_id, l.uri),
            None => format!("client '{}' no longer gets logout tokens", args.client_id),
        },
    );
    Ok(())
}
