"""The recommendations on the dashboard, from rows the market_recommendations DAG's code stored:
GET /api/recommendations (reader role) returns the newest row per symbol as stored, and the page
shows a card per symbol with the stored text (headless Chromium)."""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dashboard_data import candles, insert_rows, stream_rows
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from test_dashboard_browser import CHROMIUM, WEB_DIR

from services.config import Settings
from services.core.recommendation import Policy
from services.dashboard.app import create_app
from services.orchestration.analytics.recommendations import recommend

START = 1_700_000_000.0
SYMBOLS = ("AAPL", "MSFT")


def store(settings: Settings) -> datetime:
    """An hour of base bars and their signals; recommendations at two ends, the later one the newest."""
    bars, signals = stream_rows(candles(SYMBOLS, 3600 * len(SYMBOLS), seed=3, start=START))
    insert_rows(settings.database_url, bars, signals)
    end = datetime.fromtimestamp(START + 3600, timezone.utc)
    for at in (end - timedelta(minutes=30), end):
        report = recommend(settings.database_url, at, SYMBOLS, ("raw", "1m"), Policy(), 10.0, run_id="rest-test")
        assert report["rows"] == 2 and report["skipped"] == ["AAPL 1m", "MSFT 1m"]  # no 1m candles stored
    return end


def test_rest_returns_the_newest_stored_recommendations(dash_db: Settings, owner_db: Engine) -> None:
    with TestClient(create_app(dash_db)) as client:
        assert client.get("/api/recommendations").json() == {"items": []}
        end = store(dash_db)
        body = client.get("/api/recommendations").json()["items"]
        with owner_db.connect() as conn:
            want = conn.execute(text("SELECT symbol, weight, text, phrasing, facts FROM recommendations "
                                     "WHERE as_of = :e ORDER BY symbol"), {"e": end}).all()
        assert ([(i["symbol"], i["weight"], i["text"], i["phrasing"], i["facts"]) for i in body]
                == [tuple(w) for w in want])
        assert [i["as_of"] for i in body] == [end.timestamp()] * 2 and body[0]["text"].startswith("AAPL (base bars)")
        assert body[0]["fallback_reason"] is None and body[0]["facts"]["indicators"]["source"]["table"] == "bars"
        assert [i["symbol"] for i in client.get("/api/recommendations?symbol=msft").json()["items"]] == ["MSFT"]
        assert client.get("/api/recommendations?timeframe=1h").json() == {"items": []}
        assert client.get("/api/recommendations?symbol=NOPE").status_code == 404
        assert client.get("/api/recommendations?timeframe=7x").status_code == 422
        assert client.get("/api/recommendations?limit=3").status_code == 422


def test_the_page_shows_a_card_per_symbol_with_the_stored_text(dashboard: str, dash_db: Settings,
                                                                 owner_db: Engine) -> None:
    node = shutil.which("node")
    assert node and (WEB_DIR / "node_modules" / "playwright-core").is_dir()
    end = store(dash_db)
    with owner_db.connect() as conn:
        stored = {s: (t, w) for s, t, w in conn.execute(text(
            "SELECT symbol, text, weight FROM recommendation_latest WHERE timeframe = 'raw'")).all()}
    done = subprocess.run([node, str(Path(__file__).with_name("recommendation_check.mjs")), f"{dashboard}/#AAPL",
                           str(WEB_DIR), "30000"], capture_output=True, text=True, timeout=120,
                          env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["errors"] == []
    cards = {c["symbol"]: c for c in shown["raw"]["cards"]}
    assert set(cards) == set(SYMBOLS)
    for symbol, (words, weight) in stored.items():
        assert cards[symbol]["text"] == words and cards[symbol]["weight"] == f"weight: {weight}"
        assert cards[symbol]["meta"] == f"as of {end:%Y-%m-%d %H:%M} UTC · worded from the facts"
    assert shown["raw"]["note"] == "of base bars (market_recommendations DAG, daily)"
    assert shown["minute"] == {"timeframe": "1m", "cards": [],
                               "note": "none stored for 1m candles yet "
                                       "(the market_recommendations DAG writes them daily)"}
