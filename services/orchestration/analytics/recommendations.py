"""The market_recommendations DAG's logic: read each (symbol, timeframe)'s stored rows as of the run's
end, make the facts and the text (services/core/recommendation.py, pure), phrase them by an LLM if
one is set (phrasing.py), store one row per symbol and timeframe (sql/0029).

What is read, every row before `end`: the newest bar of the timeframe with its indicators; each
rule's newest signal of the timeframe; each rule's newest evaluation of the timeframe at the
configured fee (`signal_evaluations`, window_end <= end); the symbol's newest close forecast
(`market_forecasts`, the last step: the `horizon`-day forecast); and the count and mean of the
symbol's news sentiment over the `news_hours` before `end`. A symbol and timeframe without a bar
gets no row. Re-running a run's end replaces its rows (upsert on symbol, timeframe, as_of).
"""
from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any, Iterable

import httpx
import psycopg2.extras

from services.core.recommendation import INDICATOR_FIELDS, Evidence, Policy, facts_of, template_text
from services.core.signals import RULES
from services.db.connect import pg_connection
from services.db.statements import upsert_values
from services.logs import event
from services.orchestration.analytics.phrasing import LLM, LLMEndpoint, Phrased, phrase

log = logging.getLogger(__name__)

COLUMNS = ("symbol", "timeframe", "as_of", "weight", "text", "template_text", "phrasing", "fallback_reason",
           "llm_model", "facts", "run_id")
KEY = ("symbol", "timeframe", "as_of")
UPSERT = upsert_values("recommendations", COLUMNS, KEY)

BAR_SQL = (f"SELECT symbol, timeframe, ts, {', '.join(INDICATOR_FIELDS)} FROM bars "
           "WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s AND ts < %(end)s ORDER BY ts DESC LIMIT 1")
SIGNALS_SQL = ("SELECT s.* FROM unnest(%(rules)s::text[]) r(rule) CROSS JOIN LATERAL ("
               "SELECT symbol, timeframe, ts, rule, side, price FROM signals WHERE symbol = %(symbol)s "
               "AND timeframe = %(timeframe)s AND rule = r.rule AND ts < %(end)s ORDER BY ts DESC LIMIT 1) s")
EVALUATIONS_SQL = ("SELECT DISTINCT ON (rule) symbol, timeframe, rule, window_end, first_ts, last_ts, fee_bps, trades, "
                   "win_rate, mean_trade_return, total_return, bh_total_return FROM signal_evaluations "
                   "WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s AND fee_bps = %(fee_bps)s "
                   "AND window_end <= %(end)s ORDER BY rule, window_end DESC, computed_at DESC")
FORECAST_SQL = ("SELECT symbol, as_of, target, step, ts, model, forecast, lo_80, hi_80, lo_95, hi_95, mase, "
                "naive_mase, beats_naive FROM market_forecasts WHERE symbol = %(symbol)s AND target = 'close' "
                "AND as_of < %(end)s ORDER BY as_of DESC, step DESC LIMIT 1")
NEWS_SQL = ("SELECT count(*), avg(sentiment_score) FROM news_sentiment "
            "WHERE symbol = %(symbol)s AND ts >= %(start)s AND ts < %(end)s")


def read_evidence(cur: Any, symbol: str, timeframe: str, end: datetime, fee_bps: float, news_hours: int) -> Evidence:
    """The stored rows one recommendation is made from (module docstring); `cur` is a RealDictCursor."""
    args = {"symbol": symbol, "timeframe": timeframe, "end": end, "fee_bps": fee_bps, "rules": list(RULES),
            "start": end - timedelta(hours=news_hours)}
    rows = {}
    for name, sql in (("bar", BAR_SQL), ("signals", SIGNALS_SQL), ("evaluations", EVALUATIONS_SQL),
                      ("forecast", FORECAST_SQL)):
        cur.execute(sql, args)
        rows[name] = [dict(r) for r in cur.fetchall()]
    cur.execute(NEWS_SQL, args)
    count, mean = cur.fetchone().values()
    news = {"symbol": symbol, "start": args["start"], "end": end, "count": count, "mean_score": mean}
    return Evidence(symbol, timeframe, end, bar=next(iter(rows["bar"]), None), signals=rows["signals"],
                    evaluations=rows["evaluations"], forecast=next(iter(rows["forecast"]), None), news=news)


def recommend(dsn: str, end: datetime, symbols: Iterable[str], timeframes: Iterable[str], policy: Policy,
              fee_bps: float, llm: LLMEndpoint | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Make and store a recommendation per symbol and timeframe with a bar before `end`; a JSON-able report."""
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    began = time.perf_counter()
    made: list[tuple[dict[str, Any], str, Phrased]] = []
    skipped: list[str] = []
    with pg_connection(dsn, "tickflow-recommendations") as conn:
        with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SET LOCAL TIME ZONE 'UTC'")
            evidence = [read_evidence(cur, s, tf, end, fee_bps, policy.news_hours)
                        for s in symbols for tf in timeframes]
        with httpx.Client() if llm else nullcontext() as client:
            for ev in evidence:
                if ev.bar is None:
                    skipped.append(f"{ev.symbol} {ev.timeframe}")
                    continue
                facts = facts_of(ev, policy)
                template = template_text(facts)
                made.append((facts, template, phrase(client, llm, facts, template)))
        with conn, conn.cursor() as cur:
            rows = [(f["symbol"], f["timeframe"], end, f["summary"]["weight"], p.text, template, p.phrasing,
                     p.fallback_reason, llm.model if llm else None, psycopg2.extras.Json(f), run_id)
                    for f, template, p in made]
            psycopg2.extras.execute_values(cur, UPSERT, rows)
    seconds = time.perf_counter() - began
    event(log, "recommendations stored", end=end.isoformat(), rows=len(made), skipped=len(skipped),
          llm=sum(p.phrasing == LLM for *_, p in made), seconds=round(seconds, 3))
    return {"end": end.isoformat(), "rows": len(made), "skipped": skipped, "seconds": seconds,
            "recommendations": {f"{f['symbol']} {f['timeframe']}": {
                "weight": f["summary"]["weight"], "phrasing": p.phrasing, "fallback_reason": p.fallback_reason}
                for f, _, p in made}}
