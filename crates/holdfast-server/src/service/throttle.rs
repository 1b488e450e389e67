//! Throttling secret guessing (docs/design.md §8, OWASP ASVS 4.0.3 §2.2.1): the
//! server's side of `holdfast_core::throttle`. It names the counters an
//! attempt is counted under, picks the policy in force (the tenant's own,
//! else the server's), and counts.
//!
//! - **Passwords** (hosted login, first-party challenge) are counted
//!   *before* Argon2 runs: [`before_password`] reserves the attempt
//!   atomically in the store (a cheap unlocked read first, so a flood that
//!   is refused anyway writes nothing), and [`password_succeeded`] takes the
//!   reservation back. Unknown usernames are counted exactly like known
//!   ones, so a refusal says nothing about whether an account exists.
//! - **Client secrets** (token, introspection and revocation endpoints):
//!   [`before_client_secret`] refuses a throttled (client, address) before
//!   the secret is compared, and [`client_secret_failed`] counts a wrong
//!   one. There is no per-client counter: it would let anyone stall a real
//!   client. Secrets are 256-bit random values, so what is stopped here is
//!   noise and scanning, not a guess that could succeed.
//!
//! Addresses are the TCP peer's, or behind a configured `trusted_proxies`
//! entry the client's as the proxy reports it (`http/caller.rs`); IPv6
//! addresses count by /64.
//!
//! Client secrets are read-checked, not reserved, before the comparison (a
//! reservation would cost every confidential client's refresh two writes):
//! parallel wrong secrets from one address may each be compared before the
//! first is counted. A secret is 256 random bits, so this is noise control,
//! not a guess that could succeed.

use holdfast_core::tenant::Tenant;
use holdfast_core::throttle::{ThrottlePolicy, Verdict, check};
use holdfast_crypto::secret::sha256_b64;
use holdfast_store::{StoreError, ThrottleKeys};

use crate::service::RequestContext;
use crate::service::audit;
use crate::state::AppState;

/// An attempt was refused: answer 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed attempts; retry after {retry_after_secs} s")]
pub struct Throttled {
    /// Seconds until the next attempt may be allowed.
    pub retry_after_secs: i64,
}

/// Why a throttle check did not allow the attempt.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// Refused by a limit.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A password attempt counted before its check, to report the outcome to.
#[derive(Debug)]
#[must_use = "report a successful login with password_succeeded"]
pub struct Reservation {
    keys: ThrottleKeys,
}

/// A client-secret attempt that may go on, to report a failure to.
#[derive(Debug)]
pub struct ClientAttempt {
    keys: ThrottleKeys,
}

/// The address an attempt is counted under: IPv4 as it is (IPv4-mapped
/// IPv6 too), IPv6 by its /64, which one host usually holds whole (counting
/// single IPv6 addresses would hand an attacker endless fresh counters).
fn address(context: &RequestContext) -> String {
    use std::net::IpAddr;
    match context.ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()) {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Some(ip) => ip.to_string(),
        None => "unknown".to_owned(),
    }
}

/// The counters of a password attempt. Digests, so the table holds no
/// usernames or addresses; `\n` cannot occur in either part.
fn password_keys(username_normalized: &str, context: &RequestContext) -> ThrottleKeys {
    let ip = address(context);
    ThrottleKeys {
        pair: sha256_b64(format!("pwd-pair\n{username_normalized}\n{ip}").as_bytes()),
        account: Some(sha256_b64(
            format!("pwd-account\n{username_normalized}").as_bytes(),
        )),
        address: sha256_b64(format!("pwd-address\n{ip}").as_bytes()),
    }
}

/// The counters of a client-secret attempt. Their address counter is not
/// the passwords' one: a password flood from an address must not stall the
/// confidential clients that share it (a proxy, a NAT).
fn client_keys(client_id: &str, context: &RequestContext) -> ThrottleKeys {
    let ip = address(context);
    ThrottleKeys {
        pair: sha256_b64(format!("client-pair\n{client_id}\n{ip}").as_bytes()),
        account: None,
        address: sha256_b64(format!("client-address\n{ip}").as_bytes()),
    }
}

/// The limits in force for `tenant`: its own, else the server's (cached a
/// few seconds, like tenants and clients).
pub async fn policy(state: &AppState, tenant: &Tenant) -> Result<ThrottlePolicy, StoreError> {
    if let Some(policy) = state.throttle_policies.get(&tenant.id) {
        return Ok(policy);
    }
    let policy = state
        .store
        .tenant_throttle_policy(&tenant.id)
        .await?
        .unwrap_or(state.config.throttle);
    state.throttle_policies.insert(tenant.id.clone(), policy);
    Ok(policy)
}

fn refused(kind: &'static str, verdict: Verdict) -> Result<(), Throttled> {
    match verdict {
        Verdict::Allow => Ok(()),
        Verdict::Throttled {
            retry_after_secs, ..
        } => {
            metrics::counter!("holdfast_throttled_attempts_total", "secret" => kind).increment(1);
            if kind == "password" {
                metrics::counter!("holdfast_logins_total", "outcome" => "throttled", "method" => "password")
                    .increment(1);
            }
            Err(Throttled { retry_after_secs })
        }
    }
}

/// Counts a password attempt for `username_normalized` before the
/// password is checked; refuses it if a limit is reached.
pub async fn before_password(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    username_normalized: &str,
    context: &RequestContext,
) -> Result<Reservation, ThrottleError> {
    let keys = password_keys(username_normalized, context);
    let audit = holdfast_store::AuditEvent {
        client_id: Some(client_id.to_owned()),
        ..audit::event(state, tenant, "login_throttled", context)
    };
    reserve(state, tenant, keys, &audit, "password").await
}

/// Reserves an attempt under `keys` and the tenant's limits, `audit`
/// recording the first refusal of a window.
async fn reserve(
    state: &AppState,
    tenant: &Tenant,
    keys: ThrottleKeys,
    audit: &holdfast_store::AuditEvent,
    kind: &'static str,
) -> Result<Reservation, ThrottleError> {
    let policy = policy(state, tenant).await?;
    let now = state.now();
    // The cheap look: already refused, and not the first refusal of the
    // window (whose audit event the reservation records), costs no write.
    let seen = state.store.throttle_counters(&tenant.id, &keys).await?;
    if let v @ Verdict::Throttled {
        first_in_window: false,
        ..
    } = check(&policy, &seen, now)
    {
        refused(kind, v)?;
    }
    let verdict = state
        .store
        .reserve_attempt(&tenant.id, &keys, &policy, now, audit)
        .await?;
    refused(kind, verdict)?;
    Ok(Reservation { keys })
}

/// Counts a second-factor attempt (a TOTP or recovery code) for `user_id`
/// before the code is checked, under the tenant's password limits and
/// counters of its own; refuses it once a limit is reached. Report success
/// with [`password_succeeded`].
pub async fn before_second_factor(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    context: &RequestContext,
) -> Result<Reservation, ThrottleError> {
    let ip = address(context);
    let keys = ThrottleKeys {
        pair: sha256_b64(format!("mfa-pair\n{user_id}\n{ip}").as_bytes()),
        account: Some(sha256_b64(format!("mfa-account\n{user_id}").as_bytes())),
        address: sha256_b64(format!("mfa-address\n{ip}").as_bytes()),
    };
    let audit = holdfast_store::AuditEvent {
        user_id: Some(user_id.to_owned()),
        reason: Some("second_factor".to_owned()),
        ..audit::event(state, tenant, "login_throttled", context)
    };
    reserve(state, tenant, keys, &audit, "second_factor").await
}

/// Reports that a reserved password attempt succeeded: the address's
/// counter for the account is cleared.
pub async fn password_succeeded(
    state: &AppState,
    tenant: &Tenant,
    reservation: Reservation,
) -> Result<(), StoreError> {
    state
        .store
        .attempt_succeeded(&tenant.id, &reservation.keys, state.now())
        .await
}

/// Refuses a client-secret attempt from a throttled (client, address)
/// before the secret is compared.
pub async fn before_client_secret(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    context: &RequestContext,
) -> Result<ClientAttempt, ThrottleError> {
    let keys = client_keys(client_id, context);
    let policy = policy(state, tenant).await?;
    let seen = state.store.throttle_counters(&tenant.id, &keys).await?;
    refused("client_secret", check(&policy, &seen, state.now()))?;
    Ok(ClientAttempt { keys })
}

/// Counts a wrong client secret; `Throttled` if this attempt reached a limit.
pub async fn client_secret_failed(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    attempt: ClientAttempt,
    context: &RequestContext,
) -> Result<(), ThrottleError> {
    let policy = policy(state, tenant).await?;
    let audit = holdfast_store::AuditEvent {
        client_id: Some(client_id.to_owned()),
        ..audit::event(state, tenant, "client_auth_throttled", context)
    };
    let verdict = state
        .store
        .reserve_attempt(&tenant.id, &attempt.keys, &policy, state.now(), &audit)
        .await?;
    Ok(refused("client_secret", verdict)?)
}

/// Counts a sign-up, verification or recovery request (`action`) about
/// `subject` (an email address, a username or a link's digest) before
/// anything is mailed or checked, and refuses it once a limit of
/// [`holdfast_core::self_service::ACCOUNT_MAIL_THROTTLE`] is reached. Every
/// request counts, answered or not: a mail cannot be taken back.
pub async fn before_account_request(
    state: &AppState,
    tenant: &Tenant,
    action: &str,
    subject: &str,
    context: &RequestContext,
) -> Result<(), ThrottleError> {
    let policy = holdfast_core::self_service::ACCOUNT_MAIL_THROTTLE;
    before_request(
        state,
        tenant,
        action,
        Some(subject),
        context,
        &policy,
        "account",
    )
    .await
}

/// Counts a request of `action` about `subject` from the caller's address
/// under `policy` (per subject and address, per subject when there is
/// one, per address) and refuses it once a limit is reached; `kind` names
/// the limit in the metrics and the audit event (`{kind}_throttled`).
pub async fn before_request(
    state: &AppState,
    tenant: &Tenant,
    action: &str,
    subject: Option<&str>,
    context: &RequestContext,
    policy: &ThrottlePolicy,
    kind: &'static str,
) -> Result<(), ThrottleError> {
    let ip = address(context);
    let subject = subject.map(|s| s.trim().to_lowercase());
    let pair_subject = subject.as_deref().unwrap_or("");
    let keys = ThrottleKeys {
        pair: sha256_b64(format!("acct-pair\n{action}\n{pair_subject}\n{ip}").as_bytes()),
        account: subject
            .as_ref()
            .map(|subject| sha256_b64(format!("acct-subject\n{action}\n{subject}").as_bytes())),
        address: sha256_b64(format!("acct-address\n{action}\n{ip}").as_bytes()),
    };
    let audit = holdfast_store::AuditEvent {
        reason: Some(action.to_owned()),
        ..audit::event(state, tenant, &format!("{kind}_throttled"), context)
    };
    let verdict = state
        .store
        .reserve_attempt(&tenant.id, &keys, policy, state.now(), &audit)
        .await?;
    Ok(refused(kind, verdict)?)
}
