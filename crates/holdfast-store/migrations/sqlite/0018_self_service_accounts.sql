-- Self-service accounts (issue 14): a display name, whether the email
-- address is verified, and the single-use tokens that verification and
-- password recovery mail out.
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
CREATE INDEX users_email ON users (tenant_id, lower(email));

-- A link (and, for verification, a short code) sent by mail. Only digests
-- are stored: the link's SHA-256, and the code's HMAC under a key derived
-- from the KEK. A token is spent by setting consumed_at in the transaction
-- that does what it was for; issuing a new one for the same user and
-- purpose spends the older ones, so only the newest code works.
-- continuation is the authorization request (JSON) to resume afterwards.
CREATE TABLE account_tokens (
    digest        TEXT PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose       TEXT NOT NULL,
    email         TEXT NOT NULL,
    code_digest   TEXT,
    code_failures INTEGER NOT NULL DEFAULT 0,
    continuation  TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    consumed_at   INTEGER
);
CREATE INDEX account_tokens_user ON account_tokens (tenant_id, user_id, purpose);
