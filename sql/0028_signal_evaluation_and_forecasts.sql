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
