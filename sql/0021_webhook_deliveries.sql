-- Webhook notifications of new signals (services/dashboard/webhooks.py), written by the
-- dashboard as the writer role. At least once: a delivery row is created for every signal and
-- endpoint (in the same transaction that advances the endpoint's cursor over dashboard_feed),
-- then POSTed until the endpoint answers 2xx or the attempts run out. Every attempt is logged.

-- How far each endpoint's deliveries have been created, as a dashboard_feed id.
CREATE TABLE webhook_cursors (
    endpoint      text        PRIMARY KEY,          -- the URL (a password in it is masked)
    last_feed_id  bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per signal and endpoint; `body` is exactly what every attempt POSTs (and signs).
CREATE TABLE webhook_deliveries (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint         text        NOT NULL,
    idempotency_key  text        NOT NULL,          -- sent as Idempotency-Key; same on every attempt
    feed_id          bigint      NOT NULL,
    symbol           text        NOT NULL,
    ts               timestamptz NOT NULL,
    rule             text        NOT NULL,
    side             text        NOT NULL,
    body             text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,                   -- when it was delivered or given up
    UNIQUE (endpoint, idempotency_key)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at DESC);

-- Every attempt: recorded as 'sending' before the request goes out, completed after it.
CREATE TABLE webhook_attempts (
    delivery_id  bigint           NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    attempt      integer          NOT NULL CHECK (attempt >= 1),
    outcome      text             NOT NULL CHECK (outcome IN ('sending', 'delivered', 'retry', 'failed')),
    http_status  integer,                           -- NULL: no HTTP answer (see error)
    error        text,
    started_at   timestamptz      NOT NULL DEFAULT now(),
    duration_ms  double precision,
    PRIMARY KEY (delivery_id, attempt)
);
COMMENT ON TABLE webhook_attempts IS
    'Every webhook POST: outcome delivered (2xx), retry (will be sent again), failed (gave up); sending = no result recorded.';
