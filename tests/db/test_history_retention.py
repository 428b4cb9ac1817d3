"""The platform's own history leaves by its tier (services/db/history.py) on the real local
PostgreSQL: deployment check results and reconciliation runs after 30 days, finished webhook
deliveries after 7, their dependants with them; a pending delivery and anything younger stay."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lifecycle import execute, migrate_to

from services.config import Settings
from services.core.retention import RetentionPolicy
from services.db.connect import pg_connection
from services.db.history import prune_history

UTC = timezone.utc
DAYS = [1, 6, 8, 29, 31, 45]  # ages of the rows, in days (and an hour)


def populate(settings: Settings, now: datetime) -> None:
    times = [now - timedelta(days=d, hours=1) for d in DAYS]
    execute(settings, """
        INSERT INTO deployment_checks (run_id, check_name, status, message, duration_ms, checked_at)
        SELECT 'run-' || n, c, 'ok', 'fine', 1.5, t
        FROM unnest(%(t)s::timestamptz[]) WITH ORDINALITY u(t, n), unnest('{kafka,storage,lag}'::text[]) c;

        INSERT INTO reconciliation_runs (run_id, window_start, window_end, symbols, tolerance, max_mismatches,
                                         repair, status, started_at)
        SELECT 'rec-' || n, t - interval '1 hour', t, '{AAPL}', 1e-9, 10, false,
               CASE WHEN n %% 2 = 0 THEN 'running' ELSE 'failed' END, t  -- 'running': a killed worker's row
        FROM unnest(%(t)s::timestamptz[]) WITH ORDINALITY u(t, n);
        INSERT INTO reconciliation_mismatches (run_id, phase, symbol, ts, indicator, stored_value, expected_value)
        SELECT run_id, 'check', 'AAPL', window_start, i, 1, 2 FROM reconciliation_runs, unnest('{rsi,sma}'::text[]) i;

        INSERT INTO webhook_deliveries (endpoint, idempotency_key, feed_id, symbol, ts, rule, side, body, status,
                                        created_at, finished_at)
        SELECT 'https://hooks.example/' || s, 'k-' || n, n, 'AAPL', t, 'rsi', 'BUY', '{}', s, t,
               CASE WHEN s = 'pending' THEN NULL ELSE t + interval '1 minute' END
        FROM unnest(%(t)s::timestamptz[]) WITH ORDINALITY u(t, n), unnest('{pending,delivered,failed}'::text[]) s;
        INSERT INTO webhook_attempts (delivery_id, attempt, outcome)
        SELECT id, a, 'retry' FROM webhook_deliveries, generate_series(1, 2) a;
        """, {"t": times})


def counts(settings: Settings) -> dict[str, int]:
    tables = ["deployment_checks", "reconciliation_runs", "reconciliation_mismatches", "webhook_deliveries",
              "webhook_attempts"]
    return {t: execute(settings, f"SELECT count(*) FROM {t}")[0][0] for t in tables}


@pytest.fixture
def history(lifecycle: Settings, tmp_path: Path) -> tuple[Settings, datetime]:
    migrate_to(lifecycle, tmp_path)
    now = datetime.now(UTC)
    populate(lifecycle, now)
    return lifecycle, now


def test_each_table_keeps_its_tier_and_the_dry_run_counts_what_then_goes(history: tuple[Settings, datetime]) -> None:
    settings, now = history
    before = counts(settings)
    with pg_connection(settings.admin_database_url, "t") as conn:
        listed = prune_history(conn, RetentionPolicy(), now, dry_run=True)
        assert counts(settings) == before, "a dry run changes nothing"
        pruned = prune_history(conn, RetentionPolicy(), now, batch=2)  # several batches per table
    old_30, old_7 = sum(d >= 30 for d in DAYS), sum(d >= 7 for d in DAYS)
    expected = {"deployment_checks": 3 * old_30, "reconciliation_runs": old_30, "webhook_deliveries": 2 * old_7}
    assert {p.table: p.rows for p in listed} == {p.table: p.rows for p in pruned} == expected
    assert {p.table: p.cutoff for p in pruned} == {"deployment_checks": now - timedelta(days=30),
                                                   "reconciliation_runs": now - timedelta(days=30),
                                                   "webhook_deliveries": now - timedelta(days=7)}
    assert counts(settings) == {
        "deployment_checks": before["deployment_checks"] - 3 * old_30,
        "reconciliation_runs": before["reconciliation_runs"] - old_30,
        "reconciliation_mismatches": before["reconciliation_mismatches"] - 2 * old_30,  # with their runs
        "webhook_deliveries": before["webhook_deliveries"] - 2 * old_7,
        "webhook_attempts": before["webhook_attempts"] - 2 * 2 * old_7,  # with their deliveries
    }
    # what is left: younger than its tier, or a delivery still pending, however old
    assert execute(settings, "SELECT min(checked_at) > %s FROM deployment_checks", (now - timedelta(days=30),)) \
        == [(True,)]
    assert execute(settings, "SELECT status, count(*) FILTER (WHERE created_at < %s) FROM webhook_deliveries "
                             "GROUP BY status ORDER BY status", (now - timedelta(days=7),)) \
        == [("delivered", 0), ("failed", 0), ("pending", old_7)]


def test_a_tier_of_zero_days_keeps_its_tables(history: tuple[Settings, datetime]) -> None:
    settings, now = history
    before = counts(settings)
    with pg_connection(settings.admin_database_url, "t") as conn:
        pruned = prune_history(conn, RetentionPolicy(history_days=0), now)
    assert {p.table: p.rows for p in pruned} == {"webhook_deliveries": 2 * sum(d >= 7 for d in DAYS)}
    after = counts(settings)
    assert {t: after[t] for t in ("deployment_checks", "reconciliation_runs", "reconciliation_mismatches")} \
        == {t: before[t] for t in ("deployment_checks", "reconciliation_runs", "reconciliation_mismatches")}
