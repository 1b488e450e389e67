//! The SQLite store's DPoP proof records
//! ([RFC 9449 §11.1](https://www.rfc-editor.org/rfc/rfc9449#section-11.1)):
//! an append-only log in the database and an index of it in memory
//! (decision 0013, point 9).
//!
//! A unique index over random `jti`s costs every recording one leaf page
//! at a random place in the b-tree, written whole to the WAL and again at
//! the checkpoint: a third of what a DPoP-bound rotation wrote. Here
//! `dpop_proofs` has no index but its rowid, so a record is an append to
//! the table's last page, which the rotations of one commit share, and
//! the "seen before?" question is answered from [`ProofIndex`].
//!
//! The log is the truth and the index only mirrors it, so nothing depends
//! on the index surviving anything:
//!
//! - Every record is made inside a write transaction (the database's write
//!   lock), after [`catch_up`] has brought the index level with the log as
//!   this connection sees it: the rows other processes appended since, and
//!   none that a rollback took away. A rollback always removes the newest
//!   rows (a transaction or savepoint of the one writer holds only rows
//!   newer than everything before it), so the index is level when its
//!   newest entry is the log's row of that id with the same proof; while it
//!   is not, that entry goes. The index is rebuilt from the log when a
//!   store opens, so a record outlives a restart or a `kill -9` exactly as
//!   long as its committed row does.
//! - A hit in the index is checked against its row before it is called a
//!   replay, so a stale entry (its row forgotten by the retention sweep, or
//!   by a tenant's deletion) never refuses a fresh proof. Entries are keyed
//!   by 128 bits of SipHash under a per-process random key: a replay could
//!   pass only if its proof's key collided with another live proof's, at
//!   odds of about n²/2¹²⁹ for n records.
//! - Expired records are forgotten from the head of the log: every row
//!   older than the oldest unexpired one ([`FORGET_EXPIRED`]), and each
//!   catch-up drops the entries of rows older than the log's oldest,
//!   whoever deleted them. A record that lasts longer than its neighbours
//!   (a proof whose `iat` was ahead of the clock; a passkey ceremony, kept
//!   five minutes) holds the rows behind it back that long at most.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::{ProofRecord, StoreResult};

/// Forgets the head of the log, at most `$2` records (SQLite: `-1`, no
/// bound): every record older than the oldest one that lasts until `$1` or
/// later (all of them when none does). The retention sweep's step too.
pub(super) const FORGET_EXPIRED: &str = "DELETE FROM dpop_proofs WHERE id IN (
    SELECT id FROM dpop_proofs WHERE id < coalesce(
        (SELECT id FROM dpop_proofs WHERE expires_at >= $1 ORDER BY id LIMIT 1),
        (SELECT max(id) + 1 FROM dpop_proofs), 0)
    ORDER BY id LIMIT $2)";

/// The log's rows from id `$n` on, with the log's oldest id: what a
/// catch-up reads (also in the call that begins a rotation, `try_rotate`).
macro_rules! read_log_from {
    ($n:literal) => {
        concat!(
            "SELECT id, tenant_id, jkt, jti, (SELECT min(id) FROM dpop_proofs) AS oldest
             FROM dpop_proofs WHERE id >= ",
            $n,
            " ORDER BY id"
        )
    };
}
pub(super) use read_log_from;

/// Entries dropped one by one from the top before [`catch_up`] reads the
/// whole log again instead.
const MAX_STALE: usize = 64;

/// A proof's key in the index: 128 bits of SipHash under a per-process
/// random key, so two live proofs collide at odds of about n²/2¹²⁹.
type Key = u128;

/// The log's rows in memory: their ids in order, and which proof each is.
#[derive(Debug, Default)]
pub(super) struct ProofIndex {
    hasher: RandomState,
    /// Row id and proof key, oldest first.
    rows: VecDeque<(i64, Key)>,
    /// The newest row id of each proof key.
    by_key: HashMap<Key, i64>,
}

impl ProofIndex {
    fn key(&self, tenant_id: &str, jkt: &str, jti: &str) -> Key {
        let high = self.hasher.hash_one((0u8, tenant_id, jkt, jti));
        let low = self.hasher.hash_one((1u8, tenant_id, jkt, jti));
        (Key::from(high) << 64) | Key::from(low)
    }

    fn key_of(&self, row: &SqliteRow) -> StoreResult<Key> {
        Ok(self.key(
            row.try_get("tenant_id")?,
            row.try_get("jkt")?,
            row.try_get("jti")?,
        ))
    }

    fn newest(&self) -> Option<(i64, Key)> {
        self.rows.back().copied()
    }

    fn push(&mut self, id: i64, key: Key) {
        self.rows.push_back((id, key));
        self.by_key.insert(key, id);
    }

    fn forget(&mut self, (id, key): (i64, Key)) {
        if self.by_key.get(&key) == Some(&id) {
            self.by_key.remove(&key);
        }
    }

    fn pop_newest(&mut self) {
        if let Some(row) = self.rows.pop_back() {
            self.forget(row);
        }
    }

    /// Drops the entries of rows older than `id`, the log's oldest.
    fn drop_before(&mut self, id: i64) {
        while let Some(&row) = self.rows.front()
            && row.0 < id
        {
            self.rows.pop_front();
            self.forget(row);
        }
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.by_key.clear();
    }

    /// How many records the index holds.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }
}

pub(super) fn lock(index: &Mutex<ProofIndex>) -> std::sync::MutexGuard<'_, ProofIndex> {
    // The index holds no invariant a panic half-way could break that
    // `catch_up` does not repair.
    index
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a catch-up reads the log from: the index's newest entry, read
/// again to check it is still its row's.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadFrom(Option<(i64, Key)>);

impl ReadFrom {
    /// The index's newest entry, taken by the writer's holder.
    pub(super) fn newest(index: &Mutex<ProofIndex>) -> Self {
        Self(lock(index).newest())
    }

    /// The first row id to read (every row when the index is empty).
    pub(super) fn id(self) -> i64 {
        self.0.map_or(i64::MIN, |(id, _)| id)
    }
}

/// Rows of [`read_log_from!`] with their keys, and the log's oldest id.
type LogRead = (Vec<(i64, Key)>, Option<i64>);

fn keyed(index: &Mutex<ProofIndex>, rows: &[SqliteRow]) -> StoreResult<LogRead> {
    let index = lock(index);
    let mut read = Vec::with_capacity(rows.len());
    let mut oldest = None;
    for row in rows {
        read.push((row.try_get("id")?, index.key_of(row)?));
        oldest = row.try_get("oldest")?;
    }
    Ok((read, oldest))
}

async fn read_from(
    index: &Mutex<ProofIndex>,
    conn: &mut SqliteConnection,
    from: ReadFrom,
) -> StoreResult<LogRead> {
    let rows = sqlx::query(read_log_from!("$1"))
        .bind(from.id())
        .fetch_all(&mut *conn)
        .await?;
    keyed(index, &rows)
}

/// Brings `index` level with the log as `conn` sees it (inside the caller's
/// write transaction, or at open): the rows appended since, none that a
/// rollback took away, none older than the log's oldest.
pub(super) async fn catch_up(
    index: &Mutex<ProofIndex>,
    conn: &mut SqliteConnection,
) -> StoreResult<()> {
    let from = ReadFrom::newest(index);
    let read = read_from(index, conn, from).await?;
    level(index, conn, from, read).await
}

/// [`catch_up`] once the log has been read `from` the index's newest entry.
async fn level(
    index: &Mutex<ProofIndex>,
    conn: &mut SqliteConnection,
    ReadFrom(mut newest): ReadFrom,
    (mut read, mut oldest): LogRead,
) -> StoreResult<()> {
    if newest.is_some() && read.first() != newest.as_ref() {
        // Rolled back, or forgotten: entries go from the top until one is
        // its row's, then the rest of the log is read from there.
        let mut stale = 0;
        loop {
            {
                let mut index = lock(index);
                index.pop_newest();
                stale += 1;
                if stale > MAX_STALE {
                    index.clear();
                }
                newest = index.newest();
            }
            let Some((id, key)) = newest else {
                break;
            };
            let row = sqlx::query("SELECT tenant_id, jkt, jti FROM dpop_proofs WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(row) = row
                && lock(index).key_of(&row)? == key
            {
                break;
            }
        }
        (read, oldest) = read_from(index, conn, ReadFrom(newest)).await?;
    }
    let mut index = lock(index);
    if let Some(oldest) = oldest {
        index.drop_before(oldest);
    }
    // The first row read is the newest entry's own.
    for (id, key) in read.into_iter().skip(usize::from(newest.is_some())) {
        index.push(id, key);
    }
    Ok(())
}

/// Records `proof` for `tenant_id` inside the caller's write transaction on
/// `conn`: `false`, with nothing written, when it is recorded already.
pub(super) async fn record(
    index: &Mutex<ProofIndex>,
    conn: &mut SqliteConnection,
    tenant_id: &str,
    proof: &ProofRecord<'_>,
) -> StoreResult<bool> {
    catch_up(index, conn).await?;
    record_level(index, conn, tenant_id, proof).await
}

/// [`record`] for a caller that read the log `from` the index's newest
/// entry itself ([`read_log_from!`]), in the call that began its
/// transaction: `rows` are what that read returned.
pub(super) async fn record_after_reading(
    index: &Mutex<ProofIndex>,
    conn: &mut SqliteConnection,
    tenant_id: &str,
    proof: &ProofRecord<'_>,
    from: ReadFrom,
    rows: &[SqliteRow],
) -> StoreResult<bool> {
    let read = keyed(index, rows)?;
    level(index, conn, from, read).await?;
    record_level(index, conn, tenant_id, proof).await
}

/// [`record`] once the index is level with the log.
async fn record_level(
    index: &Mutex<ProofIndex>,
    conn: &mut SqliteConnection,
    tenant_id: &str,
    proof: &ProofRecord<'_>,
) -> StoreResult<bool> {
    let (key, seen) = {
        let index = lock(index);
        let key = index.key(tenant_id, proof.jkt, proof.jti);
        (key, index.by_key.get(&key).copied())
    };
    if let Some(id) = seen {
        let same = sqlx::query(
            "SELECT 1 FROM dpop_proofs WHERE id = $1 AND tenant_id = $2 AND jkt = $3 AND jti = $4",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(proof.jkt)
        .bind(proof.jti)
        .fetch_optional(&mut *conn)
        .await?;
        if same.is_some() {
            return Ok(false);
        }
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO dpop_proofs (tenant_id, jkt, jti, expires_at) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(proof.jkt)
    .bind(proof.jti)
    .bind(proof.expires_at)
    .fetch_one(&mut *conn)
    .await?;
    lock(index).push(id, key);
    Ok(true)
}

/// Forgets the records that expired before `now` from the log and from
/// `index`; how many rows went.
pub(super) async fn forget_expired(
    index: &Mutex<ProofIndex>,
    conn: &mut SqliteConnection,
    now: i64,
) -> StoreResult<u64> {
    let deleted = sqlx::query(FORGET_EXPIRED)
        .bind(now)
        .bind(-1)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let oldest: Option<i64> = sqlx::query_scalar("SELECT min(id) FROM dpop_proofs")
        .fetch_one(&mut *conn)
        .await?;
    lock(index).drop_before(oldest.unwrap_or(i64::MAX));
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::ConnectOptions;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

    use super::*;

    /// A database file of its own and two connections to it: two
    /// processes sharing one SQLite file, each with its own index.
    struct TwoProcesses {
        path: std::path::PathBuf,
        conns: [SqliteConnection; 2],
        indexes: [Mutex<ProofIndex>; 2],
    }

    impl TwoProcesses {
        async fn open() -> Self {
            let path =
                std::env::temp_dir().join(format!("holdfast-proofs-{}.db", uuid::Uuid::new_v4()));
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
                .unwrap()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let mut first = options.connect().await.unwrap();
            sqlx::raw_sql(
                "CREATE TABLE dpop_proofs (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL,
                 jkt TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL)",
            )
            .execute(&mut first)
            .await
            .unwrap();
            let second = options.connect().await.unwrap();
            Self {
                path,
                conns: [first, second],
                indexes: Default::default(),
            }
        }

        /// Records `jti` as process `p`, in a transaction that commits or
        /// rolls back.
        async fn record(&mut self, p: usize, jti: &str, expires_at: i64, commit: bool) -> bool {
            let conn = &mut self.conns[p];
            sqlx::raw_sql("BEGIN IMMEDIATE")
                .execute(&mut *conn)
                .await
                .unwrap();
            let proof = ProofRecord {
                jkt: "jkt",
                jti,
                expires_at,
            };
            let fresh = record(&self.indexes[p], conn, "t1", &proof).await.unwrap();
            let end = if commit { "COMMIT" } else { "ROLLBACK" };
            sqlx::raw_sql(end).execute(&mut *conn).await.unwrap();
            fresh
        }
    }

    impl Drop for TwoProcesses {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = self.path.as_os_str().to_owned();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    }

    #[tokio::test]
    async fn rfc9449_s11_1_a_rolled_back_record_leaves_its_proof_fresh() {
        let mut db = TwoProcesses::open().await;
        assert!(db.record(0, "a", 100, false).await);
        assert!(
            db.record(0, "a", 100, true).await,
            "the rolled-back record refused its proof"
        );
        assert!(
            !db.record(0, "a", 100, true).await,
            "a committed record is a replay"
        );
        assert_eq!(lock(&db.indexes[0]).len(), 1);
    }

    #[tokio::test]
    async fn rfc9449_s11_1_a_record_another_process_made_is_a_replay_even_in_a_rolled_back_id() {
        let mut db = TwoProcesses::open().await;
        assert!(db.record(0, "before", 100, true).await);
        // Process 0's record is rolled back, and process 1 appends another
        // proof under the same row id.
        assert!(db.record(0, "undone", 100, false).await);
        assert!(db.record(1, "other", 100, true).await);
        assert!(
            !db.record(0, "other", 100, true).await,
            "process 1's record was missed"
        );
        assert!(!db.record(0, "before", 100, true).await);
        assert!(db.record(0, "undone", 100, true).await);
        assert!(!db.record(1, "undone", 100, true).await);
        assert_eq!(lock(&db.indexes[0]).len(), 3);
        assert_eq!(lock(&db.indexes[1]).len(), 3);
    }

    #[tokio::test]
    async fn rfc9449_s11_1_an_expired_record_is_forgotten_from_the_log_and_the_index() {
        let mut db = TwoProcesses::open().await;
        for (jti, expires_at) in [("a", 10), ("b", 20), ("c", 30)] {
            assert!(db.record(0, jti, expires_at, true).await);
        }
        let forgotten = forget_expired(&db.indexes[0], &mut db.conns[0], 25)
            .await
            .unwrap();
        assert_eq!(forgotten, 2);
        assert_eq!(lock(&db.indexes[0]).len(), 1);
        assert!(
            db.record(0, "a", 40, true).await,
            "a forgotten proof is new again"
        );
        assert!(
            !db.record(0, "c", 30, true).await,
            "an unexpired record stays"
        );
        // A record expiring later holds back the ones behind it (by at most
        // the iat window): the head of the log goes first.
        let forgotten = forget_expired(&db.indexes[0], &mut db.conns[0], 35)
            .await
            .unwrap();
        assert_eq!(forgotten, 1, "c went; a (until 40) stays");
        assert!(!db.record(0, "a", 40, true).await);
        // Process 1, which has read none of it yet, catches up from what is
        // left.
        assert!(!db.record(1, "a", 40, true).await);
        assert!(db.record(1, "b", 50, true).await);
        assert_eq!(lock(&db.indexes[1]).len(), 2);
    }

    #[tokio::test]
    async fn rfc9449_s11_1_records_another_process_forgot_leave_the_index_at_its_next_record() {
        let mut db = TwoProcesses::open().await;
        assert!(db.record(1, "a", 10, true).await);
        assert!(db.record(1, "b", 20, true).await);
        assert!(db.record(0, "c", 30, true).await);
        assert_eq!(lock(&db.indexes[0]).len(), 3);
        let forgotten = forget_expired(&db.indexes[1], &mut db.conns[1], 25)
            .await
            .unwrap();
        assert_eq!(forgotten, 2);
        assert!(db.record(0, "d", 40, true).await);
        assert_eq!(
            lock(&db.indexes[0]).len(),
            2,
            "a and b are still in process 0's index"
        );
        assert!(!db.record(0, "c", 30, true).await);
    }
}
