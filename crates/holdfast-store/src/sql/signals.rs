//! SQL of [`SignalStore`](crate::SignalStore).

use holdfast_core::signals::{PUSH_DELIVERY, Signal, StreamStatus};

use super::tx::{emit_in, insert_signal};
use super::{BEGIN_WRITE, DELETE_ACKED, Db, ThisStore};
use crate::rows::{DueLogoutRow, SignalRow, StreamRow, delivered_column, to_json_list};

const QUEUE_FOR_STREAM: &str =
    "INSERT INTO ssf_pending (stream_id, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";

const READ_QUEUED: &str =
    "SELECT e.id, e.kind, e.at, e.session_id, e.user_id, e.token_id, e.token_exp, e.detail
     FROM ssf_pending p JOIN security_events e ON e.id = p.event_id
     WHERE p.stream_id = $1 AND p.next_attempt_at <= $2
     ORDER BY p.event_id LIMIT $3";

/// The enabled push streams: few or none, so a round that has nothing to
/// push costs one small read, however many events poll streams hold.
const PUSH_STREAMS: &str =
    "SELECT * FROM ssf_streams WHERE delivery_method = $1 AND status = 'enabled'";

/// Claims up to `$4` events of stream `$3` due at `$1`, until `$2`.
/// Marks stream `$1`'s rows due at `$2` with ids up to `$3` as handed out
/// until `$4`.
const MARK_HANDED_OUT: &str = "UPDATE ssf_pending SET next_attempt_at = $4
     WHERE stream_id = $1 AND next_attempt_at <= $2 AND event_id <= $3";

const CLAIM_PUSHES: &str = "UPDATE ssf_pending SET next_attempt_at = $2
     WHERE stream_id = $3 AND next_attempt_at <= $1 AND event_id IN (
         SELECT event_id FROM ssf_pending
         WHERE stream_id = $3 AND next_attempt_at <= $1
         ORDER BY event_id LIMIT $4)
     RETURNING event_id, attempts";

const CLAIM_LOGOUTS: &str = "UPDATE logout_deliveries SET next_attempt_at = $2
     WHERE next_attempt_at <= $1 AND id IN (
         SELECT id FROM logout_deliveries WHERE next_attempt_at <= $1
         ORDER BY next_attempt_at, id LIMIT $3)
     RETURNING id";

const ANY_LOGOUT_DUE: &str =
    "SELECT EXISTS (SELECT 1 FROM logout_deliveries WHERE next_attempt_at <= $1)";

const READ_LOGOUT: &str = "SELECT d.id, d.tenant_id, d.client_id, c.backchannel_logout_uri AS uri,
         d.user_id, d.session_id, d.at, d.attempts
     FROM logout_deliveries d JOIN clients c
         ON c.tenant_id = d.tenant_id AND c.client_id = d.client_id
     WHERE d.id = $1 AND c.backchannel_logout_uri IS NOT NULL";

type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

/// Binds what a receiver or the transmitter may change of a stream, in the
/// order both the insert and the update name them: delivery method, push
/// endpoint and authorization, events requested and delivered,
/// description, status and its reason.
fn bind_settings<'q>(query: Query<'q>, s: &'q crate::StreamRecord) -> Query<'q> {
    query
        .bind(&s.delivery_method)
        .bind(&s.push_endpoint)
        .bind(&s.push_authorization)
        .bind(to_json_list(&s.events_requested))
        .bind(delivered_column(&s.events_delivered))
        .bind(&s.description)
        .bind(s.status.as_str())
        .bind(&s.status_reason)
}

impl ThisStore {
    /// Whether `exists` (an `EXISTS` query of `$1` = now) finds work due.
    /// Every node's delivery and mail rounds ask several times a second: a
    /// read first, so a round with nothing due never takes the write path
    /// (on SQLite, the one writer the token endpoint needs).
    pub(super) async fn anything_due(
        &self,
        exists: &'static str,
        now: i64,
    ) -> crate::StoreResult<bool> {
        let (any,): (bool,) = sqlx::query_as(exists)
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(any)
    }
}

#[async_trait::async_trait]
impl crate::SignalStore for ThisStore {
    async fn create_stream(&self, s: &crate::StreamRecord) -> crate::StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO ssf_streams (id, tenant_id, client_id, delivery_method, push_endpoint,
                push_authorization, events_requested, events_delivered, description, status,
                status_reason, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&s.id)
        .bind(&s.tenant_id)
        .bind(&s.client_id);
        bind_settings(query, s)
            .bind(s.created_at)
            .bind(s.updated_at)
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(|e| crate::conflict_or(e, "stream"))?;
        Ok(())
    }

    async fn stream(
        &self,
        tenant_id: &str,
        stream_id: &str,
    ) -> crate::StoreResult<Option<crate::StreamRecord>> {
        sqlx::query_as::<_, StreamRow>("SELECT * FROM ssf_streams WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(stream_id)
            .fetch_optional(&self.pool)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn streams_of_client(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> crate::StoreResult<Vec<crate::StreamRecord>> {
        sqlx::query_as::<_, StreamRow>(
            "SELECT * FROM ssf_streams WHERE tenant_id = $1 AND client_id = $2 ORDER BY created_at, id",
        )
        .bind(tenant_id)
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
    }

    async fn update_stream(
        &self,
        s: &crate::StreamRecord,
        announce: Option<&Signal>,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let query = sqlx::query(
            "UPDATE ssf_streams SET delivery_method = $3, push_endpoint = $4, push_authorization = $5,
                events_requested = $6, events_delivered = $7, description = $8, status = $9,
                status_reason = $10, updated_at = $11
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(&s.tenant_id)
        .bind(&s.id);
        let done = bind_settings(query, s)
            .bind(s.updated_at)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound("stream"));
        }
        if s.status == StreamStatus::Disabled {
            sqlx::query("DELETE FROM ssf_pending WHERE stream_id = $1")
                .bind(&s.id)
                .execute(&mut *tx)
                .await?;
        } else {
            // SSF §8.1.1.3: a receiver that updated its stream (a restarted
            // one gives a new endpoint or authorization, or changes the
            // delivery method) gets what waited out a push backoff or a
            // poll's redelivery delay now, with a fresh count of attempts.
            sqlx::query(
                "UPDATE ssf_pending SET next_attempt_at = $2, attempts = 0
                 WHERE stream_id = $1 AND (attempts > 0 OR next_attempt_at > $2)",
            )
            .bind(&s.id)
            .bind(s.updated_at)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(signal) = announce {
            insert_signal(&mut tx, &s.tenant_id, signal).await?;
            sqlx::query(QUEUE_FOR_STREAM)
                .bind(&s.id)
                .bind(&signal.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_stream(&self, tenant_id: &str, stream_id: &str) -> crate::StoreResult<bool> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        sqlx::query(
            "DELETE FROM ssf_pending WHERE stream_id IN
                 (SELECT id FROM ssf_streams WHERE tenant_id = $1 AND id = $2)",
        )
        .bind(tenant_id)
        .bind(stream_id)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM ssf_streams WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(stream_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn emit_to_stream(
        &self,
        tenant_id: &str,
        stream_id: &str,
        signal: &Signal,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        insert_signal(&mut tx, tenant_id, signal).await?;
        sqlx::query(QUEUE_FOR_STREAM)
            .bind(stream_id)
            .bind(&signal.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn emit_signal(&self, tenant_id: &str, signal: &Signal) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        emit_in(&mut tx, tenant_id, signal).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn poll_signals(
        &self,
        stream_id: &str,
        ack: &[String],
        limit: i64,
        now: i64,
        redeliver_at: i64,
    ) -> crate::StoreResult<(Vec<Signal>, bool)> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        if !ack.is_empty() {
            sqlx::query(DELETE_ACKED)
                .bind(stream_id)
                .bind(crate::rows::to_json_list(ack))
                .execute(&mut *tx)
                .await?;
        }
        let mut rows = sqlx::query_as::<_, SignalRow>(READ_QUEUED)
            .bind(stream_id)
            .bind(now)
            .bind(limit.max(0) + 1)
            .fetch_all(&mut *tx)
            .await?;
        let more = rows.len() as i64 > limit.max(0);
        rows.truncate(limit.max(0) as usize);
        let signals: Vec<Signal> = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?;
        // Mark what is handed out: the rows just read, which are the first
        // due ones up to the last id. On PostgreSQL a row with a smaller id
        // committed between the read and this update is marked too without
        // being sent: it comes after the redelivery delay (later, never
        // lost).
        if let Some(last) = signals.last() {
            sqlx::query(MARK_HANDED_OUT)
                .bind(stream_id)
                .bind(now)
                .bind(&last.id)
                .bind(redeliver_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((signals, more))
    }

    async fn has_due_signals(&self, stream_id: &str, now: i64) -> crate::StoreResult<bool> {
        let (due,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM ssf_pending WHERE stream_id = $1 AND next_attempt_at <= $2)",
        )
        .bind(stream_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(due)
    }

    async fn due_pushes(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
    ) -> crate::StoreResult<Vec<crate::DuePush>> {
        let streams: Vec<StreamRow> = sqlx::query_as(PUSH_STREAMS)
            .bind(PUSH_DELIVERY)
            .fetch_all(&self.pool)
            .await?;
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let mut due = Vec::new();
        for stream in streams {
            let stream: crate::StreamRecord = stream.try_into()?;
            let claimed: Vec<(String, i64)> = sqlx::query_as(CLAIM_PUSHES)
                .bind(now)
                .bind(claim_until)
                .bind(&stream.id)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            for (event_id, attempts) in claimed {
                let signal: Option<SignalRow> = sqlx::query_as(
                    "SELECT id, kind, at, session_id, user_id, token_id, token_exp, detail
                     FROM security_events WHERE id = $1",
                )
                .bind(&event_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(signal) = signal {
                    due.push(crate::DuePush {
                        stream: stream.clone(),
                        signal: signal.try_into()?,
                        attempts,
                    });
                }
            }
        }
        tx.commit().await?;
        Ok(due)
    }

    async fn push_delivered(&self, stream_id: &str, event_id: &str) -> crate::StoreResult<()> {
        sqlx::query("DELETE FROM ssf_pending WHERE stream_id = $1 AND event_id = $2")
            .bind(stream_id)
            .bind(event_id)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    async fn push_receiver_reachable(&self, stream_id: &str, now: i64) -> crate::StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE ssf_pending SET next_attempt_at = $2
             WHERE stream_id = $1 AND attempts > 0 AND next_attempt_at > $2",
        )
        .bind(stream_id)
        .bind(now)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(done.rows_affected())
    }

    async fn push_backlog_before(
        &self,
        stream_id: &str,
        event_id: &str,
    ) -> crate::StoreResult<bool> {
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM ssf_pending
             WHERE stream_id = $1 AND event_id < $2 AND attempts > 0)",
        )
        .bind(stream_id)
        .bind(event_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(held)
    }

    async fn push_failed(
        &self,
        stream_id: &str,
        event_id: &str,
        next_attempt_at: i64,
    ) -> crate::StoreResult<()> {
        sqlx::query(
            "UPDATE ssf_pending SET attempts = attempts + 1, next_attempt_at = $3
             WHERE stream_id = $1 AND event_id = $2",
        )
        .bind(stream_id)
        .bind(event_id)
        .bind(next_attempt_at)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    async fn due_logouts(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
    ) -> crate::StoreResult<Vec<crate::DueLogout>> {
        if !self.anything_due(ANY_LOGOUT_DUE, now).await? {
            return Ok(Vec::new());
        }
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let claimed: Vec<(String,)> = sqlx::query_as(CLAIM_LOGOUTS)
            .bind(now)
            .bind(claim_until)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut due = Vec::with_capacity(claimed.len());
        for (id,) in claimed {
            let row: Option<DueLogoutRow> = sqlx::query_as(READ_LOGOUT)
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                Some(row) => due.push(row.into()),
                // The client no longer registers a URI (or is gone): there
                // is nobody to tell.
                None => {
                    sqlx::query("DELETE FROM logout_deliveries WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(due)
    }

    async fn logout_delivered(&self, id: &str) -> crate::StoreResult<()> {
        sqlx::query("DELETE FROM logout_deliveries WHERE id = $1")
            .bind(id)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(())
    }

    async fn delivery_backlog(&self) -> crate::StoreResult<(crate::Backlog, crate::Backlog)> {
        let events = sqlx::query_as::<_, crate::Backlog>(
            "SELECT COUNT(*) AS depth, MIN(e.at) AS oldest_at
             FROM ssf_pending p JOIN security_events e ON e.id = p.event_id",
        )
        .fetch_one(&self.pool)
        .await?;
        let logouts = sqlx::query_as::<_, crate::Backlog>(
            "SELECT COUNT(*) AS depth, MIN(at) AS oldest_at FROM logout_deliveries",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((events, logouts))
    }

    async fn logout_failed(
        &self,
        id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> crate::StoreResult<()> {
        sqlx::query(
            "UPDATE logout_deliveries SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3
             WHERE id = $1",
        )
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }
}
