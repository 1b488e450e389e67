//! `holdfast retention sweep`: one retention sweep now
//! (`crate::service::retention`), with what it deleted.

use serde_json::{Map, Value, json};

use crate::cli::args::RetentionCommand;
use crate::cli::output::{Output, Table};
use crate::service::retention;
use crate::state::AppState;

/// Runs `holdfast retention ...`.
pub async fn run(state: &AppState, command: &RetentionCommand, out: Output) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Sweep => {
            let report = retention::sweep(state).await?;
            let mut deleted = Map::new();
            let mut table = Table::new(&["KIND", "DELETED"]);
            for (kind, n) in report.swept.by_kind() {
                deleted.insert(kind.to_owned(), Value::from(n));
                table.row([kind.to_owned(), n.to_string()]);
            }
            let millis = report.elapsed.as_millis() as u64;
            out.print(
                json!({"deleted": deleted, "steps": report.steps, "elapsed_ms": millis}),
                format!(
                    "{table}swept {} rows in {} steps, {millis} ms",
                    report.swept.total(),
                    report.steps
                ),
            );
            Ok(())
        }
    }
}
