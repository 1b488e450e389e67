-- Passkeys (issue 15): WebAuthn credentials a user registered on the
-- account page. credential_id is the authenticator's credential ID
-- (base64url), unique in a tenant: a sign-in with a discoverable
-- credential finds its user by it. credential is webauthn-rs's Passkey
-- (JSON: the public key, its algorithm, the signature counter and backup
-- flags); it holds no secret.
CREATE TABLE passkeys (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    PRIMARY KEY (tenant_id, credential_id)
);
CREATE INDEX passkeys_by_user ON passkeys (tenant_id, user_id);
