"""Time partitions on the real local PostgreSQL (sql/0030_time_partitions.sql, services/db/partitions.py).

These tests rebuild the schema from nothing, so they use a database of their own (tests/lifecycle.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
import pytest
from lifecycle import execute, migrate_to

from services.config import Settings
from services.core.retention import AHEAD, RetentionPolicy
from services.db.connect import pg_connection
from services.db.partitions import (
    PARTITIONED,
    default_rows,
    drop_expired,
    maintain,
    missing_ahead,
    partitions,
    utc_session,
)
from services.processor.sinks import BAR_SINK, SINKS, BarRow, DeadLetterRow, SignalRow

UTC = timezone.utc
FIRST_PARTITIONED = "0030"
CONVERTED = [t for t in PARTITIONED if t.kind != "checkpoints"]  # what existed before 0030, converted by it
# every column of every partitioned table (but signals.id, which the conversion drops), as text
ROW_QUERIES = {t.name: f"SELECT md5(string_agg(r::text, '|' ORDER BY r::text)), count(*) FROM (SELECT {columns} "
                       f"FROM {t.name}) r"
               for t in CONVERTED
               for columns in ["symbol, timeframe, ts, rule, side, price, value, reference, created_at"
                               if t.name == "signals" else "*"]}


def populate_unpartitioned(settings: Settings, now: datetime) -> None:
    """A database as the last unpartitioned schema left it: every kind of row, from 1900 to now."""
    hours = [now - timedelta(hours=h) for h in range(0, 24 * 12, 5)]
    execute(settings, """
        INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume, base_bars, rsi)
        SELECT s, tf, t, 10, 11, 9, 10.5, 100, CASE tf WHEN 'raw' THEN 1 ELSE 60 END, NULLIF(random(), 2)
        FROM unnest(%s::timestamptz[]) t, unnest('{AAPL,MSFT}'::text[]) s, unnest('{raw,1m,1d}'::text[]) tf;
        INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume)
        VALUES ('GOOG', 'raw', '1900-01-02', 1, 1, 1, 1, 0), ('GOOG', 'raw', '2004-08-19', 50, 52, 48, 51, 44659000);
        INSERT INTO signals (symbol, timeframe, ts, rule, side, price, value, reference)
        SELECT 'AAPL', tf, t, 'rsi', 'BUY', 10, 25, 30 FROM unnest(%s::timestamptz[]) t, unnest('{raw,1m}'::text[]) tf;
        INSERT INTO order_book SELECT 'AAPL', t, 'buy', 10, 5 FROM unnest(%s::timestamptz[]) t;
        INSERT INTO news_sentiment SELECT 'AAPL', t, 0.5, 0.7 FROM unnest(%s::timestamptz[]) t;
        INSERT INTO market_data SELECT 'AAPL', t, 1e12, 30 FROM unnest(%s::timestamptz[]) t;
        INSERT INTO economic_indicators SELECT 'GDP', t, 2.5 FROM unnest(%s::timestamptz[]) t;
        INSERT INTO late_bars SELECT 'market.stock_prices', 0, n, 'AAPL', t, 'late', t, '{"x": 1}', t
        FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS u(t, n);
        INSERT INTO dead_letters SELECT 'market.stock_prices', 1, n, 'not json', '\\x00ff', t
        FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS u(t, n);
        """, (hours,) * 8)


def snapshot(settings: Settings) -> dict[str, tuple]:
    return {table: execute(settings, sql)[0] for table, sql in ROW_QUERIES.items()}


def acl(settings: Settings, table: str) -> list[tuple]:
    return execute(settings, "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
                             "WHERE table_name = %s ORDER BY 1, 2", (table,))


def test_a_populated_unpartitioned_database_is_converted_in_place(lifecycle: Settings, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    migrate_to(lifecycle, tmp_path, str(int(FIRST_PARTITIONED) - 1).zfill(4))
    populate_unpartitioned(lifecycle, now)
    before = snapshot(lifecycle)
    grants_before = {t.name: acl(lifecycle, t.name) for t in CONVERTED}
    assert before["bars"][1] == 2 * 3 * 58 + 2 and before["dead_letters"][1] == 58

    migrate_to(lifecycle, tmp_path)
    assert snapshot(lifecycle) == before, "converting must keep every row, unchanged"
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        report = maintain(conn, RetentionPolicy(), lifecycle.timeframes, now)
        with conn, conn.cursor() as cur:
            utc_session(cur)
            assert all(default_rows(cur, t) == 0 for t in PARTITIONED), "every row has a time partition"
            bars = partitions(cur, PARTITIONED[0])
    assert report.homed_rows == sum(count for _, count in before.values())
    assert snapshot(lifecycle) == before, "homing must keep every row, unchanged"
    assert {t.name: acl(lifecycle, t.name) for t in CONVERTED} == grants_before
    names = {p.name for p in bars}
    # recent raw bars by day, the 1900 and 2004 replays by year, 1m candles by month, 1d in years
    assert {"bars_raw_1900", "bars_raw_2004", f"bars_raw_{now:%Y%m%d}", f"bars_1m_{now:%Y%m}",
            f"bars_1d_{now:%Y}"} <= names
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        assert missing_ahead(conn, RetentionPolicy(), lifecycle.timeframes, now) == []


def test_the_processor_writes_every_contract_edge_into_partitions(lifecycle: Settings, tmp_path: Path) -> None:
    """Rows at 1900, now and a few seconds ahead land; a partition made later takes in waiting rows;
    the dashboard feed still announces the base bars of one insert; the writer may not touch partitions."""
    now = datetime.now(UTC)
    migrate_to(lifecycle, tmp_path)
    times = [datetime(1900, 1, 1, tzinfo=UTC), now - timedelta(days=40), now, now + timedelta(seconds=4),
             now + AHEAD + timedelta(days=30)]  # the last: beyond every partition made ahead
    bar = dict(open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0, base_bars=1, sma=None, ema_fast=None,
               ema_slow=None, rsi=None, macd=None, macd_signal=None, macd_hist=None, bb_middle=None,
               bb_upper=None, bb_lower=None)
    rows = [BarRow(symbol="AAPL", timeframe="raw", ts=t.timestamp(), **bar) for t in times]
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        maintain(conn, RetentionPolicy(), lifecycle.timeframes, now)
    with pg_connection(lifecycle.database_url, "t") as conn, conn, conn.cursor() as cur:  # the services' login
        cur.execute(BAR_SINK.create_staging_sql())
        by_table = {BarRow: rows, SignalRow: [SignalRow("AAPL", "raw", t.timestamp(), "rsi", "SELL", 1, 75, 70)
                                              for t in times],
                    DeadLetterRow: [DeadLetterRow("market.stock_prices", 0, 7, "bad", b"\x00")]}
        for sink in SINKS:
            if sink.row in by_table:
                sink.write(cur, by_table[sink.row])
    with pg_connection(lifecycle.database_url, "t") as conn, conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(f"INSERT INTO bars_raw_{now:%Y%m%d} SELECT * FROM bars LIMIT 0")
    where = execute(lifecycle, "SELECT ts, tableoid::regclass::text FROM bars ORDER BY ts")
    assert [t for t, _ in where] == times
    assert [p for _, p in where][2] == f"bars_raw_{now:%Y%m%d}"
    assert [p for _, p in where][4] == "bars_default"  # waits for its partition ...
    assert execute(lifecycle, "SELECT kind, cardinality(symbols) FROM dashboard_feed ORDER BY first_id") == [
        ("bar", 5), ("signal", 5)]
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        report = maintain(conn, RetentionPolicy(), lifecycle.timeframes, now)
    where = dict(execute(lifecycle, "SELECT ts, tableoid::regclass::text FROM bars"))
    assert where[times[4]] == f"bars_raw_{times[4]:%Y%m%d}"  # ... and gets its day, the 1900 bar its year
    assert where[times[0]] == "bars_raw_1900" and report.homed_rows >= 2
    assert execute(lifecycle, "SELECT count(*) FROM dashboard_feed")[0][0] == 2, "homing announces nothing again"


def test_retention_drops_exactly_the_expired_partitions_and_the_dry_run_lists_them(
        lifecycle: Settings, tmp_path: Path) -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    migrate_to(lifecycle, tmp_path)
    days = [now - timedelta(days=d) for d in range(0, 40)]
    execute(lifecycle, """
        INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume)
        SELECT 'AAPL', tf, t, 1, 1, 1, 1, 1 FROM unnest(%s::timestamptz[]) t, unnest('{raw,1m,1d}'::text[]) tf;
        INSERT INTO dead_letters SELECT 't', 0, n, 'bad', '\\x00', t
        FROM unnest(%s::timestamptz[]) WITH ORDINALITY u(t, n);
        INSERT INTO order_book SELECT 'AAPL', t, 'sell', 1, 1 FROM unnest(%s::timestamptz[]) t;
        """, (days, days, days))
    policy = RetentionPolicy(bars_days=(("raw", 7), ("1m", 20)), market_days=3, reject_days=30)
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        maintain(conn, policy, ("1m", "1d"), now)
        listed = drop_expired(conn, policy, now, dry_run=True).partitions
        assert snapshot(lifecycle)["bars"][1] == 120, "a dry run drops nothing"
        dropped = drop_expired(conn, policy, now).partitions
        with conn, conn.cursor() as cur:
            utc_session(cur)
            kept = {t.name: partitions(cur, t) for t in PARTITIONED}
    assert [p.name for p in dropped] == [p.name for p in listed] and dropped
    assert sum(p.rows or 0 for p in dropped) == 120 - execute(lifecycle, "SELECT count(*) FROM bars")[0][0] + (
        40 - execute(lifecycle, "SELECT count(*) FROM dead_letters")[0][0]) + (
        40 - execute(lifecycle, "SELECT count(*) FROM order_book")[0][0])
    assert all(p.bytes > 0 for p in dropped)
    oldest = {name: min(execute(lifecycle, f"SELECT min(ts) FROM bars WHERE timeframe = '{name}'")[0])
              for name in ("raw", "1m", "1d")}
    # every kept row is within its tier's days plus at most one partition; nothing younger was dropped
    assert now - timedelta(days=8) <= oldest["raw"] <= now - timedelta(days=6)
    assert oldest["1m"] == now - timedelta(days=20), "the day holding the cutoff is kept"
    assert oldest["1d"] == days[-1], "kept for good"
    raw_days = execute(lifecycle, "SELECT count(DISTINCT date_trunc('day', ts, 'UTC')) FROM bars "
                                  "WHERE timeframe = 'raw'")[0][0]
    assert raw_days == 8  # today and the 7 days before: a day's partition leaves once wholly older than 7 days
    assert execute(lifecycle, "SELECT count(*) FROM dead_letters")[0][0] == 31
    assert execute(lifecycle, "SELECT count(*) FROM order_book")[0][0] == 4
    assert all(p.range.hi > now - timedelta(days=7) for p in kept["bars"] if p.timeframe == "raw")
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        assert drop_expired(conn, policy, now).partitions == [], "dropping again finds nothing"
    # a recomputation can tell that AAPL's raw and 1m bars were cut, and where; its 1d bars never were
    assert execute(lifecycle, "SELECT timeframe, dropped_before FROM dropped_history WHERE symbol = 'AAPL' "
                              "ORDER BY 1") == [("1m", datetime(2026, 11, 17, tzinfo=UTC)),
                                                ("raw", datetime(2026, 11, 30, tzinfo=UTC))]
