-- Time partitions (README "Data lifecycle"): the tables that grow with the feed become declaratively
-- range-partitioned on time, so old data leaves by dropping whole partitions (the data_retention
-- DAG) and every periodic cost depends on its window, not on the length of history.
--
--   bars, signals                 RANGE (timeframe, ts): each partition holds one timeframe, so
--                                 raw base bars and each candle length keep their own tier
--   order_book, news_sentiment,   RANGE (ts)
--   market_data, economic_indicators
--   late_bars, dead_letters       RANGE (recorded_at): rejects age from when they were recorded
--
-- The conversion is in place and copies nothing: each existing table is renamed <table>_default
-- and attached to its new partitioned parent as the DEFAULT partition, which holds every row that
-- no other partition covers. `services.admin migrate` then runs the partition maintenance
-- (services/db/partitions.py), which creates the time partitions ahead of need and moves the
-- default partition's rows into theirs. Because a DEFAULT partition always exists, an insert never
-- fails for lack of a partition, whatever its time (1900 included).
--
-- A partitioned table's primary key must contain its partition key, so late_bars' and dead_letters'
-- keys gain recorded_at. signals.id goes: no query reads it, and a partitioned table can hold no
-- UNIQUE constraint without the partition key.

CREATE PROCEDURE pg_temp.partition_in_place(tbl text, partition_by text, primary_key text, indexes text[])
LANGUAGE plpgsql AS $$
DECLARE
    legacy text := tbl || '_default';
    old_index record;
    grant_row record;
    definition text;
BEGIN
    EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, legacy);
    -- index names are unique per schema: the parent's get the table's names, the legacy ones move aside
    FOR old_index IN SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = legacy::regclass LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', old_index.name,
                       legacy || substr(old_index.name, length(tbl) + 1));
    END LOOP;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE '
                   'INCLUDING COMMENTS) PARTITION BY RANGE (%s)', tbl, legacy, partition_by);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (%s)', tbl, tbl || '_pkey', primary_key);
    FOREACH definition IN ARRAY indexes LOOP
        EXECUTE definition;
    END LOOP;
    EXECUTE format('COMMENT ON TABLE %I IS %L', tbl, obj_description(legacy::regclass, 'pg_class'));
    -- The parent is what services and people use: it gets every privilege the table had. Its
    -- partitions are read directly at most (written through the parent), as new tables are by default.
    FOR grant_row IN
        SELECT grantee, string_agg(privilege_type, ', ') AS privileges
        FROM information_schema.role_table_grants
        WHERE table_schema = 'public' AND table_name = legacy AND grantee <> current_user
        GROUP BY grantee
    LOOP
        EXECUTE format('GRANT %s ON %I TO %I', grant_row.privileges, tbl, grant_row.grantee);
        EXECUTE format('REVOKE ALL ON %I FROM %I', legacy, grant_row.grantee);
        IF grant_row.privileges LIKE '%SELECT%' THEN
            EXECUTE format('GRANT SELECT ON %I TO %I', legacy, grant_row.grantee);
        END IF;
    END LOOP;
    -- a unique index the parent's key does not match would keep the old, narrower key alive
    IF NOT EXISTS (SELECT FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE i.indrelid = legacy::regclass AND i.indisprimary
                     AND pg_get_indexdef(i.indexrelid) LIKE '%(' || primary_key || ')') THEN
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', legacy, legacy || '_pkey');
    END IF;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I DEFAULT', tbl, legacy);
END
$$;

-- The feed's statement triggers belong on the parents (PostgreSQL refuses transition tables on a partition).
DROP TRIGGER bars_dashboard_feed ON bars;
DROP TRIGGER signals_dashboard_feed ON signals;
ALTER TABLE signals DROP COLUMN id;

CALL pg_temp.partition_in_place('bars', 'timeframe, ts', 'symbol, timeframe, ts', '{}');
CALL pg_temp.partition_in_place('signals', 'timeframe, ts', 'symbol, timeframe, ts, rule',
                                '{"CREATE INDEX signals_ts_idx ON signals (ts DESC)"}');
CALL pg_temp.partition_in_place('order_book', 'ts', 'symbol, ts, order_type', '{}');
CALL pg_temp.partition_in_place('news_sentiment', 'ts', 'symbol, ts', '{}');
CALL pg_temp.partition_in_place('market_data', 'ts', 'symbol, ts', '{}');
CALL pg_temp.partition_in_place('economic_indicators', 'ts', 'indicator_name, ts', '{}');
CALL pg_temp.partition_in_place('late_bars', 'recorded_at', 'topic, kafka_partition, kafka_offset, recorded_at',
                                '{"CREATE INDEX late_bars_symbol_ts_idx ON late_bars (symbol, ts)"}');
CALL pg_temp.partition_in_place('dead_letters', 'recorded_at', 'topic, kafka_partition, kafka_offset, recorded_at',
                                '{}');

CREATE TRIGGER bars_dashboard_feed AFTER INSERT ON bars
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_feed_bars();
CREATE TRIGGER signals_dashboard_feed AFTER INSERT ON signals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_feed_signals();
