//! SQL of [`ThrottleStore`](crate::ThrottleStore): failed-attempt counters
//! shared by every node.
//!
//! A reservation reads the counters under a lock and writes back what
//! `holdfast_core::throttle::reserve` decides, in one transaction. The lock
//! is the upsert that makes sure each counter row exists: on PostgreSQL its
//! `DO UPDATE` row-locks the rows (taken in key order, so two reservations
//! cannot deadlock); on SQLite the transaction's `BEGIN IMMEDIATE` already
//! holds the database's write lock. So concurrent attempts are counted one
//! after another and none slips past a limit.

use super::tx::insert_event;
use super::{BEGIN_WRITE, Db, ThisStore};
use holdfast_core::throttle::{Counter, Counters};

/// Ensures the counter rows `$2..` of tenant `$1` exist and locks them;
/// returns them. Two texts, for attempts with and without an account.
const LOCK_COUNTERS_3: &str = "
    INSERT INTO throttle_counters (tenant_id, counter_key, window_start, failures, updated_at)
    VALUES ($1, $2, 0, 0, $5), ($1, $3, 0, 0, $5), ($1, $4, 0, 0, $5)
    ON CONFLICT (tenant_id, counter_key) DO UPDATE SET updated_at = throttle_counters.updated_at
    RETURNING counter_key, window_start, failures, last_failure_at, last_success_at, throttled_at";
const LOCK_COUNTERS_2: &str = "
    INSERT INTO throttle_counters (tenant_id, counter_key, window_start, failures, updated_at)
    VALUES ($1, $2, 0, 0, $4), ($1, $3, 0, 0, $4)
    ON CONFLICT (tenant_id, counter_key) DO UPDATE SET updated_at = throttle_counters.updated_at
    RETURNING counter_key, window_start, failures, last_failure_at, last_success_at, throttled_at";
/// Reads counters without a lock.
const READ_COUNTERS: &str = "
    SELECT counter_key, window_start, failures, last_failure_at, last_success_at, throttled_at
    FROM throttle_counters WHERE tenant_id = $1 AND counter_key IN ($2, $3, $4)";
/// Writes one counter back.
const WRITE_COUNTER: &str = "
    UPDATE throttle_counters
    SET window_start = $3, failures = $4, last_failure_at = $5, last_success_at = $6,
        throttled_at = $7, updated_at = $8
    WHERE tenant_id = $1 AND counter_key = $2";
/// Drops tenant `$3`'s counters that can no longer matter under its
/// policy: untouched since `$1` (longer than any window) and holding no
/// success, or untouched since `$2` (the known-address exemption).
const SWEEP_COUNTERS: &str = "
    DELETE FROM throttle_counters
    WHERE tenant_id = $3 AND ((updated_at < $1 AND last_success_at IS NULL) OR updated_at < $2)";

/// A counter row.
#[derive(Debug, sqlx::FromRow)]
struct CounterRow {
    pub counter_key: String,
    pub window_start: i64,
    pub failures: i64,
    pub last_failure_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub throttled_at: Option<i64>,
}

impl CounterRow {
    fn counter(&self) -> Counter {
        Counter {
            window_start: self.window_start,
            failures: self.failures,
            last_failure_at: self.last_failure_at,
            last_success_at: self.last_success_at,
            throttled_at: self.throttled_at,
        }
    }
}

/// The counters of `keys` among `rows` (a missing one counts nothing).
fn counters(keys: &crate::ThrottleKeys, rows: &[CounterRow]) -> Counters {
    let find = |key: &str| {
        rows.iter()
            .find(|r| r.counter_key == key)
            .map(CounterRow::counter)
            .unwrap_or_default()
    };
    Counters {
        pair: find(&keys.pair),
        account: keys.account.as_deref().map(find),
        address: find(&keys.address),
    }
}

/// The `(key, before, after)` of every counter that changed.
fn changed<'k>(
    keys: &'k crate::ThrottleKeys,
    before: &Counters,
    after: &Counters,
) -> Vec<(&'k str, Counter)> {
    let mut out = Vec::new();
    if before.pair != after.pair {
        out.push((keys.pair.as_str(), after.pair));
    }
    if let (Some(key), Some(a)) = (keys.account.as_deref(), after.account)
        && before.account != Some(a)
    {
        out.push((key, a));
    }
    if before.address != after.address {
        out.push((keys.address.as_str(), after.address));
    }
    out
}

impl ThisStore {
    /// Locks (creating if missing) the counters of `keys`, in key order.
    async fn lock_counters<'c>(
        tx: &mut sqlx::Transaction<'c, Db>,
        tenant_id: &str,
        keys: &crate::ThrottleKeys,
        now: i64,
    ) -> crate::StoreResult<holdfast_core::throttle::Counters> {
        let mut sorted: Vec<&str> = [
            Some(keys.pair.as_str()),
            keys.account.as_deref(),
            Some(keys.address.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        sorted.sort_unstable();
        let text = if sorted.len() == 3 {
            LOCK_COUNTERS_3
        } else {
            LOCK_COUNTERS_2
        };
        let mut query = sqlx::query_as::<_, CounterRow>(text).bind(tenant_id);
        for key in &sorted {
            query = query.bind(*key);
        }
        let rows = query.bind(now).fetch_all(&mut **tx).await?;
        Ok(counters(keys, &rows))
    }

    /// Writes back the counters that changed.
    async fn write_counters<'c>(
        tx: &mut sqlx::Transaction<'c, Db>,
        tenant_id: &str,
        keys: &crate::ThrottleKeys,
        before: &holdfast_core::throttle::Counters,
        after: &holdfast_core::throttle::Counters,
        now: i64,
    ) -> crate::StoreResult<()> {
        for (key, c) in changed(keys, before, after) {
            sqlx::query(WRITE_COUNTER)
                .bind(tenant_id)
                .bind(key)
                .bind(c.window_start)
                .bind(c.failures)
                .bind(c.last_failure_at)
                .bind(c.last_success_at)
                .bind(c.throttled_at)
                .bind(now)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::ThrottleStore for ThisStore {
    async fn throttle_counters(
        &self,
        tenant_id: &str,
        keys: &crate::ThrottleKeys,
    ) -> crate::StoreResult<holdfast_core::throttle::Counters> {
        let rows = sqlx::query_as::<_, CounterRow>(READ_COUNTERS)
            .bind(tenant_id)
            .bind(&keys.pair)
            .bind(keys.account.as_deref().unwrap_or(&keys.pair))
            .bind(&keys.address)
            .fetch_all(&self.pool)
            .await?;
        Ok(counters(keys, &rows))
    }

    async fn reserve_attempt(
        &self,
        tenant_id: &str,
        keys: &crate::ThrottleKeys,
        policy: &holdfast_core::throttle::ThrottlePolicy,
        now: i64,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<holdfast_core::throttle::Verdict> {
        use holdfast_core::throttle::{Verdict, reserve};
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let before = Self::lock_counters(&mut tx, tenant_id, keys, now).await?;
        let (verdict, after) = reserve(policy, &before, now);
        Self::write_counters(&mut tx, tenant_id, keys, &before, &after, now).await?;
        if let Verdict::Throttled {
            by,
            first_in_window: true,
            ..
        } = verdict
        {
            let event = crate::AuditEvent {
                reason: Some(by.as_str().to_owned()),
                ..audit.clone()
            };
            insert_event(&mut tx, &event).await?;
        }
        tx.commit().await?;
        // Now and then (about one reservation in 64), drop counters
        // that can no longer matter, so the table stays small. After
        // the commit and in a statement of its own: inside the
        // transaction it would wait on rows other reservations hold
        // while they wait on ours (a deadlock on PostgreSQL).
        if audit.id.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % 64 == 0 {
            let longest = policy
                .pair_window_secs
                .max(policy.account_window_secs)
                .max(policy.address_window_secs);
            sqlx::query(SWEEP_COUNTERS)
                .bind(now - longest)
                .bind(now - longest.max(policy.known_address_secs))
                .bind(tenant_id)
                .execute(&mut *writer)
                .await?;
        }
        Ok(verdict)
    }

    async fn attempt_succeeded(
        &self,
        tenant_id: &str,
        keys: &crate::ThrottleKeys,
        now: i64,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let before = Self::lock_counters(&mut tx, tenant_id, keys, now).await?;
        let after = holdfast_core::throttle::succeeded(&before, now);
        Self::write_counters(&mut tx, tenant_id, keys, &before, &after, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tenant_throttle_policy(
        &self,
        tenant_id: &str,
    ) -> crate::StoreResult<Option<holdfast_core::throttle::ThrottlePolicy>> {
        super::tenants::tenant_json(
            self,
            "SELECT policy FROM tenant_throttle_policies WHERE tenant_id = $1",
            tenant_id,
        )
        .await
    }

    async fn set_tenant_throttle_policy(
        &self,
        tenant_id: &str,
        expected_version: Option<i64>,
        policy: Option<&holdfast_core::throttle::ThrottlePolicy>,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<i64> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let version =
            super::tenants::bump_tenant_version(&mut tx, tenant_id, expected_version).await?;
        match policy {
            Some(policy) => {
                let text = serde_json::to_string(policy)
                    .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO tenant_throttle_policies (tenant_id, policy) VALUES ($1, $2)
                     ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy",
                )
                .bind(tenant_id)
                .bind(text)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM tenant_throttle_policies WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(version)
    }
}
