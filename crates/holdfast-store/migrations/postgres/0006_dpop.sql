-- DPoP (RFC 9449): families and codes may be bound to a key thumbprint;
-- proof jtis are remembered (per tenant and key) until they leave the iat
-- window, so a proof replayed to any node sharing this database is refused.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE clients ADD COLUMN dpop_nonce_required BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE dpop_proofs (
    tenant_id  TEXT NOT NULL,
    jkt        TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, jkt, jti)
);
CREATE INDEX dpop_proofs_by_expiry ON dpop_proofs (expires_at);
