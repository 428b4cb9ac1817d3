-- indicator_reconciliation per timeframe (README, "Timeframes"): a run covers some timeframes of
-- some symbols, and every mismatch says which timeframe it is in. Earlier runs were of base bars.

ALTER TABLE reconciliation_runs ADD COLUMN timeframes text[] NOT NULL DEFAULT '{raw}';
-- per_symbol was {symbol: result}; it becomes {symbol: {timeframe: result}}
UPDATE reconciliation_runs
SET per_symbol = (SELECT jsonb_object_agg(key, jsonb_build_object('raw', value)) FROM jsonb_each(per_symbol))
WHERE per_symbol <> '{}'::jsonb;

ALTER TABLE reconciliation_mismatches
    ADD COLUMN timeframe text NOT NULL DEFAULT 'raw'
        CONSTRAINT reconciliation_mismatches_timeframe_check CHECK (timeframe = 'raw' OR timeframe ~ '^[1-9][0-9]*[smhd]$');
ALTER TABLE reconciliation_mismatches DROP CONSTRAINT reconciliation_mismatches_pkey;
ALTER TABLE reconciliation_mismatches ADD PRIMARY KEY (run_id, phase, symbol, timeframe, ts, indicator);
COMMENT ON COLUMN reconciliation_mismatches.indicator IS
    'an indicator column; for a rolled timeframe also a candle column (open ... base_bars); "signal <rule>" for a signal';
