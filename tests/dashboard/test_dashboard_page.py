"""What a person reads on the page, from stored bars, signals and summaries (headless Chromium, en-US
locale): each card's two percentages say what they are measured over, the live signal list follows
the selected symbol or shows all symbols, and every time is UTC in 24-hour form; the address drives
the view (Back, Forward, an edited hash); the summary cards' labels and values read on one line at
1280 and 1500 px and stack on a narrow window. One page load."""
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

    check_address(shown["address"])
    check_layout(shown["layout"])


def check_address(address: dict) -> None:
    """Each step shows what the address names (page_check.mjs waits until the chart shows the symbol's
    newest stored bar in that timeframe and the symbol's summary card is the selected one), the selectors
    agree, and a page's own switch after Back replaces the forward entries as any new address does."""
    expected = {"back": ("AAPL", "raw", "#AAPL"), "forward": ("MSFT", "raw", "#MSFT"),
                "edited": ("TSLA", "1m", "#TSLA/1m"), "loose": ("TSLA", "raw", "#TSLA"),
                "unknown": ("TSLA", "1m", "#TSLA/1m"), "backAgain": ("TSLA", "raw", "#TSLA"),
                "picked": ("TSLA", "1m", "#TSLA/1m"), "unpicked": ("TSLA", "raw", "#TSLA")}
    for step, (symbol, timeframe, hash_) in expected.items():
        seen = address[step]
        assert (seen["symbol"], seen["timeframe"], seen["hash"]) == (symbol, timeframe, hash_), (step, seen)
        assert seen["selects"] == [symbol, timeframe], (step, seen)
    assert address["picked"]["historyLength"] == address["backAgain"]["historyLength"]  # forward entries replaced


def check_layout(layout: dict) -> None:
    """Every label and value of the summary cards on one line and inside its card, at 1280 and 1500 px
    several cards a row, at 390 px one under the other."""
    for width, seen in layout.items():
        parts = seen["parts"]
        assert {"high / low", "return (hour: close / open)", "volume", "signals"} <= {p["text"] for p in parts}
        assert [p for p in parts if p["lines"] != 1 or p["clipped"]] == [], width
        assert seen["overflow"] is False, width
    assert layout["1280"]["columns"] >= 3 and layout["1500"]["columns"] >= 4
    assert layout["390"]["columns"] == 1 and len(set(layout["390"]["cardWidths"])) == 1
