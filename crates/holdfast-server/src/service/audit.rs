//! Audit events (docs/design.md §8): who, what, why, when, from where. One way
//! to make an event, so every kind carries the same context.

use holdfast_core::client::Client;
use holdfast_core::tenant::Tenant;
use holdfast_store::AuditEvent;

use crate::service::RequestContext;
use crate::state::AppState;

/// An event of `kind` now, with the caller's IP and user agent; the
/// caller fills in who and why.
pub fn event(
    state: &AppState,
    tenant: &Tenant,
    kind: &str,
    context: &RequestContext,
) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.id.clone(),
        at: state.now(),
        kind: kind.to_owned(),
        user_id: None,
        client_id: None,
        session_id: None,
        reason: None,
        ip: context.ip.clone(),
        user_agent: context.user_agent.clone(),
        actor: None,
    }
}

/// An event about a user, session or client, with a reason. Revocations
/// hand it to the store method that revokes, which writes both in one
/// transaction.
#[allow(clippy::too_many_arguments)]
pub fn about(
    state: &AppState,
    tenant: &Tenant,
    kind: &str,
    client: Option<&Client>,
    user_id: Option<&str>,
    session_id: Option<&str>,
    reason: &str,
    context: &RequestContext,
) -> AuditEvent {
    AuditEvent {
        client_id: client.map(|c| c.client_id.clone()),
        user_id: user_id.map(str::to_owned),
        session_id: session_id.map(str::to_owned),
        reason: Some(reason.to_owned()),
        ..event(state, tenant, kind, context)
    }
}
