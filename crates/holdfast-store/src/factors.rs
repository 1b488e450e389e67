//! Second factors: a user's TOTP secret and recovery codes — the
//! [`FactorStore`] capability (SQL in `sql/factors.rs`).
//!
//! Spending a code is one conditional update, so two sign-ins racing with
//! the same code cannot both succeed: a TOTP step is spent by raising
//! `last_step` past it, a recovery code by stamping `used_at`. Every change
//! a user makes is one transaction with its audit event (and, for a
//! removal, the notice mail).

use async_trait::async_trait;

use crate::{AuditEvent, OutgoingMail, StoreResult};

/// A user's TOTP secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// The secret, sealed (base64url of the AEAD output).
    pub sealed_secret: String,
    /// When the first code confirmed it; `None` while enrolment is pending.
    pub confirmed_at: Option<i64>,
    /// The newest time step spent.
    pub last_step: i64,
    /// Created.
    pub created_at: i64,
}

/// Second factors.
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// The user's TOTP secret, confirmed or pending.
    async fn totp_factor(&self, tenant_id: &str, user_id: &str) -> StoreResult<Option<TotpRecord>>;

    /// Stores a pending secret, replacing a pending one; `Conflict` when
    /// the user has a confirmed one (remove it first).
    async fn put_pending_totp(&self, record: &TotpRecord) -> StoreResult<()>;

    /// Confirms the pending secret, spending `step` (the first code's),
    /// and replaces the user's recovery codes with `recovery_digests`, with
    /// `audit` and the notice `mail`; `false` (nothing written) when no
    /// pending secret is there.
    #[allow(clippy::too_many_arguments)]
    async fn confirm_totp(
        &self,
        tenant_id: &str,
        user_id: &str,
        step: i64,
        recovery_digests: &[String],
        now: i64,
        audit: &AuditEvent,
        mail: Option<&OutgoingMail>,
    ) -> StoreResult<bool>;

    /// Spends time step `step` of the confirmed secret: `true` when it is
    /// newer than every step spent before, else `false` (a replay).
    async fn spend_totp_step(&self, tenant_id: &str, user_id: &str, step: i64)
    -> StoreResult<bool>;

    /// Spends the unused recovery code with `digest`, with `audit`;
    /// `false` when there is none.
    async fn spend_recovery_code(
        &self,
        tenant_id: &str,
        user_id: &str,
        digest: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;

    /// Replaces the user's recovery codes, with `audit`.
    async fn replace_recovery_codes(
        &self,
        tenant_id: &str,
        user_id: &str,
        digests: &[String],
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<()>;

    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, tenant_id: &str, user_id: &str) -> StoreResult<i64>;

    /// Removes the user's TOTP secret and recovery codes, with `audit` and
    /// the notice `mail`; `false` (nothing written) when there was none.
    async fn remove_totp(
        &self,
        tenant_id: &str,
        user_id: &str,
        audit: &AuditEvent,
        mail: Option<&OutgoingMail>,
    ) -> StoreResult<bool>;
}
