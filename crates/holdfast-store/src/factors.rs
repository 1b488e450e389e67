//! Second factors: a user's TOTP secret, recovery codes and passkeys — the
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

/// A passkey (WebAuthn credential) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// Tenant.
    pub tenant_id: String,
    /// The credential ID (base64url), unique in the tenant.
    pub credential_id: String,
    /// Whose it is.
    pub user_id: String,
    /// The name the user gave it.
    pub name: String,
    /// The credential (webauthn-rs `Passkey`, JSON): public key, counter.
    pub credential: String,
    /// Registered.
    pub created_at: i64,
    /// Last used to sign in.
    pub last_used_at: Option<i64>,
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

    /// Registers a passkey, with `audit` and the notice `mail`;
    /// `Conflict` when its credential ID is registered in the tenant.
    async fn add_passkey(
        &self,
        record: &PasskeyRecord,
        audit: &AuditEvent,
        mail: Option<&OutgoingMail>,
    ) -> StoreResult<()>;

    /// The user's passkeys, oldest first.
    async fn passkeys(&self, tenant_id: &str, user_id: &str) -> StoreResult<Vec<PasskeyRecord>>;

    /// The passkey with `credential_id` in the tenant, whoever's it is.
    async fn passkey(
        &self,
        tenant_id: &str,
        credential_id: &str,
    ) -> StoreResult<Option<PasskeyRecord>>;

    /// Records a sign-in with the passkey: its updated `credential`
    /// (counter, backup state) and `last_used_at`, only if the stored one
    /// is still `read` (the one the sign-in was checked against); `false`
    /// when another sign-in changed it first.
    async fn passkey_used(
        &self,
        tenant_id: &str,
        credential_id: &str,
        read: &str,
        credential: &str,
        now: i64,
    ) -> StoreResult<bool>;

    /// Renames the user's passkey; `false` when the user has none with
    /// that ID.
    async fn rename_passkey(
        &self,
        tenant_id: &str,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> StoreResult<bool>;

    /// Removes the user's passkey, with `audit` and the notice `mail`;
    /// `false` (nothing written) when the user has none with that ID.
    async fn remove_passkey(
        &self,
        tenant_id: &str,
        user_id: &str,
        credential_id: &str,
        audit: &AuditEvent,
        mail: Option<&OutgoingMail>,
    ) -> StoreResult<bool>;
}
