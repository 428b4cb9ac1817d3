-- Tickflow core schema: bars with their indicators, signals, the four other record types,
-- the processor's offsets and per-symbol state, and bars that arrived late or twice.
-- Times are timestamptz (UTC); the wire format's float epoch seconds are converted on insert.

CREATE TABLE bars (
    symbol       text             NOT NULL,
    ts           timestamptz      NOT NULL,
    open         double precision NOT NULL,
    high         double precision NOT NULL,
    low          double precision NOT NULL,
    close        double precision NOT NULL,
    volume       bigint           NOT NULL,
    -- One wide row per bar: the stream writes each bar once, with its indicators.
    -- NULL where the indicator has no value yet (same positions as pandas + ta).
    sma          double precision,
    ema_fast     double precision,
    ema_slow     double precision,
    rsi          double precision,
    macd         double precision,
    macd_signal  double precision,
    macd_hist    double precision,
    bb_middle    double precision,
    bb_upper     double precision,
    bb_lower     double precision,
    PRIMARY KEY (symbol, ts)          -- also serves "a symbol's bars in a time range"
);
COMMENT ON TABLE bars IS 'One row per candle with its indicator values (periods: see TICKFLOW_*_PERIOD settings).';

CREATE TABLE signals (
    id          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    symbol      text             NOT NULL,
    ts          timestamptz      NOT NULL,
    rule        text             NOT NULL CHECK (rule IN ('rsi', 'ema_cross', 'macd_cross')),
    side        text             NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price       double precision NOT NULL,
    value       double precision NOT NULL,   -- the indicator that fired (rsi, ema_fast, macd)
    reference   double precision NOT NULL,   -- what it crossed (threshold, ema_slow, macd_signal)
    created_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ts, rule)
);
CREATE INDEX signals_ts_idx ON signals (ts DESC);

CREATE TABLE order_book (
    symbol      text             NOT NULL,
    ts          timestamptz      NOT NULL,
    order_type  text             NOT NULL CHECK (order_type IN ('buy', 'sell')),
    price       double precision NOT NULL,
    quantity    bigint           NOT NULL,
    PRIMARY KEY (symbol, ts, order_type)
);

CREATE TABLE news_sentiment (
    symbol               text             NOT NULL,
    ts                   timestamptz      NOT NULL,
    sentiment_score      double precision NOT NULL,
    sentiment_magnitude  double precision NOT NULL,
    PRIMARY KEY (symbol, ts)
);

CREATE TABLE market_data (
    symbol      text             NOT NULL,
    ts          timestamptz      NOT NULL,
    market_cap  double precision NOT NULL,
    pe_ratio    double precision NOT NULL,
    PRIMARY KEY (symbol, ts)
);

CREATE TABLE economic_indicators (
    indicator_name  text             NOT NULL,
    ts              timestamptz      NOT NULL,
    value           double precision NOT NULL,
    PRIMARY KEY (indicator_name, ts)
);

-- Bars not applied: same (symbol, ts) as the last applied bar (duplicate) or older (late).
CREATE TABLE late_bars (
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    kafka_offset     bigint      NOT NULL,
    symbol           text        NOT NULL,
    ts               timestamptz NOT NULL,
    reason           text        NOT NULL CHECK (reason IN ('duplicate', 'late')),
    last_applied_ts  timestamptz NOT NULL,
    payload          jsonb       NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
CREATE INDEX late_bars_symbol_ts_idx ON late_bars (symbol, ts);

-- Messages on the processor's topics that are not valid records.
CREATE TABLE dead_letters (
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    kafka_offset     bigint      NOT NULL,
    reason           text        NOT NULL,
    payload          bytea       NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);

-- Where each partition's processing stands; written in the same transaction as the outputs.
CREATE TABLE processor_offsets (
    consumer_group   text        NOT NULL,
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    next_offset      bigint      NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- Each symbol's streaming indicator state, so a restart continues exactly where it stopped.
CREATE TABLE symbol_state (
    symbol      text        PRIMARY KEY,
    last_ts     timestamptz NOT NULL,
    params      jsonb       NOT NULL,
    state       jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Roles: services write as tickflow_writer, people read as tickflow_reader.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tickflow_writer') THEN
        CREATE ROLE tickflow_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tickflow_reader') THEN
        CREATE ROLE tickflow_reader NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO tickflow_writer, tickflow_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO tickflow_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tickflow_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO tickflow_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO tickflow_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tickflow_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO tickflow_writer;
