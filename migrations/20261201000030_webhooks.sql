-- Webhooks for service providers (Standard Webhooks): the endpoints a client registered, the
-- transactional outbox of deliveries (one row per event and endpoint, written in the same
-- transaction as the change it reports), and the log of every attempt.

CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY CHECK (id ~ '^wh_[a-z0-9]{16,64}$'),
    client_id       text NOT NULL REFERENCES clients (id),
    url             text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    events          text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 16),
    -- The signing secret must be recoverable to sign (HMAC is symmetric), so it cannot be
    -- hashed: it is sealed (AES-256-GCM) under a key derived from MOTCUA_MASTER_KEY, bound to
    -- this row's id.
    secret_sealed   bytea NOT NULL,
    -- After a rotation the old secret still signs, beside the new one, until this time.
    previous_secret_sealed bytea,
    previous_secret_until  timestamptz,
    -- `failing` once a delivery gave up after the retry window; the next success clears it.
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'failing')),
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_previous_secret_complete
        CHECK ((previous_secret_sealed IS NULL) = (previous_secret_until IS NULL))
);
SELECT manage_updated_at('webhook_endpoints');
CREATE INDEX webhook_endpoints_client_idx ON webhook_endpoints (client_id, id);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    -- The `webhook-id` header: the same for every attempt, so receivers can deduplicate.
    event_id        text NOT NULL CHECK (event_id ~ '^msg_[a-z0-9]{16,64}$'),
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    -- The exact body sent, so every attempt carries the same bytes.
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    -- When the next attempt is due, while pending.
    next_attempt_at timestamptz,
    -- While an attempt is in flight: no other worker claims the row before this (longer than
    -- an attempt can take), and a crashed worker's claim lapses here.
    leased_until    timestamptz,
    -- The retry window (MOTCUA_WEBHOOK_RETRY_WINDOW_SECS) runs from here: the enqueueing, or a
    -- manual redelivery.
    retry_from      timestamptz NOT NULL,
    delivered_at    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id),
    CONSTRAINT webhook_pending_is_due CHECK (status <> 'pending' OR next_attempt_at IS NOT NULL)
);
SELECT manage_updated_at('webhook_deliveries');
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- Ids are UUIDv7: newest first is id order.
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    delivery_id     uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    at              timestamptz NOT NULL,
    -- The receiver's HTTP status, when it answered.
    status_code     integer,
    error           text,
    duration_ms     integer NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
