//! Statements that several capabilities run inside their own transaction.

use holdfast_core::signals::{Signal, SignalKind};

use super::Db;

/// The presentation's audit event, completed from the decision and
/// the family (where the statement that records it does not).
pub(crate) fn presentation_event(
    p: &crate::RefreshPresentation<'_>,
    decision: holdfast_core::refresh::rotation::Decision,
    session: Option<&crate::SessionRecord>,
) -> crate::AuditEvent {
    crate::AuditEvent {
        kind: crate::audit_kind(decision).to_owned(),
        user_id: session.map(|s| s.user_id.clone()),
        session_id: session.map(|s| s.id.clone()),
        ..p.audit.clone()
    }
}

pub(crate) async fn insert_event<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    e: &crate::AuditEvent,
) -> crate::StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, tenant_id, at, kind, user_id, client_id, session_id, reason, ip, user_agent, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&e.id)
    .bind(&e.tenant_id)
    .bind(e.at)
    .bind(&e.kind)
    .bind(&e.user_id)
    .bind(&e.client_id)
    .bind(&e.session_id)
    .bind(&e.reason)
    .bind(&e.ip)
    .bind(&e.user_agent)
    .bind(&e.actor)
    .execute(&mut **tx)
    .await
    .map_err(|err| crate::conflict_or(err, "audit event"))?;
    Ok(())
}

pub(crate) async fn touch_session<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    session_id: &str,
    now: i64,
) -> crate::StoreResult<()> {
    sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id = $1")
        .bind(session_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) async fn insert_session<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    s: &crate::SessionRecord,
) -> crate::StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (id, tenant_id, user_id, client_id, scope, resource, auth_time, acr, amr,
            created_at, last_used_at, expires_at, device_id, user_agent, ip, dpop_jkt, browser_session)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&s.id)
    .bind(&s.tenant_id)
    .bind(&s.user_id)
    .bind(&s.client_id)
    .bind(&s.scope)
    .bind(&s.resource)
    .bind(s.auth_time)
    .bind(&s.acr)
    .bind(crate::rows::to_json_list(&s.amr))
    .bind(s.created_at)
    .bind(s.last_used_at)
    .bind(s.expires_at)
    .bind(&s.device_id)
    .bind(&s.user_agent)
    .bind(&s.ip)
    .bind(&s.dpop_jkt)
    .bind(&s.browser_session)
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::conflict_or(e, "session"))?;
    Ok(())
}

pub(crate) async fn insert_refresh_token<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    session_id: &str,
    digest: &str,
    generation: i64,
    parent: Option<&str>,
    now: i64,
) -> crate::StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_digest, session_id, tenant_id, generation, state, parent_digest, created_at)
         VALUES ($1, $2, $3, $4, 'active', $5, $6)",
    )
    .bind(digest)
    .bind(session_id)
    .bind(tenant_id)
    .bind(generation)
    .bind(parent)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::conflict_or(e, "refresh token"))?;
    Ok(())
}

/// Revokes a session and its refresh tokens. If it was live, the same
/// transaction writes the CAEP session-revoked event and, when the
/// session's client registered a back-channel logout URI, its logout
/// delivery (docs/design.md §7: every revocation path emits).
pub(crate) async fn revoke_session_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    session_id: &str,
    reason: &str,
    now: i64,
) -> crate::StoreResult<()> {
    let ended: Option<(String, String)> = sqlx::query_as(
        "UPDATE sessions SET revoked_at = $3, revoked_reason = $4, child_sealed = NULL
         WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL
         RETURNING user_id, client_id",
    )
    .bind(tenant_id)
    .bind(session_id)
    .bind(now)
    .bind(reason)
    .fetch_optional(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET state = 'revoked' WHERE tenant_id = $1 AND session_id = $2",
    )
    .bind(tenant_id)
    .bind(session_id)
    .execute(&mut **tx)
    .await?;
    if let Some((user_id, client_id)) = ended {
        let mut signal = new_signal(SignalKind::SessionRevoked, now);
        signal.session_id = Some(session_id.to_owned());
        signal.user_id = Some(user_id.clone());
        signal.detail = Some(reason.to_owned());
        emit_in(tx, tenant_id, &signal).await?;
        sqlx::query(
            "INSERT INTO logout_deliveries (id, tenant_id, client_id, user_id, session_id, at, next_attempt_at)
             SELECT $1, tenant_id, client_id, $3, $4, $5, $5 FROM clients
             WHERE tenant_id = $2 AND client_id = $6 AND backchannel_logout_uri IS NOT NULL",
        )
        .bind(new_id())
        .bind(tenant_id)
        .bind(&user_id)
        .bind(session_id)
        .bind(now)
        .bind(&client_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A fresh event of `kind` at `now`, its id a UUIDv7 (sortable by time: the
/// order streams receive events in).
pub(crate) fn new_signal(kind: SignalKind, now: i64) -> Signal {
    Signal::new(new_id(), kind, now)
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Writes `signal` to the outbox and queues it for every stream of the
/// tenant that delivers its kind and is not disabled (SSF §8.1.2: a paused
/// stream holds its events).
pub(crate) async fn emit_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    signal: &Signal,
) -> crate::StoreResult<()> {
    insert_signal(tx, tenant_id, signal).await?;
    sqlx::query(
        "INSERT INTO ssf_pending (stream_id, event_id)
         SELECT id, $1 FROM ssf_streams
         WHERE tenant_id = $2 AND status <> 'disabled' AND events_delivered LIKE $3",
    )
    .bind(&signal.id)
    .bind(tenant_id)
    .bind(format!("% {} %", signal.kind.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes `signal` to the outbox row alone (the caller queues it).
pub(crate) async fn insert_signal<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    signal: &Signal,
) -> crate::StoreResult<()> {
    sqlx::query(
        "INSERT INTO security_events (id, tenant_id, at, kind, session_id, user_id, token_id, token_exp, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&signal.id)
    .bind(tenant_id)
    .bind(signal.at)
    .bind(signal.kind.as_str())
    .bind(&signal.session_id)
    .bind(&signal.user_id)
    .bind(&signal.token_id)
    .bind(signal.token_exp)
    .bind(&signal.detail)
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::conflict_or(e, "security event"))?;
    Ok(())
}

/// Revokes what a consumed code issued; `false` if there is no such
/// consumed code.
pub(crate) async fn revoke_issuance_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    code_digest: &str,
    now: i64,
) -> crate::StoreResult<bool> {
    let previous: Option<(Option<String>, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT session_id, access_jti, access_exp FROM auth_codes
         WHERE tenant_id = $1 AND code_digest = $2 AND consumed_at IS NOT NULL",
    )
    .bind(tenant_id)
    .bind(code_digest)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((session_id, access_jti, access_exp)) = previous else {
        return Ok(false);
    };
    if let Some(session_id) = session_id {
        revoke_session_in(tx, tenant_id, &session_id, "code_replay", now).await?;
    }
    if let (Some(jti), Some(exp)) = (access_jti, access_exp) {
        revoke_jti_in(tx, tenant_id, &jti, exp, now).await?;
    }
    Ok(true)
}

/// Records a revoked access token's `jti` until it expires and, the first
/// time, writes its access-token-revoked event.
pub(crate) async fn revoke_jti_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    jti: &str,
    expires_at: i64,
    now: i64,
) -> crate::StoreResult<()> {
    let done = sqlx::query(
        "INSERT INTO revoked_access_tokens (jti, tenant_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(tenant_id)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        let mut signal = new_signal(SignalKind::AccessTokenRevoked, now);
        signal.token_id = Some(jti.to_owned());
        signal.token_exp = Some(expires_at);
        emit_in(tx, tenant_id, &signal).await?;
    }
    Ok(())
}
