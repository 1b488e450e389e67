-- The admin API (issue 16).
--
-- Who made an administrative change: `cli:{os user}`, `user:{sub}` of the
-- administration tenant or `client:{client_id}` of one of its clients.
ALTER TABLE audit_events ADD COLUMN actor TEXT;
-- A user's audit log, newest first (the admin API's user page). Every
-- refresh writes an event, so this is the only index added: filtering by
-- kind scans the tenant's events by id, which is rare and paged.
CREATE INDEX audit_events_by_user ON audit_events (tenant_id, user_id, id);

-- Lost-update guard of the admin API (ETag / If-Match, RFC 9110 §13.1.1):
-- every change bumps the version, and a conditional change names the one
-- it read.
ALTER TABLE clients ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE tenants ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- What a user of the administration tenant may administer: `holdfast:admin`
-- (the whole server) or `holdfast:admin:{tenant slug}` (one tenant).
CREATE TABLE admin_grants (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scope   TEXT NOT NULL,
    PRIMARY KEY (user_id, scope)
);
