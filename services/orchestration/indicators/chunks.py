"""The recomputation of one symbol's timeframe, chunk by chunk: what the backfill writes and the
reconciliation compares. Base bars come from `recompute.iter_chunks`, a rolled timeframe's candles
from `rolled.iter_rolled_chunks`."""
from __future__ import annotations

from typing import Any, Iterator

from services.core.timeframes import RAW
from services.orchestration.indicators.recompute import Chunk, Recomputation, iter_chunks
from services.orchestration.indicators.rolled import iter_rolled_chunks

__all__ = ["chunks"]


def chunks(conn: Any, spec: Recomputation) -> Iterator[Chunk]:
    """The recomputation of one symbol's timeframe over its window, chunk by chunk."""
    return (iter_chunks if spec.timeframe == RAW else iter_rolled_chunks)(conn, spec)
