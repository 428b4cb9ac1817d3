"""What a person reads on the page, from stored bars, signals and summaries (headless Chromium, en-US
locale): each card's two percentages say what they are measured over, the live signal list follows
the selected symbol or shows all symbols, and every time is UTC in 24-hour form."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from dashboard_data import candles, insert_rows, stream_rows
from test_dashboard_browser import CHROMIUM, WEB_DIR

from services.config import Settings
from services.orchestration.analytics.market_summary import summarize

SYMBOLS = ("AAPL", "MSFT", "TSLA")


def test_cards_signal_filter_and_times_read_plainly(dashboard: str, dash_db: Settings) -> None:
    node = shutil.which("node")
    assert node and (WEB_DIR / "node_modules" / "playwright-core").is_dir()
    start = float(int(time.time()) // 60 * 60 - 1800)  # half an hour of 1-second bars, three symbols
    bars, signals = stream_rows(candles(SYMBOLS, 1800 * len(SYMBOLS), seed=11, start=start))
    insert_rows(dash_db.database_url, bars, signals)
    assert {s[0] for s in signals} == set(SYMBOLS)
    end = datetime.fromtimestamp(start + 1800, timezone.utc)
    summarize(dash_db.database_url, end, 5, run_id="page-test")

    done = subprocess.run([node, str(Path(__file__).with_name("page_check.mjs")),
                           f"{dashboard}/#AAPL", str(WEB_DIR), "30000"], capture_output=True, text=True, timeout=120,
                          env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["errors"] == []

    # Cards: the top percentage is the live price against the window's open; the listed one the window's return.
    cards = {c["symbol"]: c for c in shown["cards"] if c["terms"]}
    assert set(SYMBOLS) <= set(cards)
    for card in cards.values():
        assert card["changeLabel"] == f"{card['change']}: last price vs the hour's open"
        assert "return (hour: close / open)" in card["terms"]

    # Live signals: the selected symbol's, all symbols on request, then another selected symbol's.
    assert shown["selected"] == {"of": "AAPL", "symbols": ["AAPL"]}
    assert shown["all"]["of"] == "all" and len(shown["all"]["symbols"]) > 1
    assert shown["other"] == {"of": "MSFT", "symbols": ["MSFT"]}

    # Times: UTC, 24-hour, the summary window included; the chart's axis too (15:27:25 UTC).
    times = shown["times"]
    first = datetime.fromtimestamp(start + 1800 - 3600, timezone.utc)  # the last hour: the 1h period
    until = f"{end:%H:%M}" if end.date() == first.date() else f"{end:%Y-%m-%d %H:%M}"
    assert times["summaryNote"].startswith(f"base bars, window {first:%Y-%m-%d %H:%M} – {until} UTC")
    assert times["signalTimes"] and all(re.fullmatch(r"\d{2}:\d{2}:\d{2}\.\d", t) for t in times["signalTimes"])
    assert times["ticks"] == ["15:27", "15:27:25"]
    assert not re.search(r"\d\s?[AP]M\b", times["text"])
    # The RSI pane's 30 / 70 lines are titled on the pane and leave the scale's labels visible.
    assert shown["rsiLevels"] == [{"price": 30, "title": "30", "axisLabelVisible": False},
                                  {"price": 70, "title": "70", "axisLabelVisible": False}]
