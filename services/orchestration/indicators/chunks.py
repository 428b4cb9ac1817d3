"""The recomputation of one symbol's timeframe, chunk by chunk: what the backfill writes and the
reconciliation compares. Base bars come from `recompute.iter_chunks`, a rolled timeframe's candles
from `rolled.iter_rolled_chunks`."""
from __future__ import annotations

from typing import Any, Iterator

from services.core.indicators import IndicatorParams
from services.core.signals import SignalRules
from services.core.timeframes import RAW, Timeframe
from services.orchestration.indicators.recompute import Chunk, iter_chunks
from services.orchestration.indicators.rolled import iter_rolled_chunks
from services.orchestration.params import Window

__all__ = ["chunks"]


def chunks(conn: Any, symbol: str, timeframe: str, window: Window, params: IndicatorParams, rules: SignalRules,
           *, chunk_bars: int, warmup: int | None) -> Iterator[Chunk]:
    """The recomputation of one symbol's timeframe over `window`, chunk by chunk."""
    if timeframe == RAW:
        return iter_chunks(conn, symbol, window, params, rules, chunk_bars=chunk_bars, warmup=warmup)
    return iter_rolled_chunks(conn, symbol, Timeframe.parse(timeframe), window, params, rules,
                              chunk_bars=chunk_bars, warmup=warmup)
