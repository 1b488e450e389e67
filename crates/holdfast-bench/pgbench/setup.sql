-- A table shaped like refresh_tokens, for pgbench's reference figure.
DROP TABLE IF EXISTS bench_tokens;
CREATE TABLE bench_tokens (
    token_digest TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    rotated_at   BIGINT
);
INSERT INTO bench_tokens (token_digest, session_id, state, created_at)
SELECT 'seed-' || g, 'session-' || g, 'active', 0 FROM generate_series(1, 100000) AS g;

-- A table shaped like dpop_proofs, for the DPoP transaction shape.
DROP TABLE IF EXISTS bench_proofs;
CREATE TABLE bench_proofs (
    tenant_id  TEXT NOT NULL,
    jkt        TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, jkt, jti)
);
CREATE INDEX bench_proofs_by_expiry ON bench_proofs (expires_at);
