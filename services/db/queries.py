"""SQL that more than one service runs, named once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import orjson

# A symbol's stored base bars, oldest first, as (epoch seconds, open, high, low, close, volume): what its
# streaming state is rebuilt from, after its newest usable checkpoint if it has one (`rebuild_source`).
STORED_BASE_BARS_SQL = ("SELECT extract(epoch FROM ts)::float8, open, high, low, close, volume FROM bars "
                        "WHERE symbol = %s AND timeframe = 'raw' AND ts > %s ORDER BY ts")
NEWEST_CHECKPOINT_SQL = ("SELECT last_ts, state FROM stream_checkpoints WHERE symbol = %s AND params = %s::jsonb "
                         "ORDER BY taken_at DESC LIMIT 1")
_BEFORE_ALL = "-infinity"


@dataclass(frozen=True, slots=True)
class RebuildSource:
    """Where a symbol's streaming state is rebuilt from: a checkpoint's state (None: nothing) and the
    stored base bars after it; `cut` says bars before the first were dropped (a rebuild from them
    alone differs from the stream that saw them)."""

    start: dict[str, Any] | None
    bars: list[tuple[float, float, float, float, float, float]]
    cut: bool


def rebuild_source(cur: Any, symbol: str, params: dict[str, Any], timeframes: Iterable[str]) -> RebuildSource:
    """The newest checkpoint of `symbol` made with these indicator `params` and `timeframes`, and the base
    bars after it; without one, every stored base bar (the processor, services/processor/store.py;
    the indicator_backfill DAG, services/orchestration/indicators/state.py)."""
    cur.execute(NEWEST_CHECKPOINT_SQL, (symbol, orjson.dumps(params).decode()))
    row = cur.fetchone()
    start = None
    if row is not None and sorted(row[1].get("timeframes", {})) == sorted(timeframes):
        start = row[1]
    cur.execute(STORED_BASE_BARS_SQL, (symbol, _BEFORE_ALL if start is None else row[0]))
    bars = cur.fetchall()
    cut = False
    if start is None:
        cur.execute("SELECT EXISTS (SELECT FROM dropped_history WHERE symbol = %s AND timeframe = 'raw')", (symbol,))
        cut = bool(cur.fetchone()[0])
    return RebuildSource(start, bars, cut)
