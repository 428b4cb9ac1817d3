-- What the signals are worth (README, "Signal evaluation"): per symbol, timeframe and rule, what
-- following the signals would have done over a window, beside buy-and-hold over the same bars.
-- Written by the signal_evaluation DAG (services/orchestration/signal_evaluation.py); a run
-- replaces the rows of its (symbol, timeframe, rule, window_end, fee_bps).
CREATE TABLE signal_evaluations (
    symbol             text             NOT NULL,
    timeframe          text             NOT NULL,
    rule               text             NOT NULL,
    window_start       timestamptz      NOT NULL,
    window_end         timestamptz      NOT NULL,   -- exclusive
    fee_bps            double precision NOT NULL CHECK (fee_bps >= 0),   -- paid on every entry and exit
    first_ts           timestamptz      NOT NULL,   -- the span: the first and last bar in the window
    last_ts            timestamptz      NOT NULL,
    bars               integer          NOT NULL CHECK (bars > 0),
    buy_signals        integer          NOT NULL,
    sell_signals       integer          NOT NULL,
    trades             integer          NOT NULL,   -- closed trades (BUY while flat ... SELL while long)
    wins               integer          NOT NULL,   -- closed trades with a return > 0 after fees
    win_rate           double precision,           -- wins / trades; NULL without a closed trade
    mean_trade_return  double precision,           -- mean return per closed trade after fees; NULL without one
    total_return       double precision NOT NULL,  -- following the signals (an open trade sold at the last close)
    sharpe             double precision,           -- annualised by the span's bars per year; NULL if undefined
    max_drawdown       double precision NOT NULL,  -- largest fall from a running peak of equity, in [0, 1]
    exposure           double precision NOT NULL,  -- share of the span with a position
    open_trade_return  double precision,           -- the trade still open after the last bar, if any
    bh_total_return    double precision NOT NULL,  -- buy-and-hold: in at the first close, out at the last
    bh_sharpe          double precision,
    bh_max_drawdown    double precision NOT NULL,
    run_id             text,
    computed_at        timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, timeframe, rule, window_end, fee_bps),
    CHECK (window_start < window_end)
);
CREATE INDEX signal_evaluations_end_idx ON signal_evaluations (window_end DESC);
GRANT INSERT, UPDATE ON signal_evaluations TO tickflow_writer;

-- The newest evaluation per symbol, timeframe and rule.
CREATE VIEW signal_evaluation_latest AS
SELECT DISTINCT ON (symbol, timeframe, rule) *
FROM signal_evaluations
ORDER BY symbol, timeframe, rule, window_end DESC, computed_at DESC;

-- Forecasts of the daily candles (README, "Forecasts"), written by the market_forecast DAG
-- (services/orchestration/market_forecast.py): per symbol and target (close, high, low, volume),
-- the next `horizon` days after the last daily candle (as_of) with 80 and 95 percent intervals, and the
-- chosen model's cross-validated skill beside them. A run replaces the rows of its (symbol, as_of).
CREATE TABLE market_forecasts (
    symbol        text             NOT NULL,
    target        text             NOT NULL CHECK (target IN ('close', 'high', 'low', 'volume')),
    as_of         timestamptz      NOT NULL,   -- the last daily candle used
    step          integer          NOT NULL CHECK (step >= 1),
    ts            timestamptz      NOT NULL,   -- the day forecast (trading days if the history has no weekend)
    model         text             NOT NULL,   -- naive, drift, ets or theta
    forecast      double precision NOT NULL,   -- the median
    lo_80         double precision NOT NULL,
    hi_80         double precision NOT NULL,
    lo_95         double precision NOT NULL,
    hi_95         double precision NOT NULL,
    mase          double precision NOT NULL,   -- the model's cross-validated MASE ...
    naive_mase    double precision NOT NULL,   -- ... and naive's on the same windows
    beats_naive   boolean          NOT NULL,   -- false: no model beat naive, and this is naive's forecast
    history_bars  integer          NOT NULL,
    run_id        text,
    computed_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, as_of, target, step)
);

-- Every candidate's rolling-origin cross-validation, the baselines included.
CREATE TABLE forecast_evaluations (
    symbol        text             NOT NULL,
    target        text             NOT NULL,
    as_of         timestamptz      NOT NULL,
    model         text             NOT NULL,
    selected      boolean          NOT NULL,   -- the model market_forecasts holds
    mase          double precision,            -- NULL when the model could not be fitted (error says why)
    smape         double precision,            -- percent
    coverage_80   double precision,            -- share of actual values inside the 80 percent interval
    coverage_95   double precision,
    cv_windows    integer          NOT NULL,
    horizon       integer          NOT NULL,
    error         text,
    run_id        text,
    computed_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, as_of, target, model)
);
GRANT INSERT, DELETE ON market_forecasts, forecast_evaluations TO tickflow_writer;

-- Each symbol's newest forecast.
CREATE VIEW market_forecast_latest AS
SELECT f.* FROM market_forecasts f
JOIN (SELECT symbol, max(as_of) AS as_of FROM market_forecasts GROUP BY symbol) n USING (symbol, as_of);
