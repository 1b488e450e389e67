//! `holdfast events`: a tenant's audit events (docs/design.md §8), oldest
//! first, with the username of each event's user.

use std::collections::HashMap;

use serde_json::json;

use crate::cli::args::EventsArgs;
use crate::cli::output::{Output, Table, cell, time};
use crate::service::admin;
use crate::state::AppState;

/// Runs `holdfast events`.
pub async fn run(state: &AppState, args: &EventsArgs, out: Output) -> anyhow::Result<()> {
    let tenant = admin::tenant(state, &args.tenant).await?;
    let since = args.since.map_or(0, |since| since.at(state.now()));
    let events = state.store.events(&tenant.id, since, args.limit).await?;
    let mut names = Usernames::default();
    let mut table = Table::new(&["AT", "KIND", "USER", "CLIENT", "SESSION", "REASON", "IP"]);
    let mut items = Vec::new();
    for e in &events {
        let username = match &e.user_id {
            Some(id) => names.get(state, &tenant.id, id).await?,
            None => None,
        };
        items.push(json!({
            "id": e.id, "at": e.at, "kind": e.kind, "user_id": e.user_id, "username": username,
            "client_id": e.client_id, "session_id": e.session_id, "reason": e.reason,
            "ip": e.ip, "user_agent": e.user_agent, "actor": e.actor,
        }));
        table.row([
            time(e.at),
            e.kind.clone(),
            // A user deleted since shows as the id the event recorded.
            cell(username.as_deref().or(e.user_id.as_deref())),
            cell(e.client_id.as_deref()),
            cell(e.session_id.as_deref()),
            cell(e.reason.as_deref()),
            cell(e.ip.as_deref()),
        ]);
    }
    out.print_list(items, &table, "no events");
    Ok(())
}

/// Usernames by user id, each looked up once per run: a listing of a
/// thousand events by a handful of users makes a handful of queries.
#[derive(Debug, Default)]
struct Usernames(HashMap<String, Option<String>>);

impl Usernames {
    /// The username of user `id`, `None` if there is no such user.
    async fn get(
        &mut self,
        state: &AppState,
        tenant_id: &str,
        id: &str,
    ) -> anyhow::Result<Option<String>> {
        if let Some(name) = self.0.get(id) {
            return Ok(name.clone());
        }
        let name = state
            .store
            .user_by_id(tenant_id, id)
            .await?
            .map(|record| record.user.username);
        self.0.insert(id.to_owned(), name.clone());
        Ok(name)
    }
}
