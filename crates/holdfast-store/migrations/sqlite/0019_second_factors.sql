-- Second factors (issue 15). A user's TOTP secret (RFC 6238), sealed
-- under a key derived from the KEK (never stored in the clear); pending
-- until the first code confirms it. last_step is the newest time step
-- spent: a code of that step or an older one is refused (replay).
CREATE TABLE totp_factors (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sealed_secret TEXT NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Single-use recovery codes: keyed digests only, shown once at creation.
CREATE TABLE recovery_codes (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (tenant_id, user_id, digest)
);

-- A client may require a second factor of every sign-in to it.
ALTER TABLE clients ADD COLUMN mfa_required BOOLEAN NOT NULL DEFAULT FALSE;
