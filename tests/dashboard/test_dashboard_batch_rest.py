"""/api/evaluations and /api/forecasts on the real PostgreSQL (reader role): what the signal_evaluation
and market_forecast DAGs stored, newest first, as the tables hold it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator

import psycopg2.extras
import pytest
from dashboard_data import candles, insert_rows, stream_rows
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from services.config import Settings
from services.dashboard.app import create_app
from services.orchestration.analytics.signal_evaluation import evaluate_signals

START = 1_700_000_000.0
AS_OF = datetime(2024, 5, 1, tzinfo=timezone.utc)


@pytest.fixture
def client(dash_db: Settings, owner_db: Engine) -> Iterator[TestClient]:
    with owner_db.begin() as conn:
        conn.execute(text("TRUNCATE signal_evaluations, market_forecasts, forecast_evaluations"))
    with TestClient(create_app(dash_db)) as c:
        yield c


def test_evaluations_are_the_newest_stored_rows(client: TestClient, dash_db: Settings, owner_db: Engine) -> None:
    assert client.get("/api/evaluations").json() == {"min_trades": dash_db.evaluation_min_trades, "items": []}
    bars, signals = stream_rows(candles(("AAPL", "MSFT"), 1200, seed=5, start=START))
    insert_rows(dash_db.database_url, bars, signals)
    end = datetime.fromtimestamp(START + 3600, timezone.utc)
    evaluate_signals(dash_db.database_url, end - timedelta(minutes=1), timedelta(minutes=5), 10.0, ("AAPL", "MSFT"),
                     ("raw",))
    evaluate_signals(dash_db.database_url, end, timedelta(hours=1), 10.0, ("AAPL", "MSFT"), ("raw",))  # the newest
    body = client.get("/api/evaluations").json()["items"]
    with owner_db.connect() as conn:
        want = conn.execute(text("SELECT symbol, rule, trades, total_return, bh_total_return, window_end "
                                 "FROM signal_evaluations WHERE window_end = :e ORDER BY symbol, rule"),
                            {"e": end}).all()
    assert len(want) == 6
    assert [(i["symbol"], i["rule"], i["trades"], i["total_return"], i["bh_total_return"], i["window_end"])
            for i in body] == [(*w[:5], w[5].timestamp()) for w in want]
    # Judged: too few closed trades (below the setting), and lost to buy-and-hold.
    assert [(i["too_few_trades"], i["lost_to_buy_and_hold"]) for i in body] == [
        (w.trades < dash_db.evaluation_min_trades, w.total_return < w.bh_total_return) for w in want]
    assert {i["too_few_trades"] for i in body} == {True, False}
    assert [i["rule"] for i in client.get("/api/evaluations?symbol=msft").json()["items"]] == [
        "ema_cross", "macd_cross", "rsi"]
    assert client.get("/api/evaluations?timeframe=1h").json() == {"min_trades": dash_db.evaluation_min_trades,
                                                                   "items": []}
    assert client.get("/api/evaluations?symbol=NOPE").status_code == 404
    assert client.get("/api/evaluations?timeframe=7x").status_code == 422


def test_forecasts_with_their_evaluations(client: TestClient, dash_db: Settings) -> None:
    conn = psycopg2.connect(dash_db.database_url)  # the writer, as the DAG writes
    try:
        with conn, conn.cursor() as cur:
            for as_of, model in ((AS_OF - timedelta(days=1), "theta"), (AS_OF, "naive")):
                psycopg2.extras.execute_values(cur, "INSERT INTO market_forecasts (symbol, target, as_of, step, ts, "
                                               "model, forecast, lo_80, hi_80, lo_95, hi_95, mase, naive_mase, "
                                               "beats_naive, history_bars) VALUES %s",
                                               [("AAPL", "close", as_of, s, as_of + timedelta(days=s), model, 100.0 + s,
                                                 99.0, 101.0 + s, 98.0, 102.0 + s, 1.5, 1.5, model != "naive", 400)
                                                for s in (1, 2)])
                psycopg2.extras.execute_values(cur, "INSERT INTO forecast_evaluations (symbol, target, as_of, model, "
                                               "selected, mase, smape, coverage_80, coverage_95, cv_windows, horizon, "
                                               "error) VALUES %s",
                                               [("AAPL", "close", as_of, m, m == model, mase, 2.0, 0.8, 0.95, 5, 2,
                                                 error)
                                                for m, mase, error in (("naive", 1.5, None), ("theta", 1.6, None),
                                                                       ("drift", 1.7, None), ("ets", None, "no fit"))])
    finally:
        conn.close()
    body = client.get("/api/forecasts").json()
    # The newest forecast is naive's; beside it the best other candidate that could be fitted, which did not beat it.
    assert [(d["as_of"], d["step"], d["model"], d["beats_naive"], d["hi_95"], d["best_model"], d["best_mase"])
            for d in body["items"]] == [(AS_OF.timestamp(), 1, "naive", False, 103.0, "theta", 1.6),
                                        (AS_OF.timestamp(), 2, "naive", False, 104.0, "theta", 1.6)]
    assert [(e["model"], e["selected"], e["as_of"]) for e in body["evaluations"]] == [
        (m, m == "naive", AS_OF.timestamp()) for m in ("drift", "ets", "naive", "theta")]
    assert client.get("/api/forecasts?symbol=MSFT").json() == {"items": [], "evaluations": []}
    assert client.get("/api/forecasts?horizon=3").status_code == 422
