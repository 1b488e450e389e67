//! The PostgreSQL store: what several Holdfast nodes share to scale out.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};

use crate::shared::{Backend, impl_shared_store};
use crate::{Store, StoreResult};

/// The PostgreSQL implementation of the store traits.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Pool<Postgres>,
    /// The same pool: PostgreSQL has no single-writer rule.
    writer: Pool<Postgres>,
}

impl PostgresStore {
    /// Connects to `url` and applies pending migrations (sqlx takes an
    /// advisory lock, so nodes starting together migrate once).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }
}

impl Backend for PostgresStore {
    type Db = Postgres;
    const BEGIN_WRITE: &'static str = "BEGIN";
    // The session row is the family lock: every presentation of any token of
    // the family waits here, then reads the token with a fresh snapshot.
    const LOCK_FAMILY: &'static str = "SELECT * FROM sessions WHERE tenant_id = $1 AND id = \
         (SELECT session_id FROM refresh_tokens WHERE tenant_id = $1 AND token_digest = $2) FOR UPDATE";
    const ROTATE_IN_ONE: Option<&'static str> = Some(
        "WITH parent AS (
             UPDATE refresh_tokens SET state = 'rotated', rotated_at = $2, child_sealed = $3
             WHERE token_digest = $1 AND state = 'active' RETURNING token_digest
         ), grandparent AS (
             UPDATE refresh_tokens SET state = 'spent', child_sealed = NULL
             WHERE token_digest = $4 AND state = 'rotated'
         ), child AS (
             INSERT INTO refresh_tokens (token_digest, session_id, tenant_id, generation, state, parent_digest, created_at)
             SELECT $5, $6, $7, $8, 'active', token_digest, $2 FROM parent
         ), touched AS (
             UPDATE sessions SET last_used_at = $2 WHERE id = $6
         )
         INSERT INTO audit_events (id, tenant_id, at, kind, user_id, client_id, session_id, reason, ip, user_agent)
         VALUES ($9, $7, $2, $10, $11, $12, $6, $13, $14, $15)
         RETURNING (SELECT count(*) FROM parent)",
    );
}

impl_shared_store!(PostgresStore);

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
}
