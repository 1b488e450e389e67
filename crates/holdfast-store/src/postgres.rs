//! The PostgreSQL store: what several Holdfast nodes share to scale out.

use std::str::FromStr;
use std::time::Duration;

use holdfast_core::refresh::rotation::Decision;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection, FromRow, Pool, Postgres, Row};

use crate::grants::FastPath;
use crate::{PresentOutcome, Store, StoreResult};

/// The shared SQL (`src/sql/`), compiled for PostgreSQL: it names the
/// store, the database and the three statements that differ through the items
/// below.
// Compiled once per back end on purpose: see `sql/mod.rs`.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

/// The store the shared SQL implements the capabilities for.
type ThisStore = PostgresStore;
/// Its database.
type Db = Postgres;
/// Begins a transaction that will write.
const BEGIN_WRITE: &str = "BEGIN";
/// Locks the family (session) of the refresh token `$2` in tenant `$1`
/// inside a write transaction. The session row is the family lock: every
/// locked presentation of any token of the family waits here (as does the
/// one-statement rotation, `ROTATE_IF_GUARD_HOLDS`, which updates that row
/// first), then reads the token with a fresh snapshot (READ COMMITTED takes
/// one per statement).
const LOCK_FAMILY: Option<&str> = Some(
    "SELECT 1 FROM sessions WHERE tenant_id = $1 AND id = \
     (SELECT session_id FROM refresh_tokens WHERE tenant_id = $1 AND token_digest = $2) FOR UPDATE",
);

/// Removes the events whose ids are in the JSON array of strings `$2` from
/// stream `$1`'s queue (an RFC 8936 acknowledgement): one parameter however
/// many ids, read with `json_array_elements_text` (a list of a thousand
/// placeholders made PostgreSQL plan for 40 ms per poll).
const DELETE_ACKED: &str = "DELETE FROM ssf_pending
    WHERE stream_id = $1 AND event_id IN (SELECT json_array_elements_text($2::json))";

/// DPoP proofs past their window before `$1`, at most `$2` (the retention
/// sweep's step; `dpop_proofs_by_expiry` finds them).
const FORGET_DPOP_PROOFS: &str = "DELETE FROM dpop_proofs WHERE (tenant_id, jkt, jti) IN (
    SELECT tenant_id, jkt, jti FROM dpop_proofs WHERE expires_at < $1 LIMIT $2)";

/// Remembers proof `jti` `$3` of key `$2` in tenant `$1` until `$4`; no row
/// changed means it was there already (a replay). The primary key decides,
/// across every node.
const RECORD_PROOF: &str =
    "INSERT INTO dpop_proofs (tenant_id, jkt, jti, expires_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, jkt, jti) DO NOTHING";

/// The PostgreSQL implementation of the store traits.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Pool<Postgres>,
}

/// How long start-up waits for its first connection. A closed port is
/// refused at once; this bounds a host that never answers.
pub const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl PostgresStore {
    /// Records `proof` for `tenant_id` inside the caller's write
    /// transaction on `conn` (`sql::dpop_replay::record_proof_in`).
    async fn record_proof(
        &self,
        conn: &mut PgConnection,
        tenant_id: &str,
        proof: &crate::ProofRecord<'_>,
    ) -> StoreResult<bool> {
        let inserted = sqlx::query(RECORD_PROOF)
            .bind(tenant_id)
            .bind(proof.jkt)
            .bind(proof.jti)
            .bind(proof.expires_at)
            .execute(conn)
            .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Records `proof` for `tenant_id` in a transaction of its own: one
    /// statement.
    async fn record_proof_alone(
        &self,
        tenant_id: &str,
        proof: &crate::ProofRecord<'_>,
    ) -> StoreResult<bool> {
        self.record_proof(&mut *self.write_conn().await?, tenant_id, proof)
            .await
    }

    /// Forgets the proof records that expired before `now`; how many.
    async fn forget_proofs_before(&self, now: i64) -> StoreResult<u64> {
        let deleted = sqlx::query("DELETE FROM dpop_proofs WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(deleted.rows_affected())
    }

    /// Connects to `url` and applies pending migrations (sqlx takes an
    /// advisory lock, so nodes starting together migrate once).
    ///
    /// One connection is made directly first, so a database that cannot be
    /// reached fails start-up at once with the real cause ("connection
    /// refused", a failed password) instead of the pool's "timed out".
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let first =
            tokio::time::timeout(FIRST_CONNECT_TIMEOUT, PgConnection::connect_with(&options))
                .await
                .map_err(|_| {
                    sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "no answer from PostgreSQL within {} s",
                            FIRST_CONNECT_TIMEOUT.as_secs()
                        ),
                    ))
                })??;
        // Closing it is only politeness: the pool opens its own.
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(crate::ACQUIRE_TIMEOUT)
            // A broken connection fails one query (a 503) and is dropped;
            // pinging before every use would add a round trip to each one.
            .test_before_acquire(false)
            .connect_lazy_with(options);
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let store = Self { pool };
        store.fill_username_skeletons(None).await?;
        Ok(store)
    }

    /// A connection to write with: any of the pool's, as PostgreSQL has no
    /// single-writer rule.
    async fn write_conn(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    /// The common presentation in one round trip: record the DPoP proof
    /// and rotate if it is new and the guard holds, returning the rows as
    /// they were. A proof seen before changes nothing and is settled here.
    /// Rotating nothing otherwise means the decision is something else (a
    /// grace retry, reuse, a rejection) or another presentation won a race:
    /// `Locked`, and the caller decides under the family lock.
    async fn try_rotate(&self, p: &crate::RefreshPresentation<'_>) -> StoreResult<FastPath> {
        let Some(guard) = p.presenter.rotate_guard() else {
            return Ok(FastPath::Locked {
                proof_recorded: false,
            });
        };
        let event = sql::tx::presentation_event(p, Decision::Rotate, None);
        let row = sqlx::query(ROTATE_IF_GUARD_HOLDS)
            .bind(p.tenant_id)
            .bind(p.token_digest)
            .bind(p.now())
            .bind(p.child_sealed)
            .bind(p.child_digest)
            .bind(guard.client_id)
            .bind(guard.proof_jkt)
            .bind(guard.created_after)
            .bind(guard.last_used_after)
            .bind(&event.id)
            .bind(&event.kind)
            .bind(&event.client_id)
            .bind(&event.reason)
            .bind(&event.ip)
            .bind(&event.user_agent)
            .bind(p.proof.map(|r| r.jkt))
            .bind(p.proof.map(|r| r.jti))
            .bind(p.proof.map(|r| r.expires_at))
            .fetch_one(&self.pool)
            .await?;
        let proof_fresh = row.try_get::<i64, _>("proof_fresh")? == 1;
        if p.proof.is_some() && !proof_fresh {
            return Ok(FastPath::Done(PresentOutcome::ReplayedProof));
        }
        if row.try_get::<Option<String>, _>("token_digest")?.is_none() {
            return Ok(FastPath::Locked {
                proof_recorded: p.proof.is_some(),
            });
        }
        let (token, session, user) = crate::rows::FamilyRow::from_row(&row)?.split()?;
        Ok(FastPath::Done(PresentOutcome::Decided {
            decision: Decision::Rotate,
            token,
            session,
            user,
        }))
    }
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
}

/// The whole common rotation (the DPoP proof's replay record, session
/// touched, its newest generation advanced and its seal replaced by the
/// child's, token `rotated`, child inserted, audit event) as one statement
/// that rotates only if the proof was new (or there is none) and the
/// presentation's `RotateGuard` holds on the rows it changes. It returns
/// one row: `proof_fresh` (1 if the proof was recorded now) and the
/// `FamilyRow` as it was before, all NULL when nothing rotated.
///
/// The proof's record goes first (`proof`), so a concurrent presentation
/// of the same proof waits on its unique index for this statement's outcome
/// and then finds it there; the rotation reads its `RETURNING`.
///
/// Safe without the lock. An UPDATE that finds its row changed by a
/// transaction that committed meanwhile re-evaluates its WHERE on the
/// row's newest version (READ COMMITTED); the other rows of its FROM
/// keep the statement's snapshot. So the session's conditions, among
/// them `generation = t.generation`, hold on its newest version: every
/// rotation advances the generation under the session row's lock, and so
/// of two rotations racing on one token the second changes nothing. The
/// token's UPDATE re-checks `state = 'active'` on the token's newest
/// version. A rotation racing a revocation either finds the family
/// revoked (both write the session row first, so they queue on it) or
/// commits its child before the revocation's token update reads the
/// family. The invariant all this rests on: every writer of a family's
/// tokens writes its session row first (rotation, revocation), and the
/// newest token of an unrevoked family is `active`. The final SELECT
/// reads the statement's snapshot: the rows as they were before.
///
/// $1 tenant, $2 token digest, $3 now, $4 sealed child, $5 child digest,
/// $6 client, $7 proof key, $8 created after, $9 last used after,
/// $10..$15 the audit event (id, kind, client, reason, ip, user agent),
/// $16..$18 the proof's key thumbprint, `jti` and expiry (NULL: no proof).
const ROTATE_IF_GUARD_HOLDS: &str = concat!(
    "WITH proof AS (
         INSERT INTO dpop_proofs (tenant_id, jkt, jti, expires_at)
         SELECT $1, $16, $17, $18 WHERE $17::text IS NOT NULL
         ON CONFLICT (tenant_id, jkt, jti) DO NOTHING
         RETURNING 1
     ), family AS (
         UPDATE sessions s SET last_used_at = $3, generation = t.generation + 1, child_sealed = $4
         FROM refresh_tokens t, users u
         WHERE t.tenant_id = $1 AND t.token_digest = $2 AND t.state = 'active'
           AND s.tenant_id = $1 AND s.id = t.session_id
           AND u.tenant_id = $1 AND u.id = s.user_id
           AND s.generation = t.generation
           AND s.revoked_at IS NULL
           AND s.client_id = $6
           AND (s.dpop_jkt IS NULL OR s.dpop_jkt = $7)
           AND s.created_at > $8
           AND s.last_used_at > $9
           AND ($17::text IS NULL OR EXISTS (SELECT 1 FROM proof))
         RETURNING s.id, s.user_id
     ), parent AS (
         UPDATE refresh_tokens SET state = 'rotated', rotated_at = $3
         WHERE tenant_id = $1 AND token_digest = $2 AND state = 'active'
           AND session_id = (SELECT id FROM family)
         RETURNING token_digest, session_id, generation
     ), child AS (
         INSERT INTO refresh_tokens (token_digest, session_id, tenant_id, generation, state, parent_digest, created_at)
         SELECT $5, session_id, $1, generation + 1, 'active', token_digest, $3 FROM parent
     ), event AS (
         INSERT INTO audit_events (id, tenant_id, at, kind, user_id, client_id, session_id, reason, ip, user_agent)
         SELECT $10, $1, $3, $11, f.user_id, $12, f.id, $13, $14, $15
         FROM family f JOIN parent p ON p.session_id = f.id
     )
     SELECT (SELECT count(*) FROM proof) AS proof_fresh, before.*
     FROM (SELECT 1) AS one LEFT JOIN (
     ",
    crate::rows::family_columns!(),
    "
     FROM parent p
     JOIN refresh_tokens t ON t.token_digest = p.token_digest
     JOIN sessions s ON s.id = t.session_id AND s.tenant_id = t.tenant_id
     JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id
     ) AS before ON true"
);
