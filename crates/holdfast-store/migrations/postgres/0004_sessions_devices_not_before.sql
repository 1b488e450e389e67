-- Sessions carry the device they belong to; users carry a "not before"
-- stamp: tokens issued before it are dead (revoke everything at once).
ALTER TABLE sessions ADD COLUMN device_id TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE users ADD COLUMN not_before BIGINT;
