"""The signal_evaluation DAG's logic: read each (symbol, timeframe)'s bars and signals in a window,
evaluate every rule with services.core.evaluation (pure, vectorised), store the rows.

The window is [end - lookback, end). For each symbol and timeframe with bars in it, the span is
those bars; each rule's signals in it are followed as the core module says (README, "Signal
evaluation"), and buy-and-hold is computed over the same bars. Rows go to `signal_evaluations`
(sql/0028), one per symbol, timeframe and rule, upserted on (symbol, timeframe, rule,
window_end, fee_bps): re-running a window replaces its rows.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

import pandas as pd
import psycopg2.extras

from services.core.evaluation import evaluate_rules
from services.core.signals import RULES
from services.db.connect import pg_connection
from services.db.statements import upsert_values
from services.logs import event
from services.orchestration.batch import TS_MICROS, copy_frame

log = logging.getLogger(__name__)

COLUMNS = ("symbol", "timeframe", "rule", "window_start", "window_end", "fee_bps", "first_ts", "last_ts", "bars",
           "buy_signals", "sell_signals", "trades", "wins", "win_rate", "mean_trade_return", "total_return", "sharpe",
           "max_drawdown", "exposure", "open_trade_return", "bh_total_return", "bh_sharpe", "bh_max_drawdown",
           "run_id")
KEY = ("symbol", "timeframe", "rule", "window_end", "fee_bps")
UPSERT = upsert_values("signal_evaluations", COLUMNS, KEY)


def load_span(cur: Any, symbol: str, timeframe: str, start: datetime,
              end: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bars: micros, close; signals: micros, rule, side) of one symbol and timeframe in [start, end), in time order."""
    where = cur.mogrify("symbol = %s AND timeframe = %s AND ts >= %s AND ts < %s",
                        (symbol, timeframe, start, end)).decode()
    bars = copy_frame(cur, f"SELECT {TS_MICROS}, close FROM bars WHERE {where} ORDER BY ts", ("micros", "close"),
                      {"micros": "int64"})
    signals = copy_frame(cur, f"SELECT {TS_MICROS}, rule, side FROM signals WHERE {where} ORDER BY ts",
                         ("micros", "rule", "side"), {"micros": "int64", "rule": str, "side": str})
    return bars, signals


def evaluate_span(bars: pd.DataFrame, signals: pd.DataFrame, fee_bps: float) -> list[dict[str, Any]]:
    """Every rule over one span (bars and signals as `load_span` returns them)."""
    def seconds(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(seconds=frame["micros"] / 1e6)

    rows = evaluate_rules(seconds(bars), seconds(signals), RULES, fee_bps)
    first, last = (pd.Timestamp(int(bars["micros"].iloc[i]), unit="us", tz="UTC").to_pydatetime() for i in (0, -1))
    return [{**row, "first_ts": first, "last_ts": last} for row in rows]


def evaluate_signals(dsn: str, end: datetime, lookback: timedelta, fee_bps: float, symbols: Iterable[str],
                     timeframes: Iterable[str], run_id: str | None = None) -> dict[str, Any]:
    """Evaluate and store every symbol x timeframe x rule over [end - lookback, end); a JSON-able report."""
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    end = end.astimezone(timezone.utc)
    start = end - lookback
    rows: list[dict[str, Any]] = []
    bars_read = 0
    began = time.perf_counter()
    with pg_connection(dsn, "tickflow-signal-evaluation") as conn:
        with conn, conn.cursor() as cur:
            for symbol in symbols:
                for timeframe in timeframes:
                    bars, signals = load_span(cur, symbol, timeframe, start, end)
                    bars_read += len(bars)
                    if bars.empty:
                        continue
                    rows.extend({**row, "symbol": symbol, "timeframe": timeframe, "window_start": start,
                                 "window_end": end, "fee_bps": fee_bps, "run_id": run_id}
                                for row in evaluate_span(bars, signals, fee_bps))
            psycopg2.extras.execute_values(cur, UPSERT, [[r[c] for c in COLUMNS] for r in rows], page_size=1000)
    seconds = time.perf_counter() - began
    event(log, "signal evaluations stored", window_end=end.isoformat(), rows=len(rows), bars=bars_read,
          seconds=round(seconds, 3))
    report: dict[str, Any] = {"window_start": start.isoformat(), "window_end": end.isoformat(), "fee_bps": fee_bps,
                              "bars": bars_read, "rows": len(rows), "seconds": seconds, "evaluations": {}}
    for r in rows:
        report["evaluations"].setdefault(r["symbol"], {}).setdefault(r["timeframe"], {})[r["rule"]] = {
            k: r[k] for k in ("trades", "win_rate", "mean_trade_return", "total_return", "bh_total_return")}
    return report
