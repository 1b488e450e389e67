//! Property tests of the confirmed-rotation state machine (DESIGN.md §4):
//! whatever sequence of presentations arrives, applying the decisions the
//! way the store does never yields two children of one token, never leaves
//! a live token in a revoked family, and keeps at most one active token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use holdfast_core::client::{RefreshPolicy, RotationMode};
use holdfast_core::refresh::rotation::{Decision, FamilyView, TokenState, decide};
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
    fn present(&mut self, index: usize, policy: &RefreshPolicy, now: i64) -> Decision {
        let view = FamilyView {
            revoked: self.revoked,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        };
        let decision = decide(self.tokens[index].state, view, policy, now);
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_sequence_of_presentations_breaks_the_family_invariants(
        mode in mode(),
        grace in 0i64..120,
        retry_limit in 0i64..6,
        steps in prop::collection::vec((0usize..64, 0i64..90), 1..60),
    ) {
        let policy = RefreshPolicy { rotation: mode, grace_window_secs: grace, retry_limit, ..RefreshPolicy::default() };
        let mut now = 1_000_000;
        let mut family = Family::new(now);
        let mut revoked_seen = false;
        for (pick, dt) in steps {
            now += dt;
            let index = pick % family.tokens.len();
            let decision = family.present(index, &policy, now);
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
