"""The storage check on the real local PostgreSQL (services/db/storage.py, checks/deployment.py check_storage),
on the lifecycle database: partitions made at known times, rows waiting in a DEFAULT partition, size
samples at known ages, and the roles that read and record them."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
import pytest
from lifecycle import LIFECYCLE_DATABASE, execute, migrate_to

from services.config import Settings
from services.core.retention import RetentionPolicy
from services.core.storage import Sample
from services.db.connect import make_engine, pg_connection, with_database
from services.db.partitions import maintain
from services.db.storage import measure, record_sample
from services.orchestration.checks.deployment import db_location, run_check
from services.orchestration.settings import OrchestrationSettings

UTC = timezone.utc
GB = 10**9


def check(lifecycle: Settings, **settings: object) -> tuple[str, str, dict]:
    """The storage check as deployment_check runs it: the writer login, through run_check."""
    orch = OrchestrationSettings().with_updates(database_url=lifecycle.database_url, **settings)
    engine = make_engine(orch.database_url)
    try:
        result = run_check("storage", orch, engine)
    finally:
        engine.dispose()
    return result.status, result.message, result.details


def test_the_storage_check_measures_judges_and_records(lifecycle: Settings, tmp_path: Path) -> None:
    migrate_to(lifecycle, tmp_path)
    where = db_location(lifecycle.database_url)
    now = datetime.now(UTC)

    # 1. maintenance last ran three days ago: the daily slices reach 4-5 days ahead, and a bar 5.5 days
    #    ahead waits in the DEFAULT partition
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        maintain(conn, RetentionPolicy(), lifecycle.timeframes, now - timedelta(days=3))
    execute(lifecycle, "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume) "
                       "VALUES ('AAPL', 'raw', %s, 1, 1, 1, 1, 1)", (now + timedelta(days=5.5),))
    status, message, details = check(lifecycle)
    assert status == "failed"
    daily = [s for s, days in details["ahead_days"].items() if days < 6]
    assert daily == ["bars/raw", "signals/raw", "order_book", "news_sentiment", "market_data",
                     "economic_indicators", "late_bars", "dead_letters", "stream_checkpoints"]
    assert all(4 < details["ahead_days"][s] <= 5 for s in daily)
    assert details["missing_ahead"] == daily and details["ahead_days"]["bars/1d"] > 20  # a year each
    assert re.fullmatch(
        rf"PostgreSQL at {re.escape(where)}: partitions reach only 4\.\d days ahead \(at least 6 wanted\) for "
        r"bars/raw, signals/raw, order_book, news_sentiment and 5 more: did data_retention run\? \(rows beyond them "
        r"land in DEFAULT partitions; python -m services\.admin partitions creates them\) \(\d+\.\d MB, growth not "
        r"known yet \(it needs samples at least an hour apart\), volume size unknown "
        r"\(TICKFLOW_STORAGE_VOLUME_BYTES\), partitions at least 4\.\d days ahead, rows waiting in DEFAULT "
        r"partitions: bars 1\)", message), message
    assert details["default_rows"] == {"bars": 1, **{t: 0 for t in details["default_rows"] if t != "bars"}}
    assert details["table_bytes"]["bars"] > 0 and details["growth_bytes_per_day"] is None
    first = execute(lifecycle, "SELECT sampled_at, database_bytes FROM storage_samples")
    assert first == [(datetime.fromisoformat(details["measured_at"]), details["database_bytes"])], \
        "the check recorded its size as a sample"

    # 2. maintenance caught up: partitions a week ahead, the bar homed; a sample two days old gives the
    #    growth (200 GB smaller: a big, exact figure the shared server's other databases cannot blur)
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        assert maintain(conn, RetentionPolicy(), lifecycle.timeframes, now).homed_rows == 1
    baseline = details["database_bytes"] - 200 * GB
    two_days_ago = execute(lifecycle, "INSERT INTO storage_samples VALUES (now() - interval '2 days', %s) "
                                      "RETURNING sampled_at", (baseline,))[0][0]
    status, message, details = check(lifecycle)
    assert status == "ok", message
    measured = datetime.fromisoformat(details["measured_at"])
    span = (measured - two_days_ago) / timedelta(days=1)
    assert details["growth_since"] == two_days_ago.isoformat() and 2 <= span < 2.01
    expected = round((details["database_bytes"] - baseline) / span)
    assert details["growth_bytes_per_day"] == expected and 99.5 * GB < expected < 100.5 * GB
    assert details["missing_ahead"] == [] and min(details["ahead_days"].values()) > 6.5
    assert set(details["default_rows"].values()) == {0}
    assert re.fullmatch(rf"PostgreSQL at {re.escape(where)}: \d+\.\d MB, \+(99\.\d|100\.\d) GB/day over 2\.0 days, "
                        r"volume size unknown \(TICKFLOW_STORAGE_VOLUME_BYTES\), partitions at least \d\.\d days ahead",
                        message), message
    assert len(execute(lifecycle, "SELECT 1 FROM storage_samples")) == 2, "one sample per 15 minutes at most"

    # 3. the volume: 30 days left passes, 3 days left (limit 7) fails, saying so
    used, growth = details["used_bytes"], details["growth_bytes_per_day"]
    status, message, details = check(lifecycle, storage_volume_bytes=used + 30 * growth)
    assert status == "ok" and 29.9 < details["days_left"] < 30.1 and details["filling"]
    assert re.search(r", 30 days left on a \d+\.\d TiB volume \(\d+\.\d MB used by all databases\), ", message), message
    status, message, details = check(lifecycle, storage_volume_bytes=used + 3 * growth, check_storage_min_days=7)
    assert status == "failed" and 2.9 < details["days_left"] < 3.1
    assert message.startswith(f"PostgreSQL at {where}: the volume is full in 3.0 days (limit 7): "), message
    assert "shorten a retention tier (TICKFLOW_RETENTION_*) or grow the volume" in message
    status, _, details = check(lifecycle, storage_volume_bytes=used + 3 * growth, check_storage_min_days=2)
    assert status == "ok"


def test_every_login_can_read_the_figures_and_the_writer_records_them(lifecycle: Settings, tmp_path: Path) -> None:
    """The dashboard's read-only login measures (sizes, catalogs, DEFAULT partitions, samples); the
    writer records a sample and prunes those older than 8 days; the readers cannot."""
    migrate_to(lifecycle, tmp_path)
    now = datetime.now(UTC)
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        maintain(conn, RetentionPolicy(), lifecycle.timeframes, now)
    execute(lifecycle, "INSERT INTO storage_samples VALUES (now() - interval '9 days', 1), "
                       "(now() - interval '1 day', 2)")
    dashboard = with_database(lifecycle.dashboard_database_url, LIFECYCLE_DATABASE)
    with pg_connection(dashboard, "t") as conn:
        conn.set_session(readonly=True)
        figures = measure(conn, lifecycle.timeframes, 100 * 2**30)
    assert figures.missing_ahead == [] and figures.growth is not None and figures.growth.since.bytes == 2
    assert figures.days_left is not None and figures.days_left > 0
    with pg_connection(lifecycle.database_url, "t") as conn:
        assert measure(conn, lifecycle.timeframes, None).database_bytes > 0
        assert record_sample(conn, Sample(figures.measured_at, figures.database_bytes))
        assert not record_sample(conn, Sample(figures.measured_at + timedelta(minutes=14), 5)), "15 minutes apart"
    assert [n for _, n in execute(lifecycle, "SELECT * FROM storage_samples ORDER BY 1")] == [
        2, figures.database_bytes], "the 9-day-old sample was deleted"
    with pg_connection(dashboard, "t") as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DELETE FROM storage_samples")
