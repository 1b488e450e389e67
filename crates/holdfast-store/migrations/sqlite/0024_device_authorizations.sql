-- The device authorization grant (RFC 8628). One row per request: the
-- device holds the device code (stored as its SHA-256 digest, like every
-- bearer secret here), its user types the user code on the verification
-- page, signs in through the ordinary hosted login (whose `state` is this
-- row's id) and the authorization code that login issues waits here, as
-- its digest, with the PKCE verifier only the server knows, until the
-- device's next poll redeems it.
CREATE TABLE device_authorizations (
    id                 TEXT PRIMARY KEY NOT NULL,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id          TEXT NOT NULL,
    scope              TEXT NOT NULL,
    device_code_digest TEXT NOT NULL UNIQUE,
    user_code          TEXT NOT NULL,
    status             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    interval_secs      BIGINT NOT NULL,
    last_polled_at     BIGINT,
    -- SHA-256 of the CSRF binding of the browser that approved: only that
    -- browser's sign-in may complete the request.
    browser_digest     TEXT,
    code_verifier      TEXT,
    code_digest        TEXT
);
CREATE UNIQUE INDEX device_authorizations_by_user_code
    ON device_authorizations (tenant_id, user_code);
CREATE INDEX device_authorizations_by_expiry ON device_authorizations (expires_at);
