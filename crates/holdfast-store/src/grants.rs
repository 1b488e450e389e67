//! Authorization codes, refresh tokens and revoked access tokens: the
//! [`GrantStore`] capability (SQL in `sql/grants.rs`), and the one
//! presentation of a refresh token the token endpoint makes
//! ([`RefreshPresentation`]), whose decision the store takes itself from
//! `holdfast_core::refresh::rotation`.

use async_trait::async_trait;
use holdfast_core::refresh::rotation::{Decision, Presentation, RejectReason, TokenState};
use holdfast_core::user::User;

use crate::{AuditEvent, ProofRecord, SessionRecord, StoreResult};

/// A refresh token as stored (digest only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 digest, base64url.
    pub token_digest: String,
    /// Its session.
    pub session_id: String,
    /// Position in the family, from 0.
    pub generation: i64,
    /// Where it is in its life, as [`TokenState::from_stored`] reads it from
    /// the row and its family.
    pub state: TokenState,
    /// Digest of the token it replaced.
    pub parent_digest: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// When it was used to obtain its child.
    pub rotated_at: Option<i64>,
    /// Its child, sealed under a key derived from this token: the family's
    /// one seal, seen only on the newest token's parent (for its grace
    /// retries); each rotation replaces it.
    pub child_sealed: Option<Vec<u8>>,
    /// Grace retries served so far.
    pub retries: i64,
}

/// One presentation of a refresh token at the token endpoint.
#[derive(Debug, Clone)]
pub struct RefreshPresentation<'a> {
    /// Tenant.
    pub tenant_id: &'a str,
    /// Digest of the presented token.
    pub token_digest: &'a str,
    /// Who presents it, how, and when: the store decides with
    /// [`Presentation::decide`] and, where it can check it in the statement
    /// that rotates, [`Presentation::rotate_guard`].
    pub presenter: Presentation<'a>,
    /// Digest of the child to insert if the decision is to rotate.
    pub child_digest: &'a str,
    /// The child sealed under a key derived from the presented token.
    pub child_sealed: &'a [u8],
    /// The audit event to record; the store sets `kind` from the decision
    /// and fills in the user and session.
    pub audit: AuditEvent,
    /// The DPoP proof the presentation came with, recorded against replay
    /// (RFC 9449 §11.1) in the same transaction as the decision: a proof
    /// seen before is [`PresentOutcome::ReplayedProof`] and changes nothing.
    pub proof: Option<ProofRecord<'a>>,
}

impl RefreshPresentation<'_> {
    /// Now, as the presenter sees it.
    pub fn now(&self) -> i64 {
        self.presenter.now
    }

    /// What presenting `token` of `session` must do: core's decision, the
    /// one every path of every back end applies.
    pub fn decide(&self, token: &RefreshTokenRecord, session: &SessionRecord) -> Decision {
        self.presenter.decide(token.state, &session.family())
    }
}

/// What a presentation came to.
// Returned once per request and matched at once: boxing would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentOutcome {
    /// No such token in this tenant.
    Unknown,
    /// The presentation's DPoP proof was recorded before (RFC 9449 §11.1):
    /// nothing was decided or changed.
    ReplayedProof,
    /// The decision was applied; the records are as they were *before* it.
    Decided {
        /// What was decided and applied.
        decision: Decision,
        /// The presented token.
        token: RefreshTokenRecord,
        /// Its family.
        session: SessionRecord,
        /// The family's user, read in the same statement as the token.
        user: User,
    },
}

/// What a back end's fast path for the common presentation (`try_rotate`)
/// came to.
// Returned once per request and matched at once, as `PresentOutcome`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum FastPath {
    /// Settled: rotated, unknown, or a replayed proof.
    Done(PresentOutcome),
    /// Not a plain rotation, or a race lost: decide again under the family
    /// lock. `proof_recorded`: the presentation's proof was recorded (and
    /// committed) by the fast path already, so the locked path must not
    /// take its own record for a replay.
    Locked {
        /// The proof is recorded already.
        proof_recorded: bool,
    },
}

/// The audit `kind` recorded for each decision.
pub fn audit_kind(decision: Decision) -> &'static str {
    match decision {
        Decision::Rotate | Decision::KeepToken => "refresh",
        Decision::ReplayChild => "refresh_retry",
        Decision::Reuse => "refresh_token_reuse",
        Decision::Reject(RejectReason::RetryLimitExceeded) => "refresh_retry_limit",
        Decision::Reject(RejectReason::DpopKeyMismatch) => "refresh_dpop_key_mismatch",
        Decision::Reject(_) => "refresh_refused",
    }
}

/// An authorization code as stored (digest only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCodeRecord {
    /// SHA-256 digest of the code.
    pub code_digest: String,
    /// Tenant.
    pub tenant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who authenticated.
    pub user_id: String,
    /// The redirect URI, when the request named one (must be repeated).
    pub redirect_uri: Option<String>,
    /// Granted scope.
    pub scope: String,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Resource indicator.
    pub resource: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication context class.
    pub acr: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Issue time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// When it was redeemed.
    pub consumed_at: Option<i64>,
    /// The session created by redeeming it.
    pub session_id: Option<String>,
    /// The `jti` of the access token issued by redeeming it.
    pub access_jti: Option<String>,
    /// That access token's expiry.
    pub access_exp: Option<i64>,
    /// The DPoP key the authorization request pre-bound (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// Digest of the browser (SSO) session the code was issued under, if
    /// any; the session made by redeeming the code inherits it.
    pub browser_session: Option<String>,
}

/// What redeeming a code issues, recorded on the code so a replay can
/// revoke it (RFC 6749 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeIssuance {
    /// The access token's `jti`.
    pub access_jti: String,
    /// Its expiry.
    pub access_exp: i64,
    /// The session (`sid`) the tokens belong to.
    pub session: SessionRecord,
    /// Digest of the first refresh token, when one is issued.
    pub refresh_token_digest: Option<String>,
    /// Set when the code continues the live family `session.id` (a step-up
    /// or a new sign-in in the same browser by the same DPoP key) instead of
    /// starting one: see [`GrantStore::redeem_auth_code`].
    pub continues: Option<Continuation>,
}

/// How a code continues a family: the family is raised to the code's
/// `auth_time`, `acr` and `amr` and gets a new newest refresh token; the
/// one it replaces is `rotated` with no child to hand out again, so its
/// holder's retry is refused and anyone else's presentation is reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// The family must have been used after this instant (its idle
    /// lifetime, by the client's policy).
    pub used_after: i64,
    /// Recorded in the same transaction (kind `session_raised`).
    pub audit: AuditEvent,
}

/// The outcome of [`GrantStore::redeem_auth_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use: the code is now consumed and the issuance recorded.
    Redeemed,
    /// The code had been redeemed before; what it issued is now revoked.
    Replayed,
    /// The family the issuance was to continue is no longer live (revoked,
    /// expired or idle, or its newest token is not active): nothing was
    /// written, the code is still unconsumed; redeem it into a new family.
    NotContinued,
    /// No such code.
    Unknown,
    /// The request's DPoP proof was recorded before (RFC 9449 §11.1):
    /// nothing was written, the code is as it was.
    ReplayedProof,
}

/// Authorization codes, refresh tokens and revoked access tokens.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new authorization code.
    async fn insert_auth_code(&self, code: &AuthCodeRecord) -> StoreResult<()>;
    /// The code with this digest in this tenant, consumed or not.
    async fn auth_code(
        &self,
        tenant_id: &str,
        code_digest: &str,
    ) -> StoreResult<Option<AuthCodeRecord>>;
    /// In one transaction: if the code is unconsumed, consume it, record
    /// `issued` on it and create the session and first refresh token (or,
    /// with [`CodeIssuance::continues`], raise that live family and rotate
    /// its newest token to the new one, the way a refresh would, but with
    /// no sealed child; [`Redemption::NotContinued`] if it is not live);
    /// if it was consumed before, revoke the session and access token it
    /// issued (reason `code_replay`). With `proof`, the request's DPoP proof
    /// is recorded first, in the same transaction (one commit per code
    /// exchange); if it was recorded before, nothing else happens
    /// ([`Redemption::ReplayedProof`]).
    async fn redeem_auth_code(
        &self,
        tenant_id: &str,
        code_digest: &str,
        issued: &CodeIssuance,
        now: i64,
        proof: Option<ProofRecord<'_>>,
    ) -> StoreResult<Redemption>;
    /// Revokes the session and access token a consumed code issued
    /// (reason `code_replay`); does nothing for an unconsumed or unknown code.
    /// With `proof`, records it first in the same transaction; `false`, with
    /// nothing changed, when it was recorded before.
    async fn revoke_code_issuance(
        &self,
        tenant_id: &str,
        code_digest: &str,
        now: i64,
        proof: Option<ProofRecord<'_>>,
    ) -> StoreResult<bool>;
    /// A refresh token and its session.
    async fn refresh_token(
        &self,
        tenant_id: &str,
        token_digest: &str,
    ) -> StoreResult<Option<(RefreshTokenRecord, SessionRecord)>>;
    /// Presents a refresh token: reads the token, its session and its user,
    /// decides with `presentation.presenter` (core's
    /// [`Presentation::decide`]), applies the decision (rotate: token
    /// `rotated` with the sealed child, child inserted, session touched and
    /// its newest generation advanced, which makes the token's parent
    /// `spent`; replay: retry counted; reuse: family revoked) and records the
    /// audit event, atomically. A thousand concurrent presentations of one
    /// token yield one `Rotate`.
    ///
    /// A back end may first try the common case in one statement that
    /// rotates only if [`Presentation::rotate_guard`] holds on the rows it
    /// changes (PostgreSQL). When it rotates nothing, the token is read and
    /// decided with the family locked. The conformance suite checks, on both
    /// back ends, that the two paths decide alike.
    async fn present_refresh_token(
        &self,
        presentation: &RefreshPresentation<'_>,
    ) -> StoreResult<PresentOutcome>;
    /// Records an access token as revoked until it expires, and `audit` in
    /// the same transaction.
    async fn revoke_access_token(
        &self,
        tenant_id: &str,
        jti: &str,
        expires_at: i64,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// What the store knows against an access token, read in one query:
    /// whether its `jti` was revoked and, for a token of a user's session
    /// (`session`: its `sid` and the user's id), whether both still stand.
    async fn access_token_standing(
        &self,
        tenant_id: &str,
        jti: &str,
        session: Option<(&str, &str)>,
    ) -> StoreResult<AccessTokenStanding>;
}

/// What [`GrantStore::access_token_standing`] found. Without a session to
/// ask about, the session and user facts are vacuously `true` / `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessTokenStanding {
    /// The token's `jti` was revoked (RFC 7009).
    pub jti_revoked: bool,
    /// The session exists and is not revoked.
    pub session_live: bool,
    /// The user exists and is not disabled.
    pub user_exists: bool,
    /// The user's "not before" stamp: tokens issued before it are dead.
    pub user_not_before: Option<i64>,
}
