//! SQL of [`UserStore`](crate::UserStore).

use holdfast_core::signals::SignalKind;

use super::tx::{emit_in, new_signal, revoke_session_in};
use super::{BEGIN_WRITE, ThisStore};

impl ThisStore {
    /// Fills in the UTS #39 skeleton of every username stored without
    /// one (of `tenant_id`, or of all tenants), computed by
    /// `holdfast_core::user::username_skeleton` from the stored
    /// comparison key, since SQL cannot compute it.
    ///
    /// Why here: migration 0012 added the column to existing rows as
    /// NULL. `connect` calls this once after migrating, so every row
    /// written before has its skeleton from then on; `create_user`
    /// calls it for the tenant before each insert, which catches
    /// rows an older binary still wrote (a rolling upgrade) and
    /// costs one indexed read when there are none. Each update is
    /// its own statement: when two old rows already look alike, the
    /// second keeps NULL (its skeleton is taken, by a row that now
    /// blocks every further lookalike anyway) instead of failing.
    pub(crate) async fn fill_username_skeletons(
        &self,
        tenant_id: Option<&str>,
    ) -> crate::StoreResult<()> {
        let missing: Vec<(String, String, String)> = match tenant_id {
            Some(tenant_id) => sqlx::query_as(
                "SELECT id, tenant_id, username_normalized FROM users
                 WHERE tenant_id = $1 AND username_skeleton IS NULL",
            )
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?,
            None => sqlx::query_as(
                "SELECT id, tenant_id, username_normalized FROM users WHERE username_skeleton IS NULL",
            )
            .fetch_all(&self.pool)
            .await?,
        };
        for (id, tenant_id, normalized) in missing {
            let skeleton = holdfast_core::user::username_skeleton(&normalized);
            let done = sqlx::query(
                "UPDATE users SET username_skeleton = $3
                 WHERE tenant_id = $1 AND id = $2 AND username_skeleton IS NULL",
            )
            .bind(&tenant_id)
            .bind(&id)
            .bind(&skeleton)
            .execute(&mut *self.write_conn().await?)
            .await;
            match done {
                Ok(_) => {}
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    tracing::warn!(tenant_id = %tenant_id, user_id = %id,
                        "a stored username looks the same as another in its tenant; it keeps working, and no new lookalike of either can be created");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::UserStore for ThisStore {
    async fn create_user(
        &self,
        id: &str,
        tenant_id: &str,
        username: &holdfast_core::user::Username,
        email: Option<&str>,
        password_hash: &str,
        now: i64,
    ) -> crate::StoreResult<holdfast_core::user::User> {
        // Rows an older Holdfast wrote (during a rolling upgrade on
        // one PostgreSQL) have no skeleton yet: give them theirs
        // first, so the unique index compares against every user.
        self.fill_username_skeletons(Some(tenant_id)).await?;
        sqlx::query(
            "INSERT INTO users (id, tenant_id, username, username_normalized, email, password_hash, created_at,
                username_skeleton)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(username.display())
        .bind(username.normalized())
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .bind(username.skeleton())
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(|e| crate::conflict_or(e, "user"))?;
        Ok(holdfast_core::user::User {
            id: id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            username: username.display().to_owned(),
            email: email.map(str::to_owned),
            created_at: now,
        })
    }

    async fn user_by_username(
        &self,
        tenant_id: &str,
        normalized: &str,
    ) -> crate::StoreResult<Option<crate::UserRecord>> {
        Ok(sqlx::query_as::<_, crate::rows::UserRow>(
            "SELECT * FROM users WHERE tenant_id = $1 AND username_normalized = $2",
        )
        .bind(tenant_id)
        .bind(normalized)
        .fetch_optional(&self.pool)
        .await?
        .map(Into::into))
    }

    async fn set_user_not_before(
        &self,
        tenant_id: &str,
        id: &str,
        at: i64,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let done = sqlx::query("UPDATE users SET not_before = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound("user"));
        }
        // Sessions begun before the stamp die with it, so their
        // refresh tokens are refused like their access tokens.
        let older: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM sessions
             WHERE tenant_id = $1 AND user_id = $2 AND created_at < $3 AND revoked_at IS NULL",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(at)
        .fetch_all(&mut *tx)
        .await?;
        for (sid,) in older {
            revoke_session_in(&mut tx, tenant_id, &sid, "not_before", at).await?;
        }
        // RISC sessions-revoked: resource servers refuse the user's tokens
        // issued before the stamp (docs/design.md §7).
        let mut signal = new_signal(SignalKind::SessionsRevoked, at);
        signal.user_id = Some(id.to_owned());
        emit_in(&mut tx, tenant_id, &signal).await?;
        // And single sign-on at the authorization server ends too.
        sqlx::query(
            "DELETE FROM browser_sessions WHERE tenant_id = $1 AND user_id = $2 AND auth_time < $3",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_id(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> crate::StoreResult<Option<crate::UserRecord>> {
        Ok(sqlx::query_as::<_, crate::rows::UserRow>(
            "SELECT * FROM users WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(Into::into))
    }
}
