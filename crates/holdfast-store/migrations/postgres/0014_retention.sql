-- Retention (issue 12 §6): the indexes the sweep deletes by, and the lease
-- that lets one node at a time sweep.

CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);
-- A consumed code goes with the session it issued.
CREATE INDEX auth_codes_by_session ON auth_codes (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX revoked_access_tokens_by_expiry ON revoked_access_tokens (expires_at);
CREATE INDEX browser_sessions_by_expiry ON browser_sessions (expires_at);

-- A named job's holder until `held_until` (Unix seconds).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,
    held_until BIGINT NOT NULL
);
