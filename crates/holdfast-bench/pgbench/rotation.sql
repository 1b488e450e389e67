-- The transaction shape of one refresh rotation: lock the token row,
-- update it, insert the child.
\set id random(1, 100000)
BEGIN;
SELECT state FROM bench_tokens WHERE token_digest = 'seed-' || :id FOR UPDATE;
UPDATE bench_tokens SET state = 'rotated', rotated_at = 1 WHERE token_digest = 'seed-' || :id;
INSERT INTO bench_tokens (token_digest, session_id, state, created_at)
    VALUES (md5(random()::text || clock_timestamp()::text), 'session-' || :id, 'active', 1);
COMMIT;
