//! The embedded SQLite store: one file, WAL journal, created on first use.
//!
//! SQLite has one writer at a time. Holdfast gives it one writer connection
//! (writers queue in process instead of sleeping in SQLite's busy handler)
//! and a few reader connections (WAL lets them read beside the writer); the
//! busy timeout covers other processes, such as the CLI, writing at the same
//! moment.
//!
//! The writer connection is held behind a fair async mutex rather than in
//! a one-connection sqlx pool: the pool pings every connection handed back
//! to it, and on SQLite that ping is a round trip to the connection's
//! worker thread during which the next writer waits. A write cancelled
//! half-way leaves nothing open: dropping a sqlx transaction queues its
//! `ROLLBACK` on the connection before the next writer's first command.
//!
//! Durability: WAL with `synchronous = NORMAL` unless the URL sets
//! `synchronous=`. A committed transaction survives a crash or kill of the
//! Holdfast process (it is in the WAL file before the commit returns); on
//! power loss or an OS crash the transactions since the last WAL sync may be
//! lost, but the database is never corrupted. `?synchronous=full` fsyncs
//! every commit.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Pool, Sqlite};
use tokio::sync::{Mutex, MutexGuard};

use crate::shared::{Backend, impl_shared_store};
use crate::{Store, StoreResult};

/// The SQLite implementation of the store traits.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers (WAL lets them run beside the writer).
    pool: Pool<Sqlite>,
    /// The one writer connection.
    writer: Arc<Mutex<SqliteConnection>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if !url.contains("synchronous=") {
            options = options.synchronous(SqliteSynchronous::Normal);
        }
        let mut writer = options.connect().await?;
        sqlx::migrate!("migrations/sqlite").run(&mut writer).await?;
        // A connection to a local file cannot go stale: no ping (a round
        // trip to the connection's worker thread) before each use.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            writer: Arc::new(Mutex::new(writer)),
        })
    }

    /// The writer connection, once the writers before have finished.
    async fn write_conn(&self) -> StoreResult<MutexGuard<'_, SqliteConnection>> {
        Ok(self.writer.lock().await)
    }
}

impl Backend for SqliteStore {
    type Db = Sqlite;
    // Take the write lock up front: a deferred transaction that reads and
    // then writes can fail with SQLITE_BUSY instead of waiting.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    // BEGIN IMMEDIATE already holds the database's write lock.
    const LOCK_FAMILY: Option<&'static str> = None;
    // SQLite has no data-modifying CTEs; its statements are in-process
    // calls, so the locked path costs no round trips.
    const ROTATE_IF_GUARD_HOLDS: Option<&'static str> = None;
    // Each call hands the statement to the connection's worker thread and
    // back (sqlx-sqlite); four statements in one call save three of the
    // rotation's seven hand-offs. `$n` parameters bind by number in every
    // statement.
    const ROTATE_LOCKED: Option<&'static str> = Some(
        "UPDATE refresh_tokens SET state = 'rotated', rotated_at = $2
             WHERE token_digest = $1 AND state = 'active';
         INSERT INTO refresh_tokens (token_digest, session_id, tenant_id, generation, state, parent_digest, created_at)
             VALUES ($4, $5, $6, $7, 'active', $1, $2);
         UPDATE sessions SET last_used_at = $2, generation = $7, child_sealed = $3 WHERE id = $5;
         INSERT INTO audit_events (id, tenant_id, at, kind, user_id, client_id, session_id, reason, ip, user_agent)
             VALUES ($8, $6, $2, $9, $10, $11, $5, $12, $13, $14);",
    );
}

impl_shared_store!(SqliteStore);

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
