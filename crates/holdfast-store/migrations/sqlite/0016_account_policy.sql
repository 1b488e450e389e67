-- A tenant's account settings (JSON, holdfast_core::accounts::AccountPolicy:
-- registration, email verification, password policy); without a row the
-- defaults apply (registration closed, verification optional, NIST
-- SP 800-63B password rules with the blocklist).
CREATE TABLE tenant_account_policies (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    policy    TEXT NOT NULL
);
