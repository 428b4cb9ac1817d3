"""The recommendations on the dashboard, from rows the market_recommendations DAG's code stored:
GET /api/recommendations (reader role) returns the newest row per symbol as stored, with its glance
(services/core/stance.py); the page leads each card with the stance, the weight, the deciding facts
and the freshness, keeps the stored text one click away, and lists the symbols in a table (headless
Chromium). Three symbols: AAPL with a rule that beat buy-and-hold on enough trades, MSFT with a
forecast that clearly beat naive (below the close), TSLA with neither."""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dashboard_data import candles, insert_rows, stream_rows
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from test_dashboard_batch_page import evaluation, forecast_days
from test_dashboard_batch_page import store as store_batch
from test_dashboard_browser import CHROMIUM, WEB_DIR

from services.config import Settings
from services.core.recommendation import Policy, shown, unsupported_numbers, when, write
from services.dashboard.app import create_app
from services.orchestration.analytics.recommendations import recommend

START = 1_700_000_000.0
SYMBOLS = ("AAPL", "MSFT", "TSLA")


def store(settings: Settings, owner_db: Engine) -> datetime:
    """An hour of base bars and their signals, an evaluation of AAPL's ema_cross that beat buy-and-hold on
    12 trades and a MSFT forecast that beat naive clearly; recommendations at two ends, the later one the newest."""
    with owner_db.begin() as conn:
        conn.execute(text("TRUNCATE signal_evaluations, market_forecasts, forecast_evaluations"))
    bars, signals = stream_rows(candles(SYMBOLS, 3600 * len(SYMBOLS), seed=3, start=START))
    insert_rows(settings.database_url, bars, signals)
    end = datetime.fromtimestamp(START + 3600, timezone.utc)
    beat = evaluation("AAPL", "raw", "ema_cross", end - timedelta(days=2), trades=12, wins=7, win_rate=7 / 12,
                      mean_trade_return=0.012345, total_return=0.2512, bh_total_return=0.1876, max_drawdown=0.0812)
    store_batch(settings.database_url, forecast_days("MSFT", end - timedelta(days=1), "theta", 0.8123, 0.9345, 400.0),
                [], [beat])
    for at in (end - timedelta(minutes=30), end):
        report = recommend(settings.database_url, at, SYMBOLS, ("raw", "1m"), Policy(), 10.0, run_id="rest-test")
        assert report["rows"] == 3 and report["skipped"] == ["AAPL 1m", "MSFT 1m", "TSLA 1m"]  # no 1m candles
    return end


def test_rest_returns_the_newest_stored_recommendations(dash_db: Settings, owner_db: Engine) -> None:
    with TestClient(create_app(dash_db)) as client:
        assert client.get("/api/recommendations").json() == {"items": []}
        end = store(dash_db, owner_db)
        body = client.get("/api/recommendations").json()["items"]
        with owner_db.connect() as conn:
            want = conn.execute(text("SELECT symbol, weight, text, phrasing, facts FROM recommendations "
                                     "WHERE as_of = :e ORDER BY symbol"), {"e": end}).all()
        assert ([(i["symbol"], i["weight"], i["text"], i["phrasing"], i["facts"]) for i in body]
                == [tuple(w) for w in want])
        assert [i["as_of"] for i in body] == [end.timestamp()] * 3 and body[0]["text"].startswith("AAPL (base bars)")
        assert [(i["glance"]["stance"], i["weight"]) for i in body][1:] == [("SELL", "some"), (None, "little")]
        assert body[0]["fallback_reason"] is None and body[0]["facts"]["indicators"]["source"]["table"] == "bars"
        assert [i["symbol"] for i in client.get("/api/recommendations?symbol=msft").json()["items"]] == ["MSFT"]
        assert client.get("/api/recommendations?timeframe=1h").json() == {"items": []}
        assert client.get("/api/recommendations?symbol=NOPE").status_code == 404
        assert client.get("/api/recommendations?timeframe=7x").status_code == 422
        assert client.get("/api/recommendations?limit=3").status_code == 422


def test_the_page_leads_with_the_stance_and_keeps_the_text_one_click_away(dashboard: str, dash_db: Settings,
                                                                          owner_db: Engine, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node and (WEB_DIR / "node_modules" / "playwright-core").is_dir()
    end = store(dash_db, owner_db)
    with owner_db.connect() as conn:
        stored = {s: (t, w, f) for s, t, w, f in conn.execute(text(
            "SELECT symbol, text, weight, facts FROM recommendation_latest WHERE timeframe = 'raw'")).all()}
        signal = conn.execute(text("SELECT side, ts, price FROM signals WHERE symbol = 'AAPL' AND timeframe = 'raw' "
                                   "AND rule = 'ema_cross' AND ts < :e ORDER BY ts DESC LIMIT 1"), {"e": end}).one()
        newest = {s: (ts, close) for s, ts, close in conn.execute(text(
            "SELECT DISTINCT ON (symbol) symbol, ts, close FROM bars WHERE timeframe = 'raw' AND ts < :e "
            "ORDER BY symbol, ts DESC"), {"e": end}).all()}
        freshest = conn.execute(text("SELECT rule, side, ts, price FROM signals WHERE symbol = 'MSFT' AND "
                                     "timeframe = 'raw' AND ts < :e ORDER BY ts DESC, rule LIMIT 1"), {"e": end}).one()
    shot = tmp_path / "recommendations.png"
    done = subprocess.run([node, str(Path(__file__).with_name("recommendation_check.mjs")), f"{dashboard}/#AAPL",
                           str(WEB_DIR), "30000"], capture_output=True, text=True, timeout=120,
                          env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin", "SCREENSHOT": str(shot)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["errors"] == []
    cards = {c["symbol"]: c for c in seen["raw"]["cards"]}
    opened = {c["symbol"]: c for c in seen["opened"]["cards"]}
    assert list(cards) == list(SYMBOLS)
    for symbol, (words, weight, facts) in stored.items():
        card = cards[symbol]
        # the stored text, one click away: hidden until its "full text" is clicked
        assert card["text"] == opened[symbol]["text"] == words
        assert (card["open"], card["textVisible"], opened[symbol]["open"], opened[symbol]["textVisible"]) == (
            False, False, True, True)
        assert card["weight"] == f"weight: {weight}"
        assert card["meta"] == f"as of {end:%Y-%m-%d %H:%M} UTC · worded from the facts"
        ts, _ = newest[symbol]
        assert card["freshness"] == f"newest bar {when(ts)}; as of {when(end)}"
        # every number a person reads at a glance is one of the stored facts'
        row = next(r for r in seen["raw"]["rows"] if r[0] == symbol)
        assert unsupported_numbers(" ".join([*card["deciding"], card["freshness"], *row]), facts) == []

    # AAPL: ema_cross beat buy-and-hold on 12 trades; its newest signal's side is the stance
    side, ts, price = signal
    aapl = cards["AAPL"]
    assert (aapl["stance"], aapl["stanceAttr"], aapl["stanceClass"]) == (side, side, f"stance {side.lower()}")
    assert aapl["deciding"] == [f"ema_cross said {side} on {when(ts)} at {write(shown(price, 'price'))}, and beat "
                                "buy-and-hold over 12 trades (+25.1% against +18.8%)"]
    # MSFT: the forecast (402.59 in 7 days) beat naive by more than 10% and is below the close: SELL (MASE 0.9345
    # is stored, 0.934 shown: rounded once, as the facts hold it)
    close = write(shown(newest["MSFT"][1], "price"))
    assert (cards["MSFT"]["stance"], stored["MSFT"][1]) == ("SELL", "some")
    assert cards["MSFT"]["deciding"] == [f"the 7-day forecast 402.59 is below the close {close}, by theta, which "
                                         "beat naive (MASE 0.812 against 0.934)"]
    # TSLA: nothing counts, and the card says why
    assert (cards["TSLA"]["stance"], cards["TSLA"]["stanceAttr"]) == ("no stance", "none")
    assert cards["TSLA"]["deciding"] == ["no rule has enough trades to judge", "there is no forecast"]

    # The table across symbols, in the cards' order
    raw = seen["raw"]
    assert raw["tableHidden"] is False
    assert raw["head"] == ["symbol", "timeframe", "stance", "weight", "freshest signal", "forecast vs naive"]
    rule, fside, fts, fprice = freshest
    assert [r[:4] for r in raw["rows"]] == [["AAPL", "base bars", side, "some"], ["MSFT", "base bars", "SELL", "some"],
                                            ["TSLA", "base bars", "no stance", "little"]]
    assert raw["rows"][1][4:] == [f"{fside} {when(fts)} at {write(shown(fprice, 'price'))} ({rule})",
                                  "beats naive: MASE 0.812 vs 0.934"]
    assert raw["rows"][0][5] == raw["rows"][2][5] == "no forecast"
    assert raw["note"].startswith("of base bars (market_recommendations DAG, daily)")
    assert seen["minute"]["cards"] == [] and seen["minute"]["rows"] == [] and seen["minute"]["tableHidden"] is True
    assert seen["minute"]["note"] == "none stored for 1m candles yet (the market_recommendations DAG writes them daily)"
    assert shot.stat().st_size > 20_000
    print(f"\nscreenshot: {shot}")
