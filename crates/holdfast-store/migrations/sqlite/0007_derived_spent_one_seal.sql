-- The generation of the family's newest refresh token. A rotated token two
-- or more generations below it has had its child used: it is spent. Deriving
-- "spent" from this, instead of writing it to the grandparent on every
-- rotation, saves a row update per refresh (DESIGN.md §4, issue 4).
ALTER TABLE sessions ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET generation = COALESCE(
    (SELECT max(generation) FROM refresh_tokens WHERE refresh_tokens.session_id = sessions.id), 0);

-- The family keeps one sealed child: its newest token, sealed under a key
-- derived from that token's parent, for the parent's grace retries. Each
-- rotation overwrites it in the session row it updates anyway, so an old
-- token never opens a chain of seals up to the live one.
ALTER TABLE sessions ADD COLUMN child_sealed BLOB;
UPDATE sessions SET child_sealed = (
    SELECT child_sealed FROM refresh_tokens
    WHERE refresh_tokens.session_id = sessions.id
      AND refresh_tokens.generation = sessions.generation - 1
      AND refresh_tokens.state = 'rotated');
UPDATE refresh_tokens SET child_sealed = NULL WHERE child_sealed IS NOT NULL;
