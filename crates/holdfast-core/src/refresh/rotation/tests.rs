//! Unit tests of the module above.

use super::*;

const DAY: i64 = 86_400;

fn policy(rotation: RotationMode) -> RefreshPolicy {
    RefreshPolicy {
        rotation,
        ..RefreshPolicy::default()
    }
}

fn family(created_at: i64, last_used_at: i64) -> FamilyView {
    FamilyView {
        revoked: false,
        created_at,
        last_used_at,
    }
}

const T0: i64 = 1_000_000;

/// A presentation by a retrier that proves it holds the family.
fn proven(state: TokenState, family: FamilyView, policy: &RefreshPolicy, now: i64) -> Decision {
    decide(
        state,
        family,
        policy,
        HolderProof::ClientAuthentication,
        now,
    )
}

#[test]
fn design_s4_step3_active_token_rotates() {
    assert_eq!(
        proven(
            TokenState::Active,
            family(T0, T0),
            &policy(RotationMode::Confirmed),
            T0 + 1
        ),
        Decision::Rotate
    );
    assert_eq!(
        proven(
            TokenState::Active,
            family(T0, T0),
            &policy(RotationMode::Strict),
            T0 + 1
        ),
        Decision::Rotate
    );
    assert_eq!(
        proven(
            TokenState::Active,
            family(T0, T0),
            &policy(RotationMode::None),
            T0 + 1
        ),
        Decision::KeepToken
    );
}

#[test]
fn design_s4_step4_grace_window_edges() {
    let p = policy(RotationMode::Confirmed); // grace 60 s
    let rotated = TokenState::Rotated {
        rotated_at: T0,
        retries: 0,
    };
    let f = family(T0 - 10, T0);
    assert_eq!(proven(rotated, f, &p, T0), Decision::ReplayChild);
    assert_eq!(proven(rotated, f, &p, T0 + 59), Decision::ReplayChild);
    assert_eq!(
        proven(rotated, f, &p, T0 + 60),
        Decision::Reuse,
        "the window is half-open"
    );
    assert_eq!(proven(rotated, f, &p, T0 + 3600), Decision::Reuse);
}

#[test]
fn design_s4_step4_retry_limit_rejects_but_spares_the_family() {
    let p = policy(RotationMode::Confirmed); // limit 5
    let f = family(T0, T0);
    assert_eq!(
        proven(
            TokenState::Rotated {
                rotated_at: T0,
                retries: 4
            },
            f,
            &p,
            T0 + 1
        ),
        Decision::ReplayChild
    );
    assert_eq!(
        proven(
            TokenState::Rotated {
                rotated_at: T0,
                retries: 5
            },
            f,
            &p,
            T0 + 1
        ),
        Decision::Reject(RejectReason::RetryLimitExceeded)
    );
}

#[test]
fn design_s4_step5_spent_tokens_are_reuse_in_every_mode() {
    for mode in [
        RotationMode::Confirmed,
        RotationMode::Strict,
        RotationMode::None,
    ] {
        assert_eq!(
            proven(TokenState::Spent, family(T0, T0), &policy(mode), T0 + 1),
            Decision::Reuse
        );
    }
}

#[test]
fn strict_mode_has_no_grace() {
    let rotated = TokenState::Rotated {
        rotated_at: T0,
        retries: 0,
    };
    assert_eq!(
        proven(rotated, family(T0, T0), &policy(RotationMode::Strict), T0),
        Decision::Reuse
    );
}

#[test]
fn design_s4_step2_revoked_and_expired_families_reject_first() {
    let p = policy(RotationMode::Confirmed);
    let revoked = FamilyView {
        revoked: true,
        created_at: T0,
        last_used_at: T0,
    };
    for state in [
        TokenState::Active,
        TokenState::Rotated {
            rotated_at: T0,
            retries: 0,
        },
        TokenState::Spent,
        TokenState::Revoked,
    ] {
        assert_eq!(
            proven(state, revoked, &p, T0 + 1),
            Decision::Reject(RejectReason::FamilyRevoked)
        );
    }
    // Idle: 14 days after the last use, half-open.
    assert_eq!(
        proven(TokenState::Active, family(T0, T0), &p, T0 + 14 * DAY - 1),
        Decision::Rotate
    );
    assert_eq!(
        proven(TokenState::Active, family(T0, T0), &p, T0 + 14 * DAY),
        Decision::Reject(RejectReason::FamilyIdleExpired)
    );
    // Absolute: 90 days after creation, however recently used.
    let busy = family(T0, T0 + 90 * DAY - 5);
    assert_eq!(
        proven(TokenState::Active, busy, &p, T0 + 90 * DAY - 1),
        Decision::Rotate
    );
    assert_eq!(
        proven(TokenState::Active, busy, &p, T0 + 90 * DAY),
        Decision::Reject(RejectReason::FamilyAbsoluteExpired)
    );
}

/// docs/design.md §4 step 4, "Grace needs proof of the holder": inside the
/// window, a rotated token of an unbound public family is reuse (the
/// grace-theft replay revokes the family, RFC 9700 §4.14.2); a DPoP key
/// or client authentication keeps the identical-child retry, and so does
/// the client's explicit opt-in.
#[test]
fn design_s4_step4_grace_needs_proof_of_the_holder() {
    let f = family(T0 - 10, T0);
    let opted_in = RefreshPolicy {
        unbound_grace_accept_risk: true,
        ..policy(RotationMode::Confirmed)
    };
    for retries in [0, 4, 5] {
        let rotated = TokenState::Rotated {
            rotated_at: T0,
            retries,
        };
        for now in [T0, T0 + 1, T0 + 59] {
            assert_eq!(
                decide(
                    rotated,
                    f,
                    &policy(RotationMode::Confirmed),
                    HolderProof::Unproven,
                    now
                ),
                Decision::Reuse,
                "retries={retries} now={now}"
            );
            let grace = if retries >= 5 {
                Decision::Reject(RejectReason::RetryLimitExceeded)
            } else {
                Decision::ReplayChild
            };
            for holder in [HolderProof::DpopKey, HolderProof::ClientAuthentication] {
                assert_eq!(
                    decide(rotated, f, &policy(RotationMode::Confirmed), holder, now),
                    grace
                );
            }
            assert_eq!(
                decide(rotated, f, &opted_in, HolderProof::Unproven, now),
                grace
            );
        }
    }
    // The newest token still rotates, and a spent one is reuse, either way.
    let confirmed = policy(RotationMode::Confirmed);
    assert_eq!(
        decide(TokenState::Active, f, &confirmed, HolderProof::Unproven, T0),
        Decision::Rotate
    );
    assert_eq!(
        decide(TokenState::Spent, f, &opted_in, HolderProof::Unproven, T0),
        Decision::Reuse
    );
}

/// How [`Presentation::decide`] tells a holder from a copier: a proof by
/// the bound key, client authentication, or neither (a proof by some
/// other key for an unbound family proves nothing).
#[test]
fn design_s4_step4_the_presentation_names_its_proof_of_the_holder() {
    let rotated = TokenState::Rotated {
        rotated_at: T0,
        retries: 0,
    };
    let facts = |dpop_jkt| Family {
        client_id: "app",
        dpop_jkt,
        scope: "openid",
        resource: None,
        view: family(T0 - 10, T0),
    };
    let by = |client_authenticated, proof_jkt, opt_in| Presentation {
        client_id: "app",
        client_authenticated,
        proof_jkt,
        asked_scope: None,
        asked_resource: None,
        policy: RefreshPolicy {
            unbound_grace_accept_risk: opt_in,
            ..RefreshPolicy::default()
        },
        now: T0 + 1,
    };
    let unbound = facts(None);
    let bound = facts(Some("key-1"));
    // A thief with a copy of an unbound public family's token, with or
    // without a key of its own.
    for thief_key in [None, Some("key-2")] {
        assert_eq!(
            by(false, thief_key, false).decide(rotated, &unbound),
            Decision::Reuse
        );
    }
    assert_eq!(
        by(false, Some("key-1"), false).decide(rotated, &bound),
        Decision::ReplayChild
    );
    assert_eq!(
        by(false, Some("key-2"), false).decide(rotated, &bound),
        Decision::Reject(RejectReason::DpopKeyMismatch),
        "no key, no child, and no harm to the family"
    );
    assert_eq!(
        by(true, None, false).decide(rotated, &unbound),
        Decision::ReplayChild
    );
    assert_eq!(
        by(false, None, true).decide(rotated, &unbound),
        Decision::ReplayChild
    );
}

/// Every (state, mode, holder proof, opt-in, clock) combination against
/// a reference table.
#[test]
fn exhaustive_table_over_states_modes_and_clock_edges() {
    let modes = [
        RotationMode::Confirmed,
        RotationMode::Strict,
        RotationMode::None,
    ];
    let offsets = [0, 1, 59, 60, 61, 14 * DAY - 1, 14 * DAY];
    let holders = [
        HolderProof::DpopKey,
        HolderProof::ClientAuthentication,
        HolderProof::Unproven,
    ];
    for (mode, holder, opt_in) in modes
        .into_iter()
        .flat_map(|m| holders.map(|h| (m, h)))
        .flat_map(|(m, h)| [(m, h, false), (m, h, true)])
    {
        let p = RefreshPolicy {
            unbound_grace_accept_risk: opt_in,
            ..policy(mode)
        };
        let grace = holder != HolderProof::Unproven || opt_in;
        for retries in [0, 4, 5, 6] {
            for &dt in &offsets {
                for revoked in [false, true] {
                    let f = FamilyView {
                        revoked,
                        created_at: T0,
                        last_used_at: T0,
                    };
                    let now = T0 + dt;
                    for state in [
                        TokenState::Active,
                        TokenState::Rotated {
                            rotated_at: T0,
                            retries,
                        },
                        TokenState::Spent,
                        TokenState::Revoked,
                    ] {
                        let got = decide(state, f, &p, holder, now);
                        let expected = if revoked || state == TokenState::Revoked {
                            Decision::Reject(RejectReason::FamilyRevoked)
                        } else if dt >= 14 * DAY {
                            Decision::Reject(RejectReason::FamilyIdleExpired)
                        } else {
                            match state {
                                TokenState::Active if mode == RotationMode::None => {
                                    Decision::KeepToken
                                }
                                TokenState::Active => Decision::Rotate,
                                TokenState::Rotated { .. }
                                    if mode == RotationMode::Confirmed && dt < 60 && grace =>
                                {
                                    if retries >= 5 {
                                        Decision::Reject(RejectReason::RetryLimitExceeded)
                                    } else {
                                        Decision::ReplayChild
                                    }
                                }
                                _ => Decision::Reuse,
                            }
                        };
                        assert_eq!(
                            got, expected,
                            "{state:?} {mode:?} {holder:?} opt_in={opt_in} dt={dt} revoked={revoked}"
                        );
                    }
                }
            }
        }
    }
}
