//! Tenants and their OAuth clients: the [`TenantStore`] and [`ClientStore`]
//! capabilities (SQL in `sql/tenants.rs`).

use async_trait::async_trait;
use holdfast_core::accounts::AccountPolicy;
use holdfast_core::client::{Client, NewClient};
use holdfast_core::tenant::{Tenant, TenantSlug};

use crate::{StoreResult, StoredKey};

/// The version a client or tenant has when created (the column default of
/// migration 0022); every change adds one.
pub const FIRST_VERSION: i64 = 1;

/// A client with its secret digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The client.
    pub client: Client,
    /// SHA-256 digest of the secret (base64url), for confidential clients.
    pub secret_digest: Option<String>,
    /// Bumped by every change: the admin API's `ETag`.
    pub version: i64,
}
/// Tenants.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant together with its first `current` and `next` keys, in
    /// one transaction. `Conflict("tenant")` if the slug is taken.
    async fn create_tenant(&self, tenant: &Tenant, keys: &[StoredKey]) -> StoreResult<()>;
    /// The tenant with this slug, if any.
    async fn tenant_by_slug(&self, slug: &TenantSlug) -> StoreResult<Option<Tenant>>;
    /// The tenant with this id, if any.
    async fn tenant_by_id(&self, id: &str) -> StoreResult<Option<Tenant>>;
    /// All tenants, by slug.
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;
    /// The tenant's own account settings; `None`: the defaults apply.
    async fn tenant_account_policy(&self, tenant_id: &str) -> StoreResult<Option<AccountPolicy>>;
    /// Changes the tenant's display name, account settings and/or branding, with the
    /// audit event naming who did it, in one transaction, bumping the
    /// tenant's version. With `expected_version`, only if the stored
    /// version is that one: `Stale("tenant")` otherwise.
    /// `NotFound("tenant")` if absent. The version the change made.
    async fn update_tenant_settings(
        &self,
        tenant_id: &str,
        expected_version: Option<i64>,
        display_name: Option<&str>,
        policy: Option<&AccountPolicy>,
        branding: Option<&holdfast_core::tenant::Branding>,
        audit: &crate::AuditEvent,
    ) -> StoreResult<i64>;
    /// Deletes a tenant with everything it holds (clients, users, sessions,
    /// refresh tokens, keys, codes, queued mail, streams), writing the audit
    /// event, in one transaction; earlier audit events stay.
    /// `NotFound("tenant")` if absent.
    async fn delete_tenant(&self, tenant_id: &str, audit: &crate::AuditEvent) -> StoreResult<()>;
}

/// OAuth clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Registers a validated client. `Conflict("client")` if the tenant
    /// already has this `client_id`.
    async fn create_client(
        &self,
        id: &str,
        tenant_id: &str,
        client: &NewClient,
        secret_digest: Option<&str>,
        now: i64,
    ) -> StoreResult<Client>;
    /// The client with this `client_id` in this tenant, if any.
    async fn client_by_client_id(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<ClientRecord>>;
    /// Sets (or with `None` removes) the client's back-channel logout
    /// registration. `NotFound("client")` if absent.
    async fn set_backchannel_logout(
        &self,
        tenant_id: &str,
        client_id: &str,
        logout: Option<&holdfast_core::client::BackchannelLogout>,
    ) -> StoreResult<()>;
    /// Sets (or, with `None`, clears) the client's display name.
    /// `NotFound("client")` if absent.
    async fn set_client_display_name(
        &self,
        tenant_id: &str,
        client_id: &str,
        name: Option<&str>,
    ) -> StoreResult<()>;
    /// Sets whether every sign-in to the client needs a second factor.
    /// `NotFound("client")` if absent.
    async fn set_client_mfa_required(
        &self,
        tenant_id: &str,
        client_id: &str,
        required: bool,
    ) -> StoreResult<()>;
    /// All clients of a tenant, by `client_id`.
    async fn list_clients(&self, tenant_id: &str) -> StoreResult<Vec<ClientRecord>>;
    /// Deletes a client in one transaction: every live session it holds
    /// ends as a revocation does (security events; no back-channel logout,
    /// since the registration goes with the client), its codes and SSF
    /// streams go, and the audit event is written. The number of sessions
    /// ended. `NotFound("client")` if absent.
    async fn delete_client(
        &self,
        tenant_id: &str,
        client_id: &str,
        now: i64,
        audit: &crate::AuditEvent,
    ) -> StoreResult<u64>;
}
