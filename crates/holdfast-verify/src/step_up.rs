//! Step-up authentication: [RFC 9470](https://www.rfc-editor.org/rfc/rfc9470).
//!
//! A resource that needs a recent or a stronger login says so with a
//! [`StepUp`] rule; a token that does not meet it is answered with `401`
//! and (§3)
//!
//! ```text
//! WWW-Authenticate: Bearer error="insufficient_user_authentication",
//!   error_description="...", max_age="300", acr_values="mfa"
//! ```
//!
//! (scheme `DPoP` for DPoP-bound tokens), which tells the client to send
//! the user through the authorization endpoint with `max_age` /
//! `acr_values` (§4) and come back with a new token.
//!
//! Not supported: ordering of `acr` values ("at least as strong as"): the
//! token's `acr` must be one of the listed values exactly.

use std::time::Duration;

use crate::claims::AccessTokenClaims;
use crate::error::AuthError;

/// A requirement on how the user authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepUp {
    max_age: Option<Duration>,
    acr_values: Vec<String>,
}

impl StepUp {
    /// Requires `auth_time` within `max_age` of now.
    pub fn max_age(max_age: Duration) -> Self {
        Self {
            max_age: Some(max_age),
            acr_values: Vec::new(),
        }
    }

    /// Requires `acr` to be one of `values`.
    pub fn acr<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            max_age: None,
            acr_values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// Adds an `acr` requirement to this rule.
    pub fn and_acr<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.acr_values = values.into_iter().map(Into::into).collect();
        self
    }

    /// Checks `claims` at `now` (Unix seconds).
    pub fn check(&self, claims: &AccessTokenClaims, now: i64) -> Result<(), AuthError> {
        let max_age_secs = self.max_age.map(|d| d.as_secs());
        if !self.acr_values.is_empty()
            && !claims
                .acr
                .as_deref()
                .is_some_and(|acr| self.acr_values.iter().any(|v| v == acr))
        {
            return Err(AuthError::InsufficientUserAuthentication {
                max_age: max_age_secs,
                acr_values: self.acr_values.clone(),
                description: "a stronger authentication is required",
            });
        }
        if let Some(max_age) = max_age_secs {
            let max_age_i = i64::try_from(max_age).unwrap_or(i64::MAX);
            // RFC 9470 §3: "max_age: Indicates the allowable elapsed time in
            // seconds since the last active authentication event associated
            // with the access token."
            let fresh = claims
                .auth_time
                .is_some_and(|t| now.saturating_sub(t) <= max_age_i);
            if !fresh {
                return Err(AuthError::InsufficientUserAuthentication {
                    max_age: Some(max_age),
                    acr_values: self.acr_values.clone(),
                    description: "a more recent authentication is required",
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::claims::Audience;

    use super::*;

    fn claims(auth_time: Option<i64>, acr: Option<&str>) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: Audience(vec!["a".into()]),
            exp: 2000,
            iat: 1000,
            nbf: None,
            jti: "j".into(),
            client_id: "c".into(),
            scope: String::new(),
            sid: None,
            auth_time,
            acr: acr.map(str::to_owned),
            amr: None,
            cnf: None,
        }
    }

    #[test]
    fn rfc9470_s3_stale_or_missing_auth_time_needs_step_up() {
        let rule = StepUp::max_age(Duration::from_secs(300));
        assert!(rule.check(&claims(Some(1000), None), 1300).is_ok());
        for c in [claims(Some(1000), None), claims(None, None)] {
            match rule.check(&c, 1301) {
                Err(AuthError::InsufficientUserAuthentication { max_age, .. }) => {
                    assert_eq!(max_age, Some(300));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn rfc9470_s3_other_acr_needs_step_up() {
        let rule = StepUp::acr(["mfa"]);
        assert!(rule.check(&claims(None, Some("mfa")), 0).is_ok());
        assert!(matches!(
            rule.check(&claims(None, Some("pwd")), 0),
            Err(AuthError::InsufficientUserAuthentication { ref acr_values, .. }) if acr_values == &["mfa"]
        ));
    }
}
