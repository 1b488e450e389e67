//! SQL of [`RetentionStore`](crate::RetentionStore). Every delete names its
//! rows by primary key through a `LIMIT`ed sub-select (portable, unlike
//! `ctid` or `rowid`), so each transaction stays small.

use holdfast_core::retention::Cutoffs;

use super::{BEGIN_WRITE, FORGET_DPOP_PROOFS, ThisStore};
use crate::{StoreResult, Swept};

/// Takes lease `$1` for holder `$2` until `$3`, unless another holder's
/// runs past `$4`.
const TAKE_LEASE: &str = "
    INSERT INTO leases (name, holder, held_until) VALUES ($1, $2, $3)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, held_until = excluded.held_until
    WHERE leases.held_until <= $4 OR leases.holder = excluded.holder";
/// The longest access-token lifetime of any client.
const LONGEST_ACCESS_TOKEN_TTL: &str =
    "SELECT COALESCE(MAX(access_token_ttl_secs), 0) FROM clients";

/// Sessions whose absolute lifetime ended before `$1`, at most `$2`.
macro_rules! ended_sessions {
    () => {
        "SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2"
    };
}
/// Sessions revoked before `$1`, at most `$2`.
macro_rules! revoked_sessions {
    () => {
        "SELECT id FROM sessions WHERE revoked_at < $1 LIMIT $2"
    };
}

/// The three deletes that forget a batch of sessions (its refresh tokens,
/// the codes that issued them, the sessions), for one selection of them.
macro_rules! forget_sessions {
    ($select:ident) => {
        [
            concat!(
                "DELETE FROM refresh_tokens WHERE session_id IN (",
                $select!(),
                ")"
            ),
            concat!(
                "DELETE FROM auth_codes WHERE session_id IN (",
                $select!(),
                ")"
            ),
            concat!("DELETE FROM sessions WHERE id IN (", $select!(), ")"),
        ]
    };
}
const FORGET_ENDED_SESSIONS: [&str; 3] = forget_sessions!(ended_sessions);
const FORGET_REVOKED_SESSIONS: [&str; 3] = forget_sessions!(revoked_sessions);

/// Unconsumed codes expired before `$1`, at most `$2` (consumed ones go
/// with their session).
const FORGET_CODES: &str = "DELETE FROM auth_codes WHERE code_digest IN (
    SELECT code_digest FROM auth_codes WHERE expires_at < $1 AND consumed_at IS NULL LIMIT $2)";
/// Device authorization requests (RFC 8628) expired before `$1`, at most
/// `$2`, whatever became of them (a redeemed one's tokens live in its session).
const FORGET_DEVICE_AUTHORIZATIONS: &str = "DELETE FROM device_authorizations WHERE id IN (
    SELECT id FROM device_authorizations WHERE expires_at < $1 LIMIT $2)";
/// Revoked access tokens past their `exp` before `$1`, at most `$2`.
const FORGET_REVOKED_ACCESS_TOKENS: &str = "DELETE FROM revoked_access_tokens WHERE jti IN (
    SELECT jti FROM revoked_access_tokens WHERE expires_at < $1 LIMIT $2)";
/// Browser sessions expired before `$1`, at most `$2`.
const FORGET_BROWSER_SESSIONS: &str = "DELETE FROM browser_sessions WHERE id_digest IN (
    SELECT id_digest FROM browser_sessions WHERE expires_at < $1 LIMIT $2)";
/// Audit events recorded before `$1`, at most `$2`. Found tenant by tenant
/// through the (tenant, time) index the event listing uses: an index on
/// time alone would cost every audited request (each refresh) one more
/// index insert.
const FORGET_AUDIT_EVENTS: &str = "DELETE FROM audit_events WHERE id IN (
    SELECT e.id FROM tenants t JOIN audit_events e ON e.tenant_id = t.id AND e.at < $1 LIMIT $2)";

/// Security events written before `$1`, at most `$2`; their queue entries
/// go with them (`ON DELETE CASCADE`), and logout deliveries as old.
const FORGET_SIGNALS: [&str; 2] = [
    "DELETE FROM security_events WHERE id IN (
        SELECT id FROM security_events WHERE at < $1 LIMIT $2)",
    "DELETE FROM logout_deliveries WHERE id IN (
        SELECT id FROM logout_deliveries WHERE at < $1 LIMIT $2)",
];

/// Mail sent before `$1`, at most `$2` (its addresses and bodies need not
/// outlive the events that caused it).
const FORGET_SENT_MAIL: &str = "DELETE FROM mail_outbox WHERE id IN (
    SELECT id FROM mail_outbox WHERE sent_at IS NOT NULL AND sent_at < $1 LIMIT $2)";

impl ThisStore {
    /// Runs `statements` with (`before`, `batch`) in one transaction;
    /// the rows each deleted.
    async fn forget<const N: usize>(
        &self,
        statements: &[&'static str; N],
        before: i64,
        batch: i64,
    ) -> StoreResult<[u64; N]> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let mut deleted = [0; N];
        for (statement, count) in statements.iter().zip(deleted.iter_mut()) {
            *count = sqlx::query(*statement)
                .bind(before)
                .bind(batch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

#[async_trait::async_trait]
impl crate::RetentionStore for ThisStore {
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        let taken = sqlx::query(TAKE_LEASE)
            .bind(name)
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn longest_access_token_ttl(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(LONGEST_ACCESS_TOKEN_TTL)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn sweep_step(&self, cut: &Cutoffs, batch: i64) -> StoreResult<Swept> {
        let mut swept = Swept::default();
        for statements in [&FORGET_ENDED_SESSIONS, &FORGET_REVOKED_SESSIONS] {
            let [tokens, codes, sessions] = self
                .forget(statements, cut.sessions_ended_before, batch)
                .await?;
            swept.refresh_tokens += tokens;
            swept.auth_codes += codes;
            swept.sessions += sessions;
        }
        let expired = [
            FORGET_CODES,
            FORGET_REVOKED_ACCESS_TOKENS,
            FORGET_DPOP_PROOFS,
            FORGET_BROWSER_SESSIONS,
            FORGET_DEVICE_AUTHORIZATIONS,
        ];
        let mut counts = [0; 5];
        for (statement, count) in expired.iter().zip(counts.iter_mut()) {
            [*count] = self.forget(&[statement], cut.expired_before, batch).await?;
        }
        let [codes, revoked, proofs, browser, devices] = counts;
        swept.auth_codes += codes + devices;
        swept.revoked_access_tokens = revoked;
        swept.dpop_proofs = proofs;
        swept.browser_sessions = browser;
        [swept.audit_events] = self
            .forget(&[FORGET_AUDIT_EVENTS], cut.audit_before, batch)
            .await?;
        let [events, logouts] = self
            .forget(&FORGET_SIGNALS, cut.signals_before, batch)
            .await?;
        swept.security_events = events + logouts;
        [swept.sent_mail] = self
            .forget(&[FORGET_SENT_MAIL], cut.signals_before, batch)
            .await?;
        Ok(swept)
    }
}
