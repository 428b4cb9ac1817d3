"""REST for timeframes on the real PostgreSQL: rolled-up candles and their signals by timeframe,
the listing of timeframes, the forming candle (the newest window, which is not stored) and the
market summaries of a timeframe."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from dashboard_data import candles, insert_rolled, insert_rows, rolled_rows, stream_rows
from fastapi.testclient import TestClient

from services.config import Settings
from services.core.indicators import INDICATOR_COLUMNS
from services.core.timeframes import Timeframe
from services.dashboard.app import create_app
from services.orchestration.analytics.market_summary import summarize

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z: not on a minute boundary
INTERVAL = 7.0           # seconds between a symbol's base bars: 8-9 per minute
ROLLED_FIELDS = ("timeframe", "ts", "open", "high", "low", "close", "volume", "base_bars", *INDICATOR_COLUMNS)


@pytest.fixture
def rolled(dash_db: Settings) -> dict[str, Any]:
    """~70 minutes of AAPL and MSFT base bars, with their 1m and 5m candles and signals stored."""
    records = candles(("AAPL", "MSFT"), 1200, seed=31, start=START, interval=INTERVAL)
    base, base_signals = stream_rows(records)
    bars, signals = rolled_rows(records, "1m,5m")
    insert_rows(dash_db.database_url, base, base_signals)
    insert_rolled(dash_db.database_url, bars, signals)
    return {"base": base, "bars": [dict(zip(("symbol", *ROLLED_FIELDS), b)) for b in bars],
            "signals": [dict(zip(("symbol", "timeframe", "ts", "rule", "side", "price", "value", "reference"), s))
                        for s in signals]}


@pytest.fixture
def client(dash_db: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(dash_db)) as c:
        yield c


def close(a: float | None, b: float | None) -> bool:
    return (a is None) == (b is None) and (a is None or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9))


def test_bars_and_signals_of_a_timeframe(client: TestClient, rolled: dict[str, Any]) -> None:
    for timeframe in ("1m", "5m"):
        want = [b for b in rolled["bars"] if b["symbol"] == "AAPL" and b["timeframe"] == timeframe]
        body = client.get(f"/api/bars?symbol=AAPL&timeframe={timeframe}&limit=5000").json()
        assert body["count"] == len(want) > 10, timeframe
        fields = ("ts", "open", "high", "low", "close", "volume", *INDICATOR_COLUMNS)
        assert all(close(g[f], w[f]) for g, w in zip(body["items"], want) for f in fields), timeframe
        seconds = Timeframe.parse(timeframe).seconds
        assert all(b["ts"] % seconds == 0 for b in body["items"])  # window starts, UTC epoch aligned

        want_signals = sorted((s for s in rolled["signals"] if s["timeframe"] == timeframe),
                              key=lambda s: (s["ts"], s["symbol"], s["rule"]))
        got = client.get(f"/api/signals?timeframe={timeframe}&limit=1000").json()["items"]
        assert [(s["symbol"], s["ts"], s["rule"], s["side"]) for s in got] == [
            (s["symbol"], s["ts"], s["rule"], s["side"]) for s in want_signals]
    assert any(s["timeframe"] == "1m" for s in rolled["signals"])  # the data has rolled signals to show

    # raw stays the default, and the rolled rows do not leak into it.
    raw = client.get("/api/bars?symbol=AAPL&limit=5000").json()
    assert raw["count"] == sum(1 for b in rolled["base"] if b[0] == "AAPL") == 600
    assert client.get("/api/bars?symbol=AAPL&timeframe=RAW&limit=5000").json()["items"] == raw["items"]


def test_a_timeframe_has_one_canonical_spelling(client: TestClient, rolled: dict[str, Any]) -> None:
    minute = client.get("/api/bars?symbol=AAPL&timeframe=1m&limit=20").json()
    for spelling in ("60s", "1M", " 1m"):
        same = client.get(f"/api/bars?symbol=AAPL&timeframe={spelling}&limit=20").json()
        assert (same["items"], same["next_cursor"]) == (minute["items"], minute["next_cursor"]), spelling
    assert (client.get("/api/signals?timeframe=300s").json()["items"]
            == client.get("/api/signals?timeframe=5m").json()["items"])
    # A valid timeframe that is not stored is an empty listing, not an error.
    assert client.get("/api/bars?symbol=AAPL&timeframe=2h").json()["items"] == []


@pytest.mark.parametrize("url", [
    "/api/bars?symbol=AAPL&timeframe=1w",
    "/api/bars?symbol=AAPL&timeframe=0m",
    "/api/bars?symbol=AAPL&timeframe=1.5h",
    "/api/signals?timeframe=minute",
    "/api/bars/forming?symbol=AAPL&timeframe=raw",
    "/api/bars/forming?symbol=AAPL&timeframe=5x",
])
def test_a_bad_timeframe_is_a_422_naming_it(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "timeframe"]


def test_a_cursor_only_continues_its_own_timeframe(client: TestClient, rolled: dict[str, Any]) -> None:
    page = client.get("/api/bars?symbol=AAPL&timeframe=1m&limit=10").json()
    assert client.get(f"/api/bars?symbol=AAPL&timeframe=60s&limit=10&cursor={page['next_cursor']}").status_code == 200
    for other in ("raw", "5m"):
        response = client.get(f"/api/bars?symbol=AAPL&timeframe={other}&limit=10&cursor={page['next_cursor']}")
        assert response.status_code == 422, other
        assert f"(/api/bars with timeframe=1m), not /api/bars with timeframe={other}" in response.text
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
    signals = client.get("/api/signals?timeframe=1m&limit=2").json()
    refused = client.get(f"/api/signals?limit=2&cursor={signals['next_cursor']}")
    assert refused.status_code == 422 and "timeframe=1m" in refused.text


def test_timeframes_lists_raw_and_the_configured_ones(client: TestClient, dash_db: Settings) -> None:
    body = client.get("/api/timeframes").json()
    assert body["items"][0] == {"timeframe": "raw", "seconds": None}
    assert [(t["timeframe"], t["seconds"]) for t in body["items"][1:]] == [
        (tf.name, tf.seconds) for tf in dash_db.timeframe_specs()]
    assert [t["timeframe"] for t in body["items"]] == ["raw", *dash_db.timeframes]
    assert client.get("/api/timeframes?timeframe=1m").status_code == 422


def expected_forming(base: list[tuple], symbol: str, timeframe: Timeframe) -> dict[str, Any]:
    """The newest window by hand: what the processor holds as its forming candle."""
    mine = [b for b in base if b[0] == symbol]
    start = timeframe.window_start(mine[-1][1])
    window = [b for b in mine if b[1] >= start]
    return {"ts": start, "open": window[0][2], "high": max(b[3] for b in window), "low": min(b[4] for b in window),
            "close": window[-1][5], "volume": sum(b[6] for b in window), "base_bars": len(window),
            "last_ts": window[-1][1]}


def test_the_forming_candle_is_the_newest_window_of_base_bars(client: TestClient, rolled: dict[str, Any],
                                                             dash_db: Settings) -> None:
    for symbol in ("AAPL", "MSFT"):
        for timeframe in ("1m", "5m", "1h", "1d"):
            tf = Timeframe.parse(timeframe)
            body = client.get(f"/api/bars/forming?symbol={symbol.lower()}&timeframe={timeframe}").json()
            assert (body["symbol"], body["timeframe"]) == (symbol, timeframe)
            want = expected_forming(rolled["base"], symbol, tf)
            assert body["item"].keys() == want.keys()
            assert all(close(body["item"][k], want[k]) for k in want), (symbol, timeframe, body, want)
            stored = [b["ts"] for b in rolled["bars"] if b["symbol"] == symbol and b["timeframe"] == timeframe]
            assert not stored or max(stored) < body["item"]["ts"]  # it follows the stored (closed) candles
    assert client.get("/api/bars/forming?symbol=AAPL&timeframe=60s").json()["timeframe"] == "1m"
    assert client.get("/api/bars/forming?symbol=TSLA&timeframe=1m").json() == {
        "symbol": "TSLA", "timeframe": "1m", "item": None}
    assert client.get("/api/bars/forming?symbol=NOPE&timeframe=1m").status_code == 404


def test_a_base_bar_on_a_window_boundary_opens_the_new_window(client: TestClient, dash_db: Settings) -> None:
    boundary = 1_700_000_040.0  # a multiple of 60
    records = candles(("AAPL",), 3, seed=3, start=boundary - 20.0, interval=20.0)  # at -20, 0 and +20 s
    insert_rows(dash_db.database_url, *stream_rows(records))
    item = client.get("/api/bars/forming?symbol=AAPL&timeframe=1m").json()["item"]
    assert item["ts"] == boundary and item["base_bars"] == 2 and item["open"] == records[1]["opening_price"]


def test_summaries_of_a_timeframe_count_its_candles(client: TestClient, rolled: dict[str, Any],
                                                     dash_db: Settings) -> None:
    end = START + 3630.0  # not on a 5-minute boundary: the candle across it is not in the window
    summarize(dash_db.database_url, datetime.fromtimestamp(end, timezone.utc), 3, timeframes=("raw", "1m", "5m"))
    items = client.get("/api/summary?timeframe=5m&period=1h").json()["items"]
    assert [(s["symbol"], s["timeframe"], s["period"]) for s in items] == [("AAPL", "5m", "1h"), ("MSFT", "5m", "1h")]
    for item in items:
        inside = [b for b in rolled["bars"] if b["symbol"] == item["symbol"] and b["timeframe"] == "5m"
                  and b["ts"] >= end - 3600 and b["ts"] + 300 <= end]
        assert item["bars"] == len(inside) == 11
        assert (item["first_ts"], item["last_ts"]) == (inside[0]["ts"], inside[-1]["ts"])
        assert (item["open"], item["close"]) == (inside[0]["open"], inside[-1]["close"])
        assert item["volume"] == sum(b["volume"] for b in inside) and item["horizon_bars"] == 3
        signals = [s for s in rolled["signals"] if s["symbol"] == item["symbol"] and s["timeframe"] == "5m"
                   and inside[0]["ts"] <= s["ts"] <= inside[-1]["ts"]]
        assert item["buy_signals"] + item["sell_signals"] == len(signals)
    week_1m = client.get("/api/summary?timeframe=1m&period=7d&symbol=AAPL").json()["items"]
    assert week_1m[0]["bars"] == 60 == len([b for b in rolled["bars"] if b["symbol"] == "AAPL"
                                             and b["timeframe"] == "1m" and b["ts"] + 60 <= end])
    assert client.get("/api/summary?timeframe=5m&period=7d").json()["items"][0]["timeframe"] == "5m"
    assert client.get("/api/summary?timeframe=1h").json() == {"items": []}  # not summarised in this run
    assert {s["timeframe"] for s in client.get("/api/summary").json()["items"]} == {"raw"}
    assert client.get("/api/summary?timeframe=7x").status_code == 422
