//! SQL of [`UserStore`](crate::UserStore).

use holdfast_core::signals::SignalKind;

use super::tx::{emit_in, insert_event, new_signal, revoke_session_in};
use super::{BEGIN_WRITE, Db, ThisStore};

const SET_NOT_BEFORE: &str = "UPDATE users SET not_before = $3 WHERE tenant_id = $1 AND id = $2";
const SET_DISABLED_AT: &str = "UPDATE users SET disabled_at = $3 WHERE tenant_id = $1 AND id = $2";
const SET_PASSWORD_HASH: &str =
    "UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2";

/// Runs one of the `SET_*` statements (`$1` tenant, `$2` user, `$3`
/// value); `NotFound("user")` if there is no such user.
async fn set_user_column<'c, 'v, T>(
    tx: &mut sqlx::Transaction<'c, Db>,
    statement: &'static str,
    tenant_id: &str,
    id: &str,
    value: T,
) -> crate::StoreResult<()>
where
    T: sqlx::Encode<'v, Db> + sqlx::Type<Db> + Send + 'v,
{
    let done = sqlx::query(statement)
        .bind(tenant_id)
        .bind(id)
        .bind(value)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(crate::StoreError::NotFound("user"));
    }
    Ok(())
}

/// Stamps "not before" `at` on the user: the sessions begun before it end
/// (each writing its session-revoked), browser sessions begun before it
/// end, and RISC sessions-revoked tells resource servers to refuse the
/// user's tokens issued before it.
async fn stamp_not_before_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    id: &str,
    at: i64,
    reason: &str,
) -> crate::StoreResult<()> {
    set_user_column(tx, SET_NOT_BEFORE, tenant_id, id, at).await?;
    // Sessions begun before the stamp die with it, so their refresh tokens
    // are refused like their access tokens.
    let older: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM sessions
         WHERE tenant_id = $1 AND user_id = $2 AND created_at < $3 AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(at)
    .fetch_all(&mut **tx)
    .await?;
    for (sid,) in older {
        revoke_session_in(tx, tenant_id, &sid, reason, at).await?;
    }
    emit_about_user(tx, tenant_id, id, SignalKind::SessionsRevoked, at, None).await?;
    // And single sign-on at the authorization server ends too.
    sqlx::query(
        "DELETE FROM browser_sessions WHERE tenant_id = $1 AND user_id = $2 AND auth_time < $3",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends every live session and browser session of the user, and deletes
/// the codes not yet redeemed (a code signed in before the change would
/// otherwise start a session after it).
async fn end_every_session_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    id: &str,
    now: i64,
    reason: &str,
) -> crate::StoreResult<()> {
    // Codes first: on PostgreSQL this waits for a redemption in flight
    // (it holds the code's row) and then skips its code, whose session the
    // select below sees and ends. Deleted, not consumed: a consumed code
    // presented again would read as a replay.
    sqlx::query(
        "DELETE FROM auth_codes WHERE tenant_id = $1 AND user_id = $2 AND consumed_at IS NULL",
    )
    .bind(tenant_id)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    let live: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    for (sid,) in live {
        revoke_session_in(tx, tenant_id, &sid, reason, now).await?;
    }
    sqlx::query("DELETE FROM browser_sessions WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts a user (an empty `email` is none); `Conflict("user")` if the
/// name or its skeleton is taken.
pub(super) async fn insert_user_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    a: &crate::NewAccount<'_>,
) -> crate::StoreResult<holdfast_core::user::User> {
    let email = Some(a.email).filter(|e| !e.is_empty());
    sqlx::query(
        "INSERT INTO users (id, tenant_id, username, username_normalized, email, password_hash, created_at,
            username_skeleton, display_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.id)
    .bind(a.tenant_id)
    .bind(a.username.display())
    .bind(a.username.normalized())
    .bind(email)
    .bind(a.password_hash)
    .bind(a.now)
    .bind(a.username.skeleton())
    .bind(a.display_name)
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::conflict_or(e, "user"))?;
    Ok(holdfast_core::user::User {
        id: a.id.to_owned(),
        tenant_id: a.tenant_id.to_owned(),
        username: a.username.display().to_owned(),
        email: email.map(str::to_owned),
        email_verified: false,
        display_name: a.display_name.map(str::to_owned),
        created_at: a.now,
    })
}

/// Sets a new password hash and stamps "not before" `now`, writing CAEP
/// credential-change and RISC sessions-revoked.
pub(super) async fn set_password_in<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    id: &str,
    password_hash: &str,
    now: i64,
) -> crate::StoreResult<()> {
    set_user_column(tx, SET_PASSWORD_HASH, tenant_id, id, password_hash).await?;
    emit_about_user(
        tx,
        tenant_id,
        id,
        SignalKind::CredentialChange,
        now,
        Some("password:update"),
    )
    .await?;
    // A new password spends every mailed link still out (a verification
    // of an address someone else added, an older reset): whoever held the
    // account before holds none of them now.
    sqlx::query(
        "UPDATE account_tokens SET consumed_at = $3
         WHERE tenant_id = $1 AND user_id = $2 AND consumed_at IS NULL",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    // Every session that exists now began with the old password, even one
    // begun earlier in this same second (which a "not before" stamp, to
    // the second, would spare): all of them end. Sessions begun after this
    // commit (the new sign-in of whoever changed it) are not affected.
    set_user_column(tx, SET_NOT_BEFORE, tenant_id, id, now).await?;
    end_every_session_in(tx, tenant_id, id, now, "password_changed").await?;
    emit_about_user(tx, tenant_id, id, SignalKind::SessionsRevoked, now, None).await
}

/// Writes an event about the user (RFC 9493 `iss_sub` subject).
async fn emit_about_user<'c>(
    tx: &mut sqlx::Transaction<'c, Db>,
    tenant_id: &str,
    id: &str,
    kind: SignalKind,
    at: i64,
    detail: Option<&str>,
) -> crate::StoreResult<()> {
    let mut signal = new_signal(kind, at);
    signal.user_id = Some(id.to_owned());
    signal.detail = detail.map(str::to_owned);
    emit_in(tx, tenant_id, &signal).await
}

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
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        let user = insert_user_in(
            &mut tx,
            &crate::NewAccount {
                id,
                tenant_id,
                username,
                email: email.unwrap_or_default(),
                display_name: None,
                password_hash,
                now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(holdfast_core::user::User {
            email: email.map(str::to_owned),
            ..user
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
        stamp_not_before_in(&mut tx, tenant_id, id, at, "not_before").await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_user_disabled(
        &self,
        tenant_id: &str,
        id: &str,
        at: Option<i64>,
        now: i64,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        set_user_column(&mut tx, SET_DISABLED_AT, tenant_id, id, at).await?;
        if at.is_some() {
            end_every_session_in(&mut tx, tenant_id, id, now, "user_disabled").await?;
            set_user_column(&mut tx, SET_NOT_BEFORE, tenant_id, id, now).await?;
            emit_about_user(
                &mut tx,
                tenant_id,
                id,
                SignalKind::AccountDisabled,
                now,
                None,
            )
            .await?;
        }
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_user(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        end_every_session_in(&mut tx, tenant_id, id, now, "user_deleted").await?;
        let done = sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound("user"));
        }
        emit_about_user(&mut tx, tenant_id, id, SignalKind::AccountPurged, now, None).await?;
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_user_password(
        &self,
        tenant_id: &str,
        id: &str,
        password_hash: &str,
        now: i64,
        audit: &crate::AuditEvent,
        notice: Option<&crate::OutgoingMail>,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        if let Some(mail) = notice {
            super::mail::queue_mail_in(&mut tx, mail).await?;
        }
        set_password_in(&mut tx, tenant_id, id, password_hash, now).await?;
        insert_event(&mut tx, audit).await?;
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

    async fn list_users(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> crate::StoreResult<Vec<crate::UserRecord>> {
        Ok(sqlx::query_as::<_, crate::rows::UserRow>(
            "SELECT * FROM users WHERE tenant_id = $1 AND username_normalized > $2
             ORDER BY username_normalized LIMIT $3",
        )
        .bind(tenant_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
    }
}
