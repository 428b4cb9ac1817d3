"""Where a recomputation can still equal the stream, once retention has dropped a symbol's first bars.

The stream computed every value from the symbol's first bar; the recomputation needs `warmup_bars`
bars (or candles) of history before a value to equal it. When retention dropped the bars before
some time (`dropped_history`), the first values after that cut have too little history left: the
backfill must not rewrite them and the reconciliation cannot check them. Both recompute from the
first bar whose warm-up is whole and report how many bars of their window they left alone, so a
cut never shows up as a false mismatch (README "Data lifecycle").
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.core.timeframes import RAW, Timeframe
from services.orchestration.indicators.recompute import Recomputation, warmup_bars
from services.orchestration.run_params import Window


@dataclass(frozen=True, slots=True)
class KeptHistory:
    """The part of a recomputation's window that kept history supports."""

    spec: Recomputation | None  # the window narrowed to it; None: no bar of the window is supported
    skipped: int  # stored bars (candles) of the window before it
    cut: datetime | None  # bars before this were dropped (None: nothing was)


def kept_history(conn: Any, spec: Recomputation) -> KeptHistory:
    """`spec` narrowed to the bars whose warm-up retention left whole (its reads in a transaction of their own)."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT max(dropped_before) FROM dropped_history WHERE symbol = %s AND timeframe IN (%s, %s)",
                        (spec.symbol, RAW, spec.timeframe))
            cut = cur.fetchone()[0]
            if cut is None:
                return KeptHistory(spec, 0, None)
            first = cut
            if spec.timeframe != RAW:  # candles are rolled from whole windows of kept base bars
                step = Timeframe.parse(spec.timeframe).seconds
                first = datetime.fromtimestamp(-(-cut.timestamp() // step) * step, cut.tzinfo)
            warmup = warmup_bars(spec.params) if spec.warmup is None else spec.warmup
            cur.execute("SELECT ts FROM bars WHERE symbol = %s AND timeframe = %s AND ts >= %s ORDER BY ts "
                        "OFFSET %s LIMIT 1", (spec.symbol, spec.timeframe, first, warmup))
            row = cur.fetchone()
            start = spec.window.end if row is None else max(row[0], spec.window.start)
            cur.execute("SELECT count(*) FROM bars WHERE symbol = %s AND timeframe = %s AND ts >= %s AND ts < %s",
                        (spec.symbol, spec.timeframe, spec.window.start, min(start, spec.window.end)))
            skipped: int = cur.fetchone()[0]
    finally:
        conn.rollback()
    if start >= spec.window.end:
        return KeptHistory(None, skipped, cut)
    narrowed = Window(start, spec.window.end, spec.window.source) if start > spec.window.start else spec.window
    return KeptHistory(replace(spec, window=narrowed), skipped, cut)
