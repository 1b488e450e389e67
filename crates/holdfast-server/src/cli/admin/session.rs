//! `holdfast session list|revoke`: a user's live sessions (token families,
//! docs/design.md §7) and revoking one.

use serde_json::json;

use crate::cli::args::SessionCommand;
use crate::cli::output::{Output, SESSION_COLUMNS, Table, cell, time};
use crate::service::admin::{self, Actor};
use crate::state::AppState;

/// Runs `holdfast session ...`.
pub async fn run(state: &AppState, command: &SessionCommand, out: Output) -> anyhow::Result<()> {
    match command {
        SessionCommand::List { tenant, user } => {
            let tenant = admin::tenant(state, tenant).await?;
            let user = admin::user(state, &tenant, user).await?;
            let sessions = state
                .store
                .list_sessions(&tenant.id, &user.id, state.now())
                .await?;
            let mut table = Table::new(SESSION_COLUMNS);
            let mut items = Vec::new();
            for s in &sessions {
                items.push(json!({
                    "sid": s.id, "user_id": s.user_id, "username": user.username,
                    "client_id": s.client_id, "device_id": s.device_id, "user_agent": s.user_agent,
                    "ip": s.ip, "created_at": s.created_at, "last_used_at": s.last_used_at,
                }));
                table.row([
                    s.id.clone(),
                    user.username.clone(),
                    s.client_id.clone(),
                    cell(s.device_id.as_deref()),
                    time(s.created_at),
                    time(s.last_used_at),
                    cell(s.ip.as_deref()),
                    cell(s.user_agent.as_deref()),
                ]);
            }
            out.print_list(items, &table, "no live sessions");
        }
        SessionCommand::Revoke { tenant, session } => {
            let tenant = admin::tenant(state, tenant).await?;
            let found = admin::revoke_session(state, &tenant, &Actor::cli(), session).await?;
            out.print(
                json!({"tenant": tenant.slug, "sid": found.id, "revoked": true}),
                format!("revoked session {}", found.id),
            );
        }
    }
    Ok(())
}
