//! Property tests of the confirmed-rotation state machine (docs/design.md §4):
//! whatever sequence of presentations arrives, applying the decisions the
//! way the store does never yields two children of one token, never leaves
//! a live token in a revoked family, and keeps at most one active token.
//! A rotated token presented without proof of the holder (an unbound
//! public family, no opt-in) is always reuse; with one, grace is kept. The
//! store's one-statement rotation guard admits exactly what `decide`
//! rotates, whatever the holder proves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use holdfast_core::client::{RefreshPolicy, RotationMode};
use holdfast_core::refresh::rotation::{
    AskedResource, Decision, Family as FamilyFacts, FamilyView, HolderProof, Presentation,
    RejectReason, TokenState, decide,
};
use holdfast_core::scope::Scope;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Token {
    state: TokenState,
    parent: Option<usize>,
    children: usize,
}

#[derive(Debug, Clone)]
struct Family {
    tokens: Vec<Token>,
    revoked: bool,
    created_at: i64,
    last_used_at: i64,
}

impl Family {
    fn new(now: i64) -> Self {
        Self {
            tokens: vec![Token {
                state: TokenState::Active,
                parent: None,
                children: 0,
            }],
            revoked: false,
            created_at: now,
            last_used_at: now,
        }
    }

    /// Applies a decision as the store does.
    fn present(
        &mut self,
        index: usize,
        policy: &RefreshPolicy,
        holder: HolderProof,
        now: i64,
    ) -> Decision {
        let view = FamilyView {
            revoked: self.revoked,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        };
        let decision = decide(self.tokens[index].state, view, policy, holder, now);
        match decision {
            Decision::Rotate => {
                self.tokens[index].state = TokenState::Rotated {
                    rotated_at: now,
                    retries: 0,
                };
                self.tokens[index].children += 1;
                if let Some(parent) = self.tokens[index].parent
                    && matches!(self.tokens[parent].state, TokenState::Rotated { .. })
                {
                    self.tokens[parent].state = TokenState::Spent;
                }
                self.tokens.push(Token {
                    state: TokenState::Active,
                    parent: Some(index),
                    children: 0,
                });
                self.last_used_at = now;
            }
            Decision::ReplayChild => {
                if let TokenState::Rotated {
                    rotated_at,
                    retries,
                } = self.tokens[index].state
                {
                    self.tokens[index].state = TokenState::Rotated {
                        rotated_at,
                        retries: retries + 1,
                    };
                }
            }
            Decision::KeepToken => self.last_used_at = now,
            Decision::Reuse => {
                self.revoked = true;
                for t in &mut self.tokens {
                    t.state = TokenState::Revoked;
                }
            }
            Decision::Reject(_) => {}
        }
        decision
    }
}

fn mode() -> impl Strategy<Value = RotationMode> {
    prop_oneof![
        Just(RotationMode::Confirmed),
        Just(RotationMode::Strict),
        Just(RotationMode::None)
    ]
}

fn holder() -> impl Strategy<Value = HolderProof> {
    prop_oneof![
        Just(HolderProof::DpopKey),
        Just(HolderProof::ClientAuthentication),
        Just(HolderProof::Unproven)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_sequence_of_presentations_breaks_the_family_invariants(
        mode in mode(),
        grace in 0i64..120,
        retry_limit in 0i64..6,
        opt_in in any::<bool>(),
        steps in prop::collection::vec((0usize..64, 0i64..90, holder()), 1..60),
    ) {
        let policy = RefreshPolicy {
            rotation: mode,
            grace_window_secs: grace,
            retry_limit,
            unbound_grace_accept_risk: opt_in,
            ..RefreshPolicy::default()
        };
        let mut now = 1_000_000;
        let mut family = Family::new(now);
        let mut revoked_seen = false;
        for (pick, dt, holder) in steps {
            now += dt;
            let index = pick % family.tokens.len();
            let before = family.tokens[index].state;
            let decision = family.present(index, &policy, holder, now);
            // Grace needs proof of the holder: a copier never gets the child.
            if holder == HolderProof::Unproven && !opt_in {
                prop_assert_ne!(decision, Decision::ReplayChild);
                if matches!(before, TokenState::Rotated { .. }) && !revoked_seen {
                    // (No run here is long enough for the family to expire.)
                    prop_assert_eq!(decision, Decision::Reuse);
                }
            }
            if revoked_seen {
                prop_assert!(matches!(decision, Decision::Reject(_)), "a revoked family answered {decision:?}");
            }
            revoked_seen |= family.revoked;
            // One child per token, ever.
            prop_assert!(family.tokens.iter().all(|t| t.children <= 1));
            // At most one active token in a family, none in a revoked one.
            let active = family.tokens.iter().filter(|t| t.state == TokenState::Active).count();
            prop_assert!(active <= 1);
            if family.revoked {
                prop_assert_eq!(active, 0);
            }
            // A replay is only ever granted to a token whose child is unused.
            if decision == Decision::ReplayChild {
                let child = family.tokens.iter().position(|t| t.parent == Some(index));
                prop_assert!(child.is_some_and(|c| family.tokens[c].state == TokenState::Active));
            }
        }
    }
}

fn token_state() -> impl Strategy<Value = TokenState> {
    prop_oneof![
        Just(TokenState::Active),
        (0i64..2_000_000, 0i64..7).prop_map(|(rotated_at, retries)| TokenState::Rotated {
            rotated_at,
            retries
        }),
        Just(TokenState::Spent),
        Just(TokenState::Revoked),
    ]
}

/// An instant near a lifetime boundary (one second either side and on it)
/// or anywhere.
fn near(boundary: i64) -> impl Strategy<Value = i64> {
    prop_oneof![(-2i64..=2).prop_map(move |d| boundary + d), 0i64..2_000_000]
}

fn jkt() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![Just(None), Just(Some("key-1")), Just(Some("key-2"))]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// The guard a store checks in its one-statement rotation says
    /// `Rotate` exactly when the full decision does; where there is no
    /// guard, the store takes the locked path, so it only must not hide a
    /// `Rotate` it could not state.
    #[test]
    fn rotate_guard_admits_exactly_what_decide_rotates(
        mode in mode(),
        idle in 1i64..1_000_000,
        extra in 0i64..1_000_000,
        state in token_state(),
        revoked in any::<bool>(),
        family_client in prop_oneof![Just("app"), Just("other")],
        presenter in prop_oneof![Just("app"), Just("other")],
        bound in jkt(),
        proof in jkt(),
        asked in prop_oneof![Just(None), Just(Some("openid")), Just(Some("admin"))],
        seed in (near(0), near(0)),
        client_authenticated in any::<bool>(),
        opt_in in any::<bool>(),
    ) {
        let now = 1_500_000;
        let policy = RefreshPolicy {
            rotation: mode,
            idle_lifetime_secs: idle,
            absolute_lifetime_secs: idle + extra,
            unbound_grace_accept_risk: opt_in,
            ..RefreshPolicy::default()
        };
        // Put the family's instants on (or near) the expiry boundaries.
        let created_at = now - policy.absolute_lifetime_secs + seed.0;
        let last_used_at = now - policy.idle_lifetime_secs + seed.1;
        let asked = asked.map(|a| Scope::parse(a).unwrap());
        let presentation = Presentation {
            client_id: presenter,
            client_authenticated,
            proof_jkt: proof,
            asked_scope: asked.as_ref(),
            asked_resource: None,
            policy,
            now,
        };
        let family = FamilyFacts {
            client_id: family_client,
            dpop_jkt: bound,
            scope: "openid email",
            resource: None,
            view: FamilyView { revoked, created_at, last_used_at },
        };
        let rotates = presentation.decide(state, &family) == Decision::Rotate;
        match presentation.rotate_guard() {
            Some(guard) => prop_assert_eq!(guard.admits(state, &family), rotates),
            None => prop_assert!(!rotates || presentation.asked_scope.is_some()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// docs/design.md §4 step 4, "Grace needs proof of the holder", at the token
    /// endpoint's level: a rotated token of a live, unbound family of a
    /// public client without the opt-in is reuse, whatever key the presenter
    /// brings, however soon after the rotation and whatever the retry
    /// count. Whoever proves it holds the family (its DPoP key, or client
    /// authentication) keeps the grace retry, as does an opted-in client.
    #[test]
    fn a_rotated_token_gets_its_child_again_only_with_proof_of_the_holder(
        rotated_ago in 0i64..200,
        grace in 1i64..120,
        retries in 0i64..7,
        retry_limit in 0i64..6,
        bound in jkt(),
        proof in jkt(),
        client_authenticated in any::<bool>(),
        opt_in in any::<bool>(),
    ) {
        let now = 1_500_000;
        let policy = RefreshPolicy {
            grace_window_secs: grace,
            retry_limit,
            unbound_grace_accept_risk: opt_in,
            ..RefreshPolicy::default()
        };
        let presentation = Presentation {
            client_id: "app",
            client_authenticated,
            proof_jkt: proof,
            asked_scope: None,
            asked_resource: None,
            policy,
            now,
        };
        let family = FamilyFacts {
            client_id: "app",
            dpop_jkt: bound,
            scope: "openid",
            resource: None,
            view: FamilyView { revoked: false, created_at: now - 1_000, last_used_at: now - rotated_ago },
        };
        let state = TokenState::Rotated { rotated_at: now - rotated_ago, retries };
        let decision = presentation.decide(state, &family);
        let key_mismatch = bound.is_some() && proof != bound;
        let proven = bound.is_some() || client_authenticated;
        let in_window = rotated_ago < grace;
        let expected = if key_mismatch {
            Decision::Reject(RejectReason::DpopKeyMismatch)
        } else if in_window && (proven || opt_in) {
            if retries >= retry_limit {
                Decision::Reject(RejectReason::RetryLimitExceeded)
            } else {
                Decision::ReplayChild
            }
        } else {
            Decision::Reuse
        };
        prop_assert_eq!(decision, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// RFC 8707 §2.2 on refresh: naming a resource the family was not
    /// granted (the tenant's default audience standing for none) never
    /// issues anything, and never hides reuse; naming the granted one
    /// decides exactly as naming none. No guard is offered for it: a store
    /// takes the locked path.
    #[test]
    fn rfc8707_s2_2_a_refresh_for_another_resource_issues_nothing_and_reuse_stands(
        mode in mode(),
        state in token_state(),
        revoked in any::<bool>(),
        granted in prop_oneof![Just(None), Just(Some("https://a.example")), Just(Some("https://b.example"))],
        asked in prop_oneof![Just("https://a.example"), Just("https://b.example"), Just("https://default.example")],
        client_authenticated in any::<bool>(),
        seed in (near(0), near(0)),
    ) {
        let now = 1_500_000;
        let policy = RefreshPolicy { rotation: mode, ..RefreshPolicy::default() };
        let without = Presentation {
            client_id: "app",
            client_authenticated,
            proof_jkt: None,
            asked_scope: None,
            asked_resource: None,
            policy,
            now,
        };
        let with = Presentation {
            asked_resource: Some(AskedResource {
                resource: asked,
                default_audience: "https://default.example",
            }),
            ..without
        };
        let family = FamilyFacts {
            client_id: "app",
            dpop_jkt: None,
            scope: "openid",
            resource: granted,
            view: FamilyView {
                revoked,
                created_at: now - policy.absolute_lifetime_secs + seed.0,
                last_used_at: now - policy.idle_lifetime_secs + seed.1,
            },
        };
        let plain = without.decide(state, &family);
        let named = with.decide(state, &family);
        prop_assert!(with.rotate_guard().is_none());
        if asked == granted.unwrap_or("https://default.example") {
            prop_assert_eq!(named, plain);
        } else {
            prop_assert!(!matches!(
                named,
                Decision::Rotate | Decision::KeepToken | Decision::ReplayChild
            ));
            if plain == Decision::Reuse {
                prop_assert_eq!(named, Decision::Reuse);
            }
        }
    }
}
