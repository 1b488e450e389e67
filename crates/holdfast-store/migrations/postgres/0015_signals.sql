-- Revocation everywhere (issue 13, docs/design.md §7): the outbox of
-- security events, Shared Signals streams and what each still has to
-- receive, and back-channel logout registrations and deliveries.

-- One row per event, written in the transaction of the revocation it
-- reports; its id is the SET's jti.
CREATE TABLE security_events (
    id         TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    session_id TEXT,
    user_id    TEXT,
    token_id   TEXT,
    token_exp  BIGINT,
    detail     TEXT
);
CREATE INDEX security_events_by_time ON security_events (at);

-- SSF §8.1.1 streams. events_delivered is the stored names of the kinds,
-- each between spaces (' session_revoked sessions_revoked '), so the fan-out
-- can match one with LIKE on both databases.
CREATE TABLE ssf_streams (
    id                 TEXT PRIMARY KEY NOT NULL,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id          TEXT NOT NULL,
    delivery_method    TEXT NOT NULL,
    push_endpoint      TEXT,
    push_authorization TEXT,
    events_requested   TEXT NOT NULL,
    events_delivered   TEXT NOT NULL,
    description        TEXT,
    status             TEXT NOT NULL,
    status_reason      TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX ssf_streams_by_tenant ON ssf_streams (tenant_id, client_id);

-- What a stream has not acknowledged yet (poll) or not had accepted yet
-- (push). Fanned out when the event is written, so a stream sees exactly
-- the events committed after it was created, in any commit order.
CREATE TABLE ssf_pending (
    stream_id       TEXT NOT NULL REFERENCES ssf_streams(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL REFERENCES security_events(id) ON DELETE CASCADE,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (stream_id, event_id)
);
-- For deleting an event's queue rows with it (retention). Deliberately no
-- index on next_attempt_at: deliveries read a stream's rows by the primary
-- key's prefix, and leaving the column unindexed keeps marking rows handed
-- out a cheap in-place update.
CREATE INDEX ssf_pending_by_event ON ssf_pending (event_id);

-- OIDC Back-Channel Logout 1.0 §2.2 registration.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;

-- Logout tokens still to be accepted by a client (§2.5); the id is the
-- logout token's jti.
CREATE TABLE logout_deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    session_id      TEXT,
    at              BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at);

-- A disabled user cannot sign in; disabling also stamps not_before, so
-- every session and token they had ends (RISC account-disabled).
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
