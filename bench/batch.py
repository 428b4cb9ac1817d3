"""Batch benchmark: the Airflow side's backfill and reconciliation over ≥ 1,000,000 stored bars.

Set-up (untimed): 5 symbols × N/5 seeded one-second bars go into `bars` through the processor's
own binary-COPY sink, OHLCV only (indicators NULL, no signals), as after an import of history.

Timed, on the real local PostgreSQL, one symbol after another (one Airflow worker's view):
- backfill: pandas + `ta` recompute of every bar, all indicator columns and every signal written;
- reconciliation: the same recompute compared with what is stored, every value (run recorded);
- baselines in the same run: reading the bars the way both do (COPY TO → pandas), and the
  pandas + `ta` computation alone on those closes — the floors the two jobs stand on.
"""
from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from sqlalchemy import text

from bench.pipeline import CANDLES_ONLY
from bench.report import Measurement, Report
from bench.stack import BenchStack
from services.core.indicators import INDICATOR_COLUMNS
from services.core.reference import compute_indicators
from services.core.simulation import MarketSimulator
from services.core.timeframes import RAW
from services.orchestration.batch import copy_frame
from services.orchestration.indicators.backfill import backfill_symbol
from services.orchestration.indicators.recompute import BAR_COLUMNS, DEFAULT_TOLERANCE, Recomputation
from services.orchestration.indicators.reconcile import finish_run, reconcile_symbol, start_run
from services.orchestration.run_params import Window
from services.processor.sinks import BarRow, BarSink

START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def fill_bars(stack: BenchStack, total: int, seed: int = 11) -> Window:
    """Store `total` candles (OHLCV, indicators NULL); return the window that holds them all."""
    symbols = stack.settings.symbols
    sim = MarketSimulator(symbols, seed, START.timestamp(), 1.0, CANDLES_ONLY)
    sink = BarSink()
    nulls = (None,) * len(INDICATOR_COLUMNS)
    raw = stack.db.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute(sink.create_staging_sql())
            rows: list[tuple] = []
            for tick in sim.stream(total):
                r = tick[0]
                rows.append(BarRow(r["stock_symbol"], RAW, r["timestamp"], r["opening_price"], r["high"], r["low"],
                                   r["closing_price"], r["volume"], 1, *nulls))
                if len(rows) == 100_000:
                    sink.write(cur, rows)
                    rows = []
            if rows:
                sink.write(cur, rows)
        conn.commit()
    finally:
        raw.close()
    with stack.db.begin() as c:
        c.execute(text("ANALYZE bars"))
        last = c.execute(text("SELECT max(ts) FROM bars")).scalar_one()
    return Window(START, last + timedelta(seconds=1), "bench")


def read_rate(stack: BenchStack, symbols: tuple[str, ...]) -> tuple[float, list[np.ndarray]]:
    """Baseline: the bars as the jobs read them (COPY TO → pandas), rows/s, and the closes."""
    raw = stack.db.raw_connection()
    closes, n = [], 0
    try:
        started = time.perf_counter()
        with raw.driver_connection.cursor() as cur:
            for symbol in symbols:
                query = cur.mogrify(f"SELECT {', '.join(BAR_COLUMNS)} FROM bars "
                                    "WHERE symbol = %s ORDER BY ts", (symbol,)).decode()
                frame = copy_frame(cur, query, BAR_COLUMNS, {"ts": str})
                closes.append(frame["close"].to_numpy(dtype=np.float64))
                n += len(frame)
        elapsed = time.perf_counter() - started
        raw.driver_connection.rollback()
    finally:
        raw.close()
    return n / elapsed, closes


def compute_rate(closes: list[np.ndarray]) -> float:
    """Baseline: pandas + `ta` over the same closes, no I/O."""
    started = time.perf_counter()
    for c in closes:
        compute_indicators(pd.Series(c))
    return sum(len(c) for c in closes) / (time.perf_counter() - started)


def run(report: Report, stack: BenchStack, total: int = 1_000_000) -> None:
    stack.fresh_namespace()
    symbols = tuple(stack.settings.symbols)
    filled = time.perf_counter()
    window = fill_bars(stack, total)
    print(f"  stored {total:,} bars in {time.perf_counter() - filled:.1f} s (untimed set-up)", flush=True)

    read, closes = read_rate(stack, symbols)
    report.add(Measurement("batch", "baseline: read bars (COPY TO → pandas)", read, "rows/s",
                           f"{total:,} bars, {len(symbols)} symbols"))
    compute = compute_rate(closes)
    report.add(Measurement("batch", "baseline: pandas + ta compute alone", compute, "rows/s",
                           "services.core.reference.compute_indicators on the same closes, no I/O"))

    started = time.perf_counter()
    results = [backfill_symbol(stack.db, Recomputation(symbol, window)) for symbol in symbols]
    seconds = time.perf_counter() - started
    bars = sum(r.bars for r in results)
    written = sum(r.rows_written for r in results)
    signals = sum(r.signals_inserted for r in results)
    with stack.db.connect() as c:  # every bar that has any indicator by now was written by the backfill
        with_values = c.execute(text("SELECT count(*) FROM bars WHERE num_nonnulls(sma, ema_fast, ema_slow, rsi, "
                                     "macd, macd_signal, macd_hist, bb_middle, bb_upper, bb_lower) > 0")).scalar_one()
    assert bars == total and sum(r.bars_written for r in results) == with_values > total * 0.99, \
        [r.summary() for r in results]
    report.add(Measurement("batch", "indicator backfill (recompute + write all)", bars / seconds, "rows/s",
                           f"{bars:,} bars recomputed, {written:,} rows written ({signals:,} signals) "
                           f"in {seconds:.1f} s",
                           (bars / seconds) / read, "of the read baseline"))

    run_id = f"bench-{math.floor(time.time())}"
    start_run(stack.db, run_id, window, symbols, tolerance=DEFAULT_TOLERANCE, max_mismatches=0, repair=False)
    started = time.perf_counter()
    checked = [reconcile_symbol(stack.db, run_id, Recomputation(symbol, window, tolerance=DEFAULT_TOLERANCE))
               for symbol in symbols]
    seconds = time.perf_counter() - started
    summary = finish_run(stack.db, run_id)
    bars = sum(r.bars for r in checked)
    mismatches = sum(r.mismatches for r in checked)
    assert bars == total and mismatches == 0, summary
    report.add(Measurement("batch", "indicator reconciliation (recompute + compare)", bars / seconds, "rows/s",
                           f"{bars:,} bars, {sum(r.values for r in checked):,} values compared, "
                           f"{mismatches} mismatches, in {seconds:.1f} s", (bars / seconds) / read,
                           "of the read baseline"))
