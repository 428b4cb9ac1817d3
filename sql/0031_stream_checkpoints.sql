-- What survives the retention boundary (README "Data lifecycle").
--
-- stream_checkpoints: copies of each symbol's streaming state (symbol_state: its indicators and every
-- timeframe's forming candle and indicators), taken before raw base bars are dropped. Rebuilding a
-- symbol's state starts from its newest checkpoint and replays only the base bars after it, so the
-- result is bit-identical to a stream that never stopped, whatever was dropped before. Partitioned by
-- when it was taken, kept as long as the raw base bars it stands in for.
--
-- dropped_history: per symbol and timeframe, the time before which retention dropped its bars; what a
-- recomputation (backfill, reconciliation) needs to know to tell "the symbol's first bar" from "the
-- first bar still kept".

CREATE TABLE stream_checkpoints (
    symbol    text        NOT NULL,
    taken_at  timestamptz NOT NULL DEFAULT now(),
    last_ts   timestamptz NOT NULL,  -- the last base bar the state has applied
    params    jsonb       NOT NULL,  -- the indicator parameters it was computed with
    state     jsonb       NOT NULL,
    PRIMARY KEY (symbol, taken_at)
) PARTITION BY RANGE (taken_at);
CREATE TABLE stream_checkpoints_default PARTITION OF stream_checkpoints DEFAULT;
COMMENT ON TABLE stream_checkpoints IS
    'Copies of symbol_state taken before retention drops base bars; a rebuild starts from the newest.';

CREATE TABLE dropped_history (
    symbol          text        NOT NULL,
    timeframe       text        NOT NULL,
    dropped_before  timestamptz NOT NULL,
    PRIMARY KEY (symbol, timeframe)
);
COMMENT ON TABLE dropped_history IS
    'Bars of this symbol and timeframe before dropped_before were dropped by retention (data_retention DAG).';
