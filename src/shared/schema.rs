//! The tables of the shared state store, in the `gateway` schema: created on first start (under
//! an advisory lock, so replicas starting together do not race) and only ever added to.

/// Taken while the schema is created, so two replicas starting at once do not race.
pub(super) const MIGRATION_LOCK: i64 = 0x6761_7465_7761_7901;

/// Every table, idempotent.
pub(super) const SCHEMA: &str = "
CREATE SCHEMA IF NOT EXISTS gateway;

CREATE TABLE IF NOT EXISTS gateway.idempotency (
    caller      text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,
    status      int4,                   -- NULL while the first request is in flight
    headers     jsonb,
    body        bytea,
    expires_at  timestamptz NOT NULL,
    lease_until timestamptz,            -- an in-flight claim older than this was abandoned
    PRIMARY KEY (caller, key)
);
CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON gateway.idempotency (expires_at);

CREATE TABLE IF NOT EXISTS gateway.clients (
    id            text   PRIMARY KEY,
    secret_sha256 text   NOT NULL,
    roles         jsonb  NOT NULL,
    source        text   NOT NULL CHECK (source IN ('policy', 'admin')),
    created_at    int8   NOT NULL
);

CREATE TABLE IF NOT EXISTS gateway.refresh_tokens (
    token_sha256 text PRIMARY KEY,
    family       text  NOT NULL,
    sub          text  NOT NULL,
    roles        jsonb NOT NULL,
    client_id    text,
    expires_at   int8  NOT NULL,
    used_at      int8,
    revoked_at   int8
);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_family ON gateway.refresh_tokens (family);

CREATE TABLE IF NOT EXISTS gateway.signing_keys (
    kid           text PRIMARY KEY,
    pem           text NOT NULL,
    created_at    int8 NOT NULL,       -- ms since the epoch
    activates_at  int8,                -- signs from then on (published before, so verifiers know it)
    retired_at    int8,                -- no longer signs from then on
    publish_until int8                 -- still verifies (and is published) until then
);
ALTER TABLE gateway.signing_keys ADD COLUMN IF NOT EXISTS activates_at int8;

CREATE TABLE IF NOT EXISTS gateway.transactions (
    id         text  PRIMARY KEY,
    owner      text  NOT NULL,
    started_at int8  NOT NULL,         -- ms since the epoch
    expires_at int8  NOT NULL,
    ended      text,                   -- NULL while open; 'expired' once rolled back by expiry
    ended_at   int8,
    state      json  NOT NULL         -- json, not jsonb: documents keep their field order
);
CREATE INDEX IF NOT EXISTS transactions_by_owner ON gateway.transactions (owner) WHERE ended IS NULL;

CREATE TABLE IF NOT EXISTS gateway.outbox (
    seq             bigserial PRIMARY KEY,
    id              text   NOT NULL UNIQUE,
    caller          text   NOT NULL,
    kind            text   NOT NULL,
    path            text   NOT NULL,
    args            json   NOT NULL,
    idem_key        text   NOT NULL,
    doc_keys        text[] NOT NULL,
    identity        jsonb,
    status          text   NOT NULL,
    attempts        int4   NOT NULL DEFAULT 0,
    last_error      text,
    result          jsonb,
    created_at      int8   NOT NULL,
    updated_at      int8   NOT NULL,
    next_attempt_at int8   NOT NULL,
    lease_owner     text,              -- the replica delivering it
    lease_until     int8               -- ms since the epoch; another replica may claim it after
);
CREATE INDEX IF NOT EXISTS outbox_queued ON gateway.outbox (seq) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS outbox_queued_docs ON gateway.outbox USING gin (doc_keys) WHERE status = 'queued';

CREATE TABLE IF NOT EXISTS gateway.replicas (
    id         text        PRIMARY KEY,
    version    text        NOT NULL,
    started_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);
";
