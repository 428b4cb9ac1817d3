-- Per-symbol market summaries over the last hour ('1h') and day ('1d') before window_end,
-- written by the market_summary DAG (services/dashboard/summary.py); shown on the dashboard.
-- A run replaces the rows of its (period, window_end), so re-running it is harmless.

CREATE TABLE market_summaries (
    symbol        text             NOT NULL,
    period        text             NOT NULL CHECK (period IN ('1h', '1d')),
    window_start  timestamptz      NOT NULL,
    window_end    timestamptz      NOT NULL,        -- exclusive
    bars          bigint           NOT NULL CHECK (bars > 0),
    first_ts      timestamptz      NOT NULL,
    last_ts       timestamptz      NOT NULL,
    open          double precision NOT NULL,        -- first bar's open
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,        -- last bar's close
    return        double precision NOT NULL,        -- close / open - 1
    volatility    double precision,                 -- sample std dev of log(close / previous close); NULL under 2 returns
    volume        bigint           NOT NULL,
    buy_signals   integer          NOT NULL,
    sell_signals  integer          NOT NULL,
    horizon_bars  integer          NOT NULL,        -- N in the hit rate
    evaluated     integer          NOT NULL,        -- signals with a bar N bars later inside the window
    hits          integer          NOT NULL,        -- ... whose close moved in the signal's direction
    hit_rate      double precision,                 -- hits / evaluated; NULL when nothing was evaluated
    run_id        text,
    computed_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, period, window_end),
    CHECK (window_start < window_end)
);
CREATE INDEX market_summaries_period_end_idx ON market_summaries (period, window_end DESC);

-- Signals by rule (and side) with each rule's hit rate, for the same windows.
CREATE TABLE market_summary_rules (
    symbol        text             NOT NULL,
    period        text             NOT NULL,
    window_end    timestamptz      NOT NULL,
    rule          text             NOT NULL,
    buy_signals   integer          NOT NULL,
    sell_signals  integer          NOT NULL,
    evaluated     integer          NOT NULL,
    hits          integer          NOT NULL,
    hit_rate      double precision,
    PRIMARY KEY (symbol, period, window_end, rule),
    FOREIGN KEY (symbol, period, window_end) REFERENCES market_summaries ON DELETE CASCADE
);

-- The newest summary per symbol and period.
CREATE VIEW market_summary_latest AS
SELECT DISTINCT ON (symbol, period) *
FROM market_summaries
ORDER BY symbol, period, window_end DESC;
