-- Sign-in and token issuance: authorization codes, sessions (token
-- families), refresh tokens, browser (SSO) sessions, revoked access tokens.

-- One sign-in on one device: the `sid` of its tokens (DESIGN.md §4).
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT,
    auth_time      BIGINT NOT NULL,
    acr            TEXT NOT NULL,
    amr            TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id);

-- Refresh tokens, stored only as SHA-256 digests.
CREATE TABLE refresh_tokens (
    token_digest  TEXT PRIMARY KEY NOT NULL,
    session_id    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL,
    generation    BIGINT NOT NULL,
    state         TEXT NOT NULL,
    parent_digest TEXT,
    created_at    BIGINT NOT NULL,
    rotated_at    BIGINT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Authorization codes (RFC 6749 §4.1.2), single use, stored as digests.
CREATE TABLE auth_codes (
    code_digest    TEXT PRIMARY KEY NOT NULL,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    redirect_uri   TEXT,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT NOT NULL,
    resource       TEXT,
    auth_time      BIGINT NOT NULL,
    acr            TEXT NOT NULL,
    amr            TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    consumed_at    BIGINT,
    session_id     TEXT,
    access_jti     TEXT,
    access_exp     BIGINT
);

-- The authorization server's own browser session, for single sign-on.
CREATE TABLE browser_sessions (
    id_digest  TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    amr        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Access tokens revoked before their expiry, kept until they expire.
CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
