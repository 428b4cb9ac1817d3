"""The page in headless Chromium (Debian's chromium, driven by playwright-core from the page's npm
folder) while the pipeline runs: the chart gets bars and signal markers, the live list grows; in the
1m timeframe the chart shows stored minute candles with markers and a forming candle that follows
the base bars and is replaced by the stored candle when its window closes. The generator sends its
history ten times as sparse as its live candles, and the stored 5m candles of both move alike."""
from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from sqlalchemy import Engine, text
from support import ROOT, ServiceProcess, service_env, wait_until

from services.config import Settings
from services.core.simulation import default_profile

WEB_DIR = ROOT / "services" / "dashboard" / "web"
CHROMIUM = "/usr/bin/chromium"
# Event time runs faster than the clock, so that minute windows close every few seconds: each
# symbol's live base bars are INTERVAL seconds apart. One generator, as `make run` starts it: first
# its history (--history, a base bar every HISTORY_INTERVAL s, as fast as possible), then live at 50
# candles a second over 5 symbols: 10 base bars a second per symbol, 15 s of event time a second, a
# 1m window closes every 4 s, a 5m one every 20 s. The live part starts far enough back to stay within
# ingest's future-timestamp limit for the whole test.
INTERVAL = 1.5
HISTORY_S = 7_200            # 2 h: 120 minute candles per symbol, enough for 1m signals
HISTORY_INTERVAL = 15.0      # ten times as sparse as live: under the old rule (a trading minute per candle)
                             # the live 5m candles ranged sqrt(10) times as wide
LIVE_LEAD_S = 2_400          # live event time starts this long before now
LIVE_WINDOWS = 1             # whole live 5m windows per symbol to compare with the history's (one closes
                             # every 20 s: each one more costs that long); the 1m ones come with it


def test_page_shows_live_candles_markers_and_signals(dashboard: str, pipeline: str, dash_stack: Settings,
                                                     owner_db: Engine, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    assert (WEB_DIR / "node_modules" / "playwright-core").is_dir(), "run `npm ci` in services/dashboard/web (make does)"
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"

    live_start = (math.floor(time.time()) - LIVE_LEAD_S) // 300 * 300  # on a 5m boundary: no window wasted
    generator = ServiceProcess("generator", [
        "--rate", "50", "--start", str(live_start), "--interval", str(INTERVAL), "--history", str(HISTORY_S),
        "--history-interval", str(HISTORY_INTERVAL), "--batch", "500", "--no-server", "--ingest-url", pipeline,
        "--seed", "5", "--flush-ms", "100", "--progress", "never"], service_env(dash_stack), tmp_path)
    try:
        def count(sql: str) -> int:
            with owner_db.connect() as conn:
                return conn.execute(text(sql)).scalar_one()

        wait_until(lambda: count("SELECT count(*) FROM bars WHERE symbol = 'AAPL' AND timeframe = 'raw' "
                                 f"AND ts >= to_timestamp({live_start})") > 0,
                   timeout=120, interval=0.3, what="the history processed and the first live AAPL bar")
        assert count("SELECT count(*) FROM signals WHERE symbol = 'AAPL' AND timeframe = '1m'") > 0
        shot = tmp_path / "dashboard.png"
        done = subprocess.run([node, str(Path(__file__).with_name("browser_check.mjs")), f"{dashboard}/#AAPL",
                               str(shot), str(WEB_DIR), "45000"], capture_output=True, text=True, timeout=180,
                              env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin"})
        live_windows = math.ceil(live_start / 300) * 300  # the first 5m window without history
        wait_until(lambda: count(f"SELECT count(*) FROM (SELECT symbol FROM bars WHERE timeframe = '5m' AND ts >= "
                                 f"to_timestamp({live_windows}) GROUP BY symbol HAVING count(*) >= {LIVE_WINDOWS}) c")
                   == len(dash_stack.symbols),
                   timeout=120, interval=0.5, what=f"{LIVE_WINDOWS} live 5m candles per symbol")
    finally:
        generator.stop()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    first, second = shown["first"], shown["second"]
    assert shown["errors"] == []
    assert first["symbol"] == "AAPL" and first["bars"] > 0 and first["markers"] > 0
    assert second["liveSignals"] > first["liveSignals"] and second["feedItems"] >= first["feedItems"]
    assert second["bars"] > first["bars"] and second["lastId"] > first["lastId"]
    assert first["cards"] == len(dash_stack.symbols) and second["status"].startswith("live")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    check_minute_view(shown)
    check_history_and_live_alike(owner_db, dash_stack.symbols, live_start)
    print(f"\nscreenshots: {shot}, {shown['minuteScreenshot']}; page showed {second}")


def check_minute_view(shown: dict) -> None:
    minute, grown, after = shown["minute"], shown["grown"], shown["closedAfter"]
    assert (minute["timeframe"], minute["hash"], minute["chartTimeframe"]) == ("1m", "#AAPL/1m", "1m")
    # Minute candles: window starts, one per window, the stored ones and then the forming one.
    times, closed, forming = minute["candleTimes"], minute["closed"], minute["forming"]
    assert len(closed) >= 100 and times == [b["ts"] for b in closed] + [forming["ts"]]
    assert all(t % 60 == 0 for t in times) and all(b > a for a, b in zip(times, times[1:]))
    assert forming["ts"] <= forming["last_ts"] < forming["ts"] + 60 and forming["base_bars"] >= 1
    # No indicators for the forming candle: the overlays end at the last stored candle.
    assert minute["indicatorsEnd"] == closed[-1]["ts"] < forming["ts"]
    assert minute["markers"] > 0 and minute["feedTimeframe"] == "1m" and minute["feedItems"] > 0
    assert "forming" in minute["formingNote"] and "UTC" in minute["formingNote"]
    # The forming candle changes as base bars arrive...
    g = grown["forming"]
    assert g["last_ts"] > forming["last_ts"]
    if g["ts"] == forming["ts"]:
        assert g["base_bars"] > forming["base_bars"] and g["open"] == forming["open"]
        assert g["high"] >= forming["high"] and g["low"] <= forming["low"]
    # ...its window closes, and the stored candle (with its indicators) takes its place.
    stored = shown["stored"]
    assert stored["ts"] == forming["ts"] and stored["sma"] is not None
    mine = next(b for b in after["closed"] if b["ts"] == forming["ts"])
    assert {k: mine[k] for k in ("open", "high", "low", "close", "volume")} == {
        k: stored[k] for k in ("open", "high", "low", "close", "volume")}
    assert after["forming"]["ts"] > forming["ts"] and after["candleTimes"][-1] == after["forming"]["ts"]
    assert after["indicatorsEnd"] >= forming["ts"]
    # The page's forming candle, built from the feed's base bars, equals the server's at the same bar.
    pair = shown["formingPair"]
    assert pair is not None, "the page and /api/bars/forming never stood at the same base bar"
    assert pair["page"] == pair["rest"]


def check_history_and_live_alike(owner_db: Engine, symbols: tuple[str, ...], live_start: int) -> None:
    """The stored 5m (and 1m) candles of the history (a base bar per 15 s) and of the live part (per 1.5 s):
    their typical range, (high - low) / open over the symbol's sigma, agrees within 2x (services/core/
    simulation.py, the time rule; a candle's high and low are its path's, however few base bars it holds).
    Windows holding both, or the history's partial first one, are left out."""
    history_start = live_start - HISTORY_S
    for timeframe, seconds, enough in (("5m", 300, (20, LIVE_WINDOWS)), ("1m", 60, (100, 5))):
        with owner_db.connect() as conn:
            rows = conn.execute(text(
                "SELECT symbol, extract(epoch FROM ts)::bigint, (high - low) / open FROM bars WHERE timeframe = :tf "
                "AND (ts >= to_timestamp(:first) AND ts < to_timestamp(:last) OR ts >= to_timestamp(:live))"),
                {"tf": timeframe, "first": math.ceil(history_start / seconds) * seconds,
                 "last": live_start // seconds * seconds, "live": math.ceil(live_start / seconds) * seconds}).all()
        ranges: dict[bool, list[float]] = {False: [], True: []}
        for symbol, ts, spread in rows:
            ranges[ts >= live_start].append(spread / default_profile(symbol).sigma)
        assert len(ranges[False]) >= enough[0] * len(symbols) and len(ranges[True]) >= enough[1] * len(symbols)
        history, live = statistics.median(ranges[False]), statistics.median(ranges[True])
        assert 0.5 < live / history < 2, (timeframe, history, live)
        print(f"\n{timeframe} range / sigma, median: history {history:.5f} ({len(ranges[False])} candles), "
              f"live {live:.5f} ({len(ranges[True])})")
