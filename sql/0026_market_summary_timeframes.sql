-- market_summary per timeframe (README, "Market summaries"): a summary is computed on the bars of
-- one timeframe ('raw' base bars or a rolled one such as '5m'), so its bar count, volatility and
-- hit-rate horizon are in that timeframe's bars. Existing summaries were of base bars. A '7d'
-- period joins '1h' and '1d' (for rolled timeframes: a week of base bars is too many to scan hourly).

ALTER TABLE market_summary_rules DROP CONSTRAINT market_summary_rules_symbol_period_window_end_fkey;

ALTER TABLE market_summaries
    ADD COLUMN timeframe text NOT NULL DEFAULT 'raw'
        CONSTRAINT market_summaries_timeframe_check CHECK (timeframe = 'raw' OR timeframe ~ '^[1-9][0-9]*[smhd]$');
ALTER TABLE market_summaries DROP CONSTRAINT market_summaries_period_check;
ALTER TABLE market_summaries ADD CONSTRAINT market_summaries_period_check CHECK (period IN ('1h', '1d', '7d'));
ALTER TABLE market_summaries DROP CONSTRAINT market_summaries_pkey;
ALTER TABLE market_summaries ADD PRIMARY KEY (symbol, timeframe, period, window_end);
DROP INDEX market_summaries_period_end_idx;
CREATE INDEX market_summaries_period_end_idx ON market_summaries (timeframe, period, window_end DESC);
COMMENT ON COLUMN market_summaries.timeframe IS
    'the bars summarised: raw (base bars) or a rolled timeframe; bars, volatility and horizon_bars count its candles';

ALTER TABLE market_summary_rules ADD COLUMN timeframe text NOT NULL DEFAULT 'raw';
ALTER TABLE market_summary_rules DROP CONSTRAINT market_summary_rules_pkey;
ALTER TABLE market_summary_rules ADD PRIMARY KEY (symbol, timeframe, period, window_end, rule);
ALTER TABLE market_summary_rules ADD FOREIGN KEY (symbol, timeframe, period, window_end)
    REFERENCES market_summaries (symbol, timeframe, period, window_end) ON DELETE CASCADE;

-- The newest summary per symbol, timeframe and period (the new column comes last, as in the table).
CREATE OR REPLACE VIEW market_summary_latest AS
SELECT DISTINCT ON (symbol, timeframe, period) *
FROM market_summaries
ORDER BY symbol, timeframe, period, window_end DESC;
