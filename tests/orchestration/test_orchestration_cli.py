"""`python -m services.orchestration summarize`: the market_summary DAG's logic, once, by hand."""
from __future__ import annotations

import json
import subprocess
import sys

import psycopg2.extras
from sqlalchemy import Engine, text
from support import ROOT

from services.config import Settings

START = 1_700_000_000.0


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.orchestration", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_help_and_bad_arguments() -> None:
    assert run("summarize", "--help").returncode == 0
    done = run("summarize", "--end", "tomorrow-ish")
    assert done.returncode == 2 and "--end" in done.stderr
    done = run("summarize", "--horizon-bars", "0")
    assert done.returncode == 2 and "--horizon-bars: Input should be greater than or equal to 1" in done.stderr
    done = run("summarize", "--timeframes", "raw,7m")
    assert done.returncode == 2 and "--timeframes: unknown timeframe(s) 7m" in done.stderr


def test_summarize_stores_the_summaries_of_the_window_before_end(base_settings: Settings, owner_db: Engine) -> None:
    closes = {"AAPL": [100.0 + i for i in range(400)], "MSFT": [300.0 - i / 2 for i in range(400)]}
    with owner_db.begin() as conn:
        conn.execute(text("TRUNCATE bars, signals, market_summaries, market_summary_rules, dashboard_feed"))
    with psycopg2.connect(base_settings.admin_database_url) as pg, pg.cursor() as cur:
        psycopg2.extras.execute_values(
            cur, "INSERT INTO bars (symbol, ts, open, high, low, close, volume) VALUES %s",
            [(symbol, START + i, c - 0.5, c + 1, c - 1, c, 10)
             for symbol, cs in closes.items() for i, c in enumerate(cs)],
            template="(%s, to_timestamp(%s), %s, %s, %s, %s, %s)")
    end = START + 150  # 1h window: the first 150 bars of each symbol
    done = run("summarize", "--end", str(end), "--horizon-bars", "2")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["horizon_bars"] == 2
    assert {tf: set(periods) for tf, periods in report["timeframes"].items()} == {
        "raw": {"1h", "1d"}, "1m": {"1h", "1d", "7d"}, "5m": {"1h", "1d", "7d"}, "1h": {"1d", "7d"}, "1d": {"7d"}}
    assert report["timeframes"]["raw"]["1h"]["symbols"]["AAPL"]["bars"] == 150
    assert report["timeframes"]["5m"]["1h"]["symbols"] == {}  # base bars only: no candles to summarise
    with owner_db.connect() as conn:
        rows = conn.execute(text("SELECT symbol, period, bars, open, close, horizon_bars, run_id FROM market_summaries "
                                 "WHERE timeframe = 'raw' ORDER BY symbol, period")).all()
        assert conn.execute(text("SELECT count(*) FROM market_summaries WHERE timeframe <> 'raw'")).scalar() == 0
    assert rows[0] == ("AAPL", "1d", 150, 99.5, 249.0, 2, "manual")
    assert [(r[0], r[1], r[2]) for r in rows] == [("AAPL", "1d", 150), ("AAPL", "1h", 150),
                                                   ("MSFT", "1d", 150), ("MSFT", "1h", 150)]
