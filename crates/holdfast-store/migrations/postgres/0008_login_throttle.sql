-- Throttling of secret guessing (DESIGN.md §8, OWASP ASVS 2.2.1): failed-
-- attempt counters shared by every node. `counter_key` is a SHA-256 digest of what
-- is counted (an account, an account and address, an address, a client and
-- address), so the table holds no usernames or addresses in clear.
CREATE TABLE throttle_counters (
    tenant_id       TEXT NOT NULL,
    counter_key     TEXT NOT NULL,
    window_start    BIGINT NOT NULL,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT,
    last_success_at BIGINT,
    throttled_at    BIGINT,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, counter_key)
);
CREATE INDEX throttle_counters_by_age ON throttle_counters (updated_at);

-- A tenant's own limits (JSON, holdfast_core::throttle::ThrottlePolicy);
-- without a row the server's configured defaults apply.
CREATE TABLE tenant_throttle_policies (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    policy    TEXT NOT NULL
);
