-- DPoP proof records (RFC 9449 §11.1) become an append-only log: no index
-- but the rowid, so recording a proof appends to the table's last page
-- instead of writing a leaf at a random place in a unique index over jtis.
-- "Seen before?" is answered by the store's index of this log in memory,
-- rebuilt from it on open (decision 0013, point 9). PostgreSQL keeps its
-- unique index: its nodes share no memory.
ALTER TABLE dpop_proofs RENAME TO dpop_proofs_keyed;
CREATE TABLE dpop_proofs (
    id         INTEGER PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    jkt        TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
INSERT INTO dpop_proofs (tenant_id, jkt, jti, expires_at)
    SELECT tenant_id, jkt, jti, expires_at FROM dpop_proofs_keyed ORDER BY expires_at;
DROP TABLE dpop_proofs_keyed;
