//! Administration use cases: tenants, their settings and sign-in limits,
//! clients, users and invitations, sessions, key rotation. Shared by the
//! CLI's database mode and the admin API (`http::admin`); every input is
//! validated by the domain crate before anything is written.

use holdfast_core::ValidationError;
use holdfast_core::accounts::{
    AccountPolicy, EmailVerification, PasswordRejection, PolicyError, Registration,
};
use holdfast_core::client::{Client, ClientKind, NewClient};
use holdfast_core::keys::SigningAlg;
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::throttle::ThrottlePolicy;
use holdfast_core::user::{User, Username, parse_email};
use holdfast_crypto::secret::{CLIENT_SECRET_PREFIX, SecretString, generate_token, sha256_b64};
use holdfast_store::StoreError;

use crate::keys::KeyError;
use crate::service::password::PasswordError;
use crate::state::AppState;

/// Why an administrative action failed. Messages are for operators.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// An input broke a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The thing exists already.
    #[error("{0}")]
    Conflict(String),
    /// A referenced thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The password does not meet the policy.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The new password breaks the tenant's password policy.
    #[error(transparent)]
    WeakPassword(#[from] PasswordRejection),
    /// The tenant settings are outside their bounds.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The sign-in limits are outside their bounds.
    #[error(transparent)]
    Throttle(#[from] holdfast_core::throttle::PolicyError),
    /// Key handling failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A conditional change named a version that is no longer current.
    #[error("{0}")]
    Stale(String),
    /// A self-service step it starts failed (throttled, mail queue).
    #[error(transparent)]
    Account(#[from] crate::service::accounts::AccountError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Randomness failed.
    #[error(transparent)]
    Crypto(#[from] holdfast_crypto::CryptoError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AdminError::NotFound(format!("{what} not found")),
            StoreError::Stale(what) => AdminError::Stale(format!(
                "the {what} changed since it was read: read it again and retry"
            )),
            other => AdminError::Store(other),
        }
    }
}

/// Inputs for a new tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// URL slug.
    pub slug: String,
    /// Display name (defaults to the slug).
    pub display_name: Option<String>,
    /// Signing algorithm.
    pub signing_alg: SigningAlg,
    /// Default access-token audience (defaults to the issuer).
    pub audience: Option<String>,
}

/// Creates a tenant with its first two signing keys.
pub async fn create_tenant(
    state: &AppState,
    actor: &Actor,
    input: NewTenant,
) -> Result<Tenant, AdminError> {
    let slug = TenantSlug::parse(&input.slug)?;
    let now = state.now();
    let tenant = Tenant {
        id: uuid::Uuid::now_v7().to_string(),
        display_name: match input.display_name {
            Some(name) => holdfast_core::tenant::parse_display_name(&name)?,
            None => slug.to_string(),
        },
        slug,
        signing_alg: input.signing_alg,
        default_audience: input.audience.filter(|a| !a.trim().is_empty()),
        created_at: now,
        branding: Default::default(),
    };
    let keys = state.keys.initial_keys(tenant.signing_alg, now)?;
    match state.store.create_tenant(&tenant, &keys).await {
        Ok(()) => {
            // Its own transaction: the store's create_tenant takes no event.
            record(state, &tenant, actor, "tenant", None, "tenant_created").await?;
            Ok(tenant)
        }
        Err(StoreError::Conflict(_)) => Err(AdminError::Conflict(format!(
            "a tenant with slug '{}' already exists",
            tenant.slug
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Looks a tenant up by slug, with an operator-friendly error.
pub async fn tenant(state: &AppState, slug: &str) -> Result<Tenant, AdminError> {
    let slug = TenantSlug::parse(slug)?;
    state
        .store
        .tenant_by_slug(&slug)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no tenant with slug '{slug}'")))
}

/// Registers a client; a confidential client's secret is returned once.
pub async fn create_client(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    input: NewClient,
) -> Result<(Client, Option<SecretString>), AdminError> {
    let input = checked(state, tenant, input).await?;
    let secret = match input.kind {
        ClientKind::Confidential => Some(generate_token(CLIENT_SECRET_PREFIX)?),
        ClientKind::Public => None,
    };
    let digest = secret.as_ref().map(|s| sha256_b64(s.expose().as_bytes()));
    let id = uuid::Uuid::now_v7().to_string();
    match state
        .store
        .create_client(&id, &tenant.id, &input, digest.as_deref(), state.now())
        .await
    {
        Ok(client) => {
            let event = client_event(state, tenant, actor, &client.client_id, "client_created");
            state.store.record_event(&event).await?;
            Ok((client, secret))
        }
        Err(StoreError::Conflict(_)) => Err(AdminError::Conflict(format!(
            "tenant '{}' already has a client '{}'",
            tenant.slug, input.client_id
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A client's settings checked against every rule and the tenant's
/// algorithms, with the keys they need made: what creating and changing a
/// client both store.
async fn checked(
    state: &AppState,
    tenant: &Tenant,
    input: NewClient,
) -> Result<NewClient, AdminError> {
    let input = input.validate()?;
    input.check_id_token_alg(tenant.signing_alg)?;
    if let Some(alg) = input.id_token_signed_response_alg {
        // RS256 keys are made when the first client needs them, here, off
        // every request path (RSA generation is slow).
        state.keys.ensure_alg(tenant, alg, state.now()).await?;
    }
    Ok(input)
}

/// Creates a user with an Argon2id-hashed password.
pub async fn create_user(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    username: &str,
    email: Option<&str>,
    password: SecretString,
) -> Result<User, AdminError> {
    let username = Username::parse(username)?;
    let email = email.map(parse_email).transpose()?;
    // Check first so a taken name costs no hashing; the unique index still
    // decides under races.
    if state
        .store
        .user_by_username(&tenant.id, username.normalized())
        .await?
        .is_some()
    {
        return Err(taken(tenant, &username));
    }
    account_policy(state, tenant)
        .await?
        .password
        .check(password.expose(), Some(username.display()))?;
    let hash = state.passwords.hash(password).await?;
    let id = uuid::Uuid::now_v7().to_string();
    match state
        .store
        .create_user(
            &id,
            &tenant.id,
            &username,
            email.as_deref(),
            &hash,
            state.now(),
        )
        .await
    {
        Ok(user) => {
            record(
                state,
                tenant,
                actor,
                "user_admin",
                Some(&user.id),
                "user_created",
            )
            .await?;
            Ok(user)
        }
        // Either index refused it: the same name (a race with the check
        // above) or one that looks the same (UTS #39 skeleton).
        Err(StoreError::Conflict(_)) => {
            let same = state
                .store
                .user_by_username(&tenant.id, username.normalized())
                .await?
                .is_some();
            Err(if same {
                taken(tenant, &username)
            } else {
                looks_taken(tenant)
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Says only that a lookalike exists, not which user it is: an operator
/// can list users, but the message may travel further (a sign-up page).
fn looks_taken(tenant: &Tenant) -> AdminError {
    AdminError::Conflict(format!(
        "tenant '{}': a username that looks the same as an existing one exists; choose another",
        tenant.slug
    ))
}

fn taken(tenant: &Tenant, username: &Username) -> AdminError {
    AdminError::Conflict(format!(
        "tenant '{}' already has a user named '{}' (usernames are case-insensitive)",
        tenant.slug,
        username.display()
    ))
}

/// Looks a user up by username, with an operator-friendly error.
pub async fn user(state: &AppState, tenant: &Tenant, username: &str) -> Result<User, AdminError> {
    let normalized = holdfast_core::user::normalize_username(username);
    state
        .store
        .user_by_username(&tenant.id, &normalized)
        .await?
        .map(|r| r.user)
        .ok_or_else(|| missing(tenant, "user", username))
}

/// Disables (`true`) or enables a user. Disabling ends every session and
/// token of theirs and tells resource servers (RISC account-disabled).
pub async fn set_user_disabled(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    user: &User,
    disabled: bool,
) -> Result<(), AdminError> {
    let reason = if disabled {
        "user_disabled"
    } else {
        "user_enabled"
    };
    let event = audit_event(
        state,
        tenant,
        actor,
        "user_admin",
        Some(&user.id),
        None,
        reason,
    );
    let at = disabled.then_some(event.at);
    state
        .store
        .set_user_disabled(&tenant.id, &user.id, at, event.at, &event)
        .await?;
    Ok(())
}

/// Revokes every live session of `user` and stamps "not before now" on
/// their tokens, so access tokens issued earlier are refused too. Returns
/// how many sessions it revoked and the stamp.
///
/// The sessions are revoked (and counted) first, with the event: the stamp
/// would otherwise revoke them itself and the count would say 0. Should
/// stamping then fail, the call fails, the revocation it recorded stands
/// and calling again is safe.
pub async fn revoke_user_sessions(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    user: &User,
) -> Result<(u64, i64), AdminError> {
    let event = audit_event(
        state,
        tenant,
        actor,
        "revocation",
        Some(&user.id),
        None,
        "revoked_by_admin",
    );
    let now = event.at;
    let count = state
        .store
        .revoke_user_sessions(&tenant.id, &user.id, None, "revoked_by_admin", now, &event)
        .await?;
    state
        .store
        .set_user_not_before(&tenant.id, &user.id, now)
        .await?;
    crate::service::revocation::counted("revoked_by_admin", count);
    Ok((count, now))
}

/// Deletes a user, ending every session and token of theirs (RISC
/// account-purged).
pub async fn delete_user(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    user: &User,
) -> Result<(), AdminError> {
    let event = audit_event(
        state,
        tenant,
        actor,
        "user_admin",
        Some(&user.id),
        None,
        "user_deleted",
    );
    state
        .store
        .delete_user(&tenant.id, &user.id, event.at, &event)
        .await?;
    Ok(())
}

/// Sets a user's password (an administrator's reset): sessions begun before
/// end, and resource servers hear of it (CAEP credential-change, RISC
/// sessions-revoked).
pub async fn set_user_password(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    user: &User,
    password: SecretString,
) -> Result<(), AdminError> {
    account_policy(state, tenant)
        .await?
        .password
        .check(password.expose(), Some(&user.username))?;
    let hash = state.passwords.hash(password).await?;
    let event = audit_event(
        state,
        tenant,
        actor,
        "user_admin",
        Some(&user.id),
        None,
        "password_set",
    );
    state
        .store
        .set_user_password(
            &tenant.id,
            &user.id,
            &hash,
            event.at,
            &event,
            crate::service::mail::password_changed(state, tenant, user, true).as_ref(),
        )
        .await?;
    Ok(())
}

/// The client with this `client_id`, with its version.
pub async fn client(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<holdfast_store::ClientRecord, AdminError> {
    state
        .store
        .client_by_client_id(&tenant.id, client_id)
        .await?
        .ok_or_else(|| missing(tenant, "client", client_id))
}

/// Deletes a client; its live sessions end (with their events). The number
/// of sessions ended. A running server may still serve the client from its
/// cache for a few seconds; its sessions are already revoked.
pub async fn delete_client(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    client_id: &str,
) -> Result<u64, AdminError> {
    let event = client_event(state, tenant, actor, client_id, "client_deleted");
    state
        .store
        .delete_client(&tenant.id, client_id, event.at, &event)
        .await
        .inspect(|_| forget_client(state, tenant, client_id))
        .map_err(|e| match e {
            StoreError::NotFound(_) => missing(tenant, "client", client_id),
            other => other.into(),
        })
}

/// The tenant's account settings: its own, or the defaults.
pub async fn account_policy(
    state: &AppState,
    tenant: &Tenant,
) -> Result<AccountPolicy, AdminError> {
    Ok(crate::service::accounts::policy(state, tenant).await?)
}

/// What `holdfast tenant update` changes; `None` keeps the value.
#[derive(Debug, Clone, Default)]
pub struct TenantUpdate {
    /// Display name.
    pub display_name: Option<String>,
    /// Who may register.
    pub registration: Option<Registration>,
    /// Whether sign-in waits for a verified email.
    pub email_verification: Option<EmailVerification>,
    /// Whether every sign-in needs a second factor.
    pub mfa: Option<holdfast_core::mfa::MfaPolicy>,
    /// Fewest password characters.
    pub password_min_length: Option<u32>,
    /// Most password characters.
    pub password_max_length: Option<u32>,
    /// Refuse common passwords.
    pub password_blocklist: Option<bool>,
    /// The passkeys' relying-party ID; `Some("")` goes back to the public
    /// URL's host.
    pub passkey_rp_id: Option<String>,
    /// The logo's URL; `Some("")` removes it.
    pub logo_url: Option<String>,
    /// The accent colour, `#rgb` or `#rrggbb`; `Some("")` goes back to the
    /// default.
    pub accent_color: Option<String>,
    /// Where people get help (https or `mailto:`); `Some("")` removes it.
    pub support_url: Option<String>,
}

/// `current` with the branding parts of `change` applied, each checked;
/// `""` clears a value.
fn changed_branding(
    current: &holdfast_core::tenant::Branding,
    change: &TenantUpdate,
) -> Result<holdfast_core::tenant::Branding, AdminError> {
    use holdfast_core::tenant::{parse_accent_color, parse_logo_url, parse_support_url};
    type Parse = fn(&str) -> Result<String, ValidationError>;
    let apply = |now: &Option<String>, raw: &Option<String>, parse: Parse| match raw.as_deref() {
        None => Ok(now.clone()),
        Some(r) if r.trim().is_empty() => Ok(None),
        Some(r) => parse(r).map(Some),
    };
    Ok(holdfast_core::tenant::Branding {
        logo_url: apply(&current.logo_url, &change.logo_url, parse_logo_url)?,
        accent_color: apply(
            &current.accent_color,
            &change.accent_color,
            parse_accent_color,
        )?,
        support_url: apply(&current.support_url, &change.support_url, parse_support_url)?,
    })
}

/// Changes a tenant's name and settings, checked, with an audit event; the
/// tenant, the settings now in force and the version the change made. A
/// running server reads them from the store on each use, so the change
/// applies without a restart.
pub async fn update_tenant(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    expected_version: Option<i64>,
    change: TenantUpdate,
) -> Result<(Tenant, AccountPolicy, i64), AdminError> {
    let display_name = change
        .display_name
        .as_deref()
        .map(holdfast_core::tenant::parse_display_name)
        .transpose()?;
    let branding = changed_branding(&tenant.branding, &change)?;
    let current = account_policy(state, tenant).await?;
    let mut policy = current.clone();
    if let Some(id) = change.passkey_rp_id {
        policy.passkey_rp_id = crate::service::passkeys::parse_rp_id(state, &id)?;
    }
    if let Some(r) = change.registration {
        policy.registration = r;
    }
    if let Some(e) = change.email_verification {
        policy.email_verification = e;
    }
    if let Some(m) = change.mfa {
        policy.mfa = m;
    }
    if let Some(n) = change.password_min_length {
        policy.password.min_length = n;
    }
    if let Some(n) = change.password_max_length {
        policy.password.max_length = n;
    }
    if let Some(b) = change.password_blocklist {
        policy.password.blocklist = b;
    }
    policy.validate()?;
    let event = audit_event(
        state,
        tenant,
        actor,
        "tenant_admin",
        None,
        None,
        "settings_changed",
    );
    let changed_policy = (policy != current).then_some(&policy);
    let changed_branding = (branding != tenant.branding).then_some(&branding);
    let version = state
        .store
        .update_tenant_settings(
            &tenant.id,
            expected_version,
            display_name.as_deref(),
            changed_policy,
            changed_branding,
            &event,
        )
        .await?;
    state.tenants.remove(&tenant.slug.to_string());
    let mut updated = tenant.clone();
    if let Some(name) = display_name {
        updated.display_name = name;
    }
    updated.branding = branding;
    Ok((updated, policy, version))
}

/// Deletes `tenant` with everything it holds; the audit event names the
/// CLI. A running server stops serving it once its tenant cache entry
/// lapses (seconds): until then, lookups of its clients and keys find
/// nothing.
pub async fn delete_tenant(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
) -> Result<(), AdminError> {
    let event = audit_event(state, tenant, actor, "tenant", None, None, "tenant_deleted");
    state.store.delete_tenant(&tenant.id, &event).await?;
    state.tenants.remove(&tenant.slug.to_string());
    Ok(())
}

/// Replaces every setting of the client `current` with `input` (its
/// `client_id` and kind stay), checked as at creation, with an audit event;
/// with `expected_version` only if nobody changed it since
/// (`AdminError::Stale`). This server forgets its cached copy at once;
/// other nodes within their cache's few seconds.
pub async fn update_client(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    current: &Client,
    expected_version: Option<i64>,
    input: NewClient,
) -> Result<holdfast_store::ClientRecord, AdminError> {
    if input.kind != current.kind || input.client_id != current.client_id {
        return Err(AdminError::Conflict(format!(
            "client '{}' is {}: a client's id and kind cannot change, register a new client",
            current.client_id,
            current.kind.as_str()
        )));
    }
    let input = checked(state, tenant, input).await?;
    let event = client_event(state, tenant, actor, &input.client_id, "client_updated");
    let record = state
        .store
        .update_client(
            &tenant.id,
            &input.client_id,
            &input,
            expected_version,
            &event,
        )
        .await?;
    forget_client(state, tenant, &input.client_id);
    Ok(record)
}

/// Gives a confidential client a new secret, returned once; the old one
/// stops working at once on this node (others: within their client
/// cache's few seconds).
pub async fn rotate_client_secret(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    client_id: &str,
) -> Result<SecretString, AdminError> {
    if client(state, tenant, client_id).await?.client.kind != ClientKind::Confidential {
        return Err(AdminError::Conflict(format!(
            "client '{client_id}' is public: it has no secret"
        )));
    }
    let secret = generate_token(CLIENT_SECRET_PREFIX)?;
    let digest = sha256_b64(secret.expose().as_bytes());
    let event = client_event(state, tenant, actor, client_id, "client_secret_rotated");
    state
        .store
        .set_client_secret(&tenant.id, client_id, &digest, &event)
        .await?;
    forget_client(state, tenant, client_id);
    Ok(secret)
}

/// Drops this node's cached copy of a client that changed or went.
fn forget_client(state: &AppState, tenant: &Tenant, client_id: &str) {
    state
        .clients
        .remove(&(tenant.id.clone(), client_id.to_owned()));
}

/// Rotates the tenant's signing keys (every algorithm it signs with), with
/// an audit event; the new `next` keys.
pub async fn rotate_keys(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
) -> Result<Vec<holdfast_store::StoredKey>, AdminError> {
    let new_nexts = state.keys.rotate(tenant, state.now()).await?;
    record(state, tenant, actor, "keys_admin", None, "keys_rotated").await?;
    Ok(new_nexts)
}

/// Revokes one of the tenant's sessions and its refresh tokens, with the
/// audit event in the same transaction; the session as it was.
pub async fn revoke_session(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    session_id: &str,
) -> Result<holdfast_store::SessionRecord, AdminError> {
    let found = state
        .store
        .session(&tenant.id, session_id)
        .await?
        .ok_or_else(|| missing(tenant, "session", session_id))?;
    let event = audit_event(
        state,
        tenant,
        actor,
        "revocation",
        Some(&found.user_id),
        Some(&found.id),
        "revoked_by_admin",
    );
    state
        .store
        .revoke_session(&tenant.id, &found.id, "revoked_by_admin", event.at, &event)
        .await?;
    crate::service::revocation::counted("revoked_by_admin", 1);
    Ok(found)
}

/// Mails `user` a password-reset link, as "forgot password" does, with an
/// audit event. A user without an email address, or a disabled one (the
/// link could not sign them in; Keycloak refuses the same), is a conflict.
pub async fn send_password_reset(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    user: &User,
) -> Result<(), AdminError> {
    let Some(email) = user.email.as_deref() else {
        return Err(AdminError::Conflict(format!(
            "user '{}' has no email address",
            user.username
        )));
    };
    let disabled = state
        .store
        .user_by_id(&tenant.id, &user.id)
        .await?
        .ok_or_else(|| missing(tenant, "user", &user.username))?
        .disabled_at
        .is_some();
    if disabled {
        return Err(AdminError::Conflict(format!(
            "user '{}' is disabled: enable them before sending a reset link",
            user.username
        )));
    }
    // The administrator named the user: no enumeration guard and no
    // per-caller throttle, unlike the anonymous "forgot password".
    let issuer = holdfast_core::tenant::issuer_url(&state.public_url, &tenant.slug);
    crate::service::accounts::issue_reset(
        state,
        tenant,
        &issuer,
        user,
        email,
        None,
        &actor.context,
    )
    .await?;
    record(
        state,
        tenant,
        actor,
        "user_admin",
        Some(&user.id),
        "password_reset_sent",
    )
    .await
}

/// Invites `email` to `tenant` as [`accounts::invite`] does (an account
/// with no password yet and a mailed link to choose one), with the
/// invitation's audit event naming `actor`.
///
/// [`accounts::invite`]: crate::service::accounts::invite
pub async fn invite_user(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    email: &str,
    name: Option<&str>,
) -> Result<User, AdminError> {
    let issuer = holdfast_core::tenant::issuer_url(&state.public_url, &tenant.slug);
    Ok(crate::service::accounts::invite(
        state,
        tenant,
        &issuer,
        email,
        name,
        Some(&actor.name),
        &actor.context,
    )
    .await?)
}

/// Changes to a tenant's sign-in limits; absent fields keep the value in
/// force. One type for every edge that changes them: the body of the admin
/// API's `PATCH .../throttle`, and the flags of `holdfast tenant throttle`
/// in both its modes.
#[derive(
    Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema, clap::Args,
)]
#[serde(deny_unknown_fields)]
pub struct ThrottlePatch {
    /// Failures per account and address in one window.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair_max_failures: Option<i64>,
    /// Length of that window, seconds.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair_window_secs: Option<i64>,
    /// Failures per account before each further attempt waits a doubling
    /// delay.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_delay_after: Option<i64>,
    /// Longest such delay, seconds.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_max_delay_secs: Option<i64>,
    /// Failures per account in one window (at most 100 an hour).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_max_failures: Option<i64>,
    /// Length of the account window, seconds.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_window_secs: Option<i64>,
    /// Failures per address across accounts in one window.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_max_failures: Option<i64>,
    /// Length of the address window, seconds.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_window_secs: Option<i64>,
    /// How long an address that signed in stays exempt from the account
    /// limit, seconds.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_address_secs: Option<i64>,
}

impl ThrottlePatch {
    /// `base` with the given fields applied; `None` when none is given.
    pub fn apply(&self, base: ThrottlePolicy) -> Option<ThrottlePolicy> {
        let mut p = base;
        let mut changed = false;
        for (given, field) in [
            (self.pair_max_failures, &mut p.pair_max_failures),
            (self.pair_window_secs, &mut p.pair_window_secs),
            (self.account_delay_after, &mut p.account_delay_after),
            (self.account_max_delay_secs, &mut p.account_max_delay_secs),
            (self.account_max_failures, &mut p.account_max_failures),
            (self.account_window_secs, &mut p.account_window_secs),
            (self.address_max_failures, &mut p.address_max_failures),
            (self.address_window_secs, &mut p.address_window_secs),
            (self.known_address_secs, &mut p.known_address_secs),
        ] {
            if let Some(value) = given {
                *field = value;
                changed = true;
            }
        }
        changed.then_some(p)
    }
}

/// A tenant's sign-in limits (`holdfast_core::throttle`).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// The limits in force.
    pub policy: ThrottlePolicy,
    /// Whether they are the tenant's own (else the server's defaults).
    pub own: bool,
    /// The tenant's settings version, the `ETag` of a conditional change.
    pub version: i64,
}

/// The limits in force for `tenant`, and whether they are its own.
pub async fn throttle_settings(
    state: &AppState,
    tenant: &Tenant,
) -> Result<ThrottleSettings, AdminError> {
    let own = state.store.tenant_throttle_policy(&tenant.id).await?;
    let version = state
        .store
        .tenant_version(&tenant.id)
        .await?
        .ok_or_else(|| missing_tenant(tenant))?;
    Ok(ThrottleSettings {
        policy: own.unwrap_or(state.config.throttle),
        own: own.is_some(),
        version,
    })
}

/// Gives `tenant` limits of its own (`Some`, validated first) or sends it
/// back to the server's (`None`), with an audit event naming `actor`; with
/// `expected_version`, only if the settings are still at that version.
/// Every node picks the change up within the policy cache's few seconds.
pub async fn set_throttle(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    expected_version: Option<i64>,
    policy: Option<ThrottlePolicy>,
) -> Result<ThrottleSettings, AdminError> {
    if let Some(policy) = &policy {
        policy.validate()?;
    }
    let reason = if policy.is_some() {
        "throttle_set"
    } else {
        "throttle_reset"
    };
    let event = audit_event(state, tenant, actor, "tenant_admin", None, None, reason);
    let version = state
        .store
        .set_tenant_throttle_policy(&tenant.id, expected_version, policy.as_ref(), &event)
        .await?;
    state.throttle_policies.remove(&tenant.id);
    Ok(ThrottleSettings {
        policy: policy.unwrap_or(state.config.throttle),
        own: policy.is_some(),
        version,
    })
}

fn missing_tenant(tenant: &Tenant) -> AdminError {
    AdminError::NotFound(format!("tenant '{}' not found", tenant.slug))
}

/// The error for a thing `tenant` does not have.
fn missing(tenant: &Tenant, what: &str, id: &str) -> AdminError {
    AdminError::NotFound(format!("no {what} '{id}' in tenant '{}'", tenant.slug))
}

/// Records an administrative event on its own (for changes whose store
/// method takes none).
async fn record(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    kind: &str,
    user_id: Option<&str>,
    reason: &str,
) -> Result<(), AdminError> {
    let event = audit_event(state, tenant, actor, kind, user_id, None, reason);
    Ok(state.store.record_event(&event).await?)
}

/// An event about a client: kind `client_admin`.
fn client_event(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    client_id: &str,
    reason: &str,
) -> holdfast_store::AuditEvent {
    let mut event = audit_event(state, tenant, actor, "client_admin", None, None, reason);
    event.client_id = Some(client_id.to_owned());
    event
}

/// Who makes an administrative change: named in its audit event.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `cli:{os user}`, `user:{sub}` (a person of the administration
    /// tenant) or `client:{client_id}` (one of its clients).
    pub name: String,
    /// Where the change came from.
    pub context: crate::service::RequestContext,
}

impl Actor {
    /// The CLI in direct database mode, run by the OS user in `$USER`.
    pub fn cli() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
        Self {
            name: format!("cli:{user}"),
            context: crate::service::RequestContext {
                user_agent: Some("holdfast-cli".to_owned()),
                ..Default::default()
            },
        }
    }
}

/// An administrative audit event naming `actor`, for the store method that
/// acts on it.
pub fn audit_event(
    state: &AppState,
    tenant: &Tenant,
    actor: &Actor,
    kind: &str,
    user_id: Option<&str>,
    session_id: Option<&str>,
    reason: &str,
) -> holdfast_store::AuditEvent {
    let mut event = crate::service::audit::about(
        state,
        tenant,
        kind,
        None,
        user_id,
        session_id,
        reason,
        &actor.context,
    );
    event.actor = Some(actor.name.clone());
    event
}
