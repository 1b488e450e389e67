//! Looking up tenants, clients and allowed origins, through the short-lived
//! caches of [`AppState`] (hits only: something created a moment ago, by
//! the CLI or another node, is found at once). Every request path reads
//! them through here, so the token endpoint never asks the store twice for
//! the same immutable thing.

use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_store::{ClientRecord, StoreResult};

use crate::state::AppState;

/// The tenant with this slug.
pub async fn tenant(state: &AppState, slug: &TenantSlug) -> StoreResult<Option<Tenant>> {
    if let Some(tenant) = state.tenants.get(&slug.to_string()) {
        return Ok(Some(tenant));
    }
    let found = state.store.tenant_by_slug(slug).await?;
    if let Some(tenant) = &found {
        state.tenants.insert(slug.to_string(), tenant.clone());
    }
    Ok(found)
}

/// The client with this `client_id` in the tenant.
pub async fn client(
    state: &AppState,
    tenant_id: &str,
    client_id: &str,
) -> StoreResult<Option<ClientRecord>> {
    let key = (tenant_id.to_owned(), client_id.to_owned());
    if let Some(record) = state.clients.get(&key) {
        return Ok(Some(record));
    }
    let found = state
        .store
        .client_by_client_id(tenant_id, client_id)
        .await?;
    if let Some(record) = &found {
        state.clients.insert(key, record.clone());
    }
    Ok(found)
}

/// Whether one of the tenant's clients lists `origin` as allowed.
pub async fn origin_allowed(state: &AppState, tenant_id: &str, origin: &str) -> StoreResult<bool> {
    let key = (tenant_id.to_owned(), origin.to_owned());
    if state.origins.get(&key).is_some() {
        return Ok(true);
    }
    let clients = state.store.list_clients(tenant_id).await?;
    let allowed = clients
        .iter()
        .any(|r| r.client.allowed_origins.iter().any(|o| o == origin));
    if allowed {
        state.origins.insert(key, ());
    }
    Ok(allowed)
}

/// The user's live sessions (devices): unrevoked, unexpired, and not idle
/// past their client's idle lifetime (the client's policy: an idle-expired
/// session is dead even before the sweep removes it).
pub async fn live_sessions(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
) -> StoreResult<Vec<holdfast_store::SessionRecord>> {
    let now = state.now();
    let mut live = Vec::new();
    for session in state.store.list_sessions(tenant_id, user_id, now).await? {
        let idle = client(state, tenant_id, &session.client_id)
            .await?
            .map(|c| c.client.refresh.idle_lifetime_secs)
            .unwrap_or(0);
        if session.last_used_at + idle > now {
            live.push(session);
        }
    }
    Ok(live)
}
