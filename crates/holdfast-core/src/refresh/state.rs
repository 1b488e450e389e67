//! Where a refresh token is in its life ([`TokenState`]), and the one place
//! a store's row is read into it ([`TokenState::from_stored`]): the
//! derived `spent` state (docs/design.md §4) lives here and nowhere else.

/// Where a refresh token is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenState {
    /// Newest token of its family, never presented.
    Active,
    /// Presented once at `rotated_at`; its child exists and is unused.
    Rotated {
        /// When it was rotated (Unix seconds).
        rotated_at: i64,
        /// How many grace retries returned the child already.
        retries: i64,
    },
    /// Its child has been used: any presentation now is reuse.
    Spent,
    /// Its family was revoked.
    Revoked,
}

impl TokenState {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Rotated { .. } => "rotated",
            Self::Spent => "spent",
            Self::Revoked => "revoked",
        }
    }

    /// The state of a stored token, the one place its stored form is read.
    ///
    /// Stores write `active`, `rotated` and `revoked` and never `spent`: a
    /// `rotated` token whose child has been rotated in turn (two or more
    /// generations below the family's newest) *is* spent, derived here.
    /// `rotated_at` defaults to the token's creation for rows that lack it.
    pub fn from_stored(stored: &StoredToken<'_>) -> Result<Self, UnknownTokenState> {
        let below_newest = stored.family_generation.saturating_sub(stored.generation);
        match stored.state {
            "active" => Ok(Self::Active),
            "rotated" if below_newest > 1 => Ok(Self::Spent),
            "rotated" => Ok(Self::Rotated {
                rotated_at: stored.rotated_at.unwrap_or(stored.created_at),
                retries: stored.retries,
            }),
            "spent" => Ok(Self::Spent),
            "revoked" => Ok(Self::Revoked),
            other => Err(UnknownTokenState(other.to_owned())),
        }
    }
}

/// A refresh token's columns as a store keeps them, for
/// [`TokenState::from_stored`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredToken<'a> {
    /// The stored state name.
    pub state: &'a str,
    /// The token's position in its family.
    pub generation: i64,
    /// The generation of the family's newest token.
    pub family_generation: i64,
    /// When it was created.
    pub created_at: i64,
    /// When it was rotated, if it was.
    pub rotated_at: Option<i64>,
    /// Grace retries served.
    pub retries: i64,
}

/// A stored state name that is none of the known ones: a corrupt row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTokenState(pub String);

impl std::fmt::Display for UnknownTokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown refresh token state {:?}", self.0)
    }
}

impl std::error::Error for UnknownTokenState {}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(state: &str, generation: i64, family_generation: i64) -> StoredToken<'_> {
        StoredToken {
            state,
            generation,
            family_generation,
            created_at: 10,
            rotated_at: Some(20),
            retries: 2,
        }
    }

    #[test]
    fn design_s4_a_rotated_token_whose_child_rotated_is_spent() {
        assert_eq!(
            TokenState::from_stored(&stored("active", 3, 3)),
            Ok(TokenState::Active)
        );
        assert_eq!(
            TokenState::from_stored(&stored("rotated", 2, 3)),
            Ok(TokenState::Rotated {
                rotated_at: 20,
                retries: 2
            })
        );
        assert_eq!(
            TokenState::from_stored(&stored("rotated", 1, 3)),
            Ok(TokenState::Spent)
        );
        assert_eq!(
            TokenState::from_stored(&stored("revoked", 1, 3)),
            Ok(TokenState::Revoked)
        );
    }

    #[test]
    fn a_rotated_row_without_its_instant_counts_from_creation() {
        let row = StoredToken {
            rotated_at: None,
            ..stored("rotated", 0, 1)
        };
        assert_eq!(
            TokenState::from_stored(&row),
            Ok(TokenState::Rotated {
                rotated_at: 10,
                retries: 2
            })
        );
    }

    #[test]
    fn an_unknown_stored_state_is_refused_not_guessed() {
        assert_eq!(
            TokenState::from_stored(&stored("rotatd", 0, 1)),
            Err(UnknownTokenState("rotatd".into()))
        );
    }

    #[test]
    fn every_state_reads_back_from_its_stored_name() {
        for state in [TokenState::Active, TokenState::Revoked] {
            assert_eq!(
                TokenState::from_stored(&stored(state.as_str(), 0, 0)),
                Ok(state)
            );
        }
    }
}
