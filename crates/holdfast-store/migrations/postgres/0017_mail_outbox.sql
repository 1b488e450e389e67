-- Mail waiting to be sent (an outbox): written in the transaction of the
-- change that causes it, sent by every node's mail worker, claimed by
-- moving next_attempt_at forward so two nodes never send one message at
-- once; sent_at is set when the SMTP server (or the .eml directory) took it.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    sent_at         BIGINT,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
