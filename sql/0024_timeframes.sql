-- Timeframes: besides the base bars (one per price record, timeframe 'raw'), the processor stores
-- candles rolled up into the configured timeframes ('1m', '5m', '1h', '1d', ...; README,
-- "Timeframes"), each with its own indicators and signals. Existing rows are base bars.

ALTER TABLE bars
    ADD COLUMN timeframe text NOT NULL DEFAULT 'raw'
        CONSTRAINT bars_timeframe_check CHECK (timeframe = 'raw' OR timeframe ~ '^[1-9][0-9]*[smhd]$'),
    -- how many base bars a rolled-up candle holds (1 for a base bar)
    ADD COLUMN base_bars integer NOT NULL DEFAULT 1 CONSTRAINT bars_base_bars_check CHECK (base_bars >= 1);
ALTER TABLE bars DROP CONSTRAINT bars_pkey;
ALTER TABLE bars ADD PRIMARY KEY (symbol, timeframe, ts);  -- "AAPL's 1h candles in a time range"
COMMENT ON COLUMN bars.timeframe IS 'raw: a base bar (one price record); else the length of the rolled-up candle''s window, which starts at ts (UTC epoch aligned).';

ALTER TABLE signals
    ADD COLUMN timeframe text NOT NULL DEFAULT 'raw'
        CONSTRAINT signals_timeframe_check CHECK (timeframe = 'raw' OR timeframe ~ '^[1-9][0-9]*[smhd]$');
ALTER TABLE signals DROP CONSTRAINT signals_pkey;
ALTER TABLE signals ADD PRIMARY KEY (symbol, timeframe, ts, rule);

-- The dashboard's feed announces base bars and their signals (its chart and list show those).
CREATE OR REPLACE FUNCTION dashboard_feed_bars() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n bigint;
    first_event bigint;
    event_symbols text[];
    event_times timestamptz[];
BEGIN
    -- the statement's new base bars in time order (one pass, one sort)
    SELECT count(*), array_agg(symbol), array_agg(ts) INTO n, event_symbols, event_times
    FROM (SELECT symbol, ts FROM new_rows WHERE timeframe = 'raw' ORDER BY ts, symbol OFFSET 0) AS sorted;
    IF n = 0 THEN            -- e.g. a batch of duplicates: nothing to announce, no lock taken
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(8388345093884831076);   -- FEED_LOCK ('tickfeed'), held to commit
    first_event := nextval('dashboard_feed_id_seq');
    IF n > 1 THEN            -- reserve the block; no one else draws from the sequence under the lock
        PERFORM setval('dashboard_feed_id_seq', first_event + n - 1);
    END IF;
    INSERT INTO dashboard_feed (first_id, last_id, kind, symbols, ts)
    VALUES (first_event, first_event + n - 1, 'bar', event_symbols, event_times);
    PERFORM pg_notify('tickflow_feed', (first_event + n - 1)::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION dashboard_feed_signals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n bigint;
    first_event bigint;
    event_symbols text[];
    event_times timestamptz[];
    event_rules text[];
BEGIN
    SELECT count(*), array_agg(symbol), array_agg(ts), array_agg(rule) INTO n, event_symbols, event_times, event_rules
    FROM (SELECT symbol, ts, rule FROM new_rows WHERE timeframe = 'raw' ORDER BY ts, symbol, rule OFFSET 0) AS sorted;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(8388345093884831076);   -- FEED_LOCK, as in dashboard_feed_bars()
    first_event := nextval('dashboard_feed_id_seq');
    IF n > 1 THEN
        PERFORM setval('dashboard_feed_id_seq', first_event + n - 1);
    END IF;
    INSERT INTO dashboard_feed (first_id, last_id, kind, symbols, ts, rules)
    VALUES (first_event, first_event + n - 1, 'signal', event_symbols, event_times, event_rules);
    PERFORM pg_notify('tickflow_feed', (first_event + n - 1)::text);
    RETURN NULL;
END
$$;
