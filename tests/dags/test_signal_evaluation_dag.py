"""signal_evaluation with dag.test() on the real PostgreSQL, on GOOG's real daily history as the
processor stored it: every stored number equals a bar-by-bar walk over the CSV's closes and the
stored signals, and buy-and-hold equals the CSV's first and last close."""
from __future__ import annotations

import copy
import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dags_support import task_states, xcom
from goog_daily import GoogDaily
from sqlalchemy import Engine, text

END = datetime(2013, 3, 2, tzinfo=timezone.utc)
RULES = ("rsi", "ema_cross", "macd_cross")


def walk(close: pd.Series, signals: pd.DataFrame, fee_bps: float) -> dict[str, Any]:
    """Long-only, one position, BUY enters and SELL exits at the bar's close, fees on both sides;
    an open trade is sold at the last close (README, "Signal evaluation")."""
    keep = 1 - fee_bps / 10_000
    side_at = dict(zip(signals["ts"], signals["side"]))
    equity, entry, trades, wins, steps = 1.0, None, 0, 0, []
    prices = close.to_numpy()
    for i, (ts, price) in enumerate(close.items()):
        before = equity
        if entry is not None and i:
            equity *= price / prices[i - 1]
        side = side_at.get(ts)
        if side == "BUY" and entry is None:
            entry, equity = price, equity * keep
        elif side == "SELL" and entry is not None:
            trades, wins, entry, equity = trades + 1, wins + (keep * keep * price / entry > 1), None, equity * keep
        if entry is not None and i == len(prices) - 1:
            equity *= keep
        steps.append(equity / before - 1)
    years = (close.index[-1] - close.index[0]).total_seconds() / (365.25 * 86_400)
    sharpe = np.mean(steps) / np.std(steps, ddof=1) * math.sqrt((len(prices) - 1) / years)
    return {"trades": trades, "wins": wins, "total_return": equity - 1, "sharpe": sharpe}


def stored(engine: Engine) -> dict[tuple[str, str], dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM signal_evaluations WHERE window_end = :e"), {"e": END}).mappings()
        return {(r["timeframe"], r["rule"]): dict(r) for r in rows}


def test_signal_evaluation_on_goog(goog_tables: GoogDaily, dag_bag: dict[str, Any], dag_env: None,
                                   owner_db: Engine) -> None:
    with owner_db.begin() as conn:
        conn.execute(text("TRUNCATE signal_evaluations"))
    conf = {"symbols": ["GOOG"], "timeframes": ["raw", "1d"], "end": END.isoformat(), "lookback_days": 4000,
            "fee_bps": 10}
    run = dag_bag["signal_evaluation"].test(run_conf=conf)
    assert run.state == "success", task_states(run)
    got = stored(owner_db)
    assert set(got) == {(tf, rule) for tf in ("raw", "1d") for rule in RULES}

    csv = goog_tables.csv
    for timeframe, days in (("raw", csv), ("1d", csv.iloc[:-1])):  # the last day's candle is still forming
        close = days["Close"]
        signals = goog_tables.signals[goog_tables.signals["timeframe"] == timeframe]
        for rule in RULES:
            row, mine = got[(timeframe, rule)], signals[signals["rule"] == rule]
            assert (row["bars"], row["first_ts"], row["last_ts"]) == (len(days), days.index[0], days.index[-1])
            assert (row["buy_signals"], row["sell_signals"]) == ((mine.side == "BUY").sum(),
                                                                 (mine.side == "SELL").sum())
            assert row["bh_total_return"] == pytest.approx(0.999 ** 2 * close.iloc[-1] / close.iloc[0] - 1, rel=1e-12)
            want = walk(close, mine, 10.0)
            assert row["trades"] >= 5, (timeframe, rule)  # ten years of real signals
            assert (row["trades"], row["wins"]) == (want["trades"], want["wins"]), (timeframe, rule)
            assert row["win_rate"] == pytest.approx(want["wins"] / want["trades"])
            assert row["total_return"] == pytest.approx(want["total_return"], rel=1e-9)
            assert row["sharpe"] == pytest.approx(want["sharpe"], rel=1e-9)
            assert row["run_id"] == run.run_id and row["fee_bps"] == 10
    hold = got[("raw", "rsi")]
    assert hold["bh_total_return"] == pytest.approx(0.999 ** 2 * 806.19 / 100.34 - 1, rel=1e-12)  # GOOG 2004 -> 2013
    assert 0.5 < hold["bh_max_drawdown"] < 0.7  # 2008
    report = xcom(run, "evaluate")
    assert report["rows"] == 6 and report["bars"] == 2 * len(csv) - 1
    assert report["evaluations"]["GOOG"]["1d"]["macd_cross"]["trades"] == got[("1d", "macd_cross")]["trades"]

    # Re-running replaces the rows; another fee is another row; the analyst role reads the table.
    again = dag_bag["signal_evaluation"].test(run_conf={**conf, "timeframes": ["1d"]})
    assert again.state == "success", task_states(again)
    free = dag_bag["signal_evaluation"].test(run_conf={**conf, "timeframes": ["1d"], "fee_bps": 0})
    assert free.state == "success", task_states(free)
    with owner_db.connect() as conn:
        counts = dict(conn.execute(text("SELECT fee_bps, count(*) FROM signal_evaluations GROUP BY 1")).all())
        assert counts == {10.0: 6, 0.0: 3}
        free_macd = conn.execute(text("SELECT total_return FROM signal_evaluations WHERE fee_bps = 0 "
                                      "AND timeframe = '1d' AND rule = 'macd_cross'")).scalar_one()
    mine = goog_tables.signals[(goog_tables.signals.timeframe == "1d") & (goog_tables.signals.rule == "macd_cross")]
    assert free_macd == pytest.approx(walk(csv["Close"].iloc[:-1], mine, 0.0)["total_return"], rel=1e-9)


def test_signal_evaluation_refuses_bad_params(goog_tables: GoogDaily, dag_bag: dict[str, Any]) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    for name, bad in (("symbols", ["NOPE"]), ("timeframes", ["7x"]), ("lookback_days", 0), ("fee_bps", -1)):
        params = copy.deepcopy(dag_bag["signal_evaluation"].params)
        with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}: "):
            params[name] = bad  # refused by the trigger form and the API: no run is created
