"""Indicator reconciliation: compare what the stream wrote with pandas + ta on the same bars.

A run (`start_run`) covers a window and some symbols; `reconcile_symbol` compares one symbol's
stored indicator values with the recomputation (`recompute.iter_chunks`), records every value
that differs by more than the tolerance in `reconciliation_mismatches` (symbol, time,
indicator, stored and expected value) and its counts in `reconciliation_runs.per_symbol`.
With `repair`, the mismatched time range is rewritten through the backfill logic and the
window is compared again (phase 'recheck'). `finish_run` sums up, sets the run's status and
says whether the run must fail (more mismatches left than `max_mismatches`).
"""
from __future__ import annotations

import io
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

import numpy as np
from sqlalchemy import Engine, text

from services.core.indicators import INDICATOR_COLUMNS, IndicatorParams
from services.core.signals import SignalRules
from services.orchestration.backfill import backfill_symbol
from services.orchestration.params import Window
from services.orchestration.recompute import DEFAULT_CHUNK_BARS, differs, iter_chunks

log = logging.getLogger(__name__)

__all__ = ["Mismatch", "RunNotFound", "RunSummary", "SymbolReconciliation", "compare_symbol", "finish_run",
           "reconcile_symbol", "start_run"]

EXAMPLES = 5  # mismatches quoted in messages and results


@dataclass(frozen=True, slots=True)
class Mismatch:
    symbol: str
    ts: str  # ISO 8601, UTC
    indicator: str
    stored: float | None
    expected: float | None

    def __str__(self) -> str:
        def fmt(v: float | None) -> str:
            return "NULL" if v is None else repr(v)

        diff = "" if self.stored is None or self.expected is None else f" (|diff| {abs(self.stored - self.expected):.3g})"
        return f"{self.symbol} {self.ts} {self.indicator}: stored {fmt(self.stored)}, expected {fmt(self.expected)}{diff}"


@dataclass(slots=True)
class Comparison:
    bars: int = 0
    values: int = 0
    mismatches: int = 0
    per_indicator: dict[str, int] = field(default_factory=dict)
    first: str | None = None  # first / last mismatched bar time (ISO)
    last: str | None = None
    examples: list[Mismatch] = field(default_factory=list)


@dataclass(slots=True)
class SymbolReconciliation:
    symbol: str
    bars: int
    values: int
    mismatches: int
    per_indicator: dict[str, int]
    first_mismatch: str | None
    last_mismatch: str | None
    examples: list[str]
    repaired_bars: int = 0
    repaired_signals: int = 0
    remaining: int = 0  # mismatches after the repair; = mismatches without one
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _nullable(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def compare_symbol(
    engine: Engine,
    run_id: str,
    symbol: str,
    window: Window,
    params: IndicatorParams = IndicatorParams(),
    rules: SignalRules = SignalRules(),
    *,
    tolerance: float,
    phase: str = "check",
    chunk_bars: int = DEFAULT_CHUNK_BARS,
    warmup: int | None = None,
) -> Comparison:
    """Compare `symbol` over `window` and record every mismatch under (run_id, phase)."""
    result = Comparison()
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        try:
            with conn.cursor() as cur:
                cur.execute("DELETE FROM reconciliation_mismatches WHERE run_id = %s AND phase = %s AND symbol = %s",
                            (run_id, phase, symbol))
            conn.commit()
            for chunk in iter_chunks(conn, symbol, window, params, rules, chunk_bars=chunk_bars, warmup=warmup):
                wrong = differs(chunk.stored, chunk.expected, tolerance)
                result.bars += len(chunk)
                result.values += wrong.size
                rows, cols = np.nonzero(wrong)
                if len(rows):
                    buf = io.StringIO()
                    for i, j in zip(rows, cols):
                        s, e = chunk.stored[i, j], chunk.expected[i, j]
                        diff = "\\N" if math.isnan(s) or math.isnan(e) else repr(abs(float(s) - float(e)))
                        buf.write("\t".join((run_id, phase, symbol, chunk.ts[i], INDICATOR_COLUMNS[j],
                                             "\\N" if math.isnan(s) else repr(float(s)),
                                             "\\N" if math.isnan(e) else repr(float(e)), diff)) + "\n")
                        if len(result.examples) < EXAMPLES:
                            result.examples.append(Mismatch(symbol, chunk.times[i].isoformat(), INDICATOR_COLUMNS[j],
                                                            _nullable(s), _nullable(e)))
                    buf.seek(0)
                    with conn.cursor() as cur:
                        cur.copy_expert(
                            "COPY reconciliation_mismatches (run_id, phase, symbol, ts, indicator, stored_value, "
                            "expected_value, abs_diff) FROM STDIN", buf)
                    result.mismatches += len(rows)
                    for j, count in zip(*np.unique(cols, return_counts=True)):
                        name = INDICATOR_COLUMNS[j]
                        result.per_indicator[name] = result.per_indicator.get(name, 0) + int(count)
                    result.first = result.first or chunk.times[rows.min()].isoformat()
                    result.last = chunk.times[rows.max()].isoformat()
                conn.commit()
        except BaseException:
            conn.rollback()
            raise
    finally:
        raw.close()
    return result


def reconcile_symbol(
    engine: Engine,
    run_id: str,
    symbol: str,
    window: Window,
    params: IndicatorParams = IndicatorParams(),
    rules: SignalRules = SignalRules(),
    *,
    tolerance: float,
    repair: bool = False,
    chunk_bars: int = DEFAULT_CHUNK_BARS,
    warmup: int | None = None,
) -> SymbolReconciliation:
    """Compare one symbol, optionally repair and re-check; store its result on the run's row."""
    started = time.perf_counter()
    check = compare_symbol(engine, run_id, symbol, window, params, rules, tolerance=tolerance,
                           chunk_bars=chunk_bars, warmup=warmup)
    result = SymbolReconciliation(
        symbol=symbol, bars=check.bars, values=check.values, mismatches=check.mismatches,
        per_indicator=check.per_indicator, first_mismatch=check.first, last_mismatch=check.last,
        examples=[str(m) for m in check.examples], remaining=check.mismatches,
    )
    for m in check.examples:
        log.warning("mismatch: %s", m)
    if repair and check.mismatches:
        assert check.first is not None and check.last is not None
        span = Window(datetime.fromisoformat(check.first),
                      datetime.fromisoformat(check.last) + timedelta(microseconds=1), "mismatched range")
        fixed = backfill_symbol(engine, symbol, span, params, rules, tolerance=tolerance,
                                chunk_bars=chunk_bars, warmup=warmup)
        result.repaired_bars = fixed.bars_written
        result.repaired_signals = fixed.signals_inserted + fixed.signals_updated + fixed.signals_deleted
        recheck = compare_symbol(engine, run_id, symbol, window, params, rules, tolerance=tolerance,
                                 phase="recheck", chunk_bars=chunk_bars, warmup=warmup)
        result.remaining = recheck.mismatches
        log.info("%s: repaired %d bars (%d signals) in %s; %d mismatches left", symbol, fixed.bars_written,
                 result.repaired_signals, span, recheck.mismatches)
    result.seconds = time.perf_counter() - started
    with engine.begin() as conn:
        updated = conn.execute(
            text("UPDATE reconciliation_runs SET per_symbol = per_symbol || jsonb_build_object(:s, CAST(:r AS jsonb)) "
                 "WHERE run_id = :run"),
            {"s": symbol, "r": json.dumps(result.as_dict()), "run": run_id},
        ).rowcount
    if updated != 1:
        raise RuntimeError(f"reconciliation run {run_id!r} not found in reconciliation_runs; call start_run first")
    log.info("%s %s: %d bars, %d values compared, %d mismatches, %d left, %.2f s", symbol, window, result.bars,
             result.values, result.mismatches, result.remaining, result.seconds)
    return result


def start_run(engine: Engine, run_id: str, window: Window, symbols: Iterable[str], *, tolerance: float,
              max_mismatches: int, repair: bool) -> None:
    """Create (or, for a retried run, reset) the run's row and forget its earlier mismatches."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM reconciliation_mismatches WHERE run_id = :run"), {"run": run_id})
        conn.execute(text(
            "INSERT INTO reconciliation_runs (run_id, window_start, window_end, symbols, tolerance, max_mismatches, repair) "
            "VALUES (:run, :start, :end, :symbols, :tolerance, :max, :repair) "
            "ON CONFLICT (run_id) DO UPDATE SET window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end, "
            "symbols = EXCLUDED.symbols, tolerance = EXCLUDED.tolerance, max_mismatches = EXCLUDED.max_mismatches, "
            "repair = EXCLUDED.repair, status = 'running', bars_checked = NULL, values_checked = NULL, "
            "mismatches = NULL, repaired_bars = NULL, remaining_mismatches = NULL, per_symbol = '{}'::jsonb, "
            "message = NULL, started_at = now(), finished_at = NULL"),
            {"run": run_id, "start": window.start, "end": window.end, "symbols": list(symbols),
             "tolerance": tolerance, "max": max_mismatches, "repair": repair})


class RunNotFound(LookupError):
    """No reconciliation_runs row for the run id."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    status: str  # passed | repaired | failed
    failed: bool
    message: str
    bars: int
    values: int
    mismatches: int
    repaired_bars: int
    remaining: int


def finish_run(engine: Engine, run_id: str) -> RunSummary:
    """Sum up the per-symbol results, set the run's status and message, and return them."""
    with engine.begin() as conn:
        row = conn.execute(text(
            "SELECT window_start, window_end, symbols, max_mismatches, repair, per_symbol FROM reconciliation_runs "
            "WHERE run_id = :run FOR UPDATE"), {"run": run_id}).mappings().first()
        if row is None:
            raise RunNotFound(f"reconciliation run {run_id!r} not found in reconciliation_runs")
        per_symbol: dict[str, dict[str, Any]] = row["per_symbol"] or {}
        missing = [s for s in row["symbols"] if s not in per_symbol]
        bars = sum(r["bars"] for r in per_symbol.values())
        values = sum(r["values"] for r in per_symbol.values())
        mismatches = sum(r["mismatches"] for r in per_symbol.values())
        repaired = sum(r["repaired_bars"] for r in per_symbol.values())
        remaining = sum(r["remaining"] for r in per_symbol.values())
        window = f"[{row['window_start'].isoformat()}, {row['window_end'].isoformat()})"
        where = f"see reconciliation_mismatches WHERE run_id = '{run_id}'"
        examples = [e for s in sorted(per_symbol) for e in per_symbol[s]["examples"]][:EXAMPLES]
        if missing:
            status, failed = "failed", True
            message = (f"reconciliation of {', '.join(missing)} did not finish (its task failed; see the task log); "
                       f"{mismatches} mismatch(es) in the other symbols over {window}")
        elif remaining > row["max_mismatches"]:
            status, failed = "failed", True
            what = "left after the repair" if row["repair"] and mismatches else "found"
            by_symbol = ", ".join(f"{s} {r['remaining']}" for s, r in sorted(per_symbol.items()) if r["remaining"])
            message = (f"{remaining} indicator mismatch(es) {what} over {window} ({by_symbol}), more than "
                       f"max_mismatches={row['max_mismatches']}; e.g. " + "; ".join(examples) + f"; {where}")
        elif mismatches and row["repair"]:
            status, failed = "repaired", False
            message = (f"{mismatches} mismatch(es) over {window} repaired ({repaired} bars rewritten), "
                       f"{remaining} left; {where}")
        else:
            status, failed = "passed", False
            message = (f"{bars} bars / {values} indicator values over {window} match pandas + ta"
                       if not mismatches else
                       f"{mismatches} mismatch(es) over {window}, within max_mismatches={row['max_mismatches']}; {where}")
        conn.execute(text(
            "UPDATE reconciliation_runs SET status = :status, bars_checked = :bars, values_checked = :values, "
            "mismatches = :mismatches, repaired_bars = :repaired, remaining_mismatches = :remaining, "
            "message = :message, finished_at = now() WHERE run_id = :run"),
            {"status": status, "bars": bars, "values": values, "mismatches": mismatches, "repaired": repaired,
             "remaining": remaining, "message": message, "run": run_id})
    return RunSummary(run_id, status, failed, message, bars, values, mismatches, repaired, remaining)
