-- Confirmed rotation (DESIGN.md §4): a rotated token keeps its child sealed
-- under a key derived from the token itself, and counts grace retries.
ALTER TABLE refresh_tokens ADD COLUMN child_sealed BYTEA;
ALTER TABLE refresh_tokens ADD COLUMN retries BIGINT NOT NULL DEFAULT 0;

-- Security-relevant decisions (DESIGN.md §8).
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    client_id  TEXT,
    session_id TEXT,
    reason     TEXT,
    ip         TEXT,
    user_agent TEXT
);
CREATE INDEX audit_events_by_time ON audit_events (tenant_id, at);
