-- RS256 for ID tokens (OIDC Discovery 1.0 §3: "The algorithm RS256 MUST be
-- included"). A tenant may hold keys of more than one algorithm: its own,
-- which signs access tokens, and RS256 for clients that ask for it. The
-- life cycle (one `next`, one `current`, any number of `retired`) is now per
-- algorithm.
DROP INDEX signing_keys_one_live_state;
CREATE UNIQUE INDEX signing_keys_one_live_state_per_alg
    ON signing_keys (tenant_id, alg, state) WHERE state IN ('next', 'current');

-- OIDC Dynamic Client Registration 1.0 §2 `id_token_signed_response_alg`;
-- NULL means the tenant's algorithm.
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT;
