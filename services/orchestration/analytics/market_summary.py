"""Per-symbol market summaries over the last hour, day and week (the market_summary DAG's logic).

A summary is of one timeframe's bars: the base bars (`raw`) or a rolled timeframe's candles
(`5m`, `1h`, ...; a candle counts when it lies wholly inside the window: `ts >= start` and
`ts + length <= end`), so `bars`, the volatility and the hit-rate horizon count that timeframe's
bars. Which periods a timeframe gets (`periods_for`): the base bars the last hour and day (a week
of base bars is too many rows to scan every hour); a rolled timeframe every period at least twice
its length (a window of one candle summarises nothing), so `1d` candles get the week only.

For a window [start, end), a timeframe and each symbol with bars of it in the window:

- OHLC: the first bar's open, the highest high, the lowest low, the last bar's close;
  `return` = close / open - 1; `volume` = sum of volumes; `bars` = number of bars.
- `volatility`: sample standard deviation (n - 1) of log(close / previous close) between
  consecutive bars inside the window (not annualised); NULL with fewer than two returns.
- signals in the window by side, and by rule and side.
- hit rate: a signal at bar i is *evaluated* when the window holds the bar i + N of the same
  symbol (N = `summary_horizon_bars`); it is a *hit* when that bar's close is above (BUY) or
  below (SELL) the close of bar i. hit_rate = hits / evaluated (NULL when none evaluated),
  overall and per rule.

Everything is computed in one SQL statement per window (the day window can hold millions of
bars) and stored in `market_summaries` / `market_summary_rules` (sql/0022), replacing the rows
of the same (timeframe, period, window_end) (sql/0026): re-running a window is harmless. The DAG's task body is
`tasks.market_summary`; `python -m services.orchestration summarize` runs `summarize` once by hand,
and the dashboard only reads the tables (/api/summary).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from services.core.signals import RULES
from services.core.timeframes import RAW, Timeframe
from services.db.connect import pg_connection
from services.logs import event

log = logging.getLogger(__name__)

PERIODS: dict[str, timedelta] = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
RAW_PERIODS = ("1h", "1d")


def periods_for(timeframe: str) -> list[str]:
    """The periods summarised for a timeframe's bars (see the module's docstring)."""
    if timeframe == RAW:
        return list(RAW_PERIODS)
    seconds = Timeframe.parse(timeframe).seconds
    return [p for p, span in PERIODS.items() if span.total_seconds() >= 2 * seconds]


# One row per symbol and rule (rule NULL: the symbol's totals, via GROUPING SETS).
SUMMARY_SQL = """
WITH b AS (
    SELECT symbol, ts, high, low, close, volume,
           ln(close / lag(close) OVER w) AS log_return,
           lead(close, %(horizon)s) OVER w AS close_after
    FROM bars
    WHERE timeframe = %(timeframe)s AND ts >= %(start)s AND ts < %(end)s AND ts + %(length)s <= %(end)s
    WINDOW w AS (PARTITION BY symbol ORDER BY ts)
), per_symbol AS (
    SELECT symbol, count(*) AS bars, min(ts) AS first_ts, max(ts) AS last_ts, max(high) AS high,
           min(low) AS low, stddev_samp(log_return) AS volatility, sum(volume) AS volume
    FROM b GROUP BY symbol
), sig AS (
    SELECT s.symbol, s.rule, s.side,
           b.close_after IS NOT NULL AS evaluated,
           coalesce(CASE s.side WHEN 'BUY' THEN b.close_after > b.close ELSE b.close_after < b.close END, false) AS hit
    FROM signals s
    LEFT JOIN b ON b.symbol = s.symbol AND b.ts = s.ts
    WHERE s.timeframe = %(timeframe)s AND s.ts >= %(start)s AND s.ts < %(end)s AND s.ts + %(length)s <= %(end)s
), sig_counts AS (
    SELECT symbol, rule,
           count(*) FILTER (WHERE side = 'BUY') AS buy_signals,
           count(*) FILTER (WHERE side = 'SELL') AS sell_signals,
           count(*) FILTER (WHERE evaluated) AS evaluated,
           count(*) FILTER (WHERE evaluated AND hit) AS hits
    FROM sig GROUP BY GROUPING SETS ((symbol), (symbol, rule))
)
SELECT p.symbol, p.bars, p.first_ts, p.last_ts, o.open, p.high, p.low, c.close, p.volatility, p.volume,
       c2.rule, coalesce(c2.buy_signals, 0), coalesce(c2.sell_signals, 0), coalesce(c2.evaluated, 0),
       coalesce(c2.hits, 0)
FROM per_symbol p
CROSS JOIN LATERAL (SELECT open FROM bars WHERE symbol = p.symbol AND timeframe = %(timeframe)s AND ts = p.first_ts) o
CROSS JOIN LATERAL (SELECT close FROM bars WHERE symbol = p.symbol AND timeframe = %(timeframe)s AND ts = p.last_ts) c
LEFT JOIN sig_counts c2 ON c2.symbol = p.symbol
ORDER BY p.symbol, c2.rule NULLS FIRST
"""


def _rate(hits: int, evaluated: int) -> float | None:
    return hits / evaluated if evaluated else None


def compute(cur: Any, timeframe: str, start: datetime, end: datetime, horizon: int) -> list[dict[str, Any]]:
    """Summaries of a timeframe's bars in [start, end) per symbol, each with a `rules` list (every
    rule, zeros included)."""
    length = timedelta(0) if timeframe == RAW else timedelta(seconds=Timeframe.parse(timeframe).seconds)
    cur.execute(SUMMARY_SQL, {"timeframe": timeframe, "start": start, "end": end, "length": length,
                              "horizon": horizon})
    summaries: dict[str, dict[str, Any]] = {}
    for (symbol, bars, first_ts, last_ts, open_, high, low, close, vol, volume,
         rule, buy, sell, evaluated, hits) in cur.fetchall():
        s = summaries.get(symbol)
        if s is None:
            s = summaries[symbol] = {
                "symbol": symbol, "timeframe": timeframe, "window_start": start, "window_end": end, "bars": bars,
                "first_ts": first_ts, "last_ts": last_ts, "open": open_, "high": high, "low": low, "close": close,
                "return": close / open_ - 1.0, "volatility": vol, "volume": volume, "buy_signals": 0,
                "sell_signals": 0, "horizon_bars": horizon, "evaluated": 0, "hits": 0, "hit_rate": None,
                "rules": {r: {"rule": r, "buy_signals": 0, "sell_signals": 0, "evaluated": 0, "hits": 0,
                              "hit_rate": None} for r in RULES},
            }
        counts = {"buy_signals": buy, "sell_signals": sell, "evaluated": evaluated, "hits": hits,
                  "hit_rate": _rate(hits, evaluated)}
        if rule is None:
            if buy or sell:
                s.update(counts)
        else:
            s["rules"][rule] = {"rule": rule, **counts}
    for s in summaries.values():
        s["rules"] = list(s["rules"].values())
    return list(summaries.values())


SUMMARY_COLUMNS = ("symbol", "timeframe", "period", "window_start", "window_end", "bars", "first_ts", "last_ts",
                   "open", "high", "low", "close", "return", "volatility", "volume", "buy_signals", "sell_signals",
                   "horizon_bars", "evaluated", "hits", "hit_rate", "run_id")
RULE_COLUMNS = ("symbol", "timeframe", "period", "window_end", "rule", "buy_signals", "sell_signals", "evaluated",
                "hits", "hit_rate")


def store(cur: Any, timeframe: str, period: str, end: datetime, summaries: Iterable[dict[str, Any]],
          run_id: str | None) -> None:
    """Replace the stored summaries of (timeframe, period, end) by `summaries` (inside a transaction)."""
    cur.execute("DELETE FROM market_summaries WHERE timeframe = %s AND period = %s AND window_end = %s",
                (timeframe, period, end))
    for s in summaries:
        row = {**s, "period": period, "run_id": run_id}
        cur.execute(f"INSERT INTO market_summaries ({', '.join(SUMMARY_COLUMNS)}) "
                    f"VALUES ({', '.join(['%s'] * len(SUMMARY_COLUMNS))})", [row[c] for c in SUMMARY_COLUMNS])
        for r in s["rules"]:
            rr = {**r, "symbol": s["symbol"], "timeframe": timeframe, "period": period, "window_end": end}
            cur.execute(f"INSERT INTO market_summary_rules ({', '.join(RULE_COLUMNS)}) "
                        f"VALUES ({', '.join(['%s'] * len(RULE_COLUMNS))})", [rr[c] for c in RULE_COLUMNS])


def summarize(dsn: str, end: datetime, horizon: int, run_id: str | None = None,
              timeframes: Iterable[str] = (RAW,)) -> dict[str, Any]:
    """Compute and store every period of every timeframe ending at `end`, in one transaction;
    return a JSON-able report ({"timeframes": {timeframe: {period: ...}}})."""
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    end = end.astimezone(timezone.utc)
    report: dict[str, Any] = {"window_end": end.isoformat(), "horizon_bars": horizon, "timeframes": {}}
    with pg_connection(dsn, "tickflow-market-summary") as conn:
        with conn, conn.cursor() as cur:
            for timeframe in timeframes:
                periods = report["timeframes"][timeframe] = {}
                for period in periods_for(timeframe):
                    start = end - PERIODS[period]
                    summaries = compute(cur, timeframe, start, end, horizon)
                    store(cur, timeframe, period, end, summaries, run_id)
                    periods[period] = {
                        "window_start": start.isoformat(),
                        "symbols": {s["symbol"]: {"bars": s["bars"], "return": s["return"],
                                                  "signals": s["buy_signals"] + s["sell_signals"],
                                                  "hit_rate": s["hit_rate"]} for s in summaries},
                    }
                    event(log, "market summary stored", timeframe=timeframe, period=period,
                          window_end=end.isoformat(), symbols=len(summaries))
    return report
