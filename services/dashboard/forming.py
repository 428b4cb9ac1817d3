"""The forming candle of a timeframe: the window of a symbol's newest base bar, not stored yet.

The processor stores a rolled-up candle only once its window has closed (README, "Timeframes"),
so the newest window of every timeframe is never in `bars`. The page still wants to draw it, and
needs it whole when it opens the chart mid-window: this computes it from the stored base bars
with the processor's rule (services/core/timeframes.py): the window holding the newest base bar,
aligned to the UTC epoch; open = first, high = max, low = min, close = last, volume = sum.

One statement, so one snapshot: `last_ts` says which base bars it holds, and a client that then
adds the live updates' base bars after `last_ts` keeps it exact.
"""
from __future__ import annotations

from typing import Any

from services.core.timeframes import Timeframe

# date_bin works on PostgreSQL's whole-microsecond timestamps, as Timeframe.window_start does:
# a base bar exactly on a boundary opens the new window. The two lateral reads use the primary
# key (symbol, timeframe, ts); the aggregate reads only the forming window's base bars.
FORMING_SQL = """
WITH newest AS (
    SELECT ts, close FROM bars WHERE symbol = %(symbol)s AND timeframe = 'raw' ORDER BY ts DESC LIMIT 1
), win AS (
    SELECT date_bin(make_interval(secs => %(seconds)s), ts, timestamptz '1970-01-01 00:00:00+00') AS start,
           ts AS last_ts, close
    FROM newest
)
SELECT win.start, first.open, agg.high, agg.low, win.close, agg.volume, agg.base_bars, win.last_ts
FROM win
CROSS JOIN LATERAL (SELECT open FROM bars WHERE symbol = %(symbol)s AND timeframe = 'raw' AND ts >= win.start
                    ORDER BY ts LIMIT 1) first
CROSS JOIN LATERAL (SELECT max(high) AS high, min(low) AS low, sum(volume ORDER BY ts) AS volume, count(*) AS base_bars
                    FROM bars WHERE symbol = %(symbol)s AND timeframe = 'raw' AND ts >= win.start) agg
"""
FIELDS = ("ts", "open", "high", "low", "close", "volume", "base_bars", "last_ts")


def forming(cur: Any, symbol: str, timeframe: Timeframe) -> dict[str, Any] | None:
    """The forming candle of `timeframe` for `symbol` (times as epoch seconds), None without base bars."""
    cur.execute(FORMING_SQL, {"symbol": symbol, "seconds": timeframe.seconds})
    row = cur.fetchone()
    if row is None:
        return None
    candle = dict(zip(FIELDS, row))
    candle["ts"] = candle["ts"].timestamp()
    candle["last_ts"] = candle["last_ts"].timestamp()
    return candle
