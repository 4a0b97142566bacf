-- API keys (SHA-256 of the key only, never the key) and the audit of requests made with them.
CREATE TABLE IF NOT EXISTS api_keys (
    id                    bigserial        PRIMARY KEY,
    name                  text             NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    key_hash              text             NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    key_preview           text             NOT NULL,
    scopes                text[]           NOT NULL DEFAULT ARRAY['read']
                          CHECK (scopes <@ ARRAY['read', 'fetch', 'admin']),
    active                boolean          NOT NULL DEFAULT true,
    created_at            timestamptz      NOT NULL DEFAULT now(),
    last_used             timestamptz,
    request_count         bigint           NOT NULL DEFAULT 0,
    expires_at            timestamptz,
    -- requests a minute; NULL means the server's default
    rate_limit_per_minute double precision CHECK (rate_limit_per_minute > 0)
);

-- No foreign key on purpose: the audit outlives a deleted key (until retention removes it), and
-- a batch written by the flusher never fails because one of its keys was deleted meanwhile.
CREATE TABLE IF NOT EXISTS api_key_audit (
    id           bigserial   PRIMARY KEY,
    key_id       bigint      NOT NULL,
    endpoint     text        NOT NULL,
    method       text        NOT NULL,
    status_code  smallint    NOT NULL,
    requested_at timestamptz NOT NULL,
    duration_ms  real
);
-- One key's entries newest first (the admin audit page), and retention's range delete.
CREATE INDEX IF NOT EXISTS api_key_audit_key_time_idx
    ON api_key_audit (key_id, requested_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS api_key_audit_time_idx ON api_key_audit (requested_at);
