//! Scope sets: space-delimited, case-sensitive tokens (RFC 6749 §3.3).

use std::collections::BTreeSet;
use std::fmt;

use crate::client::validate_scope_token;
use crate::error::ValidationError;

/// A set of scope tokens, kept sorted so the wire form is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    /// Parses a space-delimited scope string; every token must be valid.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let mut set = BTreeSet::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            validate_scope_token(token)?;
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// A scope from tokens already validated (e.g. a client's registered list).
    pub fn from_tokens<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> Self {
        Self(tokens.into_iter().map(Into::into).collect())
    }

    /// Whether the set contains `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// RFC 6749 §3.3: the scope a request names (`requested`), or all of
    /// `allowed` when it names none ("the authorization server MUST either
    /// process the request using a pre-defined default value or fail";
    /// the default is everything the client may have). A malformed scope,
    /// or one asking for more than `allowed`, is refused (`invalid_scope`).
    /// The one place every endpoint that takes a `scope` decides it.
    pub fn negotiate(requested: Option<&str>, allowed: &Scope) -> Result<Scope, ScopeRefusal> {
        let scope = match requested {
            None => return Ok(allowed.clone()),
            Some(raw) => Scope::parse(raw).map_err(|_| ScopeRefusal::Malformed)?,
        };
        if scope.is_subset_of(allowed) {
            Ok(scope)
        } else {
            Err(ScopeRefusal::NotAllowed)
        }
    }
}

/// Why [`Scope::negotiate`] refused a requested scope (both are
/// `invalid_scope`, RFC 6749 §5.2; callers word the description).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeRefusal {
    /// A token is not a valid scope token.
    Malformed,
    /// It asks for a scope the client may not have.
    NotAllowed,
}

impl ScopeRefusal {
    /// The `error_description` for a client asking at the authorization
    /// endpoints.
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "scope is malformed",
            Self::NotAllowed => "scope exceeds what the client may request",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined: Vec<&str> = self.iter().collect();
        f.write_str(&joined.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_s3_3_scope_is_space_delimited_and_order_free() {
        let a = Scope::parse("openid  email profile").unwrap();
        let b = Scope::parse("profile openid email").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "email openid profile");
        assert!(Scope::parse("openid").unwrap().is_subset_of(&a));
        assert!(!Scope::parse("admin").unwrap().is_subset_of(&a));
        assert!(Scope::parse("bad\"token").is_err());
    }

    #[test]
    fn rfc6749_s3_3_no_scope_means_everything_allowed_and_more_is_refused() {
        let allowed = Scope::parse("openid email").unwrap();
        assert_eq!(Scope::negotiate(None, &allowed), Ok(allowed.clone()));
        assert_eq!(
            Scope::negotiate(Some("email"), &allowed),
            Ok(Scope::parse("email").unwrap())
        );
        assert_eq!(
            Scope::negotiate(Some("email admin"), &allowed),
            Err(ScopeRefusal::NotAllowed)
        );
        assert_eq!(
            Scope::negotiate(Some("bad\"token"), &allowed),
            Err(ScopeRefusal::Malformed)
        );
    }
}
