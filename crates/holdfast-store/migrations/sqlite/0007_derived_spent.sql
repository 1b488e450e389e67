-- The generation of the family's newest refresh token. A rotated token two
-- or more generations below it has had its child used: it is spent. Deriving
-- "spent" from this, instead of writing it to the grandparent on every
-- rotation, saves a row update per refresh (DESIGN.md §4, issue 4).
ALTER TABLE sessions ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET generation = COALESCE(
    (SELECT max(generation) FROM refresh_tokens WHERE refresh_tokens.session_id = sessions.id), 0);
