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
}

impl_shared_store!(PostgresStore);

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
}
