//! `holdfast --server URL ...`: administrative commands sent to a running
//! server's admin API (`/admin/v1`, see `http::admin`) instead of opened on
//! the database, for operators who are not on the database host.
//!
//! The token is an access token of the administration tenant with an
//! administration scope (RFC 6750 §2.1, `Authorization: Bearer`): taken
//! from `HOLDFAST_ADMIN_TOKEN`, or obtained with the client-credentials
//! grant (RFC 6749 §4.4) from `{server}/t/admin/token` with
//! `HOLDFAST_ADMIN_CLIENT_ID` and `HOLDFAST_ADMIN_CLIENT_SECRET` (the
//! automation client `holdfast admin bootstrap --automation-client` makes),
//! or the one a person's `holdfast --server URL login` kept ([`login`]:
//! the device grant of RFC 8628, refreshed as it expires). Secrets come
//! from the environment or that file, never from argv.
//!
//! Covered: `tenant list|show|create|update|delete|throttle`, `client
//! create|update|list|show|delete`, `keys list|rotate`, `user
//! list|show|create|invite|disable|enable|delete|set-password|send-reset|revoke-all`,
//! `session list|revoke` and `events` (the newest `--limit`, see
//! [`users`]). `migrate`, `admin` and `retention` say they need the
//! database and change nothing.
//!
//! Every path segment taken from the command line is percent-encoded
//! ([`path`]).

use anyhow::{Context, anyhow, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

mod login;
mod users;

use super::args::{
    AdminCommand, BackchannelLogoutArgs, ClientCommand, ClientCreateArgs, ClientUpdateArgs,
    KeysCommand, TenantCommand, TenantThrottleArgs, TenantUpdateArgs,
};
use super::output::{Output, Table, lines_of};
use holdfast_core::admin::SERVER_SCOPE;

/// Where the access token comes from.
pub const TOKEN_ENV: &str = "HOLDFAST_ADMIN_TOKEN";
/// The automation client's id, for a client-credentials token.
pub const CLIENT_ID_ENV: &str = "HOLDFAST_ADMIN_CLIENT_ID";
/// The automation client's secret.
pub const CLIENT_SECRET_ENV: &str = "HOLDFAST_ADMIN_CLIENT_SECRET";

/// A connection to one server's admin API.
struct Remote {
    http: reqwest::Client,
    api: String,
    token: String,
}

impl Remote {
    async fn connect(server: &Url) -> anyhow::Result<Self> {
        let http = login::http_client()?;
        let base = server.as_str().trim_end_matches('/').to_owned();
        let token = match std::env::var(TOKEN_ENV) {
            Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
            _ if std::env::var_os(CLIENT_ID_ENV).is_some() => {
                client_credentials(&http, &base).await?
            }
            _ => match login::kept_token(&http, &base).await? {
                Some(token) => token,
                None => bail!(
                    "--server needs an admin token: run `holdfast --server {base} login`, or set \
                     {TOKEN_ENV}, or {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} of an automation \
                     client (holdfast admin bootstrap --automation-client NAME)"
                ),
            },
        };
        Ok(Self {
            http,
            api: format!("{base}/admin/v1"),
            token,
        })
    }

    /// One call; the JSON answer, `Null` for 204, or the server's own
    /// error (`error_description` first) as the failure.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, answer) = self.send(method, path, body).await?;
        if status.is_success() {
            return Ok(answer);
        }
        Err(refused(status, &answer))
    }

    /// A `GET` of something that may be gone: `None` for 404.
    async fn get_if_any(&self, path: &str) -> anyhow::Result<Option<Value>> {
        match self.send(Method::GET, path, None).await? {
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, answer) if status.is_success() => Ok(Some(answer)),
            (status, answer) => Err(refused(status, &answer)),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.api))?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok((status, Value::Null));
        }
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }
}

fn refused(status: StatusCode, answer: &Value) -> anyhow::Error {
    anyhow!("the server refused ({status}): {}", explain(answer))
}

/// RFC 6749 §4.4 with client authentication by HTTP Basic (§2.3.1).
async fn client_credentials(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let (Ok(id), Ok(secret)) = (
        std::env::var(CLIENT_ID_ENV),
        std::env::var(CLIENT_SECRET_ENV),
    ) else {
        bail!(
            "--server needs an admin token: set {TOKEN_ENV}, or {CLIENT_ID_ENV} and \
             {CLIENT_SECRET_ENV} of an automation client (holdfast admin bootstrap \
             --automation-client NAME)"
        );
    };
    let response = http
        .post(format!("{}/token", login::admin_issuer(base)))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", SERVER_SCOPE),
        ])
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    match answer["access_token"].as_str() {
        Some(token) if status.is_success() => Ok(token.to_owned()),
        _ => bail!(
            "no admin token for client '{id}' ({status}): {}",
            explain(&answer)
        ),
    }
}

/// An OAuth error body (RFC 6749 §5.2) as one line: `error: description`.
fn explain(answer: &Value) -> String {
    match (
        answer["error"].as_str(),
        answer["error_description"].as_str(),
    ) {
        (Some(error), Some(description)) => format!("{error}: {description}"),
        (Some(said), None) | (None, Some(said)) => said.to_owned(),
        (None, None) => "no explanation".to_owned(),
    }
}

/// The refusal of a command that has no remote mode.
fn unsupported() -> anyhow::Error {
    anyhow!(
        "this command has no --server mode yet: run it where the database is \
         (without --server)"
    )
}

/// Runs `command` against the admin API of `server`.
pub async fn run(server: &Url, command: &AdminCommand, out: Output) -> anyhow::Result<()> {
    // Refuse before asking for a token.
    if matches!(
        command,
        AdminCommand::Migrate | AdminCommand::Administrators(_) | AdminCommand::Retention(_)
    ) {
        return Err(unsupported());
    }
    match command {
        AdminCommand::Login => return login::login(server, out).await,
        AdminCommand::Logout => return login::logout(server, out).await,
        _ => {}
    }
    let remote = Remote::connect(server).await?;
    match command {
        AdminCommand::Tenant(command) => tenant(&remote, command, out).await,
        AdminCommand::Client(command) => client(&remote, command, out).await,
        AdminCommand::Keys(command) => keys(&remote, command, out).await,
        AdminCommand::User(command) => users::user(&remote, command, out).await,
        AdminCommand::Session(command) => users::session(&remote, command, out).await,
        AdminCommand::Events(args) => users::events(&remote, args, out).await,
        AdminCommand::Migrate
        | AdminCommand::Administrators(_)
        | AdminCommand::Retention(_)
        | AdminCommand::Login
        | AdminCommand::Logout => Err(unsupported()),
    }
}

/// Characters a path segment keeps as they are: RFC 3986 §2.3's
/// unreserved set; everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The API path of `segments`, each percent-encoded (RFC 3986 §3.3), so a
/// slug, client id or session id can only ever name one segment. `.` and
/// `..` (which a URL parser would resolve, RFC 3986 §5.2.4) and empty
/// segments are refused.
fn path(segments: &[&str]) -> anyhow::Result<String> {
    let mut path = String::new();
    for segment in segments {
        if matches!(*segment, "" | "." | "..") {
            bail!("'{segment}' cannot name anything on the server");
        }
        path.push('/');
        path.extend(utf8_percent_encode(segment, SEGMENT));
    }
    Ok(path)
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

async fn tenant(remote: &Remote, command: &TenantCommand, out: Output) -> anyhow::Result<()> {
    match command {
        TenantCommand::List => {
            let list = items(&remote.call(Method::GET, "/tenants", None).await?);
            let mut table = Table::new(&["SLUG", "ALG", "NAME"]);
            for t in &list {
                table.row([
                    text(&t["slug"]),
                    text(&t["signing_alg"]),
                    text(&t["display_name"]),
                ]);
            }
            out.print_list(list, &table, "no tenants");
        }
        TenantCommand::Show { slug } => show_tenant(remote, slug, out).await?,
        TenantCommand::Create {
            slug,
            name,
            signing_alg,
            audience,
        } => {
            let made = remote
                .call(
                    Method::POST,
                    "/tenants",
                    Some(json!({
                        "slug": slug, "display_name": name,
                        "signing_alg": signing_alg.as_str(), "default_audience": audience,
                    })),
                )
                .await?;
            let human = lines_of(&made);
            out.print(made, human);
        }
        TenantCommand::Update(args) => {
            remote
                .call(
                    Method::PATCH,
                    &path(&["tenants", &args.slug, "settings"])?,
                    Some(settings_patch(args)),
                )
                .await?;
            show_tenant(remote, &args.slug, out).await?;
        }
        TenantCommand::Delete { slug } => {
            remote
                .call(Method::DELETE, &path(&["tenants", slug])?, None)
                .await?;
            out.print(
                json!({"deleted": true, "slug": slug}),
                format!("deleted tenant '{slug}' with its clients, users, sessions and keys"),
            );
        }
        TenantCommand::Throttle(args) => throttle(remote, args, out).await?,
    }
    Ok(())
}

/// `tenant throttle`: the flags as the `PATCH` body, `--reset` as a
/// `DELETE`, no flag as a `GET`; prints the limits in force as the
/// database mode does.
async fn throttle(remote: &Remote, args: &TenantThrottleArgs, out: Output) -> anyhow::Result<()> {
    let at = path(&["tenants", &args.slug, "throttle"])?;
    let patch = serde_json::to_value(&args.limits)?;
    let mut shown = if args.reset {
        remote.call(Method::DELETE, &at, None).await?
    } else if patch.as_object().is_some_and(|p| !p.is_empty()) {
        remote.call(Method::PATCH, &at, Some(patch)).await?
    } else {
        remote.call(Method::GET, &at, None).await?
    };
    if let Some(fields) = shown.as_object_mut() {
        fields.remove("own");
        fields.remove("version");
    }
    let human = lines_of(&shown);
    out.print(shown, human);
    Ok(())
}

/// The tenant and its settings, in one object.
async fn show_tenant(remote: &Remote, slug: &str, out: Output) -> anyhow::Result<()> {
    let mut shown = remote
        .call(Method::GET, &path(&["tenants", slug])?, None)
        .await?;
    let settings = remote
        .call(Method::GET, &path(&["tenants", slug, "settings"])?, None)
        .await?;
    if let (Some(into), Some(from)) = (shown.as_object_mut(), settings.as_object()) {
        into.extend(from.clone());
    }
    let human = lines_of(&shown);
    out.print(shown, human);
    Ok(())
}

/// The flags given, as the settings' JSON merge patch.
fn settings_patch(args: &TenantUpdateArgs) -> Value {
    let mut patch = serde_json::Map::new();
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            patch.insert(key.to_owned(), value);
        }
    };
    put("display_name", json!(args.name));
    put("registration", json!(args.registration.map(|r| r.as_str())));
    put(
        "email_verification",
        json!(args.email_verification.map(|e| e.as_str())),
    );
    put("mfa", json!(args.mfa.map(|m| m.as_str())));
    put("password_min_length", json!(args.password_min_length));
    put("password_max_length", json!(args.password_max_length));
    put("password_blocklist", json!(args.password_blocklist));
    put("passkey_rp_id", json!(args.passkey_rp_id));
    put("logo_url", json!(args.logo_url));
    put("accent_color", json!(args.accent_color));
    put("support_url", json!(args.support_url));
    Value::Object(patch)
}

async fn client(remote: &Remote, command: &ClientCommand, out: Output) -> anyhow::Result<()> {
    match command {
        ClientCommand::List { tenant } => {
            let list = items(
                &remote
                    .call(Method::GET, &path(&["tenants", tenant, "clients"])?, None)
                    .await?,
            );
            let mut table = Table::new(&["CLIENT_ID", "KIND", "NAME"]);
            for c in &list {
                table.row([
                    text(&c["client_id"]),
                    text(&c["kind"]),
                    text(&c["display_name"]),
                ]);
            }
            out.print_list(list, &table, "no clients");
        }
        ClientCommand::Show { tenant, client_id } => {
            let shown = remote
                .call(
                    Method::GET,
                    &path(&["tenants", tenant, "clients", client_id])?,
                    None,
                )
                .await?;
            let human = lines_of(&shown);
            out.print(shown, human);
        }
        ClientCommand::Delete { tenant, client_id } => {
            remote
                .call(
                    Method::DELETE,
                    &path(&["tenants", tenant, "clients", client_id])?,
                    None,
                )
                .await?;
            out.print(
                json!({"deleted": true, "client_id": client_id}),
                format!("deleted client '{client_id}'"),
            );
        }
        ClientCommand::Create(args) => {
            let made = remote
                .call(
                    Method::POST,
                    &path(&["tenants", &args.tenant, "clients"])?,
                    Some(new_client(args)),
                )
                .await?;
            let mut human = format!(
                "created {} client '{}' in tenant '{}'",
                text(&made["kind"]),
                text(&made["client_id"]),
                args.tenant
            );
            if let Some(secret) = made["client_secret"].as_str() {
                human.push_str(&format!(
                    "\n  client secret (shown once, store it now): {secret}"
                ));
            }
            out.print(made, human);
        }
        ClientCommand::Update(args) => {
            let patch = client_patch(args);
            if patch.as_object().is_none_or(|p| p.is_empty()) {
                bail!(
                    "nothing to change: give --backchannel-logout-uri URL, --no-backchannel-logout, \
                     --mfa-required true|false or --display-name NAME"
                );
            }
            let shown = remote
                .call(
                    Method::PATCH,
                    &path(&["tenants", &args.tenant, "clients", &args.client_id])?,
                    Some(patch),
                )
                .await?;
            let human = lines_of(&shown);
            out.print(shown, human);
        }
    }
    Ok(())
}

/// `client create`'s flags as the admin API's `ClientInput`: lists left
/// empty are not sent, so the server's defaults apply as they do on the
/// database.
fn new_client(args: &ClientCreateArgs) -> Value {
    let kind = if args.confidential {
        "confidential"
    } else {
        "public"
    };
    let grants: Vec<&str> = args.grant_types.iter().map(|g| g.as_str()).collect();
    let mut body = json!({
        "client_id": args.client_id,
        "kind": kind,
        "access_token_ttl": args.access_token_ttl,
        "rotation": args.rotation.as_str(),
        "grace_window": args.grace_window,
        "retry_limit": args.retry_limit,
        "unbound_grace_accept_risk": args.unbound_grace_accept_risk,
        "idle_lifetime": args.idle_lifetime,
        "absolute_lifetime": args.absolute_lifetime,
        "dpop_required": args.dpop_required,
        "refresh_token_cookie": args.refresh_token_cookie,
        "mfa_required": args.mfa_required,
    });
    let lists = [
        ("redirect_uris", json!(args.redirect_uris)),
        ("grant_types", json!(grants)),
        ("scopes", json!(args.scopes)),
        ("allowed_origins", json!(args.allowed_origins)),
        ("resources", json!(args.resources)),
    ];
    for (key, list) in lists {
        if list.as_array().is_some_and(|l| !l.is_empty()) {
            body[key] = list;
        }
    }
    if let Some(name) = &args.display_name {
        body["display_name"] = json!(name);
    }
    if let Some(alg) = args.id_token_signed_response_alg {
        body["id_token_signed_response_alg"] = json!(alg.as_str());
    }
    backchannel_into(&mut body, &args.backchannel);
    body
}

/// `client update`'s flags as a JSON merge patch of the client.
fn client_patch(args: &ClientUpdateArgs) -> Value {
    let mut patch = json!({});
    if let Some(name) = &args.display_name {
        patch["display_name"] = json!(name);
    }
    if let Some(required) = args.mfa_required {
        patch["mfa_required"] = json!(required);
    }
    if args.no_backchannel_logout {
        patch["backchannel_logout_uri"] = json!("");
    }
    backchannel_into(&mut patch, &args.backchannel);
    patch
}

fn backchannel_into(body: &mut Value, args: &BackchannelLogoutArgs) {
    if let Some(uri) = &args.backchannel_logout_uri {
        body["backchannel_logout_uri"] = json!(uri);
        body["backchannel_logout_session_required"] =
            json!(args.backchannel_logout_session_required);
    }
}

async fn keys(remote: &Remote, command: &KeysCommand, out: Output) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { tenant } => {
            let list = items(
                &remote
                    .call(Method::GET, &path(&["tenants", tenant, "keys"])?, None)
                    .await?,
            );
            let mut table = Table::new(&["KID", "ALG", "STATE"]);
            for k in &list {
                table.row([text(&k["kid"]), text(&k["alg"]), text(&k["state"])]);
            }
            out.print_list(list, &table, "no keys");
        }
        KeysCommand::Rotate { tenant } => {
            let rotated = remote
                .call(
                    Method::POST,
                    &path(&["tenants", tenant, "keys", "rotate"])?,
                    None,
                )
                .await?;
            let human = lines_of(&rotated);
            out.print(rotated, human);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::path;

    #[test]
    fn rfc_3986_path_segments_are_percent_encoded_one_segment_each() {
        assert_eq!(
            path(&["tenants", "acme", "sessions", "a b/c?d#e%f+g"]).unwrap(),
            "/tenants/acme/sessions/a%20b%2Fc%3Fd%23e%25f%2Bg"
        );
        assert_eq!(path(&["x", "ü.-_~"]).unwrap(), "/x/%C3%BC.-_~");
    }

    #[test]
    fn rfc_3986_dot_segments_and_empty_ones_are_refused() {
        for bad in ["", ".", ".."] {
            assert!(path(&["tenants", bad]).is_err(), "{bad:?}");
        }
        assert!(path(&["tenants", "..."]).is_ok());
    }
}
