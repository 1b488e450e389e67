-- Foundation: tenants, clients, users, signing keys, and server metadata.
-- Times are Unix seconds (BIGINT); lists are JSON arrays in TEXT.

CREATE TABLE meta (
    name  TEXT PRIMARY KEY NOT NULL,
    value BYTEA NOT NULL
);

CREATE TABLE tenants (
    id               TEXT PRIMARY KEY NOT NULL,
    slug             TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL,
    signing_alg      TEXT NOT NULL,
    default_audience TEXT,
    created_at       BIGINT NOT NULL
);

CREATE TABLE clients (
    id                     TEXT PRIMARY KEY NOT NULL,
    tenant_id              TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id              TEXT NOT NULL,
    kind                   TEXT NOT NULL,
    secret_digest          TEXT,
    redirect_uris          TEXT NOT NULL,
    grant_types            TEXT NOT NULL,
    scopes                 TEXT NOT NULL,
    access_token_ttl_secs  BIGINT NOT NULL,
    rotation               TEXT NOT NULL,
    grace_window_secs      BIGINT NOT NULL,
    retry_limit            BIGINT NOT NULL,
    idle_lifetime_secs     BIGINT NOT NULL,
    absolute_lifetime_secs BIGINT NOT NULL,
    dpop_required          BOOLEAN NOT NULL,
    created_at             BIGINT NOT NULL,
    UNIQUE (tenant_id, client_id)
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY NOT NULL,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    username            TEXT NOT NULL,
    username_normalized TEXT NOT NULL,
    email               TEXT,
    password_hash       TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    UNIQUE (tenant_id, username_normalized)
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY NOT NULL,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    alg            TEXT NOT NULL,
    state          TEXT NOT NULL,
    private_sealed BYTEA NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    activated_at   BIGINT,
    retired_at     BIGINT
);

-- At most one `next` and one `current` key per tenant.
CREATE UNIQUE INDEX signing_keys_one_live_state
    ON signing_keys (tenant_id, state) WHERE state IN ('next', 'current');
