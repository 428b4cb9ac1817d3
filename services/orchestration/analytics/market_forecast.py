"""The market_forecast DAG's logic for one symbol: read its daily candles, forecast close, high, low
and volume (services/orchestration/analytics/forecasting.py), store forecasts and evaluations (sql/0028).

The history is the symbol's newest `history` candles of the `1d` timeframe before `end` (a day's
candle is stored once the next day's first base bar arrives: README, "Timeframes"). The forecast
days follow the last candle: trading days (Monday to Friday) when no candle of the history falls on
a weekend, else calendar days. A run replaces the rows of its (symbol, as_of).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg2.extras

from services.db.connect import pg_connection
from services.logs import event
from services.orchestration.analytics.forecasting import LEVELS, forecast_target, min_history
from services.orchestration.batch import copy_frame

log = logging.getLogger(__name__)

TARGETS = ("close", "high", "low", "volume")
DAILY = "1d"
FORECAST_COLUMNS = ("symbol", "target", "as_of", "step", "ts", "model", "forecast", "lo_80", "hi_80", "lo_95",
                    "hi_95", "mase", "naive_mase", "beats_naive", "history_bars", "run_id")
EVALUATION_COLUMNS = ("symbol", "target", "as_of", "model", "selected", "mase", "smape", "coverage_80",
                      "coverage_95", "cv_windows", "horizon", "error", "run_id")


class NotEnoughHistory(ValueError):
    """Too few daily candles for one cross-validation window."""


def load_daily(cur: Any, symbol: str, end: datetime, history: int) -> pd.DataFrame:
    """The newest `history` daily candles of `symbol` before `end`, oldest first (ts as UTC timestamps)."""
    cur.execute("SET LOCAL TIME ZONE 'UTC'")
    query = cur.mogrify(f"SELECT ts, {', '.join(TARGETS)} FROM bars WHERE symbol = %s AND timeframe = %s AND ts < %s "
                        "ORDER BY ts DESC LIMIT %s", (symbol, DAILY, end, history)).decode()
    frame = copy_frame(cur, query, ("ts", *TARGETS), {"ts": str})
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame.iloc[::-1].reset_index(drop=True)


def forecast_days(days: pd.Series, horizon: int) -> pd.DatetimeIndex:
    """The `horizon` days after the last of `days`: trading days if none of `days` is a weekend day."""
    step = pd.offsets.BDay() if (days.dt.day_of_week < 5).all() else pd.offsets.Day()
    return pd.date_range(days.iloc[-1] + step, periods=horizon, freq=step)


def forecast_symbol(dsn: str, symbol: str, end: datetime, horizon: int, history: int, windows: int,
                    run_id: str | None = None) -> dict[str, Any]:
    """Forecast and store every target of `symbol`; a JSON-able report (NotEnoughHistory if too short)."""
    began = time.perf_counter()
    with pg_connection(dsn, "tickflow-market-forecast") as conn:
        with conn, conn.cursor() as cur:
            daily = load_daily(cur, symbol, end, history)
        if len(daily) < min_history(horizon):
            raise NotEnoughHistory(f"{symbol} has {len(daily)} daily candles before {end.isoformat()}; a {horizon}-day "
                                   f"forecast needs at least {min_history(horizon)}")
        as_of = daily["ts"].iloc[-1].to_pydatetime()
        days = forecast_days(daily["ts"], horizon)
        forecasts, evaluations, report = [], [], {}
        for target in TARGETS:
            result = forecast_target(daily[target].to_numpy(), horizon, windows)
            chosen, naive = result.score(result.model), result.score("naive")
            fc = result.forecast  # numpy 2 floats print as np.float64(...): psycopg2 gets Python floats
            bands = zip(fc.point.tolist(), fc.lo[80].tolist(), fc.hi[80].tolist(), fc.lo[95].tolist(),
                        fc.hi[95].tolist())
            for step, (day, values) in enumerate(zip(days, bands), start=1):
                forecasts.append((symbol, target, as_of, step, day.to_pydatetime(), result.model, *values, chosen.mase,
                                  naive.mase, result.beats_naive, len(daily), run_id))
            for s in result.scores:
                evaluations.append((symbol, target, as_of, s.model, s.model == result.model, s.mase, s.smape,
                                    *(s.coverage.get(k) for k in LEVELS), result.windows, horizon, s.error, run_id))
            used = result.windows
            report[target] = {"model": result.model, "beats_naive": result.beats_naive, "mase": chosen.mase,
                              "naive_mase": naive.mase, "smape": chosen.smape,
                              **{f"coverage_{k}": chosen.coverage[k] for k in LEVELS}}
        with conn, conn.cursor() as cur:
            for table in ("market_forecasts", "forecast_evaluations"):
                cur.execute(f"DELETE FROM {table} WHERE symbol = %s AND as_of = %s", (symbol, as_of))
            for table, columns, rows in (("market_forecasts", FORECAST_COLUMNS, forecasts),
                                         ("forecast_evaluations", EVALUATION_COLUMNS, evaluations)):
                psycopg2.extras.execute_values(cur, f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s", rows)
    seconds = time.perf_counter() - began
    event(log, "market forecast stored", symbol=symbol, as_of=as_of.isoformat(), history_bars=len(daily),
          seconds=round(seconds, 2), beats_naive={t: r["beats_naive"] for t, r in report.items()})
    return {"symbol": symbol, "as_of": as_of.isoformat(), "history_bars": len(daily), "horizon": horizon,
            "cv_windows": used, "seconds": seconds, "targets": report}
