//! `holdfast admin bootstrap|grant`: the administration tenant's people.

use holdfast_core::tenant::issuer_url;
use serde_json::json;

use crate::cli::args::AdministratorsCommand;
use crate::cli::output::Output;
use crate::service::admin::Actor;
use crate::service::administrators::{
    self, BootstrapRequest, CONSOLE_CLIENT_ID, GrantReach, console_url,
};
use crate::state::AppState;

/// Runs `holdfast admin ...`.
pub async fn run(
    state: &AppState,
    command: &AdministratorsCommand,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        AdministratorsCommand::Bootstrap {
            username,
            email,
            password_stdin,
            automation_client,
        } => {
            let password = if *password_stdin {
                Some(super::user::read_password_from_stdin()?)
            } else {
                None
            };
            let request = BootstrapRequest {
                username: username.clone(),
                email: email.clone(),
                password,
                automation_client: automation_client.clone(),
            };
            let made = administrators::bootstrap(state, &Actor::cli(), request).await?;
            let issuer = issuer_url(&state.public_url, &made.tenant.slug);
            let console = console_url(&state.public_url);
            let password = made.generated_password.as_ref().map(|p| p.expose());
            let mut human = vec![
                if made.tenant_created {
                    format!("created the administration tenant '{}'", made.tenant.slug)
                } else {
                    format!("the administration tenant '{}' exists", made.tenant.slug)
                },
                format!(
                    "created administrator '{}' (the whole server)",
                    made.user.username
                ),
            ];
            if let Some(p) = password {
                human.push(format!(
                    "  password: {p}   (shown once; change it at {issuer}/account)"
                ));
            }
            human.push(format!(
                "console:  {console}   (client '{CONSOLE_CLIENT_ID}')"
            ));
            let automation = made.automation.as_ref().map(|(id, secret)| {
                human.push(format!(
                    "automation client '{id}': secret {}   (shown once)\n  token: curl -u '{id}:<secret>' -d grant_type=client_credentials -d scope=holdfast:admin {issuer}/token",
                    secret.expose()
                ));
                json!({"client_id": id, "client_secret": secret.expose()})
            });
            out.print(
                json!({
                    "tenant": made.tenant.slug, "tenant_created": made.tenant_created,
                    "issuer": issuer.as_str(), "console": console,
                    "console_client_id": CONSOLE_CLIENT_ID,
                    "user": {"id": made.user.id, "username": made.user.username},
                    "password": password, "automation_client": automation,
                }),
                human.join("\n"),
            );
        }
        AdministratorsCommand::Grant {
            username,
            tenant,
            whole_server,
        } => {
            let reach = match (tenant, whole_server) {
                (Some(slug), false) => GrantReach::Tenant(slug.clone()),
                _ => GrantReach::Server,
            };
            let scope = administrators::grant(state, &Actor::cli(), username, &reach).await?;
            out.print(
                json!({"username": username, "granted": scope}),
                format!("granted '{username}' {scope}"),
            );
        }
    }
    Ok(())
}
