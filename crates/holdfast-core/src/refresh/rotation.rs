//! The confirmed-rotation state machine, as a pure function.
//!
//! Implements docs/design.md §4 on top of [RFC 6749 §6](https://www.rfc-editor.org/rfc/rfc6749#section-6),
//! [OAuth 2.1 §4.3.1](https://datatracker.ietf.org/doc/draft-ietf-oauth-v2-1/) ("the authorization
//! server MUST ... rotate refresh tokens" for public clients, or sender-constrain them) and the
//! reuse detection of [RFC 9700 §4.14.2](https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2).
//!
//! A *family* is one sign-in on one device (the session, `sid`). Each
//! refresh token of the family is in one [`TokenState`]:
//!
//! ```text
//!   active ──present──▶ rotated ──child presented──▶ spent
//!      │                   │ (grace window ends)─────▶ (treated as spent)
//!      └──────────── any ──┴──── family revoked ────▶ revoked
//! ```
//!
//! [`decide`] looks at one presentation and says what must happen; the store
//! applies that decision atomically under a row lock, so a thousand
//! concurrent presentations of one token see one `Rotate` and the rest see
//! `ReplayChild` (inside the grace window) or `Reuse`.
//!
//! **Grace needs proof of the holder** (docs/design.md §4 step 4;
//! `docs/decisions/0001-grace-needs-proof-of-holder.md`). The grace retry
//! hands out the family's *live* child, so it goes only to a presenter that
//! proves it holds the family ([`HolderProof`]): a proof by the family's
//! DPoP key, or a confidential client's authentication. An unbound family
//! of a public client rotates strictly: a rotated token presented again is
//! reuse, which revokes the family. Otherwise a thief replaying a stolen
//! token right after its owner would take the session over and the reuse
//! detection of RFC 9700 §4.14.2 would never fire. A public client may opt
//! in to grace for unbound families
//! ([`RefreshPolicy::unbound_grace_accept_risk`]), accepting exactly that.
//!
//! [`Presentation::decide`] adds what the token endpoint checks of the
//! presenter (RFC 6749 §6: the client the family was issued to, a scope
//! within the granted one; RFC 9449 §5: the family's DPoP key).
//! [`Presentation::rotate_guard`] states, as plain values, exactly when that
//! decision is `Rotate`, so a store can apply the common case in one
//! statement that checks the guard on the rows it changes, and fall back to
//! the locked read-decide-apply whenever the guard does not hold. The two
//! are tested to agree on every input (`tests/rotation_properties.rs`), and
//! each store's one-statement guard against the locked path on both back
//! ends (`holdfast-store/tests/rotation_paths.rs`). The store is handed the
//! [`Presentation`] itself and calls both: there is no second copy of the
//! rule anywhere.

use crate::client::{RefreshPolicy, RotationMode};
pub use crate::refresh::state::{StoredToken, TokenState, UnknownTokenState};
use crate::scope::Scope;

/// What the family (session) looks like at the moment of presentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyView {
    /// Whether the family was revoked.
    pub revoked: bool,
    /// When the family was created.
    pub created_at: i64,
    /// The last successful refresh (or creation).
    pub last_used_at: i64,
}

/// Why a presentation is refused without touching the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The family was revoked (sign-out, reuse, admin action).
    FamilyRevoked,
    /// The family was idle longer than the idle lifetime.
    FamilyIdleExpired,
    /// The family is older than the absolute lifetime.
    FamilyAbsoluteExpired,
    /// Grace retries exhausted; the family survives.
    RetryLimitExceeded,
    /// Decided by the caller, not by [`decide`]: the token belongs to
    /// another client (RFC 6749 §6). The family is left alone.
    WrongClient,
    /// Decided by the caller: the request asks for a scope the family was
    /// never granted (RFC 6749 §6). Nothing changes.
    ScopeNotGranted,
    /// Decided by the caller: the request names a resource (RFC 8707 §2.2)
    /// other than the one the family was granted. Nothing changes.
    ResourceNotGranted,
    /// Decided by the caller: the family is bound to a DPoP key and the
    /// request carried no proof by that key (RFC 9449 §5). Not reuse: a
    /// thief without the key gets nothing, and the family survives.
    DpopKeyMismatch,
}

/// What must happen for one presentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Mint a child and mark the presented token `rotated`; its parent, if
    /// still `rotated`, is now `spent` (the child of that parent has been
    /// used). Stores may derive `spent` rather than write it.
    Rotate,
    /// Inside the grace window: return the same child again (decrypted with
    /// a key derived from the presented token) with a fresh access token.
    ReplayChild,
    /// Rotation is off for this client: keep the token, mint an access token.
    KeepToken,
    /// Reuse of a spent token, or of a rotated one past its window or
    /// without proof of the holder: revoke the whole family, record
    /// `refresh_token_reuse`, answer `invalid_grant`.
    Reuse,
    /// Answer `invalid_grant`; nothing changes (except, for
    /// `RetryLimitExceeded`, an audit event).
    Reject(RejectReason),
}

/// What proves that the presenter of a token is the family's holder, not
/// someone who copied the token (docs/design.md §4 step 4: "The identical-child
/// retry is given only to a retrier that proves it holds the family").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HolderProof {
    /// The family is bound to a DPoP key and the request carries a proof by
    /// that key (RFC 9449 §5).
    DpopKey,
    /// The client is confidential and authenticated (RFC 6749 §2.3).
    ClientAuthentication,
    /// Nothing: an unbound family of a public client. Whoever holds a copy
    /// of the token presents it exactly as its owner does.
    Unproven,
}

/// Decides what a presentation of a token in `state`, in a family in
/// `family`, under `policy`, by a presenter proving `holder`, at `now`,
/// must do. Pure: no clock, no IO.
pub fn decide(
    state: TokenState,
    family: FamilyView,
    policy: &RefreshPolicy,
    holder: HolderProof,
    now: i64,
) -> Decision {
    // docs/design.md §4 step 2: family revoked or expired -> invalid_grant.
    if family.revoked || state == TokenState::Revoked {
        return Decision::Reject(RejectReason::FamilyRevoked);
    }
    if now
        >= family
            .created_at
            .saturating_add(policy.absolute_lifetime_secs)
    {
        return Decision::Reject(RejectReason::FamilyAbsoluteExpired);
    }
    if now
        >= family
            .last_used_at
            .saturating_add(policy.idle_lifetime_secs)
    {
        return Decision::Reject(RejectReason::FamilyIdleExpired);
    }
    match (state, policy.rotation) {
        // Step 3: active -> rotate (or keep, when rotation is off).
        (TokenState::Active, RotationMode::None) => Decision::KeepToken,
        (TokenState::Active, _) => Decision::Rotate,
        // Step 4: rotated, child unused, window open -> same child again,
        // up to the retry limit (then invalid_grant; the family survives).
        // "Grace needs proof of the holder": without one (and without the
        // client's explicit opt-in) this is step 5, reuse. RFC 9700 §4.14.2:
        // "The authorization server cannot determine which party submitted
        // the invalid refresh token, but it will revoke the active refresh
        // token" -- only a proof lets it tell the holder's retry apart.
        (
            TokenState::Rotated {
                rotated_at,
                retries,
            },
            RotationMode::Confirmed,
        ) if now < rotated_at.saturating_add(policy.grace_window_secs)
            && (holder != HolderProof::Unproven || policy.unbound_grace_accept_risk) =>
        {
            if retries >= policy.retry_limit {
                Decision::Reject(RejectReason::RetryLimitExceeded)
            } else {
                Decision::ReplayChild
            }
        }
        // Step 5: spent, or rotated past its window (or strict mode, or
        // presented without proof of the holder) -> reuse.
        (TokenState::Rotated { .. } | TokenState::Spent, _) => Decision::Reuse,
        (TokenState::Revoked, _) => Decision::Reject(RejectReason::FamilyRevoked),
    }
}

/// One presentation of a refresh token at the token endpoint: who presents
/// it, with which DPoP key, asking for which scope, under which policy, when.
#[derive(Debug, Clone, Copy)]
pub struct Presentation<'a> {
    /// The authenticated (or, for a public client, identified) client.
    pub client_id: &'a str,
    /// Whether that client authenticated (a confidential client, RFC 6749
    /// §2.3); a public client is only identified by its `client_id`.
    pub client_authenticated: bool,
    /// Thumbprint of the key of a valid DPoP proof sent with the request.
    pub proof_jkt: Option<&'a str>,
    /// A narrower scope asked for (RFC 6749 §6), if any.
    pub asked_scope: Option<&'a Scope>,
    /// A resource asked for (RFC 8707 §2.2), if any, already checked
    /// against the client's allow-list.
    pub asked_resource: Option<AskedResource<'a>>,
    /// The client's refresh policy.
    pub policy: RefreshPolicy,
    /// Now (Unix seconds).
    pub now: i64,
}

/// What a presentation checks of the family besides its timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family<'a> {
    /// The client the family was issued to.
    pub client_id: &'a str,
    /// The DPoP key the family is bound to, if any.
    pub dpop_jkt: Option<&'a str>,
    /// The scope granted at sign-in (space-separated).
    pub scope: &'a str,
    /// The resource granted at sign-in (RFC 8707), or `None` for the
    /// tenant's default audience.
    pub resource: Option<&'a str>,
    /// Revocation and lifetimes.
    pub view: FamilyView,
}

/// A resource named by a refresh request (RFC 8707 §2.2), and the audience
/// a family that was granted none stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AskedResource<'a> {
    /// The resource asked for.
    pub resource: &'a str,
    /// The tenant's default audience: what a family without a granted
    /// resource was granted.
    pub default_audience: &'a str,
}

impl<'a> Presentation<'a> {
    /// What this presentation of a token in `state` must do.
    pub fn decide(&self, state: TokenState, family: &Family<'_>) -> Decision {
        let decision = self.decide_token(state, family);
        match (decision, self.asked_resource) {
            // RFC 8707 §2.2: only a resource the family was granted. Reuse
            // and every other refusal stand: a wrong resource must not hide
            // a replayed token from reuse detection.
            (Decision::Rotate | Decision::KeepToken | Decision::ReplayChild, Some(asked))
                if asked.resource != family.resource.unwrap_or(asked.default_audience) =>
            {
                Decision::Reject(RejectReason::ResourceNotGranted)
            }
            _ => decision,
        }
    }

    /// The decision before the resource check.
    fn decide_token(&self, state: TokenState, family: &Family<'_>) -> Decision {
        // RFC 6749 §6: "ensure that the refresh token was issued to the
        // authenticated client".
        if family.client_id != self.client_id {
            return Decision::Reject(RejectReason::WrongClient);
        }
        // RFC 9449 §5: a bound family refreshes (and replays its grace
        // child) only with a proof by its key.
        if let Some(bound) = family.dpop_jkt
            && self.proof_jkt != Some(bound)
        {
            return Decision::Reject(RejectReason::DpopKeyMismatch);
        }
        // RFC 6749 §6: the scope "MUST NOT include any scope not originally
        // granted".
        if let Some(asked) = self.asked_scope
            && !Scope::parse(family.scope).is_ok_and(|granted| asked.is_subset_of(&granted))
        {
            return Decision::Reject(RejectReason::ScopeNotGranted);
        }
        // A bound family got here only with a proof by its key (above). A
        // proof by some key for an unbound family proves nothing: anyone
        // can make a key.
        let holder = if family.dpop_jkt.is_some() {
            HolderProof::DpopKey
        } else if self.client_authenticated {
            HolderProof::ClientAuthentication
        } else {
            HolderProof::Unproven
        };
        decide(state, family.view, &self.policy, holder, self.now)
    }

    /// The exact conditions under which [`Presentation::decide`] is
    /// `Rotate`, or `None` when they cannot be stated as a guard (rotation
    /// is off, or a narrower scope or a resource is asked for, which the
    /// guard does not compare).
    /// Proof of the holder is not among them: only an `active` token
    /// rotates, and the proof decides only what a `rotated` one gets.
    pub fn rotate_guard(&self) -> Option<RotateGuard<'a>> {
        if self.policy.rotation == RotationMode::None
            || self.asked_scope.is_some()
            || self.asked_resource.is_some()
        {
            return None;
        }
        Some(RotateGuard {
            client_id: self.client_id,
            proof_jkt: self.proof_jkt,
            created_after: self.now.saturating_sub(self.policy.absolute_lifetime_secs),
            last_used_after: self.now.saturating_sub(self.policy.idle_lifetime_secs),
        })
    }
}

/// When a presentation rotates, as values a store compares with the rows it
/// updates: the token is `active`; the family is unrevoked, issued to
/// `client_id`, unbound or bound to `proof_jkt`, created after
/// `created_after` and last used after `last_used_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateGuard<'a> {
    /// The family's client must be this one.
    pub client_id: &'a str,
    /// A bound family's key must be this one.
    pub proof_jkt: Option<&'a str>,
    /// The family must have been created strictly after this instant
    /// (inside its absolute lifetime).
    pub created_after: i64,
    /// The family must have been used strictly after this instant (inside
    /// its idle lifetime).
    pub last_used_after: i64,
}

impl RotateGuard<'_> {
    /// Whether a token in `state` of `family` passes the guard: the same
    /// test a store's one-statement rotation makes.
    pub fn admits(&self, state: TokenState, family: &Family<'_>) -> bool {
        state == TokenState::Active
            && !family.view.revoked
            && family.client_id == self.client_id
            && family
                .dpop_jkt
                .is_none_or(|bound| self.proof_jkt == Some(bound))
            && family.view.created_at > self.created_after
            && family.view.last_used_at > self.last_used_after
    }
}

#[cfg(test)]
mod tests;
