//! `holdfast tenant create|list|show|update|throttle`.

use holdfast_core::tenant::issuer_url;
use serde_json::json;

use holdfast_core::accounts::AccountPolicy;
use holdfast_core::tenant::Tenant;

use crate::cli::args::{TenantCommand, TenantThrottleArgs, TenantUpdateArgs};
use crate::cli::output::{Output, Table, lines_of};
use crate::service::admin::{self, Actor, NewTenant, TenantUpdate};
use crate::state::AppState;

/// Runs `holdfast tenant ...`.
pub async fn run(state: &AppState, command: &TenantCommand, out: Output) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            slug,
            name,
            signing_alg,
            audience,
        } => {
            let new = NewTenant {
                slug: slug.clone(),
                display_name: name.clone(),
                signing_alg: *signing_alg,
                audience: audience.clone(),
            };
            let tenant = admin::create_tenant(state, &Actor::cli(), new).await?;
            let issuer = issuer_url(&state.public_url, &tenant.slug);
            out.print(
                json!({
                    "id": tenant.id, "slug": tenant.slug, "name": tenant.display_name,
                    "signing_alg": tenant.signing_alg.as_str(), "issuer": issuer.as_str(),
                    "audience": tenant.audience(&issuer),
                }),
                format!(
                    "created tenant '{}' ({})\n  issuer:    {issuer}\n  discovery: {issuer}/.well-known/openid-configuration",
                    tenant.slug, tenant.signing_alg
                ),
            );
        }
        TenantCommand::List => {
            let tenants = state.store.list_tenants().await?;
            let mut table = Table::new(&["SLUG", "ALG", "NAME"]);
            let mut items = Vec::new();
            for t in &tenants {
                items.push(json!({"id": t.id, "slug": t.slug, "name": t.display_name, "signing_alg": t.signing_alg.as_str()}));
                table.row([
                    t.slug.to_string(),
                    t.signing_alg.to_string(),
                    t.display_name.clone(),
                ]);
            }
            out.print_list(items, &table, "no tenants");
        }
        TenantCommand::Show { slug } => {
            let tenant = admin::tenant(state, slug).await?;
            let policy = admin::account_policy(state, &tenant).await?;
            show(state, &tenant, &policy, out);
        }
        TenantCommand::Update(args) => update(state, args, out).await?,
        TenantCommand::Delete { slug } => {
            let tenant = admin::tenant(state, slug).await?;
            admin::delete_tenant(state, &tenant, &Actor::cli()).await?;
            out.print(
                json!({"deleted": true, "id": tenant.id, "slug": tenant.slug}),
                format!(
                    "deleted tenant '{}' with its clients, users, sessions and keys",
                    tenant.slug
                ),
            );
        }
        TenantCommand::Throttle(args) => throttle(state, args, out).await?,
    }
    Ok(())
}

/// `holdfast tenant update`: applies the flags given, prints the result.
async fn update(state: &AppState, args: &TenantUpdateArgs, out: Output) -> anyhow::Result<()> {
    let tenant = admin::tenant(state, &args.slug).await?;
    let change = TenantUpdate {
        display_name: args.name.clone(),
        registration: args.registration,
        email_verification: args.email_verification,
        mfa: args.mfa,
        password_min_length: args.password_min_length,
        password_max_length: args.password_max_length,
        password_blocklist: args.password_blocklist,
        passkey_rp_id: args.passkey_rp_id.clone(),
        logo_url: args.logo_url.clone(),
        accent_color: args.accent_color.clone(),
        support_url: args.support_url.clone(),
    };
    let (tenant, policy, _version) =
        admin::update_tenant(state, &tenant, &Actor::cli(), None, change).await?;
    show(state, &tenant, &policy, out);
    Ok(())
}

/// A tenant and its account settings, as JSON or `key value` lines.
fn show(state: &AppState, tenant: &Tenant, policy: &AccountPolicy, out: Output) {
    let issuer = issuer_url(&state.public_url, &tenant.slug);
    let p = &policy.password;
    let value = json!({
        "id": tenant.id, "slug": tenant.slug, "name": tenant.display_name,
        "issuer": issuer.as_str(), "signing_alg": tenant.signing_alg.as_str(),
        "audience": tenant.audience(&issuer),
        "registration": policy.registration.as_str(),
        "email_verification": policy.email_verification.as_str(),
        "mfa": policy.mfa.as_str(),
        "password_min_length": p.min_length, "password_max_length": p.max_length,
        "password_blocklist": p.blocklist,
        "passkey_rp_id": crate::service::passkeys::rp_id(state, policy),
        "logo_url": tenant.branding.logo_url, "accent_color": tenant.branding.accent_color,
        "support_url": tenant.branding.support_url,
    });
    let human = lines_of(&value);
    out.print(value, human);
}

/// `holdfast tenant throttle`: shows, changes or resets the tenant's limits.
async fn throttle(state: &AppState, args: &TenantThrottleArgs, out: Output) -> anyhow::Result<()> {
    let tenant = admin::tenant(state, &args.slug).await?;
    let current = admin::throttle_settings(state, &tenant).await?;
    let policy = if args.reset {
        admin::set_throttle(state, &tenant, &Actor::cli(), None, None)
            .await?
            .policy
    } else {
        match args.limits.apply(current.policy) {
            Some(policy) => {
                admin::set_throttle(state, &tenant, &Actor::cli(), None, Some(policy))
                    .await?
                    .policy
            }
            None => current.policy,
        }
    };
    let value = serde_json::to_value(policy)?;
    let human = lines_of(&value);
    out.print(value, human);
    Ok(())
}
