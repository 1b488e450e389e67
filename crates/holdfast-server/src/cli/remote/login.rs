//! `holdfast --server URL login` and `logout`: a person's sign-in for the
//! remote commands, with the device authorization grant
//! ([RFC 8628](https://www.rfc-editor.org/rfc/rfc8628)) of the built-in
//! public client `holdfast-cli` of the administration tenant.
//!
//! `login` asks `{server}/t/admin/device_authorization` for codes (§3.1),
//! prints where to approve (any browser, any device: the hosted login
//! with the person's second factor), polls the token endpoint (§3.4,
//! honouring `interval` and `slow_down`, §3.5) and keeps the tokens in
//! the credentials file, one entry per server, created readable by its
//! owner only (0600, written to a temporary file and renamed, so a crash
//! never leaves half a file). Later `--server` commands use the access
//! token and refresh it (RFC 6749 §6) when it is about to expire.
//! `logout` revokes the refresh token (RFC 7009) and forgets the entry.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::explain;
use crate::cli::output::Output;
use crate::service::administrators::{ADMIN_TENANT, CLI_CLIENT_ID};
use holdfast_core::admin::SERVER_SCOPE;
use holdfast_core::device::{GRANT_TYPE, INTERVAL_SECS, MAX_INTERVAL_SECS, SLOW_DOWN_STEP_SECS};

/// Where the credentials file is, if not in the default place.
pub const CREDENTIALS_ENV: &str = "HOLDFAST_CREDENTIALS";

/// A refresh this long before the access token expires, so a command does
/// not start with a token that dies on the way.
const EARLY_REFRESH_SECS: i64 = 30;

/// One server's kept sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Kept {
    access_token: String,
    refresh_token: Option<String>,
    /// Unix seconds.
    expires_at: i64,
}

/// The credentials file: kept sign-ins by server URL.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Credentials {
    servers: BTreeMap<String, Kept>,
}

fn credentials_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(CREDENTIALS_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("no HOME: set HOLDFAST_CREDENTIALS")?)
                .join(".config")
        }
    };
    Ok(config.join("holdfast").join("credentials.json"))
}

/// An exclusive lock on the credentials file (a `.lock` file beside it),
/// held from reading it to writing it back: two commands refreshing one
/// sign-in at once would present one refresh token twice, and the second
/// presentation is reuse, which ends the sign-in (RFC 9700 §4.14.2).
fn locked() -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = credentials_path()?.with_extension("json.lock");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

fn load() -> anyhow::Result<Credentials> {
    let path = credentials_path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a credentials file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save(credentials: &Credentials) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Under the lock of [`locked`], which made the directory.
    let path = credentials_path()?;
    let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(&serde_json::to_vec_pretty(credentials)?)?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The CLI's HTTP client: a server that hangs fails a call after
/// [`HTTP_TIMEOUT`] instead of holding the credentials lock (and every
/// other command of the user) for ever.
pub(super) fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("holdfast-cli/", env!("CARGO_PKG_VERSION")))
        .timeout(HTTP_TIMEOUT)
        .build()?)
}

/// How long one call to the server may take.
pub(super) const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The administration tenant's issuer on the server at `base`.
pub(super) fn admin_issuer(base: &str) -> String {
    format!("{base}/t/{ADMIN_TENANT}")
}

fn kept_of(answer: &Value, previous_refresh: Option<&str>) -> Option<Kept> {
    Some(Kept {
        access_token: answer["access_token"].as_str()?.to_owned(),
        refresh_token: answer["refresh_token"]
            .as_str()
            .or(previous_refresh)
            .map(str::to_owned),
        expires_at: now().saturating_add(answer["expires_in"].as_i64().unwrap_or(60)),
    })
}

/// The kept access token for `base`, refreshed first when it is about to
/// expire; `None` when there is no sign-in for it.
pub(super) async fn kept_token(
    http: &reqwest::Client,
    base: &str,
) -> anyhow::Result<Option<String>> {
    let _lock = locked()?;
    let mut credentials = load()?;
    let Some(kept) = credentials.servers.get(base).cloned() else {
        return Ok(None);
    };
    if now() < kept.expires_at.saturating_sub(EARLY_REFRESH_SECS) {
        return Ok(Some(kept.access_token));
    }
    let Some(refresh) = kept.refresh_token.as_deref() else {
        bail!("the sign-in to {base} expired: run `holdfast --server {base} login` again");
    };
    let response = http
        .post(format!("{}/token", admin_issuer(base)))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", CLI_CLIENT_ID),
        ])
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    let renewed = match kept_of(&answer, Some(refresh)) {
        Some(renewed) if status.is_success() => renewed,
        _ => bail!(
            "the sign-in to {base} ended ({}): run `holdfast --server {base} login` again",
            explain(&answer)
        ),
    };
    let token = renewed.access_token.clone();
    credentials.servers.insert(base.to_owned(), renewed);
    save(&credentials)?;
    Ok(Some(token))
}

/// `holdfast --server URL login`.
pub async fn login(server: &Url, out: Output) -> anyhow::Result<()> {
    let http = http_client()?;
    let base = server.as_str().trim_end_matches('/').to_owned();
    let issuer = admin_issuer(&base);
    let scope = format!("openid profile {SERVER_SCOPE}");
    let response = http
        .post(format!("{issuer}/device_authorization"))
        .form(&[("client_id", CLI_CLIENT_ID), ("scope", scope.as_str())])
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let status = response.status();
    let codes: Value = response.json().await.unwrap_or(Value::Null);
    let (Some(device_code), Some(user_code), Some(page)) = (
        codes["device_code"].as_str(),
        codes["user_code"].as_str(),
        codes["verification_uri"].as_str(),
    ) else {
        bail!(
            "{base} cannot sign in the command line ({status}): {}. Is there an administration \
             tenant (holdfast admin bootstrap) and is this server new enough?",
            explain(&codes)
        );
    };
    let complete = codes["verification_uri_complete"].as_str().unwrap_or(page);
    let mut interval = codes["interval"]
        .as_i64()
        .unwrap_or(INTERVAL_SECS)
        .clamp(1, MAX_INTERVAL_SECS);
    let deadline = now().saturating_add(codes["expires_in"].as_i64().unwrap_or(600));
    // The instructions go to stderr, so stdout holds only the result.
    eprintln!(
        "To sign in, open this page in a browser (on any device):\n\n    {complete}\n\n\
         or open {page} and enter the code {user_code}.\nWaiting for you to approve…"
    );
    let tokens = loop {
        if now() >= deadline {
            bail!("the code expired before it was approved: run login again");
        }
        tokio::time::sleep(std::time::Duration::from_secs(interval.unsigned_abs())).await;
        let sent = http
            .post(format!("{issuer}/token"))
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("device_code", device_code),
                ("client_id", CLI_CLIENT_ID),
            ])
            .send()
            .await;
        // An unreachable or failing server may recover before the code
        // expires (the server puts an approval back after its own
        // failures): keep polling.
        let response = match sent {
            Ok(response) if !response.status().is_server_error() => response,
            Ok(response) => {
                eprintln!("{base} answered {}; trying again…", response.status());
                continue;
            }
            Err(e) => {
                eprintln!("cannot reach {base} ({e}); trying again…");
                continue;
            }
        };
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            break answer;
        }
        match answer["error"].as_str() {
            Some("authorization_pending") => {}
            Some("slow_down") => {
                interval = (interval + SLOW_DOWN_STEP_SECS).min(MAX_INTERVAL_SECS);
            }
            Some("access_denied") => bail!("the sign-in was denied"),
            Some("expired_token") => {
                bail!("the code expired before it was approved: run login again")
            }
            _ => bail!(
                "the server refused the sign-in ({status}): {}",
                explain(&answer)
            ),
        }
    };
    let kept = kept_of(&tokens, None).context("the token response has no access_token")?;
    let who = whoami(&http, &issuer, &kept.access_token).await;
    let _lock = locked()?;
    let mut credentials = load()?;
    credentials.servers.insert(base.clone(), kept);
    let path = save(&credentials)?;
    out.print(
        json!({"server": base, "user": who, "credentials": path.display().to_string()}),
        format!(
            "signed in to {base} as {} (kept in {})",
            who.as_deref().unwrap_or("an administrator"),
            path.display()
        ),
    );
    Ok(())
}

/// The signed-in person's username, from the UserInfo endpoint (OIDC Core
/// §5.3), if it answers.
async fn whoami(http: &reqwest::Client, issuer: &str, token: &str) -> Option<String> {
    let answer: Value = http
        .get(format!("{issuer}/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    answer["preferred_username"]
        .as_str()
        .or(answer["sub"].as_str())
        .map(str::to_owned)
}

/// `holdfast --server URL logout`.
pub async fn logout(server: &Url, out: Output) -> anyhow::Result<()> {
    let base = server.as_str().trim_end_matches('/').to_owned();
    let _lock = locked()?;
    let mut credentials = load()?;
    let Some(kept) = credentials.servers.remove(&base) else {
        out.print(
            json!({"server": base, "signed_out": false}),
            format!("not signed in to {base}"),
        );
        return Ok(());
    };
    // RFC 7009 §2: revoking the refresh token ends its whole grant. A
    // server that cannot be reached still loses the entry here.
    let revoked = match &kept.refresh_token {
        Some(token) => http_client()?
            .post(format!("{}/revoke", admin_issuer(&base)))
            .form(&[
                ("token", token.as_str()),
                ("token_type_hint", "refresh_token"),
                ("client_id", CLI_CLIENT_ID),
            ])
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        None => false,
    };
    save(&credentials)?;
    out.print(
        json!({"server": base, "signed_out": true, "revoked": revoked}),
        if revoked {
            format!("signed out of {base}")
        } else {
            format!("forgot the sign-in to {base} (the server did not confirm the revocation)")
        },
    );
    Ok(())
}
