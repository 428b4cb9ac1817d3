-- The dashboard's feed: an append-only outbox of the bars and signals committed to PostgreSQL,
-- written by statement-level triggers inside the transaction that inserts them (the processor's
-- batch transaction), plus a NOTIFY on channel `tickflow_feed`. PostgreSQL delivers NOTIFY only
-- when that transaction commits, so the dashboard never announces what was not committed, and
-- there is no second write path: the feed is a by-product of the one write.
--
-- Every inserted bar and signal is an event with its own id. One INSERT statement (a batch) gets
-- the contiguous ids first_id .. last_id and is stored as ONE feed row holding the events' keys
-- in arrays (event first_id + i is element i + 1): one small row per batch, not per bar, keeps the
-- processor's hot path cheap. The dashboard joins the keys back to bars/signals when it reads.
--
-- Ids are commit-ordered. A sequence alone would not do: two processors committing concurrently
-- can draw their values in one order and commit in the other, and a reader that saw the later id
-- would skip the earlier one for good. So each trigger first takes a transaction-level advisory
-- lock (FEED_LOCK below) and only then draws ids. The lock is held until the transaction ends,
-- and PostgreSQL releases locks only after the commit is visible to new snapshots; so the next
-- transaction draws its ids only after the previous one committed (or rolled back) completely.
-- Hence: whenever a reader sees event id X, every id below X that will ever exist is already
-- visible, and "every id above the last one seen" resumes without gaps. Ids drawn by a rolled-back
-- batch are never used (a gap in numbering, not in data). The lock serialises only the tail of
-- concurrent batch transactions (from their bars insert to their commit).

CREATE SEQUENCE dashboard_feed_id_seq AS bigint;

CREATE TABLE dashboard_feed (
    first_id    bigint        PRIMARY KEY,                -- id of the batch's first event
    last_id     bigint        NOT NULL UNIQUE,            -- = first_id + cardinality(symbols) - 1
    kind        text          NOT NULL CHECK (kind IN ('bar', 'signal')),
    symbols     text[]        NOT NULL,                   -- per event: symbol,
    ts          timestamptz[] NOT NULL,                   -- time of the bar / signal,
    rules       text[],                                   -- and (signals) rule: with symbol and ts, the key
    created_at  timestamptz   NOT NULL DEFAULT now(),     -- start of the writing transaction
    CHECK (last_id = first_id + cardinality(symbols) - 1 AND cardinality(ts) = cardinality(symbols)),
    CHECK ((kind = 'signal') = (rules IS NOT NULL))
);
CREATE INDEX dashboard_feed_created_brin ON dashboard_feed USING brin (created_at);
COMMENT ON TABLE dashboard_feed IS
    'Bars and signals in commit order, one row per inserting statement (see dashboard_feed_events); written only by triggers on bars and signals.';

-- One row per event, for people: SELECT * FROM dashboard_feed_events WHERE id > 1000 ORDER BY id.
-- (Programs should filter on dashboard_feed.last_id first: this view unnests every batch.)
CREATE VIEW dashboard_feed_events AS
SELECT f.first_id + e.ord - 1 AS id, f.kind, e.symbol, e.ts, e.rule, f.created_at
FROM dashboard_feed f
CROSS JOIN LATERAL unnest(f.symbols, f.ts, f.rules) WITH ORDINALITY AS e(symbol, ts, rule, ord);

-- Only the triggers (SECURITY DEFINER, owned by the migration owner) insert; the dashboard prunes.
REVOKE INSERT, UPDATE, TRUNCATE ON dashboard_feed FROM tickflow_writer;
REVOKE ALL ON SEQUENCE dashboard_feed_id_seq FROM tickflow_writer;

CREATE FUNCTION dashboard_feed_bars() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n bigint;
    first_event bigint;
    event_symbols text[];
    event_times timestamptz[];
BEGIN
    -- the statement's new rows in time order (one pass, one sort)
    SELECT count(*), array_agg(symbol), array_agg(ts) INTO n, event_symbols, event_times
    FROM (SELECT symbol, ts FROM new_rows ORDER BY ts, symbol OFFSET 0) AS sorted;
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

CREATE FUNCTION dashboard_feed_signals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n bigint;
    first_event bigint;
    event_symbols text[];
    event_times timestamptz[];
    event_rules text[];
BEGIN
    SELECT count(*), array_agg(symbol), array_agg(ts), array_agg(rule) INTO n, event_symbols, event_times, event_rules
    FROM (SELECT symbol, ts, rule FROM new_rows ORDER BY ts, symbol, rule OFFSET 0) AS sorted;
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

REVOKE ALL ON FUNCTION dashboard_feed_bars(), dashboard_feed_signals() FROM PUBLIC;

CREATE TRIGGER bars_dashboard_feed AFTER INSERT ON bars
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_feed_bars();
CREATE TRIGGER signals_dashboard_feed AFTER INSERT ON signals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_feed_signals();
