"""data_retention with dag.test() on the lifecycle database (tests/lifecycle.py): the dry run lists
what the real run then drops, exactly; nothing younger than its tier leaves; the platform's own history and
Airflow's are cleaned."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from dags_support import task_states, xcom
from lifecycle import execute, migrate_to

from services.config import Settings
from services.db.connect import pg_connection
from services.db.partitions import PARTITIONED, maintain, partitions, utc_session

UTC = timezone.utc


def kept(settings: Settings) -> dict[str, int]:
    return {t.name: execute(settings, f"SELECT count(*) FROM {t.name}")[0][0] for t in PARTITIONED}


def test_data_retention_drops_what_its_dry_run_listed_and_nothing_younger(
        dag_bag: dict[str, Any], lifecycle: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate_to(lifecycle, tmp_path)
    now = datetime.now(UTC)
    ages = [timedelta(days=d, hours=1) for d in range(0, 45, 3)]  # 1 h .. 43 days 1 h old
    times = [now - age for age in ages]
    execute(lifecycle, """
        INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume)
        SELECT 'AAPL', tf, t, 1, 1, 1, 1, 1 FROM unnest(%(t)s::timestamptz[]) t, unnest('{raw,1m,1h}'::text[]) tf;
        INSERT INTO bars (symbol, ts, open, high, low, close, volume) VALUES ('GOOG', '2004-08-19', 1, 1, 1, 1, 1);
        INSERT INTO signals (symbol, ts, rule, side, price, value, reference)
        SELECT 'AAPL', t, 'rsi', 'BUY', 1, 20, 30 FROM unnest(%(t)s::timestamptz[]) t;
        INSERT INTO news_sentiment SELECT 'AAPL', t, 0.1, 0.2 FROM unnest(%(t)s::timestamptz[]) t;
        INSERT INTO dead_letters SELECT 't', 0, n, 'bad', '\\x00', t
        FROM unnest(%(t)s::timestamptz[]) WITH ORDINALITY u(t, n);
        """, {"t": times})
    # the platform's own history (30-day tier): a check result of 40 days ago goes, one of 20 stays
    execute(lifecycle, "INSERT INTO deployment_checks (run_id, check_name, status, message, duration_ms, checked_at) "
                       "VALUES ('old', 'kafka', 'ok', '', 1, now() - interval '40 days'), "
                       "('recent', 'kafka', 'ok', '', 1, now() - interval '20 days')")
    with pg_connection(lifecycle.admin_database_url, "t") as conn:
        maintain(conn, lifecycle.retention_policy(), lifecycle.timeframes, now)
    before = kept(lifecycle)
    # Airflow's own history: an audit-log entry of 40 days ago goes (30-day tier), one of 20 stays
    execute_airflow("INSERT INTO log (dttm, event) VALUES (now() - interval '40 days', 'tickflow-old'), "
                    "(now() - interval '20 days', 'tickflow-recent')")
    monkeypatch.setenv("AIRFLOW_CONN_TICKFLOW_DB_OWNER", lifecycle.admin_database_url)
    monkeypatch.setenv("TICKFLOW_RETENTION_AIRFLOW_DAYS", "30")
    monkeypatch.setenv("TICKFLOW_AIRFLOW_DATABASE_URL", os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace(
        "postgresql+psycopg2://", "postgresql://"))

    dry = dag_bag["data_retention"].test(run_conf={"dry_run": True})
    assert dry.state == "success", task_states(dry)
    assert kept(lifecycle) == before, "a dry run changes nothing"
    assert (airflow_log_events("tickflow-old"), airflow_log_events("tickflow-recent")) == (1, 1)
    listed = xcom(dry, "drop_expired")
    assert listed["dry_run"] is True and listed["partitions"]
    assert xcom(dry, "history")["rows"]["deployment_checks"] == 1
    assert execute(lifecycle, "SELECT count(*) FROM deployment_checks") == [(2,)]

    run = dag_bag["data_retention"].test(run_conf={"dry_run": False})  # (a reused DAG keeps the last conf)
    assert run.state == "success", task_states(run)
    dropped = xcom(run, "drop_expired")
    assert [p["partition"] for p in dropped["partitions"]] == [p["partition"] for p in listed["partitions"]]
    assert dropped["rows"] == sum(before.values()) - sum(kept(lifecycle).values()) == listed["rows"]
    assert "dropped" in xcom(run, "summary") and f"{dropped['rows']} rows" in xcom(run, "summary")
    assert (airflow_log_events("tickflow-old"), airflow_log_events("tickflow-recent")) == (0, 1)
    assert xcom(run, "history") == {"dry_run": False, "rows": {"deployment_checks": 1, "reconciliation_runs": 0,
                                                               "webhook_deliveries": 0}}
    assert execute(lifecycle, "SELECT run_id FROM deployment_checks") == [("recent",)]
    assert xcom(run, "summary").endswith("; history rows deleted: 1 of deployment_checks")

    # the default tiers: raw bars and their signals 7 days, 1m candles 90, 1h kept, news 7, dead letters 30
    def oldest(sql: str) -> timedelta:
        return now - execute(lifecycle, sql)[0][0]
    assert timedelta(days=6) < oldest("SELECT min(ts) FROM bars WHERE timeframe = 'raw'") <= timedelta(days=8)
    assert oldest("SELECT min(ts) FROM bars WHERE timeframe = '1m'") == ages[-1]
    assert execute(lifecycle, "SELECT min(ts) FROM bars WHERE timeframe = 'raw' AND symbol = 'GOOG'") == [(None,)]
    assert oldest("SELECT min(ts) FROM bars WHERE timeframe = '1h'") == ages[-1]
    assert timedelta(days=6) < oldest("SELECT min(ts) FROM signals") <= timedelta(days=8)
    assert timedelta(days=6) < oldest("SELECT min(ts) FROM news_sentiment") <= timedelta(days=8)
    assert timedelta(days=29) < oldest("SELECT min(recorded_at) FROM dead_letters") <= timedelta(days=31)
    # nothing younger than its tier left: every row of those ages is still there
    assert execute(lifecycle, "SELECT count(*) FROM bars WHERE timeframe = 'raw' AND ts > %s",
                   (now - timedelta(days=7),))[0][0] == sum(age < timedelta(days=7) for age in ages)
    with pg_connection(lifecycle.admin_database_url, "t") as conn, conn, conn.cursor() as cur:
        utc_session(cur)
        raw = [p for p in partitions(cur, PARTITIONED[0]) if p.timeframe == "raw"]
    assert all(p.range.hi > now - timedelta(days=7) for p in raw)


def airflow_log_events(event: str) -> int:
    return execute_airflow("SELECT count(*) FROM log WHERE event = %s", (event,))[0][0]


def execute_airflow(sql: str, params: Any = None) -> list[tuple]:
    """SQL on Airflow's metadata database (tests/dags/conftest.py points Airflow at it)."""
    import psycopg2

    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows
