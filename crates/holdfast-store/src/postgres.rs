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
        Ok(Self { pool })
    }
}

impl Backend for PostgresStore {
    type Db = Postgres;
    const BEGIN_WRITE: &'static str = "BEGIN";
    // The session row is the family lock: every presentation of any token of
    // the family waits here, then reads the token with a fresh snapshot.
    const LOCK_FAMILY: &'static str = "SELECT id FROM sessions WHERE id = \
        (SELECT session_id FROM refresh_tokens WHERE tenant_id = $1 AND token_digest = $2) FOR UPDATE";
}

impl_shared_store!(PostgresStore);

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
}
