-- The transaction shape of one DPoP-bound refresh rotation: the proof's
-- replay record (RFC 9449 §11.1) in the same transaction as the rotation.
\set id random(1, 100000)
BEGIN;
INSERT INTO bench_proofs (tenant_id, jkt, jti, expires_at)
    VALUES ('tenant', 'jkt-' || :id, md5(random()::text || clock_timestamp()::text), 1)
    ON CONFLICT (tenant_id, jkt, jti) DO NOTHING;
SELECT state FROM bench_tokens WHERE token_digest = 'seed-' || :id FOR UPDATE;
UPDATE bench_tokens SET state = 'rotated', rotated_at = 1 WHERE token_digest = 'seed-' || :id;
INSERT INTO bench_tokens (token_digest, session_id, state, created_at)
    VALUES (md5(random()::text || clock_timestamp()::text), 'session-' || :id, 'active', 1);
COMMIT;
