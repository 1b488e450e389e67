//! `holdfast keys rotate|list`.

use holdfast_core::keys::{KeyState, SigningAlg};
use serde_json::{Value, json};

use crate::cli::args::KeysCommand;
use crate::cli::output::{Output, Table, time, time_cell};
use crate::service::admin;
use crate::state::AppState;

/// Runs `holdfast keys ...`.
pub async fn run(state: &AppState, command: &KeysCommand, out: Output) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate { tenant } => {
            let tenant = admin::tenant(state, tenant).await?;
            let new_nexts =
                admin::rotate_keys(state, &tenant, &crate::service::admin::Actor::cli()).await?;
            let keys = state.store.keys(&tenant.id).await?;
            let current_of = |alg: SigningAlg| {
                keys.iter()
                    .find(|k| k.alg == alg && k.state == KeyState::Current)
                    .map(|k| k.kid.clone())
                    .unwrap_or_default()
            };
            // The tenant's own algorithm first, as `current_kid`/`next_kid`;
            // every algorithm (RS256 for ID tokens too) under `rotated`.
            let rotated: Vec<Value> = new_nexts
                .iter()
                .map(|k| json!({"alg": k.alg.as_str(), "current_kid": current_of(k.alg), "next_kid": k.kid}))
                .collect();
            let mut value = json!({"tenant": tenant.slug, "rotated": rotated});
            if let Some(first) = rotated.first() {
                value["current_kid"] = first["current_kid"].clone();
                value["next_kid"] = first["next_kid"].clone();
            }
            let human = new_nexts
                .iter()
                .map(|k| {
                    format!(
                        "\n  {}: current {}, next {}",
                        k.alg,
                        current_of(k.alg),
                        k.kid
                    )
                })
                .collect::<String>();
            out.print(
                value,
                format!("rotated keys of tenant '{}'{human}", tenant.slug),
            );
        }
        KeysCommand::List { tenant } => {
            let tenant = admin::tenant(state, tenant).await?;
            let keys = state.store.keys(&tenant.id).await?;
            let mut table = Table::new(&["KID", "ALG", "STATE", "CREATED", "RETIRED"]);
            let mut items = Vec::new();
            for k in &keys {
                items.push(json!({"kid": k.kid, "alg": k.alg.as_str(), "state": k.state.as_str(), "created_at": k.created_at, "retired_at": k.retired_at}));
                table.row([
                    k.kid.clone(),
                    k.alg.to_string(),
                    k.state.as_str().to_owned(),
                    time(k.created_at),
                    time_cell(k.retired_at),
                ]);
            }
            out.print_list(items, &table, "no keys");
        }
    }
    Ok(())
}
