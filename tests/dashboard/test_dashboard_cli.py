"""`python -m services.dashboard`: --help, and `summarize` (what the DAG does) from the command line."""
from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import Engine, text

from services.config import Settings
from dashboard_data import candles, insert_rows, stream_rows
from support import ROOT

START = 1_700_000_000.0


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.dashboard", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_help_describes_the_service_and_its_commands() -> None:
    done = run("--help")
    assert done.returncode == 0
    for words in ("/ws", "/api", "--port", "summarize", "TICKFLOW_WEBHOOK_URLS"):
        assert words in done.stdout
    assert run("summarize", "--help").returncode == 0


def test_summarize_rejects_a_bad_end() -> None:
    done = run("summarize", "--end", "tomorrow-ish")
    assert done.returncode == 2 and "--end" in done.stderr


def test_summarize_stores_the_summaries_of_the_window_before_end(dash_db: Settings, owner_db: Engine) -> None:
    bars, signals = stream_rows(candles(("AAPL", "MSFT"), 400, seed=47, start=START))
    insert_rows(dash_db.database_url, bars, signals)
    end = START + 150  # 1h window: the first 150 bars of each symbol
    done = run("summarize", "--end", str(end), "--horizon-bars", "2")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["horizon_bars"] == 2 and set(report["periods"]) == {"1h", "1d"}
    assert report["periods"]["1h"]["symbols"]["AAPL"]["bars"] == 150
    with owner_db.connect() as conn:
        rows = conn.execute(text("SELECT symbol, period, bars, open, close, horizon_bars, run_id FROM market_summaries "
                                 "ORDER BY symbol, period")).all()
    aapl = [b for b in bars if b[0] == "AAPL" and b[1] < end]
    assert rows[0] == ("AAPL", "1d", 150, aapl[0][2], aapl[-1][5], 2, "manual")
    assert [(r[0], r[1], r[2]) for r in rows] == [("AAPL", "1d", 150), ("AAPL", "1h", 150),
                                                   ("MSFT", "1d", 150), ("MSFT", "1h", 150)]
