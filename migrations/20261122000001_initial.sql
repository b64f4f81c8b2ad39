-- API keys are stored as SHA-256 digests: a key is 256 random bits, so a fast hash is enough
-- and lookups stay a single indexed query.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    key_prefix   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE audio (
    id            uuid PRIMARY KEY,
    format        text NOT NULL,
    content_type  text NOT NULL,
    sample_rate   integer NOT NULL,
    duration_ms   integer NOT NULL,
    size_bytes    integer NOT NULL,
    bytes         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,                 -- UUIDv7: time-ordered, so it doubles as the list cursor
    api_key_id       uuid REFERENCES api_keys (id),
    idempotency_key  text,
    mode             text NOT NULL CHECK (mode IN ('sync', 'async')),
    status           text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    model            text NOT NULL,
    engine           text NOT NULL,
    voice            text NOT NULL,
    format           text NOT NULL,
    speed            real NOT NULL,
    input            text NOT NULL,
    text_sha256      text NOT NULL,
    text_length      integer NOT NULL,
    cache_key        text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    error            text,
    audio_id         uuid REFERENCES audio (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (api_key_id, idempotency_key)
);
CREATE INDEX jobs_by_key ON jobs (api_key_id, id DESC);
CREATE INDEX jobs_by_status ON jobs (status);

-- Transactional outbox: a row commits with its job and the relay publishes it to RabbitMQ.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    payload      jsonb NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
