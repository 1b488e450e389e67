//! `holdfast tenant create|list|throttle`.

use holdfast_core::tenant::issuer_url;
use serde_json::json;

use crate::cli::args::{TenantCommand, TenantThrottleArgs};
use crate::cli::output::{Output, Table};
use crate::service::admin::{self, NewTenant};
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
            let tenant = admin::create_tenant(state, new).await?;
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
        TenantCommand::Throttle(args) => throttle(state, args, out).await?,
    }
    Ok(())
}

/// `holdfast tenant throttle`: shows, changes or resets the tenant's limits.
async fn throttle(state: &AppState, args: &TenantThrottleArgs, out: Output) -> anyhow::Result<()> {
    let tenant = admin::tenant(state, &args.slug).await?;
    let own = state.store.tenant_throttle_policy(&tenant.id).await?;
    let policy = if args.reset {
        state
            .store
            .set_tenant_throttle_policy(&tenant.id, None)
            .await?;
        state.config.throttle
    } else {
        match args.apply(own.unwrap_or(state.config.throttle)) {
            Some(policy) => {
                policy.validate()?;
                state
                    .store
                    .set_tenant_throttle_policy(&tenant.id, Some(&policy))
                    .await?;
                policy
            }
            None => own.unwrap_or(state.config.throttle),
        }
    };
    let value = serde_json::to_value(policy)?;
    let human = value
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(k, v)| format!("{k:<24} {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    out.print(value, human);
    Ok(())
}
