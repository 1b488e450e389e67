//! The embedded SQLite store: one file, WAL journal, created on first use.
//!
//! SQLite has one writer at a time. Holdfast gives it one writer connection
//! (writers queue in process instead of sleeping in SQLite's busy handler)
//! and a few reader connections (WAL lets them read beside the writer); the
//! busy timeout covers other processes, such as the CLI, writing at the same
//! moment.
//!
//! Every statement is a round trip to the connection's worker thread
//! (sqlx-sqlite), and with one writer those hand-offs are what all writes
//! queue behind. So:
//!
//! - the writer connection is held behind a fair async mutex rather than
//!   in a one-connection sqlx pool, which pings every connection handed
//!   back to it;
//! - the common presentation of a refresh token takes two calls: `BEGIN
//!   IMMEDIATE` with the DPoP proof's replay record and the family's read,
//!   then (when the pure decision is a plain rotation) the four writes with
//!   `COMMIT`: one transaction for the whole DPoP-bound refresh. Anything
//!   else rolls back and goes to the shared locked path.
//! - group commit: while other rotations wait for the writer, a rotation
//!   leaves its transaction open and they join it, each in a savepoint, so
//!   the pages every rotation appends to are written once per commit
//!   rather than once per rotation (decision 0013). No rotation is answered
//!   before the `COMMIT` that carries it.
//!
//! A write cancelled half-way leaves nothing open. Dropping a sqlx
//! transaction queues its `ROLLBACK` on the connection before the next
//! writer's first command; a hand-run transaction dropped before its
//! `COMMIT` or `ROLLBACK` returned marks the writer *in doubt*, and the next
//! writer (a task spawned at once) rolls back whatever it left (nothing, if
//! its `COMMIT` ran).
//!
//! Durability: WAL with `synchronous = NORMAL` unless the URL sets
//! `synchronous=`. A committed transaction survives a crash or kill of the
//! Holdfast process (it is in the WAL file before the commit returns); on
//! power loss or an OS crash the transactions since the last WAL sync may be
//! lost, but the database is never corrupted. `?synchronous=full` fsyncs
//! every commit.
//!
//! Files at rest: the database file is created private to its owner (0600)
//! before SQLite opens it, and SQLite's unix VFS gives the `-wal` and `-shm`
//! files the database file's permissions (`findCreateFileMode` and
//! `unixOpenSharedMemory` in `os_unix.c`; `holdfast-server`'s CLI tests
//! check it). A database file that exists already keeps its permissions.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use holdfast_core::refresh::rotation::Decision;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, FromRow, Pool, Row, Sqlite};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard, watch};

use crate::grants::FastPath;
use crate::{PresentOutcome, Store, StoreResult};

/// The shared SQL (`src/sql/`), compiled for SQLite: it names the store,
/// the database and the three statements that differ through the items below.
// Compiled once per back end on purpose: see `sql/mod.rs`.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

mod proofs;

/// The store the shared SQL implements the capabilities for.
type ThisStore = SqliteStore;
/// Its database.
type Db = Sqlite;
/// Begins a transaction that will write. Take the write lock up front: a
/// deferred transaction that reads and then writes can fail with
/// SQLITE_BUSY instead of waiting.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// Locks a family inside a write transaction: nothing to do, `BEGIN
/// IMMEDIATE` already holds the database's write lock.
const LOCK_FAMILY: Option<&str> = None;
/// Removes the events whose ids are in the JSON array of strings `$2` from
/// stream `$1`'s queue (an RFC 8936 acknowledgement): one parameter however
/// many ids, read with SQLite's `json_each`.
const DELETE_ACKED: &str = "DELETE FROM ssf_pending
    WHERE stream_id = $1 AND event_id IN (SELECT value FROM json_each($2))";
/// The retention sweep's step over the DPoP proof log: the expired head,
/// at most `$2` records (`sqlite/proofs.rs`).
const FORGET_DPOP_PROOFS: &str = proofs::FORGET_EXPIRED;

/// The SQLite implementation of the store traits.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers (WAL lets them run beside the writer).
    pool: Pool<Sqlite>,
    /// The one writer connection.
    writer: Arc<Mutex<Writer>>,
    /// To open the writer again.
    options: Arc<SqliteConnectOptions>,
    /// Rotations waiting for the writer: while there are any, a rotation
    /// leaves its transaction open for them to join (group commit).
    queued_rotations: Arc<AtomicUsize>,
    /// What group commit achieved, for [`Self::rotation_commits`].
    commits: Arc<CommitCounts>,
    /// The DPoP proof log in memory (`sqlite/proofs.rs`); changed only by
    /// the holder of the writer.
    proofs: Arc<std::sync::Mutex<proofs::ProofIndex>>,
}

#[derive(Debug)]
struct Writer {
    conn: SqliteConnection,
    opened_at: Instant,
    /// A hand-run transaction may have been left open (its caller was
    /// dropped or failed before its `COMMIT` or `ROLLBACK` returned).
    in_doubt: bool,
    /// Rotations written into the open transaction, waiting for its
    /// `COMMIT`.
    batch: Option<Batch>,
}

/// Rotations that share one commit (group commit). Each waits for the
/// `COMMIT` before it answers, so no client hears of a rotation that is not
/// committed; a batch dropped unsent (rolled back) fails them all, and each
/// client still holds the token it presented, still `active`.
#[derive(Debug)]
struct Batch {
    members: usize,
    committed: watch::Sender<bool>,
}

impl Batch {
    /// What a member waits on: `true` once the batch is committed; closed
    /// if it was dropped unsent.
    fn join(&self) -> watch::Receiver<bool> {
        self.committed.subscribe()
    }
}

/// Most rotations one commit carries. The pages every rotation dirties
/// (the last leaf of each table and index it appends to, decision 0013)
/// are written once per commit, not once per rotation; the bound keeps a
/// member's wait short.
const MAX_BATCH: usize = 16;

/// The histogram of how many rotations each commit of the fast path
/// carried (1 when none waited; up to [`MAX_BATCH`] under load).
pub const ROTATIONS_PER_COMMIT: &str = "holdfast_sqlite_rotations_per_commit";

/// Its buckets: every batch size up to 4, then powers of two.
pub const ROTATIONS_PER_COMMIT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 8.0, 16.0];

/// The fast path's commits so far, and the rotations they carried: their
/// ratio is the mean batch size ([`SqliteStore::rotation_commits`]).
#[derive(Debug, Default)]
struct CommitCounts {
    commits: AtomicU64,
    rotations: AtomicU64,
}

/// The fast path's commits so far and the rotations they carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationCommits {
    /// Commits of rotations.
    pub commits: u64,
    /// Rotations those commits carried.
    pub rotations: u64,
}

/// Counts a rotation as queued for the writer while it lives.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long the writer connection serves before it is opened again: sqlx's
/// pool default, so a connection left in a state sqlx cannot recover from
/// (its transaction count out of step after SQLite rolled back on its own,
/// say on a full disk) is replaced within this time at worst.
const WRITER_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The page size of a new database file (an existing one keeps its own
/// until a `VACUUM`). A rotation dirties about a dozen pages, each at a
/// random place in its b-tree, and each is written whole to the WAL and
/// again at the checkpoint: 2 KiB pages write less per rotation than
/// SQLite's default 4 KiB, and every row on a rotation's path still fits
/// in one page (decision 0013, measured with `holdfast-bench refresh
/// --dpop`: 81 KiB written per DPoP-bound rotation before, 52 KiB after).
const PAGE_SIZE: u32 = 2048;

/// WAL frames (pages) before an automatic checkpoint copies them into the
/// database file: ten times SQLite's default, so a page that many
/// rotations touch (an index's last leaf, a busy session's row) is copied
/// once per checkpoint rather than once per thousand frames. At most about
/// 20 MiB of WAL, replayed in well under a second after a crash.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The rotation's four writes: token `rotated`, child inserted, session
/// advanced with the family's new seal, audit event. `$n` parameters bind
/// by number in every statement.
macro_rules! rotate {
    () => {
        "
    UPDATE refresh_tokens SET state = 'rotated', rotated_at = $2
        WHERE token_digest = $1 AND state = 'active';
    INSERT INTO refresh_tokens (token_digest, session_id, tenant_id, generation, state, parent_digest, created_at)
        VALUES ($4, $5, $6, $7, 'active', $1, $2);
    UPDATE sessions SET last_used_at = $2, generation = $7, child_sealed = $3 WHERE id = $5;
    INSERT INTO audit_events (id, tenant_id, at, kind, user_id, client_id, session_id, reason, ip, user_agent)
        VALUES ($8, $6, $2, $9, $10, $11, $5, $12, $13, $14);\n"
    };
}

/// What ends a rotation's call to the writer, by whether it began the
/// transaction or joined an open batch (a savepoint of it), and whether it
/// commits or leaves the transaction open for the rotations queued behind.
fn rotate_sql(joined: bool, commit: bool) -> &'static str {
    match (joined, commit) {
        (false, true) => concat!(rotate!(), "COMMIT;"),
        (false, false) => rotate!(),
        (true, true) => concat!(rotate!(), "RELEASE rotation; COMMIT;"),
        (true, false) => concat!(rotate!(), "RELEASE rotation;"),
    }
}

/// A rotation whose batch was rolled back: the client keeps its token.
fn batch_failed() -> crate::StoreError {
    sqlx::Error::Io(std::io::Error::other(
        "the commit this rotation shared failed; it was rolled back",
    ))
    .into()
}

/// Creates an empty database file at `path` readable and writable by its
/// owner only (0600), unless a file is there already. SQLite would create it
/// with the process umask (0644 under the usual 022): the file holds
/// password hashes, sealed keys and session data. A missing directory is
/// left for SQLite to report.
fn create_private_file(path: &Path) -> StoreResult<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tighten_existing(path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(sqlx::Error::Io(e).into()),
    }
}

/// A database (and its `-wal` / `-shm` files) made by an older version
/// under a lax umask is made owner-only too; where that is not allowed
/// (another owner), a warning says so and nothing else changes.
fn tighten_existing(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut paths = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            paths.push(name.into());
        }
        for p in paths {
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0
                && let Err(e) = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
            {
                tracing::warn!(path = %p.display(), error = %e, "database file is readable by others and could not be made private");
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .page_size(PAGE_SIZE)
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string());
        if !url.contains("synchronous=") {
            options = options.synchronous(SqliteSynchronous::Normal);
        }
        if !url.contains(":memory:") && !url.contains("mode=memory") {
            create_private_file(options.get_filename())?;
        }
        let mut writer = options.connect().await?;
        let opened_at = Instant::now();
        sqlx::migrate!("migrations/sqlite").run(&mut writer).await?;
        let proofs = Arc::new(std::sync::Mutex::default());
        proofs::catch_up(&proofs, &mut writer).await?;
        // A connection to a local file cannot go stale: no ping (a round
        // trip to the connection's worker thread) before each use.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // As on PostgreSQL: a reader that cannot be had within
            // `ACQUIRE_TIMEOUT` is a 503, not a request left hanging.
            .acquire_timeout(crate::ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let store = Self {
            pool,
            writer: Arc::new(Mutex::new(Writer {
                conn: writer,
                opened_at,
                in_doubt: false,
                batch: None,
            })),
            options: Arc::new(options),
            queued_rotations: Arc::new(AtomicUsize::new(0)),
            commits: Arc::default(),
            proofs,
        };
        store.fill_username_skeletons(None).await?;
        Ok(store)
    }

    /// How many commits the fast path made and how many rotations they
    /// carried, since this store was opened; `/metrics` has them per commit
    /// as [`ROTATIONS_PER_COMMIT`].
    pub fn rotation_commits(&self) -> RotationCommits {
        RotationCommits {
            commits: self.commits.commits.load(Ordering::Relaxed),
            rotations: self.commits.rotations.load(Ordering::Relaxed),
        }
    }

    /// Records `proof` for `tenant_id` inside the caller's write
    /// transaction on `conn` (`sql::dpop_replay::record_proof_in`): the
    /// append-only log and its index in memory (`sqlite/proofs.rs`).
    async fn record_proof(
        &self,
        conn: &mut SqliteConnection,
        tenant_id: &str,
        proof: &crate::ProofRecord<'_>,
    ) -> StoreResult<bool> {
        proofs::record(&self.proofs, conn, tenant_id, proof).await
    }

    /// Records `proof` for `tenant_id` in a transaction of its own (the
    /// catch-up, the check and the append under the write lock).
    async fn record_proof_alone(
        &self,
        tenant_id: &str,
        proof: &crate::ProofRecord<'_>,
    ) -> StoreResult<bool> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let fresh = self.record_proof(&mut tx, tenant_id, proof).await?;
        tx.commit().await?;
        Ok(fresh)
    }

    /// Forgets the proof records that expired before `now`; how many.
    async fn forget_proofs_before(&self, now: i64) -> StoreResult<u64> {
        let mut writer = self.write_conn().await?;
        proofs::forget_expired(&self.proofs, &mut writer, now).await
    }

    /// How many DPoP proof records the index in memory holds.
    pub fn remembered_proofs(&self) -> usize {
        proofs::lock(&self.proofs).len()
    }

    /// Counts a commit that carried `rotations`.
    #[allow(clippy::cast_precision_loss)] // at most MAX_BATCH
    fn committed(&self, rotations: usize) {
        self.commits.commits.fetch_add(1, Ordering::Relaxed);
        self.commits
            .rotations
            .fetch_add(rotations as u64, Ordering::Relaxed);
        metrics::histogram!(ROTATIONS_PER_COMMIT).record(rotations as f64);
    }

    /// The writer, once the writers before have finished, with nothing
    /// left open by them (an open batch of rotations is committed first).
    async fn writer(&self) -> StoreResult<MutexGuard<'_, Writer>> {
        self.writer_for(false).await
    }

    /// The writer; with `join`, an open batch of rotations stays open for
    /// the caller to join.
    async fn writer_for(&self, join: bool) -> StoreResult<MutexGuard<'_, Writer>> {
        let mut writer = self.writer.lock().await;
        let mut reopen = writer.opened_at.elapsed() > WRITER_LIFETIME;
        if join && writer.batch.is_some() && !writer.in_doubt && !reopen {
            return Ok(writer);
        }
        if let Some(batch) = writer.batch.take()
            && !writer.in_doubt
        {
            // In doubt until the `COMMIT` returns: cancelled while it runs,
            // the batch is dropped unsent and its members find out from the
            // database what became of their rotations.
            writer.in_doubt = true;
            match sqlx::raw_sql("COMMIT").execute(&mut writer.conn).await {
                Ok(_) => {
                    writer.in_doubt = false;
                    self.committed(batch.members);
                    batch.committed.send_replace(true);
                }
                // The batch is dropped unsent; what the failed `COMMIT`
                // left is rolled back below.
                Err(e) => {
                    tracing::warn!(error = %e, rotations = batch.members, "SQLite writer: a shared commit failed");
                }
            }
        }
        // Settled on the old connection even when it is about to be
        // replaced: its worker runs what was queued on it (a batch's
        // `COMMIT`, say) before it stops, and a read on a new connection
        // could overtake it.
        if writer.in_doubt {
            match sqlx::raw_sql("ROLLBACK").execute(&mut writer.conn).await {
                Ok(_) => {}
                Err(e)
                    if e.as_database_error()
                        .is_some_and(|d| d.message().contains("no transaction is active")) => {}
                // The connection cannot say (its worker is gone, say): a
                // new one. Closing the old one rolls back what it held.
                Err(e) => {
                    tracing::warn!(error = %e, "SQLite writer could not roll back; opening it again");
                    reopen = true;
                }
            }
        }
        if reopen {
            writer.conn = self.options.connect().await?;
            writer.opened_at = Instant::now();
        }
        writer.in_doubt = false;
        Ok(writer)
    }

    /// Whether refresh token `child_digest` is stored, read once the writer
    /// is settled. A batch dropped unsent may still have been committed
    /// (its `COMMIT` ran, but the task awaiting it was cancelled before it
    /// could say so); the child's row, whose digest only that rotation
    /// knows, tells.
    async fn stored_after_all(&self, tenant_id: &str, child_digest: &str) -> StoreResult<bool> {
        let mut writer = self.writer().await?;
        let found =
            sqlx::query("SELECT 1 FROM refresh_tokens WHERE tenant_id = $1 AND token_digest = $2")
                .bind(tenant_id)
                .bind(child_digest)
                .fetch_optional(&mut writer.conn)
                .await?;
        Ok(found.is_some())
    }

    /// The writer connection, for the shared SQL.
    async fn write_conn(&self) -> StoreResult<MappedMutexGuard<'_, SqliteConnection>> {
        Ok(MutexGuard::map(self.writer().await?, |w| &mut w.conn))
    }

    /// The common presentation in a few calls to the writer: `BEGIN
    /// IMMEDIATE` (the database's write lock, so the family cannot change)
    /// with the family's read and, for a DPoP-bound one, the proof log's new
    /// rows; the proof's replay record (RFC 9449 §11.1, `sqlite/proofs.rs`:
    /// the append to the log); then, if the
    /// presentation's decision is to rotate, the writes with `COMMIT`. A
    /// replayed proof or an unknown token is settled here (the latter keeps
    /// the proof's record); any other decision is rolled back, record
    /// included, and the caller decides again under its own lock.
    ///
    /// Group commit: while other rotations wait for the writer, a rotation
    /// leaves its transaction open and they join it, each in a savepoint
    /// (`ROLLBACK TO` undoes a member's part alone when its decision is not
    /// to rotate). The last to join while no other rotation waits, the
    /// [`MAX_BATCH`]th, or the next writer of any other kind commits it;
    /// every member answers only after that `COMMIT`. A member cancelled
    /// half-way leaves the writer in doubt and the whole batch is rolled
    /// back: the others fail unless their child is stored after all (the
    /// `COMMIT` ran), and every client keeps a token that works. One commit
    /// writes the pages the rotations share once (decision 0013).
    async fn try_rotate(&self, p: &crate::RefreshPresentation<'_>) -> StoreResult<FastPath> {
        let queued = Queued::new(&self.queued_rotations);
        let writer = self.writer_for(true).await?;
        drop(queued);
        let joined = writer.batch.is_some();
        let mut run = HandRun {
            writer,
            store: self,
            open: true,
        };
        // With a proof, the same call reads the proof log from the index's
        // newest entry: the catch-up's first read (`sqlite/proofs.rs`).
        macro_rules! begin {
            ($start:literal) => {
                concat!($start, ";\n", crate::rows::read_family!())
            };
            ($start:literal, proof) => {
                concat!(begin!($start), ";\n", proofs::read_log_from!("$3"))
            };
        }
        let from = p.proof.map(|_| proofs::ReadFrom::newest(&self.proofs));
        let begin = match (joined, from.is_some()) {
            (false, false) => begin!("BEGIN IMMEDIATE"),
            (true, false) => begin!("SAVEPOINT rotation"),
            (false, true) => begin!("BEGIN IMMEDIATE", proof),
            (true, true) => begin!("SAVEPOINT rotation", proof),
        };
        let mut begin = sqlx::query(begin).bind(p.tenant_id).bind(p.token_digest);
        if let Some(from) = from {
            begin = begin.bind(from.id());
        }
        let (log, family): (Vec<_>, Vec<_>) = begin
            .fetch_all(run.conn())
            .await?
            .into_iter()
            .partition(|row| row.try_column("oldest").is_ok());
        let family = family
            .first()
            .map(|row| crate::rows::FamilyRow::from_row(row)?.split())
            .transpose()?;
        let proof_fresh = match (&p.proof, from) {
            (Some(proof), Some(from)) => {
                proofs::record_after_reading(
                    &self.proofs,
                    run.conn(),
                    p.tenant_id,
                    proof,
                    from,
                    &log,
                )
                .await?
            }
            _ => true,
        };
        // Ending without a rotation: the whole transaction when this call
        // began it, this member's savepoint when it joined a batch.
        let (undo, keep) = if joined {
            ("ROLLBACK TO rotation; RELEASE rotation", "RELEASE rotation")
        } else {
            ("ROLLBACK", "COMMIT")
        };
        let end = |sql: &'static str| sqlx::raw_sql(sql);
        if !proof_fresh {
            end(undo).execute(run.conn()).await?;
            run.settled();
            return Ok(FastPath::Done(PresentOutcome::ReplayedProof));
        }
        let decided =
            family.map(|(token, session, user)| (p.decide(&token, &session), token, session, user));
        let Some((Decision::Rotate, token, session, user)) = decided else {
            // An unknown token is settled here (its proof stays recorded);
            // anything else (a grace retry, reuse, a rejection) writes
            // under the shared locked path, which records the proof again.
            let unknown = decided.is_none();
            end(if unknown { keep } else { undo })
                .execute(run.conn())
                .await?;
            // A joiner's kept proof record is in the batch: it answers once
            // that is committed, as a rotation does.
            // (A batch is open here only if this call joined it.)
            let wait = run
                .writer
                .batch
                .as_ref()
                .filter(|_| unknown)
                .map(Batch::join);
            run.settled();
            if let Some(mut wait) = wait
                && wait.wait_for(|committed| *committed).await.is_err()
            {
                return Err(batch_failed());
            }
            return Ok(if unknown {
                FastPath::Done(PresentOutcome::Unknown)
            } else {
                FastPath::Locked {
                    proof_recorded: false,
                }
            });
        };
        let event = sql::tx::presentation_event(p, Decision::Rotate, Some(&session));
        // Under the database's write lock, with the token just read as the
        // family's newest and `active`, each write finds its row; one that
        // fails stops the call before `COMMIT`, and the dropped run has it
        // rolled back. (`rows_affected` cannot check this here: SQLite
        // reports the last change again for `COMMIT`.)
        let members = run.writer.batch.as_ref().map_or(0, |b| b.members) + 1;
        let commit = members >= MAX_BATCH
            || self.queued_rotations.load(Ordering::SeqCst) == 0
            || tokio::runtime::Handle::try_current().is_err();
        sqlx::query(rotate_sql(joined, commit))
            .bind(&token.token_digest)
            .bind(p.now())
            .bind(p.child_sealed)
            .bind(p.child_digest)
            .bind(&token.session_id)
            .bind(p.tenant_id)
            .bind(token.generation + 1)
            .bind(&event.id)
            .bind(&event.kind)
            .bind(&event.user_id)
            .bind(&event.client_id)
            .bind(&event.reason)
            .bind(&event.ip)
            .bind(&event.user_agent)
            .execute(run.conn())
            .await
            .map_err(|e| crate::conflict_or(e, "refresh token"))?;
        let wait = if commit {
            self.committed(members);
            if let Some(batch) = run.writer.batch.take() {
                batch.committed.send_replace(true);
            }
            None
        } else {
            Some(match &mut run.writer.batch {
                Some(batch) => {
                    batch.members += 1;
                    batch.join()
                }
                None => {
                    let (committed, wait) = watch::channel(false);
                    run.writer.batch = Some(Batch {
                        members: 1,
                        committed,
                    });
                    // Takes the writer after the rotations queued now, and
                    // commits whatever batch it finds.
                    let store = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = store.writer().await {
                            tracing::warn!(error = %e, "SQLite writer: committing a batch of rotations failed");
                        }
                    });
                    wait
                }
            })
        };
        run.settled();
        if let Some(mut wait) = wait
            && wait.wait_for(|committed| *committed).await.is_err()
            && !self.stored_after_all(p.tenant_id, p.child_digest).await?
        {
            return Err(batch_failed());
        }
        Ok(FastPath::Done(PresentOutcome::Decided {
            decision: Decision::Rotate,
            token,
            session,
            user,
        }))
    }
}

/// The writer while a hand-run transaction may be open, until
/// [`settled`](Self::settled) says its `COMMIT` or `ROLLBACK` returned.
/// Dropped before that (its future cancelled, or an error returned), it
/// marks the writer in doubt and has a task take the writer at once, which
/// rolls back what was left open: the open transaction holds the database's
/// write lock, which other processes (the CLI) would otherwise wait on
/// until the next in-process writer came.
struct HandRun<'a> {
    writer: MutexGuard<'a, Writer>,
    store: &'a SqliteStore,
    open: bool,
}

impl HandRun<'_> {
    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.writer.conn
    }

    fn settled(mut self) {
        self.open = false;
    }
}

impl Drop for HandRun<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        self.writer.in_doubt = true;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let store = self.store.clone();
            // It takes the writer once this run's guard is released.
            runtime.spawn(async move {
                if let Err(e) = store.writer().await {
                    tracing::warn!(error = %e, "SQLite writer: rolling back a dropped rotation failed");
                }
            });
        }
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
