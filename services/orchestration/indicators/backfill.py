"""Indicator backfill: recompute a symbol's indicators and signals over a window and store them.

Only what differs is written: a bar whose stored indicators are NULL where pandas + ta has a
value (or the other way round) or differ by more than the tolerance gets all its indicator
columns rewritten; signals are inserted, corrected or deleted to match the recomputation. So a
second run over the same window writes nothing (idempotent), and a run over intact data writes
nothing either. Each chunk of bars is written in one transaction.

Base bars (timeframe 'raw') are the input: their OHLCV are never created or deleted here. A
rolled timeframe's candles are an output of the roll-up (services/orchestration/indicators/rolled.py), so
a missing or wrong candle is upserted whole (ON CONFLICT (symbol, timeframe, ts)): that is how
a timeframe added after the history was stored gets its candles. A stored candle the roll-up
does not produce is only counted: the writer role may not delete bars (sql/0023).
"""
from __future__ import annotations

import io
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import psycopg2.extras
from sqlalchemy import Engine

from services.core.indicators import INDICATOR_COLUMNS
from services.core.timeframes import RAW
from services.db.binary_copy import BinaryCopy
from services.orchestration.indicators.chunks import chunks
from services.orchestration.indicators.horizon import kept_history
from services.orchestration.indicators.recompute import Chunk, Recomputation
from services.orchestration.indicators.rolled import CANDLE_COLUMNS
from services.orchestration.indicators.signal_diff import diff_signals, stored_signals

log = logging.getLogger(__name__)

__all__ = ["BackfillResult", "backfill_symbol", "write_chunk"]


@dataclass(slots=True)
class BackfillResult:
    symbol: str
    window: str
    timeframe: str = RAW
    bars: int = 0  # bars (candles) recomputed in the window
    bars_written: int = 0  # bars whose indicator columns were rewritten (rolled: candles upserted)
    candles_inserted: int = 0  # rolled: candles that were missing (included in bars_written)
    candles_unexpected: int = 0  # rolled: stored candles the roll-up does not produce (left in place)
    values_written: int = 0  # indicator values that were NULL/wrong before
    signals_inserted: int = 0
    signals_updated: int = 0
    signals_deleted: int = 0
    seconds: float = 0.0
    chunks: int = 0
    first_written: str | None = None  # first / last bar time rewritten
    last_written: str | None = None
    per_indicator: dict[str, int] = field(default_factory=dict)
    unchecked: int = 0  # bars of the window left alone: their warm-up was dropped by retention (horizon.py)
    history_cut: str | None = None  # where retention dropped this symbol's history, if it did

    @property
    def rows_written(self) -> int:
        return self.bars_written + self.signals_inserted + self.signals_updated + self.signals_deleted

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_written": self.rows_written}

    def summary(self) -> str:
        left = (f"; {self.unchecked} bar(s) left alone: their warm-up lies before {self.history_cut}, where "
                "retention dropped the history" if self.unchecked else "")
        return (f"{self.symbol} {self.timeframe} {self.window}: {self.bars} bars recomputed, "
                f"{self.rows_written} rows written "
                f"({self.bars_written} bars / {self.values_written} values, signals +{self.signals_inserted} "
                f"~{self.signals_updated} -{self.signals_deleted}) in {self.seconds:.2f} s{left}")


_VALUES_TABLE = "orch_bar_values"
# The recomputed values travel as binary COPY (no text formatting of ten floats per bar), keyed by
# the bar's time in microseconds since the epoch: exact, and what a timestamptz holds.
_VALUES_COPY = BinaryCopy(["bigint", *(["double precision"] * len(INDICATOR_COLUMNS))])
_FROM_MICROS = "timestamptz 'epoch' + v.ts_us * interval '1 microsecond'"


_CANDLES_TABLE = "orch_candle_values"
_CANDLES_COPY = BinaryCopy(["bigint", *(["double precision"] * (len(CANDLE_COLUMNS) + len(INDICATOR_COLUMNS)))])


def _ensure_staging(cur: Any, table: str, columns: tuple[str, ...]) -> None:
    cols = ", ".join(f"{c} double precision" for c in columns)
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (ts_us bigint, {cols}) ON COMMIT DELETE ROWS")


def write_chunk(cur: Any, chunk: Chunk, tolerance: float, result: BackfillResult) -> np.ndarray:
    """Write what differs in `chunk` (in the caller's transaction); return the rewritten rows' mask."""
    wrong = chunk.wrong(tolerance)
    rows = wrong.any(axis=1)
    if chunk.wanted is not None:  # rolled: a stored candle nobody expects is reported, not rewritten
        result.candles_unexpected += int((rows & ~chunk.wanted).sum())
        rows &= chunk.wanted
    if rows.any():
        micros = chunk.times.as_unit("us").asi8[rows]
        values = chunk.expected[rows]
        if chunk.timeframe == RAW:
            _update_indicators(cur, chunk.symbol, micros, values)
        else:
            _upsert_candles(cur, chunk.symbol, chunk.timeframe, micros, values)
            assert chunk.present is not None
            result.candles_inserted += int((rows & ~chunk.present).sum())
        result.bars_written += cur.rowcount
        result.values_written += int(wrong[rows].sum())
        for name, count in zip(chunk.columns, wrong[rows].sum(axis=0)):
            if count:
                result.per_indicator[name] = result.per_indicator.get(name, 0) + int(count)
        written = np.flatnonzero(rows)
        result.first_written = result.first_written or chunk.times[written[0]].isoformat()
        result.last_written = chunk.times[written[-1]].isoformat()
    _write_signals(cur, chunk, tolerance, result)
    return rows


def _update_indicators(cur: Any, symbol: str, micros: np.ndarray, values: np.ndarray) -> None:
    _ensure_staging(cur, _VALUES_TABLE, INDICATOR_COLUMNS)
    cur.copy_expert(f"COPY {_VALUES_TABLE} FROM STDIN (FORMAT binary)",
                    io.BytesIO(_VALUES_COPY.encode([micros, *values.T])))
    assignments = ", ".join(f"{c} = nullif(v.{c}, 'NaN')" for c in INDICATOR_COLUMNS)
    cur.execute(f"UPDATE bars b SET {assignments} FROM {_VALUES_TABLE} v "
                f"WHERE b.symbol = %s AND b.timeframe = 'raw' AND b.ts = {_FROM_MICROS}", (symbol,))


def _upsert_candles(cur: Any, symbol: str, timeframe: str, micros: np.ndarray, values: np.ndarray) -> None:
    """Whole candles (OHLCV, base_bars, indicators), inserted or overwritten: idempotent by the key."""
    columns = (*CANDLE_COLUMNS, *INDICATOR_COLUMNS)
    _ensure_staging(cur, _CANDLES_TABLE, columns)
    cur.copy_expert(f"COPY {_CANDLES_TABLE} FROM STDIN (FORMAT binary)",
                    io.BytesIO(_CANDLES_COPY.encode([micros, *values.T])))
    # base_bars travels as float8 (exact: a count far below 2^53)
    select = ", ".join(f"v.{c}::bigint" if c == "base_bars" else
                       f"nullif(v.{c}, 'NaN')" if c in INDICATOR_COLUMNS else f"v.{c}" for c in columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    cur.execute(f"INSERT INTO bars (symbol, timeframe, ts, {', '.join(columns)}) "
                f"SELECT %s, %s, {_FROM_MICROS}, {select} FROM {_CANDLES_TABLE} v "
                f"ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET {updates}", (symbol, timeframe))


def _write_signals(cur: Any, chunk: Chunk, tolerance: float, result: BackfillResult) -> None:
    stored = stored_signals(cur, chunk)
    diff = diff_signals(stored, chunk.signals, tolerance)
    result.signals_inserted += len(diff.missing)
    result.signals_updated += len(diff.wrong)
    upserts = [(chunk.symbol, chunk.timeframe, sig.ts, sig.rule, sig.side, sig.price, sig.value, sig.reference)
               for sig in (*diff.missing, *diff.wrong)]
    if upserts:
        psycopg2.extras.execute_values(
            cur,
            "INSERT INTO signals (symbol, timeframe, ts, rule, side, price, value, reference) VALUES %s "
            "ON CONFLICT (symbol, timeframe, ts, rule) DO UPDATE SET side = EXCLUDED.side, price = EXCLUDED.price, "
            "value = EXCLUDED.value, reference = EXCLUDED.reference",
            upserts, template="(%s, %s, %s::timestamptz, %s, %s, %s, %s, %s)",
        )
    extra = [(chunk.symbol, chunk.timeframe, us, rule) for us, rule in diff.extra]
    if extra:
        psycopg2.extras.execute_values(
            cur, "DELETE FROM signals s USING (VALUES %s) AS x(symbol, timeframe, us, rule) "
                 "WHERE s.symbol = x.symbol AND s.timeframe = x.timeframe "
                 "AND s.ts = timestamptz 'epoch' + x.us * interval '1 microsecond' AND s.rule = x.rule",
            extra, template="(%s, %s, %s::bigint, %s)",
        )
        result.signals_deleted += len(extra)


def backfill_symbol(engine: Engine, spec: Recomputation) -> BackfillResult:
    """Recompute the symbol's timeframe over the window from stored base bars and write what differs."""
    symbol, timeframe = spec.symbol, spec.timeframe
    started = time.perf_counter()
    result = BackfillResult(symbol=symbol, window=str(spec.window), timeframe=timeframe)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        try:
            kept = kept_history(conn, spec)
            result.unchecked, result.history_cut = kept.skipped, kept.cut and kept.cut.isoformat()
            for chunk in (chunks(conn, kept.spec) if kept.spec is not None else ()):
                with conn.cursor() as cur:
                    write_chunk(cur, chunk, spec.tolerance, result)
                conn.commit()
                result.bars += len(chunk)
                result.chunks += 1
                log.info("%s %s: chunk %d, %d bars up to %s, %d rows written so far", symbol, timeframe, result.chunks,
                         len(chunk), chunk.times[-1].isoformat(), result.rows_written)
        except BaseException:
            conn.rollback()
            raise
    finally:
        raw.close()
    result.seconds = time.perf_counter() - started
    log.info("%s", result.summary())
    return result
