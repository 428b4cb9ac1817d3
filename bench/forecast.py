"""Forecast and signal-evaluation benchmark: the market_forecast DAG's time per symbol, and the
signal_evaluation DAG's rows/s, on the real local PostgreSQL.

Set-up (untimed): for the evaluation, N seeded one-second base bars (bench.batch.fill_bars) and
their signals (the indicator backfill writes them); for the forecasts, 730 seeded daily candles
per symbol stored as the `1d` timeframe.

Timed:
- first call, in a fresh interpreter: importing statsmodels' models, then the first and the
  second forecast of one series; their difference is the first-call cost (caches; statsmodels
  compiles nothing, unlike a numba-based library);
- forecast per symbol: `forecast_symbol` (read, cross-validate 4 models × 4 targets, store)
  after that first call; baseline: the two baselines alone on the same candles, no I/O;
- evaluation: `evaluate_signals` over every stored base bar (read, every rule, store); baselines:
  reading the spans alone, and the pure evaluation alone.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone

from sqlalchemy import text

from bench.batch import fill_bars
from bench.pipeline import CANDLES_ONLY
from bench.report import Measurement, Report
from bench.stack import ROOT, BenchStack
from services.core.indicators import INDICATOR_COLUMNS
from services.core.signals import RULES
from services.core.simulation import MarketSimulator
from services.orchestration.analytics.signal_evaluation import evaluate_signals, evaluate_span, load_span
from services.orchestration.indicators.backfill import backfill_symbol
from services.orchestration.indicators.recompute import Recomputation
from services.processor.sinks import BarRow, BarSink

DAYS = 730
DAY_START = datetime(2023, 1, 2, tzinfo=timezone.utc)
FIRST_CALL = """
import json, time
t0 = time.perf_counter()
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.forecasting.theta import ThetaModel
from services.orchestration.analytics.forecasting import forecast_target
import numpy as np
t1 = time.perf_counter()
y = 100 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.02, {days})))
forecast_target(y, 7, 5)
t2 = time.perf_counter()
forecast_target(y, 7, 5)
t3 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}}))
"""


def fill_daily(stack: BenchStack, days: int = DAYS, seed: int = 7) -> None:
    """`days` daily candles per symbol in the `1d` timeframe (OHLCV, indicators NULL)."""
    sim = MarketSimulator(stack.settings.symbols, seed, DAY_START.timestamp(), 86_400.0, CANDLES_ONLY)
    sink = BarSink()
    nulls = (None,) * len(INDICATOR_COLUMNS)
    rows = [BarRow(r["stock_symbol"], "1d", r["timestamp"], r["opening_price"], r["high"], r["low"],
                   r["closing_price"], r["volume"], 1, *nulls)
            for tick in sim.stream(days * len(stack.settings.symbols)) for r in tick[:1]]
    raw = stack.db.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur:
            cur.execute(sink.create_staging_sql())
            sink.write(cur, rows)
        raw.driver_connection.commit()
    finally:
        raw.close()


def run_forecasts(report: Report, stack: BenchStack, days: int = DAYS) -> None:
    from services.orchestration.analytics.forecasting import forecast_target
    from services.orchestration.analytics.market_forecast import forecast_symbol, load_daily

    done = subprocess.run([sys.executable, "-c", FIRST_CALL.format(days=days)], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=600)
    first = json.loads(done.stdout.strip().splitlines()[-1])
    report.add(Measurement("forecast", "first call: import statsmodels models", first["import"], "s",
                           "fresh interpreter; reported apart from the per-symbol time"))
    report.add(Measurement("forecast", "first call: first minus second forecast", first["first"] - first["second"], "s",
                           f"the first-call cost (compile, caches): first {first['first']:.2f} s, "
                           f"second {first['second']:.2f} s, {days} values, 7 days, 5 windows"))

    fill_daily(stack, days)
    with stack.db.begin() as conn:  # an earlier run over another number of days stored other as_of dates
        conn.execute(text("DELETE FROM market_forecasts WHERE run_id LIKE 'bench%'"))
    symbols = tuple(stack.settings.symbols)
    end = datetime.now(timezone.utc)
    forecast_symbol(stack.settings.database_url, symbols[0], end, 7, days, 5, "bench-warm-up")  # after the first call
    started = time.perf_counter()
    for symbol in symbols:
        forecast_symbol(stack.settings.database_url, symbol, end, 7, days, 5, "bench")
    per_symbol = (time.perf_counter() - started) / len(symbols)

    raw = stack.db.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur:
            daily = [load_daily(cur, s, end, days) for s in symbols]
        raw.driver_connection.rollback()
    finally:
        raw.close()
    started = time.perf_counter()
    for frame in daily:
        for target in ("close", "high", "low", "volume"):
            forecast_target(frame[target].to_numpy(), 7, 5, ("naive", "drift"))
    baseline = (time.perf_counter() - started) / len(symbols)
    report.add(Measurement("forecast", "baseline: naive + drift alone, per symbol", baseline * 1000, "ms",
                           "4 targets, 5 CV windows, no I/O"))
    report.add(Measurement("forecast", "market_forecast per symbol (after the first call)", per_symbol, "s",
                           f"{days} daily candles, 4 targets × 4 models × (5 CV windows + 1 fit), stored; "
                           f"mean of {len(symbols)} symbols", per_symbol / baseline, "the baselines' time"))


def run_evaluation(report: Report, stack: BenchStack, total: int) -> None:
    stack.fresh_namespace()
    window = fill_bars(stack, total)
    symbols = tuple(stack.settings.symbols)
    for symbol in symbols:  # the signals (untimed set-up)
        backfill_symbol(stack.db, Recomputation(symbol, window))

    raw = stack.db.raw_connection()
    try:
        started = time.perf_counter()
        with raw.driver_connection.cursor() as cur:
            spans = [load_span(cur, s, "raw", window.start, window.end) for s in symbols]
        read = sum(len(b) for b, _ in spans) / (time.perf_counter() - started)
        raw.driver_connection.rollback()
    finally:
        raw.close()
    report.add(Measurement("evaluation", "baseline: read bars + signals (COPY → pandas)", read, "rows/s",
                           f"{total:,} bars, {sum(len(s) for _, s in spans):,} signals"))
    started = time.perf_counter()
    for bars, signals in spans:
        evaluate_span(bars, signals, 10.0)
    compute = total / (time.perf_counter() - started)
    report.add(Measurement("evaluation", "baseline: evaluation alone (no I/O)", compute, "rows/s",
                           f"{len(RULES)} rules + buy-and-hold per span, services.core.evaluation"))

    started = time.perf_counter()
    result = evaluate_signals(stack.settings.database_url, window.end, window.end - window.start, 10.0, symbols,
                              ["raw"], "bench")
    seconds = time.perf_counter() - started
    assert result["bars"] == total and result["rows"] == len(symbols) * len(RULES), result
    report.add(Measurement("evaluation", "signal_evaluation (read + evaluate + store)", total / seconds, "rows/s",
                           f"{total:,} bars, {result['rows']} rows stored in {seconds:.1f} s",
                           (total / seconds) / read, "of the read baseline"))


def run(report: Report, stack: BenchStack, evaluation_bars: int = 1_000_000, days: int = DAYS) -> None:
    run_evaluation(report, stack, evaluation_bars)
    run_forecasts(report, stack, days)
