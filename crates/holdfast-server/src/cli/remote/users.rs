//! `holdfast --server URL user|session|events ...`: the people side of the
//! admin API (`/admin/v1/tenants/{tenant}/users`, `.../sessions`,
//! `.../events`).
//!
//! The CLI names users by username; the API by id. A username is resolved
//! with the user search (`?q=`), keeping only the exact, case-insensitive
//! match, so `ann` never picks `joanna`.

use std::collections::HashMap;

use anyhow::bail;
use reqwest::Method;
use serde_json::{Value, json};
use url::form_urlencoded;

use super::{Remote, items, path, text};
use crate::cli::admin::read_password_from_stdin;
use crate::cli::args::{EventsArgs, SessionCommand, UserCommand};
use crate::cli::output::{Output, SESSION_COLUMNS, Table, cell, lines_of, time};
use holdfast_core::user::normalize_username;

/// The API's largest page.
const PAGE: i64 = 200;

/// `path?query` with the pairs form-encoded; pairs without a value are
/// left out.
fn with_query(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Up to `limit` items of the list at `path` (with `filters`), starting
/// after `cursor`, one API page after another.
async fn pages(
    remote: &Remote,
    path: &str,
    filters: &[(&str, Option<String>)],
    mut cursor: Option<String>,
    limit: i64,
) -> anyhow::Result<Vec<Value>> {
    let mut found = Vec::new();
    while (found.len() as i64) < limit {
        let mut pairs = filters.to_vec();
        pairs.push((
            "limit",
            Some((limit - found.len() as i64).min(PAGE).to_string()),
        ));
        pairs.push(("cursor", cursor.take()));
        let page = remote
            .call(Method::GET, &with_query(path, &pairs), None)
            .await?;
        found.extend(items(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(found)
}

/// The user `username` of `tenant`, as the API shows it.
async fn find_user(remote: &Remote, tenant: &str, username: &str) -> anyhow::Result<Value> {
    let wanted = normalize_username(username);
    let mut cursor = None;
    loop {
        let page = remote
            .call(
                Method::GET,
                &with_query(
                    &path(&["tenants", tenant, "users"])?,
                    &[
                        ("q", Some(username.trim().to_owned())),
                        ("limit", Some(PAGE.to_string())),
                        ("cursor", cursor.take()),
                    ],
                ),
                None,
            )
            .await?;
        if let Some(user) = items(&page).into_iter().find(|u| {
            u["username"]
                .as_str()
                .is_some_and(|name| normalize_username(name) == wanted)
        }) {
            return Ok(user);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => bail!("tenant '{tenant}' has no user '{username}'"),
        }
    }
}

/// `/tenants/{tenant}/users/{id}` and below (`rest`: more segments).
fn user_path(tenant: &str, user: &Value, rest: &[&str]) -> anyhow::Result<String> {
    let id = text(&user["id"]);
    let mut segments = vec!["tenants", tenant, "users", &id];
    segments.extend_from_slice(rest);
    path(&segments)
}

/// Runs `holdfast --server URL user ...`.
pub(super) async fn user(
    remote: &Remote,
    command: &UserCommand,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        UserCommand::List {
            tenant,
            limit,
            after,
        } => {
            let found = pages(
                remote,
                &path(&["tenants", tenant, "users"])?,
                &[],
                after.as_deref().map(normalize_username),
                *limit,
            )
            .await?;
            let mut table = Table::new(&["USERNAME", "EMAIL", "STATE", "ID"]);
            let mut listed = Vec::new();
            for u in &found {
                let disabled = !u["disabled_at"].is_null();
                listed.push(
                    json!({"id": u["id"], "username": u["username"], "email": u["email"],
                    "disabled": disabled, "created_at": u["created_at"]}),
                );
                table.row([
                    text(&u["username"]),
                    text(&u["email"]),
                    (if disabled { "disabled" } else { "active" }).to_owned(),
                    text(&u["id"]),
                ]);
            }
            out.print_list(listed, &table, "no users");
        }
        UserCommand::Show { tenant, user } => {
            let found = find_user(remote, tenant, user).await?;
            let sessions = remote
                .call(
                    Method::GET,
                    &user_path(tenant, &found, &["sessions"])?,
                    None,
                )
                .await?;
            let value = json!({
                "id": found["id"], "tenant": tenant, "username": found["username"],
                "email": found["email"], "created_at": found["created_at"],
                "disabled": !found["disabled_at"].is_null(), "disabled_at": found["disabled_at"],
                "not_before": found["not_before"], "live_sessions": items(&sessions).len(),
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
            let password = read_password_from_stdin()?;
            let made = remote
                .call(
                    Method::POST,
                    &path(&["tenants", tenant, "users"])?,
                    Some(json!({"username": username, "email": email, "password": password.expose()})),
                )
                .await?;
            let human = format!(
                "created user '{}' in tenant '{tenant}' (id {})",
                text(&made["username"]),
                text(&made["id"])
            );
            out.print(
                json!({"id": made["id"], "tenant": tenant, "username": made["username"], "email": made["email"]}),
                human,
            );
        }
        UserCommand::RevokeAll { tenant, user } => {
            let found = find_user(remote, tenant, user).await?;
            let revoked = remote
                .call(
                    Method::DELETE,
                    &user_path(tenant, &found, &["sessions"])?,
                    None,
                )
                .await?;
            let count = text(&revoked["sessions_revoked"]);
            out.print(
                json!({"tenant": tenant, "user_id": found["id"],
                    "sessions_revoked": revoked["sessions_revoked"], "not_before": revoked["not_before"]}),
                format!(
                    "revoked {count} session(s) of '{}'; tokens issued before now are refused",
                    text(&found["username"])
                ),
            );
        }
        UserCommand::Disable { tenant, user } | UserCommand::Enable { tenant, user } => {
            let disable = matches!(command, UserCommand::Disable { .. });
            let found = find_user(remote, tenant, user).await?;
            remote
                .call(
                    Method::PATCH,
                    &user_path(tenant, &found, &[])?,
                    Some(json!({"disabled": disable})),
                )
                .await?;
            let name = text(&found["username"]);
            out.print(
                json!({"tenant": tenant, "user_id": found["id"], "disabled": disable}),
                if disable {
                    format!("disabled '{name}'; every session of theirs has ended")
                } else {
                    format!("enabled '{name}'")
                },
            );
        }
        UserCommand::Delete { tenant, user } => {
            let found = find_user(remote, tenant, user).await?;
            remote
                .call(Method::DELETE, &user_path(tenant, &found, &[])?, None)
                .await?;
            out.print(
                json!({"tenant": tenant, "user_id": found["id"], "deleted": true}),
                format!(
                    "deleted '{}'; every session of theirs has ended",
                    text(&found["username"])
                ),
            );
        }
        UserCommand::SetPassword {
            tenant,
            user,
            password_stdin: _,
        } => {
            let found = find_user(remote, tenant, user).await?;
            let password = read_password_from_stdin()?;
            remote
                .call(
                    Method::PATCH,
                    &user_path(tenant, &found, &[])?,
                    Some(json!({"password": password.expose()})),
                )
                .await?;
            out.print(
                json!({"tenant": tenant, "user_id": found["id"], "password_set": true}),
                format!(
                    "set the password of '{}'; sessions begun before now have ended",
                    text(&found["username"])
                ),
            );
        }
        UserCommand::SendReset { tenant, user } => {
            let found = find_user(remote, tenant, user).await?;
            remote
                .call(
                    Method::POST,
                    &user_path(tenant, &found, &["password-reset"])?,
                    None,
                )
                .await?;
            let email = text(&found["email"]);
            out.print(
                json!({"tenant": tenant, "user_id": found["id"], "reset_sent_to": email}),
                format!(
                    "queued a password-reset link for '{}' to {email}",
                    text(&found["username"])
                ),
            );
        }
        UserCommand::Invite {
            tenant,
            email,
            name,
        } => {
            let made = remote
                .call(
                    Method::POST,
                    &path(&["tenants", tenant, "invitations"])?,
                    Some(json!({"email": email, "name": name})),
                )
                .await?;
            let username = text(&made["username"]);
            let id = text(&made["id"]);
            out.print(
                json!({"tenant": tenant, "id": made["id"], "username": made["username"], "invitation_sent_to": made["email"]}),
                format!(
                    "invited '{username}' to tenant '{tenant}' (id {id}); the link is in the mail queue"
                ),
            );
        }
    }
    Ok(())
}

/// Runs `holdfast --server URL session ...`.
pub(super) async fn session(
    remote: &Remote,
    command: &SessionCommand,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        SessionCommand::List { tenant, user } => {
            let found = find_user(remote, tenant, user).await?;
            let username = text(&found["username"]);
            let sessions = items(
                &remote
                    .call(
                        Method::GET,
                        &user_path(tenant, &found, &["sessions"])?,
                        None,
                    )
                    .await?,
            );
            let mut table = Table::new(SESSION_COLUMNS);
            let mut listed = Vec::new();
            for s in &sessions {
                listed.push(json!({
                    "sid": s["id"], "user_id": found["id"], "username": username,
                    "client_id": s["client_id"], "device_id": s["device_id"],
                    "user_agent": s["user_agent"], "ip": s["ip"],
                    "created_at": s["created_at"], "last_used_at": s["last_used_at"],
                }));
                table.row([
                    text(&s["id"]),
                    username.clone(),
                    text(&s["client_id"]),
                    cell(s["device_id"].as_str()),
                    time(s["created_at"].as_i64().unwrap_or_default()),
                    time(s["last_used_at"].as_i64().unwrap_or_default()),
                    cell(s["ip"].as_str()),
                    cell(s["user_agent"].as_str()),
                ]);
            }
            out.print_list(listed, &table, "no live sessions");
        }
        SessionCommand::Revoke { tenant, session } => {
            remote
                .call(
                    Method::DELETE,
                    &path(&["tenants", tenant, "sessions", session])?,
                    None,
                )
                .await?;
            out.print(
                json!({"tenant": tenant, "sid": session, "revoked": true}),
                format!("revoked session {session}"),
            );
        }
    }
    Ok(())
}

/// Runs `holdfast --server URL events`: the newest `--limit` events since
/// `--since` (the API pages newest first), printed oldest first as the
/// database mode prints them.
pub(super) async fn events(remote: &Remote, args: &EventsArgs, out: Output) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let since = args.since.map(|since| since.at(now).to_string());
    let mut found = pages(
        remote,
        &path(&["tenants", &args.tenant, "events"])?,
        &[("since", since)],
        None,
        args.limit,
    )
    .await?;
    found.reverse();
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    let mut table = Table::new(&["AT", "KIND", "USER", "CLIENT", "SESSION", "REASON", "IP"]);
    let mut listed = Vec::new();
    for e in &found {
        let username = match e["user_id"].as_str() {
            Some(id) => match names.get(id) {
                Some(name) => name.clone(),
                None => {
                    let name = username_of(remote, &args.tenant, id).await?;
                    names.insert(id.to_owned(), name.clone());
                    name
                }
            },
            None => None,
        };
        table.row([
            time(e["at"].as_i64().unwrap_or_default()),
            text(&e["kind"]),
            // A user deleted since shows as the id the event recorded.
            cell(username.as_deref().or(e["user_id"].as_str())),
            cell(e["client_id"].as_str()),
            cell(e["session_id"].as_str()),
            cell(e["reason"].as_str()),
            cell(e["ip"].as_str()),
        ]);
        let mut item = e.clone();
        item["username"] = json!(username);
        listed.push(item);
    }
    out.print_list(listed, &table, "no events");
    Ok(())
}

/// The username of user `id`, `None` if there is no such user (any more).
async fn username_of(remote: &Remote, tenant: &str, id: &str) -> anyhow::Result<Option<String>> {
    match remote
        .get_if_any(&path(&["tenants", tenant, "users", id])?)
        .await?
    {
        Some(user) => Ok(user["username"].as_str().map(str::to_owned)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_encoded_and_empty_ones_dropped() {
        assert_eq!(
            with_query(
                "/tenants/acme/users",
                &[("q", Some("ann o'neil+1".into())), ("cursor", None)]
            ),
            "/tenants/acme/users?q=ann+o%27neil%2B1"
        );
        assert_eq!(with_query("/x", &[("cursor", None)]), "/x");
    }
}
