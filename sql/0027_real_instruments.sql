-- Real instruments (README "Real market data"): a candle's volume is any finite number >= 0
-- (crypto trades fractions of a coin), so bars.volume and the market summaries' summed volume become
-- double precision. Existing whole volumes convert exactly (all are below 2^53). Symbols such as
-- BTC/USD and timestamps back to 1900 need no change: symbol is text and ts timestamptz.
ALTER TABLE bars ALTER COLUMN volume TYPE double precision,
    ADD CONSTRAINT bars_volume_check CHECK (volume >= 0 AND volume < 'Infinity');  -- NaN is above Infinity

-- market_summary_latest selects * from market_summaries: recreated around the change (its
-- definition as it stands now; SELECT comes back from the default privileges of sql/0001).
DO $$
DECLARE
    definition text := pg_get_viewdef('market_summary_latest'::regclass);
BEGIN
    DROP VIEW market_summary_latest;
    ALTER TABLE market_summaries ALTER COLUMN volume TYPE double precision;
    EXECUTE 'CREATE VIEW market_summary_latest AS ' || definition;
END
$$;
