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
}
