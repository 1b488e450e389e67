//! SQL of [`GrantStore`](crate::GrantStore): codes, the presentation of
//! refresh tokens, revoked access tokens.

use super::tx::{
    insert_event, insert_refresh_token, insert_session, presentation_event, revoke_issuance_in,
    revoke_jti_in, revoke_session_in, touch_session,
};
use super::{BEGIN_WRITE, Db, LOCK_FAMILY, ThisStore};
use crate::PresentOutcome;
use crate::rows::{FamilyRow, READ_FAMILY, RefreshTokenRow, SessionRow};
use holdfast_core::refresh::rotation::{Decision, RejectReason};

/// The refresh token `$2` of tenant `$1`.
const READ_REFRESH_TOKEN: &str =
    "SELECT token_digest, session_id, generation, state, parent_digest, created_at, rotated_at, retries
     FROM refresh_tokens WHERE tenant_id = $1 AND token_digest = $2";
/// The session `$2` of tenant `$1`.
const READ_SESSION: &str = "SELECT * FROM sessions WHERE tenant_id = $1 AND id = $2";
/// Marks the `active` token `$1` rotated at `$2`.
const MARK_ROTATED: &str = "UPDATE refresh_tokens SET state = 'rotated', rotated_at = $2
     WHERE token_digest = $1 AND state = 'active'";
/// Session `$1` used at `$2`, its newest generation now `$3`, sealing `$4`.
const ADVANCE_FAMILY: &str =
    "UPDATE sessions SET last_used_at = $2, generation = $3, child_sealed = $4 WHERE id = $1";
/// A code continues the live family `$2` of tenant `$1` (user `$3`,
/// client `$4`, used after `$9`): raised to `auth_time` `$5`, `acr` `$6`,
/// `amr` `$7`, used at `$8`, one generation newer, with no sealed child.
const RAISE_FAMILY: &str = "UPDATE sessions
     SET auth_time = $5, acr = $6, amr = $7, last_used_at = $8,
         generation = generation + 1, child_sealed = NULL
     WHERE tenant_id = $1 AND id = $2 AND user_id = $3 AND client_id = $4
       AND revoked_at IS NULL AND expires_at > $8 AND last_used_at > $9
     RETURNING generation";
/// The newest token (generation `$2`) of family `$1`, if `active`, is
/// rotated at `$3`.
const ROTATE_NEWEST: &str = "UPDATE refresh_tokens SET state = 'rotated', rotated_at = $3
     WHERE session_id = $1 AND generation = $2 AND state = 'active'
     RETURNING token_digest";
/// One more grace retry served for token `$1`.
const COUNT_RETRY: &str = "UPDATE refresh_tokens SET retries = retries + 1 WHERE token_digest = $1";

#[async_trait::async_trait]
impl crate::GrantStore for ThisStore {
    async fn insert_auth_code(&self, c: &crate::AuthCodeRecord) -> crate::StoreResult<()> {
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
        .bind(crate::rows::to_json_list(&c.amr))
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(&c.dpop_jkt)
        .bind(&c.browser_session)
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(|e| crate::conflict_or(e, "authorization code"))?;
        Ok(())
    }

    async fn auth_code(
        &self,
        tenant_id: &str,
        code_digest: &str,
    ) -> crate::StoreResult<Option<crate::AuthCodeRecord>> {
        sqlx::query_as::<_, crate::rows::AuthCodeRow>(
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
        issued: &crate::CodeIssuance,
        now: i64,
        proof: Option<crate::ProofRecord<'_>>,
    ) -> crate::StoreResult<crate::Redemption> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        // RFC 9449 §11.1 first: a replayed proof changes nothing.
        if let Some(proof) = &proof
            && !super::dpop_replay::record_proof_in(self, &mut tx, tenant_id, proof).await?
        {
            tx.rollback().await?;
            return Ok(crate::Redemption::ReplayedProof);
        }
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
            if let Some(continuation) = &issued.continues {
                if !continue_family(&mut tx, tenant_id, issued, continuation, now).await? {
                    tx.rollback().await?;
                    return Ok(crate::Redemption::NotContinued);
                }
                tx.commit().await?;
                return Ok(crate::Redemption::Redeemed);
            }
            insert_session(&mut tx, &issued.session).await?;
            if let Some(first_token) = &issued.refresh_token_digest {
                insert_refresh_token(
                    &mut tx,
                    tenant_id,
                    &issued.session.id,
                    first_token,
                    0,
                    None,
                    now,
                )
                .await?;
            }
            tx.commit().await?;
            return Ok(crate::Redemption::Redeemed);
        }
        let replayed = revoke_issuance_in(&mut tx, tenant_id, code_digest, now).await?;
        tx.commit().await?;
        Ok(if replayed {
            crate::Redemption::Replayed
        } else {
            crate::Redemption::Unknown
        })
    }

    async fn revoke_code_issuance(
        &self,
        tenant_id: &str,
        code_digest: &str,
        now: i64,
        proof: Option<crate::ProofRecord<'_>>,
    ) -> crate::StoreResult<bool> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        if let Some(proof) = &proof
            && !super::dpop_replay::record_proof_in(self, &mut tx, tenant_id, proof).await?
        {
            tx.rollback().await?;
            return Ok(false);
        }
        revoke_issuance_in(&mut tx, tenant_id, code_digest, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn refresh_token(
        &self,
        tenant_id: &str,
        token_digest: &str,
    ) -> crate::StoreResult<Option<(crate::RefreshTokenRecord, crate::SessionRecord)>> {
        let Some(token) = sqlx::query_as::<_, RefreshTokenRow>(READ_REFRESH_TOKEN)
            .bind(tenant_id)
            .bind(token_digest)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let Some(session) = sqlx::query_as::<_, SessionRow>(READ_SESSION)
            .bind(tenant_id)
            .bind(&token.session_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let token = token.in_family(&session)?;
        Ok(Some((token, session.try_into()?)))
    }

    async fn present_refresh_token(
        &self,
        p: &crate::RefreshPresentation<'_>,
    ) -> crate::StoreResult<crate::PresentOutcome> {
        // The common case first, each back end's fastest way (PostgreSQL:
        // one statement guarded by `rotate_guard`; SQLite: decide and rotate
        // in two calls to its writer). `Locked`: it is not a plain rotation,
        // or a race was lost; decide again here, under the family lock.
        let proof_recorded = match self.try_rotate(p).await? {
            crate::grants::FastPath::Done(outcome) => return Ok(outcome),
            crate::grants::FastPath::Locked { proof_recorded } => proof_recorded,
        };
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        // RFC 9449 §11.1, in the decision's transaction: a replayed proof
        // changes nothing. A record written here is kept whatever the
        // decision (`keep_or_roll_back`): it is about the proof, not the
        // family.
        let proof_in_tx = match (&p.proof, proof_recorded) {
            (Some(proof), false) => {
                if !super::dpop_replay::record_proof_in(self, &mut tx, p.tenant_id, proof).await? {
                    tx.rollback().await?;
                    return Ok(PresentOutcome::ReplayedProof);
                }
                true
            }
            _ => false,
        };

        // Lock the family (PostgreSQL: the session row, FOR UPDATE; SQLite:
        // the whole database, by BEGIN IMMEDIATE), then read the token with
        // a snapshot taken after the lock.
        if let Some(lock) = LOCK_FAMILY {
            sqlx::query(lock)
                .bind(p.tenant_id)
                .bind(p.token_digest)
                .execute(&mut *tx)
                .await?;
        }
        let Some(row) = sqlx::query_as::<_, FamilyRow>(READ_FAMILY)
            .bind(p.tenant_id)
            .bind(p.token_digest)
            .fetch_optional(&mut *tx)
            .await?
        else {
            keep_or_roll_back(tx, proof_in_tx).await?;
            return Ok(PresentOutcome::Unknown);
        };
        let (token, session, user) = row.split()?;
        let decision = p.decide(&token, &session);
        let now = p.now();
        match decision {
            Decision::Rotate => {
                let rotated = sqlx::query(MARK_ROTATED)
                    .bind(&token.token_digest)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if rotated.rows_affected() != 1 {
                    // Cannot happen under the family lock; refuse rather than fork.
                    return Err(crate::StoreError::Conflict("refresh token rotation"));
                }
                insert_refresh_token(
                    &mut tx,
                    p.tenant_id,
                    &token.session_id,
                    p.child_digest,
                    token.generation + 1,
                    Some(&token.token_digest),
                    now,
                )
                .await?;
                // The child is now the newest: its grandparent, if still
                // `rotated`, is from now on derived `spent`, and the
                // family's one seal is the child's.
                sqlx::query(ADVANCE_FAMILY)
                    .bind(&token.session_id)
                    .bind(now)
                    .bind(token.generation + 1)
                    .bind(p.child_sealed)
                    .execute(&mut *tx)
                    .await?;
            }
            Decision::KeepToken => touch_session(&mut tx, &token.session_id, now).await?,
            Decision::ReplayChild => {
                sqlx::query(COUNT_RETRY)
                    .bind(&token.token_digest)
                    .execute(&mut *tx)
                    .await?;
            }
            Decision::Reuse => {
                revoke_session_in(
                    &mut tx,
                    p.tenant_id,
                    &token.session_id,
                    "refresh_token_reuse",
                    now,
                )
                .await?;
            }
            Decision::Reject(
                RejectReason::WrongClient
                | RejectReason::ScopeNotGranted
                | RejectReason::ResourceNotGranted,
            ) => {
                // Not this client's token, or a malformed request: nothing
                // to record against the family.
                keep_or_roll_back(tx, proof_in_tx).await?;
                return Ok(PresentOutcome::Decided {
                    decision,
                    token,
                    session,
                    user,
                });
            }
            Decision::Reject(_) => {}
        }
        insert_event(&mut tx, &presentation_event(p, decision, Some(&session))).await?;
        tx.commit().await?;
        Ok(PresentOutcome::Decided {
            decision,
            token,
            session,
            user,
        })
    }

    async fn revoke_access_token(
        &self,
        tenant_id: &str,
        jti: &str,
        expires_at: i64,
        audit: &crate::AuditEvent,
    ) -> crate::StoreResult<()> {
        let mut writer = self.write_conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *writer, BEGIN_WRITE).await?;
        revoke_jti_in(&mut tx, tenant_id, jti, expires_at, audit.at).await?;
        insert_event(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn access_token_standing(
        &self,
        tenant_id: &str,
        jti: &str,
        session: Option<(&str, &str)>,
    ) -> crate::StoreResult<crate::AccessTokenStanding> {
        let (sid, user_id) = session.unzip();
        Ok(sqlx::query_as::<_, crate::AccessTokenStanding>(
            "SELECT
                EXISTS (SELECT 1 FROM revoked_access_tokens WHERE tenant_id = $1 AND jti = $2) AS jti_revoked,
                ($3 IS NULL OR EXISTS (
                    SELECT 1 FROM sessions WHERE tenant_id = $1 AND id = $3 AND revoked_at IS NULL
                )) AS session_live,
                ($4 IS NULL OR EXISTS (
                    SELECT 1 FROM users WHERE tenant_id = $1 AND id = $4 AND disabled_at IS NULL
                )) AS user_exists,
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

/// Ends a presentation's transaction that changed nothing about the
/// family: committed when it holds the presentation's proof record
/// (`keep`), rolled back otherwise.
async fn keep_or_roll_back(tx: sqlx::Transaction<'_, Db>, keep: bool) -> crate::StoreResult<()> {
    if keep {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}

/// Continues `issued.session.id` inside the redemption's transaction: the
/// family is raised, its newest token rotated and the code's refresh token
/// inserted as the new newest, the same shape a refresh leaves (so the
/// rotation rules apply to the replaced token unchanged), and the audit
/// event recorded. `false`, with nothing to keep, when the family is not
/// live or its newest token is not active.
async fn continue_family(
    tx: &mut sqlx::Transaction<'_, super::Db>,
    tenant_id: &str,
    issued: &crate::CodeIssuance,
    continuation: &crate::Continuation,
    now: i64,
) -> crate::StoreResult<bool> {
    let session = &issued.session;
    let Some(first_token) = &issued.refresh_token_digest else {
        return Ok(false);
    };
    // PostgreSQL: this update locks the family's row, as a refresh does.
    let Some(generation) = sqlx::query_scalar::<_, i64>(RAISE_FAMILY)
        .bind(tenant_id)
        .bind(&session.id)
        .bind(&session.user_id)
        .bind(&session.client_id)
        .bind(session.auth_time)
        .bind(&session.acr)
        .bind(crate::rows::to_json_list(&session.amr))
        .bind(now)
        .bind(continuation.used_after)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(false);
    };
    let Some(replaced) = sqlx::query_scalar::<_, String>(ROTATE_NEWEST)
        .bind(&session.id)
        .bind(generation - 1)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(false);
    };
    insert_refresh_token(
        tx,
        tenant_id,
        &session.id,
        first_token,
        generation,
        Some(&replaced),
        now,
    )
    .await?;
    insert_event(tx, &continuation.audit).await?;
    Ok(true)
}
