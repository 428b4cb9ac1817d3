"""Indicator reconciliation: compare what the stream wrote with pandas + ta on the same bars.

A run (`start_run`) covers a window, some symbols and some timeframes; `reconcile_symbol`
compares one symbol's timeframe with the recomputation (`recompute.iter_chunks` for base bars,
`rolled.iter_rolled_chunks` for rolled candles), records every value that differs by more than
the tolerance — and every signal missing, wrong or not expected — in
`reconciliation_mismatches` (symbol, timeframe, time, indicator, stored and expected value) and
its counts in `reconciliation_runs.per_symbol` ({symbol: {timeframe: result}}).
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
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any, Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from services.core.timeframes import RAW
from services.orchestration.indicators.backfill import backfill_symbol
from services.orchestration.indicators.chunks import chunks
from services.orchestration.indicators.horizon import kept_history
from services.orchestration.indicators.recompute import Chunk, Recomputation
from services.orchestration.indicators.signal_diff import diff_signals, stored_signals
from services.orchestration.run_params import Window

log = logging.getLogger(__name__)

__all__ = ["Mismatch", "RunNotFound", "RunSummary", "SymbolReconciliation", "compare_symbol", "finish_run",
           "reconcile_symbol", "start_run"]

EXAMPLES = 5  # mismatches quoted in messages and results


@dataclass(frozen=True, slots=True)
class Mismatch:
    symbol: str
    ts: str  # ISO 8601, UTC
    indicator: str  # an indicator, a candle column (rolled timeframes) or "signal <rule>"
    stored: float | None
    expected: float | None
    timeframe: str = RAW

    def __str__(self) -> str:
        def fmt(v: float | None) -> str:
            return "NULL" if v is None else repr(v)

        diff = ("" if self.stored is None or self.expected is None
                else f" (|diff| {abs(self.stored - self.expected):.3g})")
        return (f"{label(self.symbol, self.timeframe)} {self.ts} {self.indicator}: stored {fmt(self.stored)}, "
                f"expected {fmt(self.expected)}{diff}")


def label(symbol: str, timeframe: str) -> str:
    """How results name a symbol's timeframe: base bars by the symbol alone, as before timeframes."""
    return symbol if timeframe == RAW else f"{symbol} {timeframe}"


@dataclass(slots=True)
class Comparison:
    unchecked: int = 0  # bars of the window whose warm-up retention dropped (horizon.py)
    history_cut: str | None = None
    bars: int = 0
    values: int = 0
    mismatches: int = 0
    per_indicator: dict[str, int] = field(default_factory=dict)
    first: pd.Timestamp | None = None  # first / last mismatched bar time
    last: pd.Timestamp | None = None
    examples: list[Mismatch] = field(default_factory=list)

    def found(self, at: pd.Timestamp, name: str, count: int = 1) -> None:
        self.mismatches += count
        self.per_indicator[name] = self.per_indicator.get(name, 0) + count
        self.first = at if self.first is None or at < self.first else self.first
        self.last = at if self.last is None or at > self.last else self.last


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
    timeframe: str = RAW
    repaired_bars: int = 0
    repaired_signals: int = 0
    remaining: int = 0  # mismatches after the repair; = mismatches without one
    seconds: float = 0.0
    unchecked: int = 0  # bars of the window left unchecked: their warm-up was dropped by retention
    history_cut: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _nullable(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def _text(v: float | None) -> str:
    return "\\N" if v is None or math.isnan(v) else repr(float(v))


def _mismatch_rows(run_id: str, phase: str, chunk: Chunk, tolerance: float, stored_signals: dict,
                   result: Comparison) -> list[str]:
    """COPY lines for every value and signal of `chunk` that differs; counts them in `result`."""
    lines = []

    def add(i_ts: str, at: pd.Timestamp, name: str, stored: float | None, expected: float | None) -> None:
        s, e = (math.nan if v is None else v for v in (stored, expected))
        diff = None if math.isnan(s) or math.isnan(e) else abs(float(s) - float(e))
        lines.append("\t".join((run_id, phase, chunk.symbol, chunk.timeframe, i_ts, name, _text(s), _text(e),
                                _text(diff))) + "\n")
        result.found(at, name)
        if len(result.examples) < EXAMPLES:
            result.examples.append(Mismatch(chunk.symbol, at.isoformat(), name, _nullable(s), _nullable(e),
                                            chunk.timeframe))

    wrong = chunk.wrong(tolerance)
    for i, j in zip(*np.nonzero(wrong)):
        add(chunk.ts[i], chunk.times[i], chunk.columns[j], chunk.stored[i, j], chunk.expected[i, j])
    diff = diff_signals(stored_signals, chunk.signals, tolerance)
    for sig in (*diff.missing, *diff.wrong):
        have = stored_signals.get((sig.us, sig.rule))
        add(sig.ts, pd.Timestamp(sig.us, unit="us", tz="UTC"), f"signal {sig.rule}",
            None if have is None else have.value, sig.value)
    for have in diff.extra_stored:
        at = pd.Timestamp(have.us, unit="us", tz="UTC")
        add(at.isoformat(), at, f"signal {have.rule}", have.value, None)
    return lines


def compare_symbol(engine: Engine, run_id: str, spec: Recomputation, phase: str = "check") -> Comparison:
    """Compare the symbol's timeframe over the window and record every mismatch under (run_id, phase)."""
    symbol, timeframe = spec.symbol, spec.timeframe
    result = Comparison()
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        try:
            with conn.cursor() as cur:
                cur.execute("DELETE FROM reconciliation_mismatches WHERE run_id = %s AND phase = %s AND symbol = %s "
                            "AND timeframe = %s", (run_id, phase, symbol, timeframe))
            conn.commit()
            kept = kept_history(conn, spec)
            result.unchecked, result.history_cut = kept.skipped, kept.cut and kept.cut.isoformat()
            for chunk in (chunks(conn, kept.spec) if kept.spec is not None else ()):
                result.bars += int(len(chunk) if chunk.wanted is None else chunk.wanted.sum())
                result.values += int(len(chunk) if chunk.wanted is None else chunk.wanted.sum()) * len(chunk.columns)
                with conn.cursor() as cur:
                    lines = _mismatch_rows(run_id, phase, chunk, spec.tolerance, stored_signals(cur, chunk), result)
                    if lines:
                        cur.copy_expert(
                            "COPY reconciliation_mismatches (run_id, phase, symbol, timeframe, ts, indicator, "
                            "stored_value, expected_value, abs_diff) FROM STDIN", io.StringIO("".join(lines)))
                conn.commit()
        except BaseException:
            conn.rollback()
            raise
    finally:
        raw.close()
    return result


def reconcile_symbol(engine: Engine, run_id: str, spec: Recomputation, repair: bool = False) -> SymbolReconciliation:
    """Compare one symbol's timeframe, optionally repair and re-check; store its result on the run's row."""
    symbol, timeframe, window = spec.symbol, spec.timeframe, spec.window
    started = time.perf_counter()
    check = compare_symbol(engine, run_id, spec)
    result = SymbolReconciliation(
        symbol=symbol, timeframe=timeframe, bars=check.bars, values=check.values, mismatches=check.mismatches,
        per_indicator=check.per_indicator, first_mismatch=check.first and check.first.isoformat(),
        last_mismatch=check.last and check.last.isoformat(), examples=[str(m) for m in check.examples],
        remaining=check.mismatches, unchecked=check.unchecked, history_cut=check.history_cut,
    )
    for m in check.examples:
        log.warning("mismatch: %s", m)
    if repair and check.mismatches:
        assert check.first is not None and check.last is not None
        span = Window(check.first.to_pydatetime(), check.last.to_pydatetime() + timedelta(microseconds=1),
                      "mismatched range")
        fixed = backfill_symbol(engine, replace(spec, window=span))
        result.repaired_bars = fixed.bars_written
        result.repaired_signals = fixed.signals_inserted + fixed.signals_updated + fixed.signals_deleted
        recheck = compare_symbol(engine, run_id, spec, phase="recheck")
        result.remaining = recheck.mismatches
        log.info("%s: repaired %d bars (%d signals) in %s; %d mismatches left", label(symbol, timeframe),
                 fixed.bars_written, result.repaired_signals, span, recheck.mismatches)
    result.seconds = time.perf_counter() - started
    with engine.begin() as conn:
        # {symbol: {timeframe: result}}; concurrent tasks of one run serialise on the row lock, and
        # the expression is evaluated on the row as the previous task left it
        updated = conn.execute(
            text("UPDATE reconciliation_runs SET per_symbol = per_symbol || jsonb_build_object(:s, "
                 "coalesce(per_symbol -> :s, '{}'::jsonb) || jsonb_build_object(:tf, CAST(:r AS jsonb))) "
                 "WHERE run_id = :run"),
            {"s": symbol, "tf": timeframe, "r": json.dumps(result.as_dict()), "run": run_id},
        ).rowcount
    if updated != 1:
        raise RuntimeError(f"reconciliation run {run_id!r} not found in reconciliation_runs; call start_run first")
    log.info("%s %s: %d bars, %d values compared, %d mismatches, %d left, %.2f s", label(symbol, timeframe), window,
             result.bars, result.values, result.mismatches, result.remaining, result.seconds)
    return result


def start_run(engine: Engine, run_id: str, window: Window, symbols: Iterable[str], *, tolerance: float,
              max_mismatches: int, repair: bool, timeframes: Iterable[str] = (RAW,)) -> None:
    """Create (or, for a retried run, reset) the run's row and forget its earlier mismatches."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM reconciliation_mismatches WHERE run_id = :run"), {"run": run_id})
        conn.execute(text(
            "INSERT INTO reconciliation_runs (run_id, window_start, window_end, symbols, timeframes, tolerance, "
            "max_mismatches, repair) VALUES (:run, :start, :end, :symbols, :timeframes, :tolerance, :max, :repair) "
            "ON CONFLICT (run_id) DO UPDATE SET window_start = EXCLUDED.window_start, "
            "window_end = EXCLUDED.window_end, "
            "symbols = EXCLUDED.symbols, timeframes = EXCLUDED.timeframes, tolerance = EXCLUDED.tolerance, "
            "max_mismatches = EXCLUDED.max_mismatches, "
            "repair = EXCLUDED.repair, status = 'running', bars_checked = NULL, values_checked = NULL, "
            "mismatches = NULL, repaired_bars = NULL, remaining_mismatches = NULL, per_symbol = '{}'::jsonb, "
            "message = NULL, started_at = now(), finished_at = NULL"),
            {"run": run_id, "start": window.start, "end": window.end, "symbols": list(symbols),
             "timeframes": list(timeframes), "tolerance": tolerance, "max": max_mismatches, "repair": repair})


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
    per_timeframe: dict[str, dict[str, int]] = field(default_factory=dict)  # {tf: bars, mismatches, remaining}


def finish_run(engine: Engine, run_id: str) -> RunSummary:
    """Sum up the per-symbol, per-timeframe results, set the run's status and message, and return them."""
    with engine.begin() as conn:
        row = conn.execute(text(
            "SELECT window_start, window_end, symbols, timeframes, max_mismatches, repair, per_symbol "
            "FROM reconciliation_runs WHERE run_id = :run FOR UPDATE"), {"run": run_id}).mappings().first()
        if row is None:
            raise RunNotFound(f"reconciliation run {run_id!r} not found in reconciliation_runs")
        per_symbol: dict[str, dict[str, dict[str, Any]]] = row["per_symbol"] or {}
        timeframes: list[str] = row["timeframes"]
        done = [(s, tf, r) for s in row["symbols"] for tf in timeframes if (r := per_symbol.get(s, {}).get(tf))]
        missing = [label(s, tf) for s in row["symbols"] for tf in timeframes if tf not in per_symbol.get(s, {})]
        results = [r for _, _, r in done]
        bars = sum(r["bars"] for r in results)
        values = sum(r["values"] for r in results)
        mismatches = sum(r["mismatches"] for r in results)
        repaired = sum(r["repaired_bars"] for r in results)
        remaining = sum(r["remaining"] for r in results)
        unchecked = sum(r.get("unchecked", 0) for r in results)
        per_timeframe = {tf: {key: sum(r[key] for s, t, r in done if t == tf)
                              for key in ("bars", "mismatches", "remaining")} for tf in timeframes}
        window = f"[{row['window_start'].isoformat()}, {row['window_end'].isoformat()})"
        where = f"see reconciliation_mismatches WHERE run_id = '{run_id}'"
        examples = [e for s, tf, r in sorted(done, key=lambda d: (d[0], d[1])) for e in r["examples"]][:EXAMPLES]
        scope = "" if timeframes == [RAW] else f" ({', '.join(timeframes)})"
        if missing:
            status, failed = "failed", True
            message = (f"reconciliation of {', '.join(missing)} did not finish (its task failed; see the task log); "
                       f"{mismatches} mismatch(es) in the others over {window}")
        elif remaining > row["max_mismatches"]:
            status, failed = "failed", True
            what = "left after the repair" if row["repair"] and mismatches else "found"
            by_symbol = ", ".join(f"{label(s, tf)} {r['remaining']}" for s, tf, r in done if r["remaining"])
            message = (f"{remaining} indicator mismatch(es) {what} over {window} ({by_symbol}), more than "
                       f"max_mismatches={row['max_mismatches']}; e.g. " + "; ".join(examples) + f"; {where}")
        elif mismatches and row["repair"]:
            status, failed = "repaired", False
            message = (f"{mismatches} mismatch(es) over {window}{scope} repaired ({repaired} bars rewritten), "
                       f"{remaining} left; {where}")
        elif not bars and unchecked:
            status, failed = "passed", False
            message = (f"nothing over {window}{scope} could be checked: {unchecked} bar(s) have their warm-up before "
                       "where retention dropped the history")
        else:
            status, failed = "passed", False
            what = "indicator values" if timeframes == [RAW] else "values"
            message = (f"no bars over {window}{scope}: nothing was checked" if not bars else
                       f"{bars} bars / {values} {what} over {window}{scope} match pandas + ta"
                       if not mismatches else
                       f"{mismatches} mismatch(es) over {window}{scope}, "
                       f"within max_mismatches={row['max_mismatches']}; {where}")
        if unchecked and bars:
            message += (f"; {unchecked} bar(s) left unchecked: their warm-up lies before where retention dropped "
                        "the history (README \"Data lifecycle\")")
        conn.execute(text(
            "UPDATE reconciliation_runs SET status = :status, bars_checked = :bars, values_checked = :values, "
            "mismatches = :mismatches, repaired_bars = :repaired, remaining_mismatches = :remaining, "
            "message = :message, finished_at = now() WHERE run_id = :run"),
            {"status": status, "bars": bars, "values": values, "mismatches": mismatches, "repaired": repaired,
             "remaining": remaining, "message": message, "run": run_id})
    return RunSummary(run_id, status, failed, message, bars, values, mismatches, repaired, remaining, per_timeframe)
