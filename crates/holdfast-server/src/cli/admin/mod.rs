//! The administrative commands: each opens nothing itself (the state is
//! built by [`super::run`]), does one thing through [`crate::service::admin`]
//! or the store, and prints its result through [`Output`].
//!
//! One file per command group: [`administrators`], [`tenant`], [`client`], [`user`],
//! [`session`], [`events`], [`keys`], [`retention`].

mod administrators;
mod client;
mod events;
mod keys;
mod retention;
mod session;
mod tenant;
mod user;

pub(crate) use user::read_password_from_stdin;

use serde_json::json;

use super::args::AdminCommand;
use super::output::Output;
use crate::state::AppState;

/// Runs one administrative command on `state`.
pub async fn run(state: &AppState, command: &AdminCommand, out: Output) -> anyhow::Result<()> {
    match command {
        AdminCommand::Migrate => {
            // Opening the store (in `super::run`) applied the migrations.
            out.print(
                json!({"migrated": true, "store": state.store.backend()}),
                format!("database is up to date ({})", state.store.backend()),
            );
            Ok(())
        }
        AdminCommand::Administrators(command) => administrators::run(state, command, out).await,
        AdminCommand::Tenant(command) => tenant::run(state, command, out).await,
        AdminCommand::Client(command) => client::run(state, command, out).await,
        AdminCommand::User(command) => user::run(state, command, out).await,
        AdminCommand::Keys(command) => keys::run(state, command, out).await,
        AdminCommand::Session(command) => session::run(state, command, out).await,
        AdminCommand::Events(args) => events::run(state, args, out).await,
        AdminCommand::Retention(command) => retention::run(state, command, out).await,
        AdminCommand::Login | AdminCommand::Logout => Err(anyhow::anyhow!(
            "login and logout are for a remote server: holdfast --server URL login"
        )),
    }
}
