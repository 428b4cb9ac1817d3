"""The dashboards' queries against the real pipeline (Grafana itself cannot run here).

The generator sends two days of history and goes on live into ingest and a processor on the real
Kafka and PostgreSQL, as `make run` does; the dashboard serves its feed and tries a webhook for
each new signal. Then:
- every PostgreSQL query of the Market dashboard (panels, the signal annotations, the variables),
  with Grafana's macros expanded and the variables set to each symbol's timeframe, runs as the
  read-only analyst role and returns the columns its panel reads, and rows;
- every metric a PromQL expression of the Pipeline dashboard selects is in the services' real
  /metrics (ingest's operations port, the processor, the generator, the dashboard).
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg2
from grafana_dashboards import POSTGRES_TYPE, dashboards, expand_sql, promql_metric_names, queries
from prometheus_client.parser import text_string_to_metric_families
from running_services import start_ingest, start_processor
from support import ServiceProcess, free_port, service_env, wait_until
from websockets.sync.client import connect

from services.config import Settings

HISTORY_S = 2 * 86400
HISTORY_INTERVAL_S = 30
TIMEFRAMES = ("raw", "1m", "5m", "1h", "1d")
SYMBOLS = ("AAPL", "AMZN", "GOOGL", "MSFT", "TSLA")


def exported_names(url: str) -> set[str]:
    """Every sample name a service's /metrics carries (histograms: _bucket, _sum, _count)."""
    text = httpx.get(url, timeout=5).text
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def reader_rows(dsn: str, sql: str) -> tuple[list[str], list[tuple]]:
    conn = psycopg2.connect(dsn)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            cur.execute(sql)
            return [c.name for c in cur.description], cur.fetchall()
    finally:
        conn.close()


def count(dsn: str, sql: str) -> int:
    return reader_rows(dsn, sql)[1][0][0]


def test_dashboard_queries_run_on_what_the_pipeline_stores_and_exports(stack: Settings, tmp_path: Path) -> None:
    reader = stack.reader_database_url
    env = service_env(stack)
    ingest, ingest_port = start_ingest(env, tmp_path, ops_port=(ops_port := free_port()))
    processor, processor_port = start_processor(env, tmp_path)
    dashboard_port = free_port()
    dashboard = ServiceProcess("dashboard", ["--port", str(dashboard_port)], {
        **env, "TICKFLOW_DASHBOARD_WS_MAX_CLIENTS": "1", "TICKFLOW_WEBHOOK_SECRET": "test-secret",
        # Nothing listens there: every attempt fails at once and is counted (outcome "failed").
        "TICKFLOW_WEBHOOK_URLS": f"http://127.0.0.1:{free_port()}/hook", "TICKFLOW_WEBHOOK_MAX_ATTEMPTS": "1"},
        tmp_path)
    ingest.wait_http(f"http://127.0.0.1:{ingest_port}/readyz")
    processor.wait_http(f"http://127.0.0.1:{processor_port}/readyz")
    dashboard.wait_http(f"http://127.0.0.1:{dashboard_port}/readyz")
    generator_port = free_port()
    started = datetime.now(timezone.utc)
    generator = ServiceProcess("generator", [
        "--history", str(HISTORY_S), "--history-interval", str(HISTORY_INTERVAL_S), "--rate", "20",
        "--port", str(generator_port), "--ingest-url", f"http://127.0.0.1:{ingest_port}", "--progress", "never"],
        env, tmp_path)
    generator.wait_http(f"http://127.0.0.1:{generator_port}/healthz")
    # One record ingest rejects, so that the rejections panel has a reason to show.
    bad = {"stock_symbol": "AAPL", "opening_price": 1, "closing_price": 1, "high": 0.5, "low": 1, "volume": 1,
           "timestamp": time.time()}
    assert httpx.post(f"http://127.0.0.1:{ingest_port}/ingest", json=bad, timeout=10).status_code == 422
    # The history is stored once a daily candle has closed and live bars follow it.
    wait_until(lambda: count(reader, "SELECT count(*) FROM bars WHERE timeframe = '1d'") >= len(SYMBOLS)
               and count(reader, "SELECT count(*) FROM bars "
                                 "WHERE timeframe = 'raw' AND ts > now() - interval '1 minute'"),
               timeout=240, interval=1, what="two days of history and live bars stored")
    # Two WebSocket clients with room for one: the second is refused.
    with connect(f"ws://127.0.0.1:{dashboard_port}/ws"), connect(f"ws://127.0.0.1:{dashboard_port}/ws"):
        pass
    endpoints = {"ingest": f"http://127.0.0.1:{ops_port}/metrics",
                 "processor": f"http://127.0.0.1:{processor_port}/metrics",
                 "generator": f"http://127.0.0.1:{generator_port}/metrics",
                 "dashboard": f"http://127.0.0.1:{dashboard_port}/metrics"}
    wanted = {"tickflow_processor_consumer_lag", "tickflow_dashboard_webhook_attempts_total",
              "tickflow_dashboard_ws_refused_total", "tickflow_ingest_rejected_total",
              "tickflow_db_size_bytes"}  # the storage figures, read by the dashboard in the background

    def exported() -> set[str]:
        names = set().union(*(exported_names(url) for url in endpoints.values()))
        return names if wanted <= names else set()

    names = wait_until(exported, timeout=60, interval=0.5, what=f"{wanted} in the services' /metrics")

    # PromQL: every metric the Pipeline dashboard selects is exported.
    pipeline = dashboards()["tickflow-pipeline.json"]
    selected = {name: q.where for q in queries(pipeline) for name in promql_metric_names(q.text)}
    assert len(selected) >= 25
    missing = {name: where for name, where in selected.items() if name not in names}
    assert not missing, f"metrics no service exports: {missing}"

    # SQL: every query of the Market dashboard, as the analyst role, for every timeframe of a symbol.
    market = dashboards()["tickflow-market.json"]
    sql = [q for q in queries(market) if q.datasource["type"] == POSTGRES_TYPE]
    assert len(sql) == 9, [q.where for q in sql]
    start, end = started - timedelta(seconds=HISTORY_S + 3600), datetime.now(timezone.utc) + timedelta(minutes=5)
    symbol_query = next(q for q in sql if q.where.endswith("variable $symbol"))
    columns, rows = reader_rows(reader, expand_sql(symbol_query.text, {}, start, end))
    assert columns == ["symbol"] and sorted(r[0] for r in rows) == list(SYMBOLS)
    timeframe_query = next(q for q in sql if q.where.endswith("variable $timeframe"))
    columns, rows = reader_rows(reader, expand_sql(timeframe_query.text, {"symbol": "MSFT"}, start, end))
    assert columns == ["timeframe"] and sorted(r[0] for r in rows) == sorted(TIMEFRAMES)
    returned: dict[str, int] = {}
    for timeframe in TIMEFRAMES:
        values = {"symbol": "MSFT", "timeframe": timeframe}
        for q in sql:
            if ": variable $" in q.where:
                continue
            columns, rows = reader_rows(reader, expand_sql(q.text, values, start, end))
            assert set(q.columns) <= set(columns), f"{q.where} ({timeframe}): {columns}, the panel reads {q.columns}"
            if "time" in columns:
                times = [r[columns.index("time")] for r in rows]
                assert all(isinstance(t, datetime) and start <= t <= end for t in times), q.where
            assert len(set(columns)) == len(columns), f"{q.where}: duplicate column names"
            returned[q.where] = returned.get(q.where, 0) + len(rows)
            if "signal" not in q.where.lower():  # bars exist in every timeframe; signals need enough of them
                assert rows, f"{q.where} ({timeframe}): no rows"
    assert all(returned.values()), f"queries that never returned a row: {[w for w, n in returned.items() if not n]}"

    for service in (generator, dashboard, processor, ingest):
        assert service.stop() == 0, service.log_tail()
