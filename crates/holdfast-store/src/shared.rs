//! The SQL both back ends share, written once.
//!
//! [`impl_shared_store!`] implements the capability traits for a store type
//! that has a `pool: sqlx::Pool<DB>` field for reads, a `write_conn()`
//! method for writes (a pooled connection on PostgreSQL; on SQLite, which
//! has one writer anyway, its one write connection, so writers queue in
//! process instead of sleeping in SQLite's busy handler), and a
//! `try_rotate()` method: the back end's fastest way to apply the common
//! presentation of a refresh token, a plain rotation. Every statement here is portable
//! between SQLite and PostgreSQL (`$n` parameters, `ON CONFLICT`, partial
//! indexes); anything that is not lives in the back end's own module.

macro_rules! impl_shared_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::TenantStore for $store {
            async fn create_tenant(
                &self,
                tenant: &holdfast_core::tenant::Tenant,
                keys: &[$crate::StoredKey],
            ) -> $crate::StoreResult<()> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                sqlx::query(
                    "INSERT INTO tenants (id, slug, display_name, signing_alg, default_audience, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&tenant.id)
                .bind(tenant.slug.as_str())
                .bind(&tenant.display_name)
                .bind(tenant.signing_alg.as_str())
                .bind(&tenant.default_audience)
                .bind(tenant.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| $crate::conflict_or(e, "tenant"))?;
                for key in keys {
                    insert_key(&mut tx, &tenant.id, key).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn tenant_by_slug(
                &self,
                slug: &holdfast_core::tenant::TenantSlug,
            ) -> $crate::StoreResult<Option<holdfast_core::tenant::Tenant>> {
                sqlx::query_as::<_, $crate::rows::TenantRow>("SELECT * FROM tenants WHERE slug = $1")
                    .bind(slug.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn list_tenants(&self) -> $crate::StoreResult<Vec<holdfast_core::tenant::Tenant>> {
                sqlx::query_as::<_, $crate::rows::TenantRow>("SELECT * FROM tenants ORDER BY slug")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::ClientStore for $store {
            async fn create_client(
                &self,
                id: &str,
                tenant_id: &str,
                c: &holdfast_core::client::NewClient,
                secret_digest: Option<&str>,
                now: i64,
            ) -> $crate::StoreResult<holdfast_core::client::Client> {
                let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                sqlx::query(
                    "INSERT INTO clients (id, tenant_id, client_id, kind, secret_digest, redirect_uris,
                        grant_types, scopes, access_token_ttl_secs, rotation, grace_window_secs,
                        retry_limit, idle_lifetime_secs, absolute_lifetime_secs, dpop_required, created_at,
                        refresh_token_in_cookie, allowed_origins, dpop_nonce_required, unbound_grace_accept_risk, resources,
                        id_token_signed_response_alg)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
                )
                .bind(id)
                .bind(tenant_id)
                .bind(&c.client_id)
                .bind(c.kind.as_str())
                .bind(secret_digest)
                .bind($crate::rows::to_json_list(&c.redirect_uris))
                .bind($crate::rows::to_json_list(&grants))
                .bind($crate::rows::to_json_list(&c.scopes))
                .bind(c.access_token_ttl_secs)
                .bind(c.refresh.rotation.as_str())
                .bind(c.refresh.grace_window_secs)
                .bind(c.refresh.retry_limit)
                .bind(c.refresh.idle_lifetime_secs)
                .bind(c.refresh.absolute_lifetime_secs)
                .bind(c.dpop_required)
                .bind(now)
                .bind(c.refresh_token_in_cookie)
                .bind($crate::rows::to_json_list(&c.allowed_origins))
                .bind(c.dpop_nonce_required.unwrap_or(false))
                .bind(c.refresh.unbound_grace_accept_risk)
                .bind($crate::rows::to_json_list(&c.resources))
                .bind(c.id_token_signed_response_alg.map(|a| a.as_str()))
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(|e| $crate::conflict_or(e, "client"))?;
                Ok(holdfast_core::client::Client {
                    id: id.to_owned(),
                    tenant_id: tenant_id.to_owned(),
                    client_id: c.client_id.clone(),
                    kind: c.kind,
                    redirect_uris: c.redirect_uris.clone(),
                    grant_types: c.grant_types.clone(),
                    scopes: c.scopes.clone(),
                    access_token_ttl_secs: c.access_token_ttl_secs,
                    refresh: c.refresh,
                    dpop_required: c.dpop_required,
                    refresh_token_in_cookie: c.refresh_token_in_cookie,
                    allowed_origins: c.allowed_origins.clone(),
                    dpop_nonce_required: c.dpop_nonce_required.unwrap_or(false),
                    resources: c.resources.clone(),
                    id_token_signed_response_alg: c.id_token_signed_response_alg,
                    created_at: now,
                })
            }

            async fn client_by_client_id(
                &self,
                tenant_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<Option<$crate::ClientRecord>> {
                sqlx::query_as::<_, $crate::rows::ClientRow>(
                    "SELECT * FROM clients WHERE tenant_id = $1 AND client_id = $2",
                )
                .bind(tenant_id)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            async fn list_clients(
                &self,
                tenant_id: &str,
            ) -> $crate::StoreResult<Vec<holdfast_core::client::Client>> {
                sqlx::query_as::<_, $crate::rows::ClientRow>(
                    "SELECT * FROM clients WHERE tenant_id = $1 ORDER BY client_id",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| $crate::ClientRecord::try_from(row).map(|r| r.client))
                .collect()
            }
        }

        impl $store {
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
            ) -> $crate::StoreResult<()> {
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
        impl $crate::UserStore for $store {
            async fn create_user(
                &self,
                id: &str,
                tenant_id: &str,
                username: &holdfast_core::user::Username,
                email: Option<&str>,
                password_hash: &str,
                now: i64,
            ) -> $crate::StoreResult<holdfast_core::user::User> {
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
                .map_err(|e| $crate::conflict_or(e, "user"))?;
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
            ) -> $crate::StoreResult<Option<$crate::UserRecord>> {
                Ok(sqlx::query_as::<_, $crate::rows::UserRow>(
                    "SELECT * FROM users WHERE tenant_id = $1 AND username_normalized = $2",
                )
                .bind(tenant_id)
                .bind(normalized)
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into))
            }

            async fn set_user_not_before(&self, tenant_id: &str, id: &str, at: i64) -> $crate::StoreResult<()> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                let done = sqlx::query("UPDATE users SET not_before = $3 WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound("user"));
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
                // And single sign-on at the authorization server ends too.
                sqlx::query("DELETE FROM browser_sessions WHERE tenant_id = $1 AND user_id = $2 AND auth_time < $3")
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
            ) -> $crate::StoreResult<Option<$crate::UserRecord>> {
                Ok(sqlx::query_as::<_, $crate::rows::UserRow>(
                    "SELECT * FROM users WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into))
            }
        }

        #[async_trait::async_trait]
        impl $crate::KeyStore for $store {
            async fn keys(&self, tenant_id: &str) -> $crate::StoreResult<Vec<$crate::StoredKey>> {
                sqlx::query_as::<_, $crate::rows::KeyRow>(
                    "SELECT * FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at DESC, kid",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            async fn rotate_keys(
                &self,
                tenant_id: &str,
                new_next: &$crate::StoredKey,
                now: i64,
            ) -> $crate::StoreResult<()> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                // The first statement writes, so SQLite takes its write lock
                // here and PostgreSQL locks the rows: concurrent rotations
                // serialise instead of interleaving.
                sqlx::query(
                    "UPDATE signing_keys SET state = 'retired', retired_at = $2
                     WHERE tenant_id = $1 AND alg = $3 AND state = 'current'",
                )
                .bind(tenant_id)
                .bind(now)
                .bind(new_next.alg.as_str())
                .execute(&mut *tx)
                .await?;
                let promoted = sqlx::query(
                    "UPDATE signing_keys SET state = 'current', activated_at = $2
                     WHERE tenant_id = $1 AND alg = $3 AND state = 'next'",
                )
                .bind(tenant_id)
                .bind(now)
                .bind(new_next.alg.as_str())
                .execute(&mut *tx)
                .await?;
                if promoted.rows_affected() != 1 {
                    return Err($crate::StoreError::NotFound("next key"));
                }
                insert_key(&mut tx, tenant_id, new_next).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn add_keys(
                &self,
                tenant_id: &str,
                keys: &[$crate::StoredKey],
            ) -> $crate::StoreResult<()> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                for key in keys {
                    // The conflict target names the partial unique index
                    // (tenant, alg, state) of live keys: a pair another
                    // node committed first wins, this one is dropped.
                    sqlx::query(
                        "INSERT INTO signing_keys (kid, tenant_id, alg, state, private_sealed, public_jwk,
                            created_at, activated_at, retired_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (tenant_id, alg, state) WHERE state IN ('next', 'current') DO NOTHING",
                    )
                    .bind(&key.kid)
                    .bind(tenant_id)
                    .bind(key.alg.as_str())
                    .bind(key.state.as_str())
                    .bind(&key.private_sealed)
                    .bind(&key.public_jwk)
                    .bind(key.created_at)
                    .bind(key.activated_at)
                    .bind(key.retired_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| $crate::conflict_or(e, "signing key"))?;
                }
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::MetaStore for $store {
            async fn init_kek_check(&self, check: &[u8]) -> $crate::StoreResult<Vec<u8>> {
                sqlx::query("INSERT INTO meta (name, value) VALUES ('kek_check', $1) ON CONFLICT (name) DO NOTHING")
                    .bind(check)
                    .execute(&mut *self.write_conn().await?)
                    .await?;
                self.kek_check()
                    .await?
                    .ok_or($crate::StoreError::NotFound("kek check"))
            }

            async fn kek_check(&self) -> $crate::StoreResult<Option<Vec<u8>>> {
                let row: Option<(Vec<u8>,)> =
                    sqlx::query_as("SELECT value FROM meta WHERE name = 'kek_check'")
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(v,)| v))
            }

            async fn ping(&self) -> $crate::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::GrantStore for $store {
            async fn insert_auth_code(&self, c: &$crate::AuthCodeRecord) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO auth_codes (code_digest, tenant_id, client_id, user_id, redirect_uri, scope,
                        nonce, code_challenge, resource, auth_time, acr, amr, created_at, expires_at, dpop_jkt,
                        browser_session)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(&c.code_digest)
                .bind(&c.tenant_id)
                .bind(&c.client_id)
                .bind(&c.user_id)
                .bind(&c.redirect_uri)
                .bind(&c.scope)
                .bind(&c.nonce)
                .bind(&c.code_challenge)
                .bind(&c.resource)
                .bind(c.auth_time)
                .bind(&c.acr)
                .bind($crate::rows::to_json_list(&c.amr))
                .bind(c.created_at)
                .bind(c.expires_at)
                .bind(&c.dpop_jkt)
                .bind(&c.browser_session)
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(|e| $crate::conflict_or(e, "authorization code"))?;
                Ok(())
            }

            async fn auth_code(
                &self,
                tenant_id: &str,
                code_digest: &str,
            ) -> $crate::StoreResult<Option<$crate::AuthCodeRecord>> {
                sqlx::query_as::<_, $crate::rows::AuthCodeRow>(
                    "SELECT * FROM auth_codes WHERE tenant_id = $1 AND code_digest = $2",
                )
                .bind(tenant_id)
                .bind(code_digest)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            async fn redeem_auth_code(
                &self,
                tenant_id: &str,
                code_digest: &str,
                issued: &$crate::CodeIssuance,
                now: i64,
            ) -> $crate::StoreResult<$crate::Redemption> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                // Writing first takes SQLite's write lock and PostgreSQL's
                // row lock, so two redemptions of one code serialise here.
                let consumed = sqlx::query(
                    "UPDATE auth_codes SET consumed_at = $3, session_id = $4, access_jti = $5, access_exp = $6
                     WHERE tenant_id = $1 AND code_digest = $2 AND consumed_at IS NULL",
                )
                .bind(tenant_id)
                .bind(code_digest)
                .bind(now)
                .bind(&issued.session.id)
                .bind(&issued.access_jti)
                .bind(issued.access_exp)
                .execute(&mut *tx)
                .await?;
                if consumed.rows_affected() == 1 {
                    insert_session(&mut tx, &issued.session).await?;
                    if let Some(first_token) = &issued.refresh_token_digest {
                        insert_refresh_token(&mut tx, tenant_id, &issued.session.id, first_token, 0, None, now)
                            .await?;
                    }
                    tx.commit().await?;
                    return Ok($crate::Redemption::Redeemed);
                }
                let replayed = revoke_issuance_in(&mut tx, tenant_id, code_digest, now).await?;
                tx.commit().await?;
                Ok(if replayed { $crate::Redemption::Replayed } else { $crate::Redemption::Unknown })
            }

            async fn revoke_code_issuance(&self, tenant_id: &str, code_digest: &str, now: i64) -> $crate::StoreResult<()> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                revoke_issuance_in(&mut tx, tenant_id, code_digest, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn refresh_token(
                &self,
                tenant_id: &str,
                token_digest: &str,
            ) -> $crate::StoreResult<Option<($crate::RefreshTokenRecord, $crate::SessionRecord)>> {
                let Some(mut token) = sqlx::query_as::<_, $crate::RefreshTokenRecord>(
                    "SELECT token_digest, session_id, generation, state, parent_digest, created_at, rotated_at,
                        child_sealed, retries
                     FROM refresh_tokens WHERE tenant_id = $1 AND token_digest = $2",
                )
                .bind(tenant_id)
                .bind(token_digest)
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                let Some(session) = sqlx::query_as::<_, $crate::rows::SessionRow>(
                    "SELECT * FROM sessions WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant_id)
                .bind(&token.session_id)
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                $crate::rows::as_seen_in_family(&mut token, &session);
                Ok(Some((token, session.try_into()?)))
            }

            async fn present_refresh_token(
                &self,
                p: &$crate::RefreshPresentation<'_>,
                decide: &$crate::Decide<'_>,
            ) -> $crate::StoreResult<$crate::PresentOutcome> {
                use holdfast_core::refresh::rotation::{Decision, RejectReason};
                // The common case first, each back end's fastest way
                // (PostgreSQL: one guarded statement; SQLite: decide and
                // rotate in two calls to its writer). `None`: it is not a
                // plain rotation, or a race was lost; decide again here,
                // under the family lock.
                if let Some(outcome) = self.try_rotate(p, decide).await? {
                    return Ok(outcome);
                }
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                // Lock the family (PostgreSQL: the session row, FOR UPDATE;
                // SQLite: the whole database, by BEGIN IMMEDIATE), then read
                // the token with a snapshot taken after the lock.
                if let Some(lock) = <$store as $crate::shared::Backend>::LOCK_FAMILY {
                    sqlx::query(lock).bind(p.tenant_id).bind(p.token_digest).execute(&mut *tx).await?;
                }
                let Some(row) = sqlx::query_as::<_, $crate::rows::FamilyRow>($crate::rows::READ_FAMILY)
                    .bind(p.tenant_id)
                    .bind(p.token_digest)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok($crate::PresentOutcome::Unknown);
                };
                let (token, session, user) = row.split()?;
                let decision = decide(&token, &session);
                match decision {
                    Decision::Rotate => {
                        let rotated = sqlx::query(
                            "UPDATE refresh_tokens SET state = 'rotated', rotated_at = $2
                             WHERE token_digest = $1 AND state = 'active'",
                        )
                        .bind(&token.token_digest)
                        .bind(p.now)
                        .execute(&mut *tx)
                        .await?;
                        if rotated.rows_affected() != 1 {
                            // Cannot happen under the family lock; refuse rather than fork.
                            return Err($crate::StoreError::Conflict("refresh token rotation"));
                        }
                        insert_refresh_token(
                            &mut tx,
                            p.tenant_id,
                            &token.session_id,
                            p.child_digest,
                            token.generation + 1,
                            Some(&token.token_digest),
                            p.now,
                        )
                        .await?;
                        // The child is now the newest: its grandparent, if
                        // still `rotated`, is from now on derived `spent`,
                        // and the family's one seal is the child's.
                        sqlx::query(
                            "UPDATE sessions SET last_used_at = $2, generation = $3, child_sealed = $4 WHERE id = $1",
                        )
                        .bind(&token.session_id)
                        .bind(p.now)
                        .bind(token.generation + 1)
                        .bind(p.child_sealed)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Decision::KeepToken => touch_session(&mut tx, &token.session_id, p.now).await?,
                    Decision::ReplayChild => {
                        sqlx::query("UPDATE refresh_tokens SET retries = retries + 1 WHERE token_digest = $1")
                            .bind(&token.token_digest)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Decision::Reuse => {
                        revoke_session_in(&mut tx, p.tenant_id, &token.session_id, "refresh_token_reuse", p.now).await?;
                    }
                    Decision::Reject(
                        RejectReason::WrongClient
                        | RejectReason::ScopeNotGranted
                        | RejectReason::ResourceNotGranted,
                    ) => {
                        // Not this client's token, or a malformed request:
                        // nothing to record against the family.
                        tx.rollback().await?;
                        return Ok($crate::PresentOutcome::Decided { decision, token, session, user });
                    }
                    Decision::Reject(_) => {}
                }
                insert_event(&mut tx, &presentation_event(p, decision, Some(&session))).await?;
                tx.commit().await?;
                Ok($crate::PresentOutcome::Decided { decision, token, session, user })
            }

            async fn session(
                &self,
                tenant_id: &str,
                session_id: &str,
            ) -> $crate::StoreResult<Option<$crate::SessionRecord>> {
                sqlx::query_as::<_, $crate::rows::SessionRow>("SELECT * FROM sessions WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(session_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn revoke_session(
                &self,
                tenant_id: &str,
                session_id: &str,
                reason: &str,
                now: i64,
                audit: &$crate::AuditEvent,
            ) -> $crate::StoreResult<()> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                revoke_session_in(&mut tx, tenant_id, session_id, reason, now).await?;
                insert_event(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_sessions(
                &self,
                tenant_id: &str,
                user_id: &str,
                now: i64,
            ) -> $crate::StoreResult<Vec<$crate::SessionRecord>> {
                sqlx::query_as::<_, $crate::rows::SessionRow>(
                    "SELECT * FROM sessions
                     WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
                     ORDER BY last_used_at DESC, id",
                )
                .bind(tenant_id)
                .bind(user_id)
                .bind(now)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            async fn revoke_user_sessions(
                &self,
                tenant_id: &str,
                user_id: &str,
                except: Option<&str>,
                reason: &str,
                now: i64,
                audit: &$crate::AuditEvent,
            ) -> $crate::StoreResult<u64> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                let ids: Vec<(String,)> = sqlx::query_as(
                    "SELECT id FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
                )
                .bind(tenant_id)
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
                let mut count = 0;
                for (id,) in ids {
                    if except == Some(id.as_str()) {
                        continue;
                    }
                    revoke_session_in(&mut tx, tenant_id, &id, reason, now).await?;
                    count += 1;
                }
                insert_event(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(count)
            }

            async fn record_dpop_proof(
                &self,
                tenant_id: &str,
                jkt: &str,
                jti: &str,
                expires_at: i64,
                now: i64,
            ) -> $crate::StoreResult<bool> {
                let inserted = sqlx::query(
                    "INSERT INTO dpop_proofs (tenant_id, jkt, jti, expires_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, jkt, jti) DO NOTHING",
                )
                .bind(tenant_id)
                .bind(jkt)
                .bind(jti)
                .bind(expires_at)
                .execute(&mut *self.write_conn().await?)
                .await?;
                // Clean up now and then (about one insert in 64), so the
                // table holds roughly one iat window of proofs.
                if jti.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % 64 == 0 {
                    sqlx::query("DELETE FROM dpop_proofs WHERE expires_at < $1")
                        .bind(now)
                        .execute(&mut *self.write_conn().await?)
                        .await?;
                }
                Ok(inserted.rows_affected() == 1)
            }

            async fn revoke_access_token(
                &self,
                tenant_id: &str,
                jti: &str,
                expires_at: i64,
                audit: &$crate::AuditEvent,
            ) -> $crate::StoreResult<()> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                revoke_jti_in(&mut tx, tenant_id, jti, expires_at).await?;
                insert_event(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn access_token_standing(
                &self,
                tenant_id: &str,
                jti: &str,
                session: Option<(&str, &str)>,
            ) -> $crate::StoreResult<$crate::AccessTokenStanding> {
                let (sid, user_id) = session.unzip();
                Ok(sqlx::query_as::<_, $crate::AccessTokenStanding>(
                    "SELECT
                        EXISTS (SELECT 1 FROM revoked_access_tokens WHERE tenant_id = $1 AND jti = $2) AS jti_revoked,
                        ($3 IS NULL OR EXISTS (
                            SELECT 1 FROM sessions WHERE tenant_id = $1 AND id = $3 AND revoked_at IS NULL
                        )) AS session_live,
                        ($4 IS NULL OR EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $4)) AS user_exists,
                        (SELECT not_before FROM users WHERE tenant_id = $1 AND id = $4) AS user_not_before",
                )
                .bind(tenant_id)
                .bind(jti)
                .bind(sid)
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::AuditStore for $store {
            async fn record_event(&self, event: &$crate::AuditEvent) -> $crate::StoreResult<()> {
                let mut writer = self.write_conn().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *writer, <$store as $crate::shared::Backend>::BEGIN_WRITE).await?;
                insert_event(&mut tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn events(&self, tenant_id: &str, since: i64, limit: i64) -> $crate::StoreResult<Vec<$crate::AuditEvent>> {
                Ok(sqlx::query_as::<_, $crate::AuditEvent>(
                    "SELECT * FROM audit_events WHERE tenant_id = $1 AND at >= $2 ORDER BY at, id LIMIT $3",
                )
                .bind(tenant_id)
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::BrowserSessionStore for $store {
            async fn insert_browser_session(&self, b: &$crate::BrowserSessionRecord) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO browser_sessions (id_digest, tenant_id, user_id, auth_time, amr, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&b.id_digest)
                .bind(&b.tenant_id)
                .bind(&b.user_id)
                .bind(b.auth_time)
                .bind($crate::rows::to_json_list(&b.amr))
                .bind(b.created_at)
                .bind(b.expires_at)
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(|e| $crate::conflict_or(e, "browser session"))?;
                Ok(())
            }

            async fn browser_session(
                &self,
                tenant_id: &str,
                id_digest: &str,
            ) -> $crate::StoreResult<Option<$crate::BrowserSessionRecord>> {
                sqlx::query_as::<_, $crate::rows::BrowserSessionRow>(
                    "SELECT * FROM browser_sessions WHERE tenant_id = $1 AND id_digest = $2",
                )
                .bind(tenant_id)
                .bind(id_digest)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            async fn delete_browser_session(&self, tenant_id: &str, id_digest: &str) -> $crate::StoreResult<()> {
                sqlx::query("DELETE FROM browser_sessions WHERE tenant_id = $1 AND id_digest = $2")
                    .bind(tenant_id)
                    .bind(id_digest)
                    .execute(&mut *self.write_conn().await?)
                    .await?;
                Ok(())
            }
        }

        /// The presentation's audit event, completed from the decision and
        /// the family (where the statement that records it does not).
        fn presentation_event(
            p: &$crate::RefreshPresentation<'_>,
            decision: holdfast_core::refresh::rotation::Decision,
            session: Option<&$crate::SessionRecord>,
        ) -> $crate::AuditEvent {
            $crate::AuditEvent {
                kind: $crate::audit_kind(decision).to_owned(),
                user_id: session.map(|s| s.user_id.clone()),
                session_id: session.map(|s| s.id.clone()),
                ..p.audit.clone()
            }
        }

        async fn insert_event<'c>(
            tx: &mut sqlx::Transaction<'c, <$store as $crate::shared::Backend>::Db>,
            e: &$crate::AuditEvent,
        ) -> $crate::StoreResult<()> {
            sqlx::query(
                "INSERT INTO audit_events (id, tenant_id, at, kind, user_id, client_id, session_id, reason, ip, user_agent)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&e.id)
            .bind(&e.tenant_id)
            .bind(e.at)
            .bind(&e.kind)
            .bind(&e.user_id)
            .bind(&e.client_id)
            .bind(&e.session_id)
            .bind(&e.reason)
            .bind(&e.ip)
            .bind(&e.user_agent)
            .execute(&mut **tx)
            .await
            .map_err(|err| $crate::conflict_or(err, "audit event"))?;
            Ok(())
        }

        async fn touch_session<'c>(
            tx: &mut sqlx::Transaction<'c, <$store as $crate::shared::Backend>::Db>,
            session_id: &str,
            now: i64,
        ) -> $crate::StoreResult<()> {
            sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id = $1")
                .bind(session_id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        async fn insert_session<'c>(
            tx: &mut sqlx::Transaction<'c, <$store as $crate::shared::Backend>::Db>,
            s: &$crate::SessionRecord,
        ) -> $crate::StoreResult<()> {
            sqlx::query(
                "INSERT INTO sessions (id, tenant_id, user_id, client_id, scope, resource, auth_time, acr, amr,
                    created_at, last_used_at, expires_at, device_id, user_agent, ip, dpop_jkt, browser_session)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            )
            .bind(&s.id)
            .bind(&s.tenant_id)
            .bind(&s.user_id)
            .bind(&s.client_id)
            .bind(&s.scope)
            .bind(&s.resource)
            .bind(s.auth_time)
            .bind(&s.acr)
            .bind($crate::rows::to_json_list(&s.amr))
            .bind(s.created_at)
            .bind(s.last_used_at)
            .bind(s.expires_at)
            .bind(&s.device_id)
            .bind(&s.user_agent)
            .bind(&s.ip)
            .bind(&s.dpop_jkt)
            .bind(&s.browser_session)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::conflict_or(e, "session"))?;
            Ok(())
        }

        async fn insert_refresh_token<'c>(
            tx: &mut sqlx::Transaction<'c, <$store as $crate::shared::Backend>::Db>,
            tenant_id: &str,
            session_id: &str,
            digest: &str,
            generation: i64,
            parent: Option<&str>,
            now: i64,
        ) -> $crate::StoreResult<()> {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_digest, session_id, tenant_id, generation, state, parent_digest, created_at)
                 VALUES ($1, $2, $3, $4, 'active', $5, $6)",
            )
            .bind(digest)
            .bind(session_id)
            .bind(tenant_id)
            .bind(generation)
            .bind(parent)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::conflict_or(e, "refresh token"))?;
            Ok(())
        }

        async fn revoke_session_in<'c>(
            tx: &mut sqlx::Transaction<'c, <$store as $crate::shared::Backend>::Db>,
            tenant_id: &str,
            session_id: &str,
            reason: &str,
            now: i64,
        ) -> $crate::StoreResult<()> {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $3, revoked_reason = $4, child_sealed = NULL
                 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
            )
            .bind(tenant_id)
            .bind(session_id)
            .bind(now)
            .bind(reason)
            .execute(&mut **tx)
            .await?;
            sqlx::query("UPDATE refresh_tokens SET state = 'revoked' WHERE tenant_id = $1 AND session_id = $2")
                .bind(tenant_id)
                .bind(session_id)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Revokes what a consumed code issued; `false` if there is no such
        /// consumed code.
        async fn revoke_issuance_in<'c>(
            tx: &mut sqlx::Transaction<'c, <$store as $crate::shared::Backend>::Db>,
            tenant_id: &str,
            code_digest: &str,
            now: i64,
        ) -> $crate::StoreResult<bool> {
            let previous: Option<(Option<String>, Option<String>, Option<i64>)> = sqlx::query_as(
                "SELECT session_id, access_jti, access_exp FROM auth_codes
                 WHERE tenant_id = $1 AND code_digest = $2 AND consumed_at IS NOT NULL",
            )
            .bind(tenant_id)
            .bind(code_digest)
            .fetch_optional(&mut **tx)
            .await?;
            let Some((session_id, access_jti, access_exp)) = previous else {
                return Ok(false);
            };
            if let Some(session_id) = session_id {
                revoke_session_in(tx, tenant_id, &session_id, "code_replay", now).await?;
            }
            if let (Some(jti), Some(exp)) = (access_jti, access_exp) {
                revoke_jti_in(tx, tenant_id, &jti, exp).await?;
            }
            Ok(true)
        }

        async fn revoke_jti_in<'c>(
            tx: &mut sqlx::Transaction<'c, <$store as $crate::shared::Backend>::Db>,
            tenant_id: &str,
            jti: &str,
            expires_at: i64,
        ) -> $crate::StoreResult<()> {
            sqlx::query(
                "INSERT INTO revoked_access_tokens (jti, tenant_id, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(tenant_id)
            .bind(expires_at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        async fn insert_key<'c>(
            tx: &mut sqlx::Transaction<'c, <$store as $crate::shared::Backend>::Db>,
            tenant_id: &str,
            key: &$crate::StoredKey,
        ) -> $crate::StoreResult<()> {
            sqlx::query(
                "INSERT INTO signing_keys (kid, tenant_id, alg, state, private_sealed, public_jwk,
                    created_at, activated_at, retired_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&key.kid)
            .bind(tenant_id)
            .bind(key.alg.as_str())
            .bind(key.state.as_str())
            .bind(&key.private_sealed)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.activated_at)
            .bind(key.retired_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| $crate::conflict_or(e, "signing key"))?;
            Ok(())
        }
    };
}

pub(crate) use impl_shared_store;

/// What differs between back ends: the database type and the few
/// statements that cannot be shared.
pub(crate) trait Backend {
    type Db: sqlx::Database;
    /// Begins a transaction that will write.
    const BEGIN_WRITE: &'static str;
    /// Locks the family (session) of the refresh token `$2` in tenant `$1`
    /// inside a write transaction, where `BEGIN_WRITE` does not already lock
    /// it.
    const LOCK_FAMILY: Option<&'static str>;
}
