"""market_forecast with dag.test() on the real PostgreSQL, from the daily candles the processor
rolled up from GOOG's real history (2004 .. 2013): forecasts of every target for the next trading
days with nested intervals, every candidate's evaluation beside them, and a symbol without daily
history skipped with its reason."""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import pytest
from dags_support import task_states, xcom
from goog_daily import GoogDaily
from sqlalchemy import Engine, text

from services.config import Settings
from services.orchestration.analytics.market_forecast import forecast_symbol

TARGETS = ("close", "high", "low", "volume")
MODELS = {"naive", "drift", "ets", "theta"}
AS_OF = datetime(2013, 2, 28, tzinfo=timezone.utc)  # the last closed daily candle (2013-03-01 is still forming)


def test_market_forecast_on_goog(goog_tables: GoogDaily, dag_bag: dict[str, Any], dag_env: None, owner_db: Engine,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKFLOW_SYMBOLS", "GOOG,AAPL")  # AAPL has no bars: skipped
    with owner_db.begin() as conn:
        conn.execute(text("TRUNCATE market_forecasts, forecast_evaluations"))
    # A shorter forecast of the same as_of first: the run below replaces it.
    shorter = forecast_symbol(Settings().database_url, "GOOG", datetime.now(timezone.utc), 3, 730, 5)
    assert shorter["as_of"] == AS_OF.isoformat() and shorter["horizon"] == 3
    # every param given: dag.test() keeps a run's conf in the DAG's Params (tests/dags/conftest.py, dag_bag)
    run = dag_bag["market_forecast"].test(run_conf={"symbols": [], "horizon": 7, "history": 730})
    states = task_states(run)
    assert run.state == "success", states
    assert states == {"plan": "success", "forecast[0]": "success", "forecast[1]": "skipped", "summary": "success"}

    with owner_db.connect() as conn:
        fc = pd.read_sql_query(text("SELECT * FROM market_forecasts ORDER BY target, step"), conn)
        ev = pd.read_sql_query(text("SELECT * FROM forecast_evaluations"), conn)
    assert len(fc) == 4 * 7 and set(fc["symbol"]) == {"GOOG"} and set(fc["as_of"]) == {pd.Timestamp(AS_OF)}
    days = pd.bdate_range("2013-03-01", periods=7, tz="UTC")  # trading days: the history has no weekend
    for target, rows in fc.groupby("target"):
        assert rows["ts"].tolist() == list(days), target
        assert rows["step"].tolist() == list(range(1, 8))
        assert len(set(rows["model"])) == 1 and rows["history_bars"].iloc[0] == 730
    assert ((fc.lo_95 <= fc.lo_80) & (fc.lo_80 <= fc.forecast) & (fc.forecast <= fc.hi_80) & (fc.hi_80 <= fc.hi_95)
            & (fc.lo_95 > 0)).all()
    first_close = fc[(fc.target == "close") & (fc.step == 1)].iloc[0]
    assert first_close.lo_95 <= 806.19 <= first_close.hi_95  # GOOG's real close on 2013-03-01
    assert 780 < first_close.forecast < 830

    assert len(ev) == 4 * 4 and set(ev["model"]) == MODELS and set(ev["cv_windows"]) == {5}
    assert ev["error"].isna().all() and ev["mase"].notna().all()
    assert ((0 <= ev.coverage_80) & (ev.coverage_80 <= ev.coverage_95) & (ev.coverage_95 <= 1)).all()
    for target in TARGETS:  # the evaluation beside each forecast is the selected model's
        mine, row = ev[ev.target == target], fc[fc.target == target].iloc[0]
        selected = mine[mine.selected]
        naive = mine[mine.model == "naive"].iloc[0]
        assert selected["model"].tolist() == [row.model]
        assert row.mase == selected.mase.iloc[0] and row.naive_mase == naive.mase
        best = mine.loc[mine.mase.idxmin()]
        assert row.beats_naive == (best.mase < naive.mase)
        assert row.model == (best.model if row.beats_naive else "naive")

    report = xcom(run, "summary")
    assert report["symbols"] == ["GOOG"] and report["seconds"]["GOOG"] > 0
    assert report["beats_naive"]["GOOG"] == {t: m for t, m in fc.groupby("target")["model"].first().items()
                                             if fc[fc.target == t].beats_naive.iloc[0]}
    with owner_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM market_forecast_latest")).scalar_one() == 4 * 7


def test_market_forecast_refuses_bad_params(goog_tables: GoogDaily, dag_bag: dict[str, Any]) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    for name, bad in (("symbols", ["NOPE"]), ("horizon", 0), ("history", 10), ("end", "yesterday")):
        params = copy.deepcopy(dag_bag["market_forecast"].params)
        with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}: "):
            params[name] = bad  # refused by the trigger form and the API: no run is created
