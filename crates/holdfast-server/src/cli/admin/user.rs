//! `holdfast user list|show|create|revoke-all|disable|enable|delete|set-password|send-reset`.
//! Passwords come from stdin only.

use std::io::Read;

use anyhow::Context;
use holdfast_crypto::secret::SecretString;
use serde_json::json;

use crate::cli::args::UserCommand;
use crate::cli::output::{Output, Table, lines_of};
use crate::service::admin::{self, Actor};
use crate::state::AppState;

/// Runs `holdfast user ...`.
pub async fn run(state: &AppState, command: &UserCommand, out: Output) -> anyhow::Result<()> {
    match command {
        UserCommand::List {
            tenant,
            limit,
            after,
        } => {
            let tenant = admin::tenant(state, tenant).await?;
            let after = after
                .as_deref()
                .map(holdfast_core::user::normalize_username);
            let users = state
                .store
                .list_users(&tenant.id, after.as_deref(), *limit)
                .await?;
            let mut table = Table::new(&["USERNAME", "EMAIL", "STATE", "ID"]);
            let mut items = Vec::new();
            for r in &users {
                let u = &r.user;
                let status = if r.disabled_at.is_some() {
                    "disabled"
                } else {
                    "active"
                };
                items.push(json!({"id": u.id, "username": u.username, "email": u.email,
                    "disabled": r.disabled_at.is_some(), "created_at": u.created_at}));
                table.row([
                    u.username.clone(),
                    u.email.clone().unwrap_or_default(),
                    status.to_owned(),
                    u.id.clone(),
                ]);
            }
            out.print_list(items, &table, "no users");
        }
        UserCommand::Show { tenant, user } => {
            let tenant = admin::tenant(state, tenant).await?;
            let user = admin::user(state, &tenant, user).await?;
            let record = state
                .store
                .user_by_id(&tenant.id, &user.id)
                .await?
                .context("the user was deleted meanwhile")?;
            let sessions = state
                .store
                .list_sessions(&tenant.id, &user.id, state.now())
                .await?;
            let value = json!({
                "id": user.id, "tenant": tenant.slug, "username": user.username,
                "email": user.email, "created_at": user.created_at,
                "disabled": record.disabled_at.is_some(), "disabled_at": record.disabled_at,
                "not_before": record.not_before, "live_sessions": sessions.len(),
            });
            let human = lines_of(&value);
            out.print(value, human);
        }
        UserCommand::Create {
            tenant,
            username,
            password_stdin: _,
            email,
        } => {
            let tenant = admin::tenant(state, tenant).await?;
            let password = read_password_from_stdin()?;
            let user = admin::create_user(
                state,
                &tenant,
                &Actor::cli(),
                username,
                email.as_deref(),
                password,
            )
            .await?;
            out.print(
                json!({"id": user.id, "tenant": tenant.slug, "username": user.username, "email": user.email}),
                format!(
                    "created user '{}' in tenant '{}' (id {})",
                    user.username, tenant.slug, user.id
                ),
            );
        }
        UserCommand::RevokeAll { tenant, user } => {
            let tenant = admin::tenant(state, tenant).await?;
            let user = admin::user(state, &tenant, user).await?;
            let (count, now) =
                admin::revoke_user_sessions(state, &tenant, &Actor::cli(), &user).await?;
            out.print(
                json!({"tenant": tenant.slug, "user_id": user.id, "sessions_revoked": count, "not_before": now}),
                format!(
                    "revoked {count} session(s) of '{}'; tokens issued before now are refused",
                    user.username
                ),
            );
        }
        UserCommand::Disable { tenant, user } | UserCommand::Enable { tenant, user } => {
            let disable = matches!(command, UserCommand::Disable { .. });
            let tenant = admin::tenant(state, tenant).await?;
            let user = admin::user(state, &tenant, user).await?;
            admin::set_user_disabled(state, &tenant, &Actor::cli(), &user, disable).await?;
            out.print(
                json!({"tenant": tenant.slug, "user_id": user.id, "disabled": disable}),
                if disable {
                    format!(
                        "disabled '{}'; every session of theirs has ended",
                        user.username
                    )
                } else {
                    format!("enabled '{}'", user.username)
                },
            );
        }
        UserCommand::Delete { tenant, user } => {
            let tenant = admin::tenant(state, tenant).await?;
            let user = admin::user(state, &tenant, user).await?;
            admin::delete_user(state, &tenant, &Actor::cli(), &user).await?;
            out.print(
                json!({"tenant": tenant.slug, "user_id": user.id, "deleted": true}),
                format!(
                    "deleted '{}'; every session of theirs has ended",
                    user.username
                ),
            );
        }
        UserCommand::SetPassword {
            tenant,
            user,
            password_stdin: _,
        } => {
            let tenant = admin::tenant(state, tenant).await?;
            let user = admin::user(state, &tenant, user).await?;
            let password = read_password_from_stdin()?;
            admin::set_user_password(state, &tenant, &Actor::cli(), &user, password).await?;
            out.print(
                json!({"tenant": tenant.slug, "user_id": user.id, "password_set": true}),
                format!(
                    "set the password of '{}'; sessions begun before now have ended",
                    user.username
                ),
            );
        }
        UserCommand::Invite {
            tenant,
            email,
            name,
        } => {
            let tenant = admin::tenant(state, tenant).await?;
            let user =
                admin::invite_user(state, &tenant, &Actor::cli(), email, name.as_deref()).await?;
            out.print(
                json!({"tenant": tenant.slug, "id": user.id, "username": user.username, "invitation_sent_to": user.email}),
                format!(
                    "invited '{}' to tenant '{}' (id {}); the link is in the mail queue",
                    user.username, tenant.slug, user.id
                ),
            );
        }
        UserCommand::SendReset { tenant, user } => {
            let tenant = admin::tenant(state, tenant).await?;
            let user = admin::user(state, &tenant, user).await?;
            admin::send_password_reset(state, &tenant, &Actor::cli(), &user).await?;
            let email = user.email.unwrap_or_default();
            out.print(
                json!({"tenant": tenant.slug, "user_id": user.id, "reset_sent_to": email}),
                format!(
                    "queued a password-reset link for '{}' to {email}",
                    user.username
                ),
            );
        }
    }
    Ok(())
}

/// The password on stdin, without its final line break; the buffer it was
/// read into is wiped.
pub(crate) fn read_password_from_stdin() -> anyhow::Result<SecretString> {
    let mut raw = String::new();
    std::io::stdin()
        .read_to_string(&mut raw)
        .context("cannot read the password from stdin")?;
    let password = raw
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&raw);
    let secret = SecretString::new(password);
    zeroize::Zeroize::zeroize(&mut raw);
    Ok(secret)
}
