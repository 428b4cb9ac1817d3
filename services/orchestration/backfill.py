"""Indicator backfill: recompute a symbol's indicators and signals over a window and store them.

Only what differs is written: a bar whose stored indicators are NULL where pandas + ta has a
value (or the other way round) or differ by more than the tolerance gets all its indicator
columns rewritten; signals are inserted, corrected or deleted to match the recomputation. So a
second run over the same window writes nothing (idempotent), and a run over intact data writes
nothing either. Each chunk of bars is written in one transaction.

Bars themselves (OHLCV) are never created or deleted here: they are the input.
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

from services.core.indicators import INDICATOR_COLUMNS, IndicatorParams
from services.core.signals import SignalRules
from services.db.binary_copy import BinaryCopy
from services.orchestration.params import Window
from services.orchestration.recompute import (
    DEFAULT_CHUNK_BARS, DEFAULT_TOLERANCE, Chunk, ExpectedSignal, differs, iter_chunks,
)

log = logging.getLogger(__name__)

__all__ = ["BackfillResult", "backfill_symbol", "write_chunk"]


@dataclass(slots=True)
class BackfillResult:
    symbol: str
    window: str
    bars: int = 0  # bars recomputed in the window
    bars_written: int = 0  # bars whose indicator columns were rewritten
    values_written: int = 0  # indicator values that were NULL/wrong before
    signals_inserted: int = 0
    signals_updated: int = 0
    signals_deleted: int = 0
    seconds: float = 0.0
    chunks: int = 0
    first_written: str | None = None  # first / last bar time rewritten
    last_written: str | None = None
    per_indicator: dict[str, int] = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        return self.bars_written + self.signals_inserted + self.signals_updated + self.signals_deleted

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_written": self.rows_written}

    def summary(self) -> str:
        return (f"{self.symbol} {self.window}: {self.bars} bars recomputed, {self.rows_written} rows written "
                f"({self.bars_written} bars / {self.values_written} values, signals +{self.signals_inserted} "
                f"~{self.signals_updated} -{self.signals_deleted}) in {self.seconds:.2f} s")


_VALUES_TABLE = "orch_bar_values"
# The recomputed values travel as binary COPY (no text formatting of ten floats per bar), keyed by
# the bar's time in microseconds since the epoch: exact, and what a timestamptz holds.
_VALUES_COPY = BinaryCopy(["bigint", *(["double precision"] * len(INDICATOR_COLUMNS))])
_FROM_MICROS = "timestamptz 'epoch' + v.ts_us * interval '1 microsecond'"


def _ensure_staging(cur: Any) -> None:
    cols = ", ".join(f"{c} double precision" for c in INDICATOR_COLUMNS)
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_VALUES_TABLE} (ts_us bigint, {cols}) ON COMMIT DELETE ROWS")


def write_chunk(cur: Any, chunk: Chunk, tolerance: float, result: BackfillResult) -> np.ndarray:
    """Write what differs in `chunk` (in the caller's transaction); return the rewritten rows' mask."""
    wrong = differs(chunk.stored, chunk.expected, tolerance)
    rows = wrong.any(axis=1)
    if rows.any():
        _ensure_staging(cur)
        micros = chunk.times.as_unit("us").asi8[rows]
        values = chunk.expected[rows]
        cur.copy_expert(f"COPY {_VALUES_TABLE} FROM STDIN (FORMAT binary)",
                        io.BytesIO(_VALUES_COPY.encode([micros, *values.T])))
        assignments = ", ".join(f"{c} = nullif(v.{c}, 'NaN')" for c in INDICATOR_COLUMNS)
        cur.execute(f"UPDATE bars b SET {assignments} FROM {_VALUES_TABLE} v "
                    f"WHERE b.symbol = %s AND b.timeframe = 'raw' AND b.ts = {_FROM_MICROS}",
                    (chunk.symbol,))
        result.bars_written += cur.rowcount
        result.values_written += int(wrong.sum())
        for name, count in zip(INDICATOR_COLUMNS, wrong.sum(axis=0)):
            if count:
                result.per_indicator[name] = result.per_indicator.get(name, 0) + int(count)
        written = np.flatnonzero(rows)
        result.first_written = result.first_written or chunk.times[written[0]].isoformat()
        result.last_written = chunk.times[written[-1]].isoformat()
    _write_signals(cur, chunk, tolerance, result)
    return rows


def _write_signals(cur: Any, chunk: Chunk, tolerance: float, result: BackfillResult) -> None:
    lo, hi = chunk.signal_range
    cur.execute("SELECT ts::text, rule, side, price, value, reference FROM signals "
                "WHERE symbol = %s AND timeframe = 'raw' AND ts >= %s AND ts <= %s", (chunk.symbol, lo, hi))
    stored = {(ts, rule): (side, price, value, reference) for ts, rule, side, price, value, reference in cur.fetchall()}
    expected: dict[tuple[str, str], ExpectedSignal] = {(s.ts, s.rule): s for s in chunk.signals}

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= tolerance * max(1.0, abs(b))

    upserts = []
    for key, sig in expected.items():
        have = stored.get(key)
        if have is None:
            result.signals_inserted += 1
        elif have[0] != sig.side or not all(close(x, y) for x, y in zip(have[1:], (sig.price, sig.value, sig.reference))):
            result.signals_updated += 1
        else:
            continue
        upserts.append((chunk.symbol, sig.ts, sig.rule, sig.side, sig.price, sig.value, sig.reference))
    if upserts:
        psycopg2.extras.execute_values(
            cur,
            "INSERT INTO signals (symbol, ts, rule, side, price, value, reference) VALUES %s "
            "ON CONFLICT (symbol, timeframe, ts, rule) DO UPDATE SET side = EXCLUDED.side, price = EXCLUDED.price, "
            "value = EXCLUDED.value, reference = EXCLUDED.reference",
            upserts, template="(%s, %s::timestamptz, %s, %s, %s, %s, %s)",
        )
    extra = [(chunk.symbol, ts, rule) for (ts, rule) in stored if (ts, rule) not in expected]
    if extra:
        psycopg2.extras.execute_values(
            cur, "DELETE FROM signals s USING (VALUES %s) AS x(symbol, ts, rule) "
                 "WHERE s.symbol = x.symbol AND s.timeframe = 'raw' AND s.ts = x.ts::timestamptz AND s.rule = x.rule",
            extra,
        )
        result.signals_deleted += len(extra)


def backfill_symbol(
    engine: Engine,
    symbol: str,
    window: Window,
    params: IndicatorParams = IndicatorParams(),
    rules: SignalRules = SignalRules(),
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    chunk_bars: int = DEFAULT_CHUNK_BARS,
    warmup: int | None = None,
) -> BackfillResult:
    """Recompute `symbol` over `window` from stored bars and write what differs."""
    started = time.perf_counter()
    result = BackfillResult(symbol=symbol, window=str(window))
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        try:
            for chunk in iter_chunks(conn, symbol, window, params, rules, chunk_bars=chunk_bars, warmup=warmup):
                with conn.cursor() as cur:
                    write_chunk(cur, chunk, tolerance, result)
                conn.commit()
                result.bars += len(chunk)
                result.chunks += 1
                log.info("%s: chunk %d, %d bars up to %s, %d rows written so far", symbol, result.chunks,
                         len(chunk), chunk.times[-1].isoformat(), result.rows_written)
        except BaseException:
            conn.rollback()
            raise
    finally:
        raw.close()
    result.seconds = time.perf_counter() - started
    log.info("%s", result.summary())
    return result
