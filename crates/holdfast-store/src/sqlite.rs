//! The embedded SQLite store: one file, WAL journal, created on first use.
//!
//! SQLite serialises writers; a busy timeout makes concurrent writers wait
//! for each other instead of failing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use crate::shared::{Backend, impl_shared_store};
use crate::{Store, StoreResult};

/// The SQLite implementation of the store traits.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Pool<Sqlite>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

impl Backend for SqliteStore {
    type Db = Sqlite;
    // Take the write lock up front: a deferred transaction that reads and
    // then writes can fail with SQLITE_BUSY instead of waiting.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const LOCK_FAMILY: &'static str =
        "SELECT session_id FROM refresh_tokens WHERE tenant_id = $1 AND token_digest = $2";
}

impl_shared_store!(SqliteStore);

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
