//! `--preload-families N`: a store that has served for years, before the
//! run. Inserts N families of the bench's user and client (each a session
//! with ten refresh tokens, nine rotated and the newest active, as ten
//! rotations leave them) straight into the database, a chunk per statement,
//! so the rotations measured afterwards look their tokens up among N × 10
//! others. `--preload-ended-share` makes that share of the families ended
//! long ago (past their absolute lifetime by more than any access token
//! lives), for the retention sweep to delete while the load runs.
//!
//! This is benchmark set-up, not Holdfast code: the SQL is each database's
//! own (`generate_series` on PostgreSQL, a recursive CTE on SQLite).

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::Connection;

/// Families per statement.
const CHUNK: i64 = 20_000;
/// Refresh tokens per family.
const TOKENS_PER_FAMILY: i64 = 10;

const PG_SESSIONS: &str = "
    INSERT INTO sessions (id, tenant_id, user_id, client_id, scope, auth_time, acr, amr,
        created_at, last_used_at, expires_at, generation)
    SELECT 'preloaded-' || g, $1, $2, 'app', 'openid', $3, '1', '[\"pwd\"]', $3, $3,
        CASE WHEN $6 > 0 AND g % $6 = 0 THEN $3 - 86400 ELSE $3 + 7776000 END, 9
    FROM generate_series($4::bigint, $5::bigint - 1) g";
const PG_TOKENS: &str = "
    INSERT INTO refresh_tokens (token_digest, session_id, tenant_id, generation, state,
        parent_digest, created_at, rotated_at, retries)
    SELECT lpad((g * 10 + k)::text, 43, '0'), 'preloaded-' || g, $1, k,
        CASE WHEN k = 9 THEN 'active' ELSE 'rotated' END,
        CASE WHEN k = 0 THEN NULL ELSE lpad((g * 10 + k - 1)::text, 43, '0') END,
        $2, CASE WHEN k = 9 THEN NULL ELSE $2 END, 0
    FROM generate_series($3::bigint, $4::bigint - 1) g, generate_series(0, 9) k";
const SQLITE_SESSIONS: &str = "
    WITH RECURSIVE g(x) AS (SELECT $4 UNION ALL SELECT x + 1 FROM g WHERE x + 1 < $5)
    INSERT INTO sessions (id, tenant_id, user_id, client_id, scope, auth_time, acr, amr,
        created_at, last_used_at, expires_at, generation)
    SELECT 'preloaded-' || x, $1, $2, 'app', 'openid', $3, '1', '[\"pwd\"]', $3, $3,
        CASE WHEN $6 > 0 AND x % $6 = 0 THEN $3 - 86400 ELSE $3 + 7776000 END, 9
    FROM g";
const SQLITE_TOKENS: &str = "
    WITH RECURSIVE g(x) AS (SELECT $3 UNION ALL SELECT x + 1 FROM g WHERE x + 1 < $4),
        k(y) AS (SELECT 0 UNION ALL SELECT y + 1 FROM k WHERE y < 9)
    INSERT INTO refresh_tokens (token_digest, session_id, tenant_id, generation, state,
        parent_digest, created_at, rotated_at, retries)
    SELECT printf('%043d', x * 10 + y), 'preloaded-' || x, $1, y,
        CASE WHEN y = 9 THEN 'active' ELSE 'rotated' END,
        CASE WHEN y = 0 THEN NULL ELSE printf('%043d', x * 10 + y - 1) END,
        $2, CASE WHEN y = 9 THEN NULL ELSE $2 END, 0
    FROM g, k";
const IDS: &str = "SELECT t.id, u.id FROM tenants t JOIN users u ON u.tenant_id = t.id
    WHERE t.slug = 'bench' AND u.username = 'load'";

/// Inserts `families` preloaded families into the bench tenant; every
/// `ended_every`-th one (0: none) ended a day ago. Returns how long it took.
pub async fn preload(
    database_url: &str,
    families: i64,
    ended_every: i64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut from = 0;
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await?;
        let (tenant, user): (String, String) = sqlx::query_as(IDS).fetch_one(&mut conn).await?;
        while from < families {
            let to = (from + CHUNK).min(families);
            let mut tx = conn.begin().await?;
            sqlx::query(SQLITE_SESSIONS)
                .bind(&tenant)
                .bind(&user)
                .bind(now)
                .bind(from)
                .bind(to)
                .bind(ended_every)
                .execute(&mut *tx)
                .await
                .context("preload sessions")?;
            sqlx::query(SQLITE_TOKENS)
                .bind(&tenant)
                .bind(now)
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await
                .context("preload refresh tokens")?;
            tx.commit().await?;
            from = to;
            progress(from, families);
        }
        sqlx::query("ANALYZE").execute(&mut conn).await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        let (tenant, user): (String, String) = sqlx::query_as(IDS).fetch_one(&mut conn).await?;
        while from < families {
            let to = (from + CHUNK).min(families);
            let mut tx = conn.begin().await?;
            sqlx::query(PG_SESSIONS)
                .bind(&tenant)
                .bind(&user)
                .bind(now)
                .bind(from)
                .bind(to)
                .bind(ended_every)
                .execute(&mut *tx)
                .await
                .context("preload sessions")?;
            sqlx::query(PG_TOKENS)
                .bind(&tenant)
                .bind(now)
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await
                .context("preload refresh tokens")?;
            tx.commit().await?;
            from = to;
            progress(from, families);
        }
        sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    }
    Ok(started.elapsed())
}

fn progress(done: i64, of: i64) {
    if done % (CHUNK * 10) == 0 || done == of {
        eprintln!(
            "  preloaded {done} of {of} families ({} refresh tokens)",
            done * TOKENS_PER_FAMILY
        );
    }
}
