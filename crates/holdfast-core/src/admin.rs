//! Who may administer what: the admin API's permissions, carried as scopes
//! of Holdfast's own access tokens from the administration tenant.
//!
//! - `holdfast:admin`: the whole server (every tenant, creating and
//!   deleting tenants).
//! - `holdfast:admin:{slug}`: one tenant.
//!
//! A client's token (client credentials, for automation) reaches what its
//! scopes say. A person's token reaches what both its scopes and the
//! person's grants say: the scope is what the console asked for, the grant
//! is what an administrator gave the person, and taking a grant away
//! applies to tokens already issued.

use std::collections::BTreeSet;

/// The scope of a whole-server administrator.
pub const SERVER_SCOPE: &str = "holdfast:admin";
/// The prefix of a one-tenant administrator's scope.
pub const TENANT_SCOPE_PREFIX: &str = "holdfast:admin:";

/// The scope that gives one tenant.
pub fn tenant_scope(slug: &str) -> String {
    format!("{TENANT_SCOPE_PREFIX}{slug}")
}

/// What a caller may administer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Everything.
    Server,
    /// These tenants (by slug), possibly none.
    Tenants(BTreeSet<String>),
}

impl Reach {
    /// What admin scopes give on their own.
    pub fn of_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut tenants = BTreeSet::new();
        for scope in scopes {
            if scope == SERVER_SCOPE {
                return Reach::Server;
            }
            if let Some(slug) = scope.strip_prefix(TENANT_SCOPE_PREFIX)
                && !slug.is_empty()
            {
                tenants.insert(slug.to_owned());
            }
        }
        Reach::Tenants(tenants)
    }

    /// A person's reach: what both the token's scopes and their grants
    /// give.
    pub fn of_person<'a>(
        token_scopes: impl IntoIterator<Item = &'a str>,
        grants: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Self::of_scopes(token_scopes).meet(&Self::of_scopes(grants))
    }

    /// What both reaches give.
    pub fn meet(&self, other: &Reach) -> Reach {
        match (self, other) {
            (Reach::Server, r) | (r, Reach::Server) => r.clone(),
            (Reach::Tenants(a), Reach::Tenants(b)) => {
                Reach::Tenants(a.intersection(b).cloned().collect())
            }
        }
    }

    /// Whether this reaches the tenant `slug`.
    pub fn reaches(&self, slug: &str) -> bool {
        match self {
            Reach::Server => true,
            Reach::Tenants(t) => t.contains(slug),
        }
    }

    /// Whether this reaches nothing at all.
    pub fn is_empty(&self) -> bool {
        matches!(self, Reach::Tenants(t) if t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_scope_reaches_every_tenant() {
        let r = Reach::of_scopes(["openid", SERVER_SCOPE]);
        assert_eq!(r, Reach::Server);
        assert!(r.reaches("acme"));
    }

    #[test]
    fn a_tenant_scope_reaches_only_its_tenant() {
        let r = Reach::of_scopes(["holdfast:admin:acme"]);
        assert!(r.reaches("acme"));
        assert!(!r.reaches("globex"));
        assert!(Reach::of_scopes(["openid", "holdfast:admin:"]).is_empty());
    }

    #[test]
    fn a_person_reaches_only_what_both_token_and_grant_give() {
        // Token for everything, person granted one tenant: that tenant.
        let r = Reach::of_person([SERVER_SCOPE], ["holdfast:admin:acme"]);
        assert_eq!(r, Reach::Tenants(["acme".to_owned()].into()));
        // A grant taken away: nothing, whatever the token says.
        assert!(Reach::of_person([SERVER_SCOPE], []).is_empty());
        // Token narrowed to one tenant of a server admin: that tenant.
        let r = Reach::of_person(["holdfast:admin:globex"], [SERVER_SCOPE]);
        assert!(r.reaches("globex") && !r.reaches("acme"));
    }
}
