"""Recompute a rolled timeframe (1m, 5m, ...) of one symbol from its stored base bars.

The stream rolls every base bar into the candles of each timeframe and computes the candles'
indicators from the symbol's first candle on (services/core/stream.py). The batch side does the
same with pandas: read the base bars, `roll_up` them (services/core/reference.py), then
`compute_indicators` / `compute_signals` on the candles' closes.

What makes it equal to the stream:
- whole windows: the base bars are read from a window boundary, so the first candle holds all
  of its base bars;
- warm-up counted in candles: `warmup_bars(params)` candles before the first one of the window,
  found by counting the windows that hold base bars (a gap in the data holds no candle), or
  every base bar of the symbol when there are not that many;
- closing as the stream does: a candle exists once a base bar of a later window arrived, so the
  base bars are read up to the boundary after the window plus the first base bar beyond it.

Base bars are read in chunks of `chunk_bars`; the forming window's base bars and the last
`warmup` closes are carried over, so a long window never needs all its rows at once.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pandas as pd

from services.core.indicators import INDICATOR_COLUMNS
from services.core.reference import compute_indicators, roll_up
from services.core.signals import SignalRules
from services.core.timeframes import Timeframe
from services.orchestration.batch import TS_MICROS, copy_frame
from services.orchestration.indicators.recompute import Chunk, Recomputation, expected_signals, warmup_bars

__all__ = ["CANDLE_COLUMNS", "history_start", "iter_rolled_chunks"]

CANDLE_COLUMNS = ("open", "high", "low", "close", "volume", "base_bars")
COLUMNS = (*CANDLE_COLUMNS, *INDICATOR_COLUMNS)
_MICROS = 1_000_000
_AT = "timestamptz 'epoch' + %s * interval '1 microsecond'"  # microseconds since the epoch -> timestamptz


def _micros(moment: Any) -> int:
    return int(pd.Timestamp(moment).value) // 1000  # .value is in nanoseconds; datetimes hold microseconds


def _iso(us: int) -> str:
    return pd.Timestamp(us, unit="us", tz="UTC").isoformat()


def _copy(cur: Any, query: str, names: list[str]) -> pd.DataFrame:
    return copy_frame(cur, query, names, {"us": "int64"})


def history_start(cur: Any, symbol: str, timeframe: Timeframe, first_us: int, warmup: int) -> int | None:
    """A window boundary before `first_us` with at least `warmup` candles between them, or None
    (read from the symbol's first base bar) when the symbol has fewer."""
    step = timeframe.seconds * _MICROS
    span = max(warmup, 1) * step
    while True:
        lo = first_us - span
        cur.execute(f"SELECT count(DISTINCT div({TS_MICROS}, %s)) FROM bars WHERE symbol = %s AND timeframe = 'raw' "
                    f"AND ts >= {_AT} AND ts < {_AT}", (step, symbol, lo, first_us))
        if cur.fetchone()[0] >= warmup:
            return lo
        cur.execute(f"SELECT EXISTS (SELECT 1 FROM bars WHERE symbol = %s AND timeframe = 'raw' AND ts < {_AT})",
                    (symbol, lo))
        if not cur.fetchone()[0]:
            return None
        span *= 4  # sparse data (gaps): look further back


_BASE = ["us", "open", "high", "low", "close", "volume"]


def _base_bars(cur: Any, symbol: str, after_us: int | None, lo_us: int | None, hi_us: int, limit: int) -> pd.DataFrame:
    where, args = ["symbol = %s", "timeframe = 'raw'", f"ts < {_AT}"], [symbol, hi_us]
    if lo_us is not None:
        where.append(f"ts >= {_AT}")
        args.append(lo_us)
    if after_us is not None:
        where.append(f"ts > {_AT}")
        args.append(after_us)
    query = cur.mogrify(f"SELECT {TS_MICROS}, open, high, low, close, volume FROM bars WHERE {' AND '.join(where)} "
                        "ORDER BY ts LIMIT %s", (*args, limit)).decode()
    return _copy(cur, query, _BASE)


def _closer(cur: Any, symbol: str, from_us: int) -> pd.DataFrame:
    """The first base bar at or after `from_us`: it closes the last window before it."""
    query = cur.mogrify(f"SELECT {TS_MICROS}, open, high, low, close, volume FROM bars WHERE symbol = %s "
                        f"AND timeframe = 'raw' AND ts >= {_AT} ORDER BY ts LIMIT 1", (symbol, from_us)).decode()
    return _copy(cur, query, _BASE)


def _stored(cur: Any, symbol: str, timeframe: str, lo_us: int, hi_us: int) -> pd.DataFrame:
    """The stored candles of `timeframe` in [lo_us, hi_us)."""
    cols = ", ".join(COLUMNS)
    query = cur.mogrify(f"SELECT {TS_MICROS}, {cols} FROM bars WHERE symbol = %s AND timeframe = %s "
                        f"AND ts >= {_AT} AND ts < {_AT} ORDER BY ts", (symbol, timeframe, lo_us, hi_us)).decode()
    return _copy(cur, query, ["us", *COLUMNS])


def _base_batches(conn: Any, symbol: str, lo_us: int | None, end_us: int, chunk_bars: int) -> Iterator[pd.DataFrame]:
    """Base bars in [lo_us, end_us) in batches, then the first one at or after end_us (if any)."""
    last: int | None = None
    while True:
        with conn.cursor() as cur:
            batch = _base_bars(cur, symbol, last, lo_us, end_us, chunk_bars)
        if not batch.empty:
            yield batch
            last = int(batch["us"].iloc[-1])
        if len(batch) < chunk_bars:
            break
    with conn.cursor() as cur:
        closer = _closer(cur, symbol, end_us)
    if not closer.empty:
        yield closer


def iter_rolled_chunks(raw_conn: Any, spec: Recomputation) -> Iterator[Chunk]:
    """The candles of `spec.timeframe` starting in [window.start, window.end): expected and stored."""
    symbol, window, params, rules, chunk_bars = spec.symbol, spec.window, spec.params, spec.rules, spec.chunk_bars
    timeframe = Timeframe.parse(spec.timeframe)
    warmup = warmup_bars(params) if spec.warmup is None else spec.warmup
    step = timeframe.seconds * _MICROS
    first_us = -(-_micros(window.start) // step) * step  # the first window starting inside [start, end)
    end_us = -(-_micros(window.end) // step) * step  # windows starting before `end` end by here
    if first_us >= end_us:
        return
    with raw_conn.cursor() as cur:
        lo_us = history_start(cur, symbol, timeframe, first_us, warmup)
    history_complete = lo_us is None
    warm = np.empty(0)  # closes of the candles before the ones at hand (at most `warmup`)
    pending = pd.DataFrame({n: pd.Series(dtype="int64" if n == "us" else "float64") for n in _BASE})
    chunk_lo = _micros(window.start)  # stored candles in [chunk_lo, ...) not yet compared
    batches = _base_batches(raw_conn, symbol, lo_us, end_us, chunk_bars)
    for batch in batches:
        pending = pd.concat([pending, batch], ignore_index=True) if len(pending) else batch
        candles = roll_up(pending.assign(ts=pending["us"] / _MICROS), timeframe)
        forming = (int(pending["us"].iloc[-1]) // step) * step
        pending = pending[pending["us"] >= forming].reset_index(drop=True)
        if candles.empty:
            continue
        micros = np.round(candles["ts"].to_numpy() * _MICROS).astype(np.int64)
        closes = np.concatenate([warm, candles["close"].to_numpy(dtype=np.float64)])
        inside = micros >= first_us
        if inside.any():
            n_before = len(warm) + int(np.argmax(inside))
            frame = compute_indicators(pd.Series(closes), params)
            rows = candles[inside].reset_index(drop=True)
            expected = np.column_stack([rows[list(CANDLE_COLUMNS)].to_numpy(dtype=np.float64),
                                        frame.to_numpy(dtype=np.float64)[n_before:]])
            # the last candle of a batch may be followed by more in the next batch: compare
            # stored rows up to it; the final batch (the closer, or the end) takes the rest
            hi = int(micros[-1]) + 1
            yield _chunk(raw_conn, symbol, timeframe, micros[inside], expected, frame, closes, n_before, rules,
                         chunk_lo, hi, history_complete)
            chunk_lo = hi
        history_complete = history_complete and len(closes) <= warmup
        warm = closes[-warmup:] if warmup else closes[:0]
    if chunk_lo < _micros(window.end):  # stored candles after the last expected one (none, normally)
        chunk = _chunk(raw_conn, symbol, timeframe, np.empty(0, np.int64), np.empty((0, len(COLUMNS))),
                       None, warm, 0, rules, chunk_lo, _micros(window.end), history_complete)
        if len(chunk):
            yield chunk


def _chunk(conn: Any, symbol: str, timeframe: Timeframe, micros: np.ndarray, expected: np.ndarray,
           frame: pd.DataFrame | None, closes: np.ndarray, n_before: int, rules: SignalRules, lo_us: int,
           hi_us: int, history_complete: bool) -> Chunk:
    """Expected candles at `micros` merged with the stored ones in [lo_us, hi_us)."""
    with conn.cursor() as cur:
        stored = _stored(cur, symbol, timeframe.name, lo_us, hi_us)
    keys = np.union1d(micros, stored["us"].to_numpy(dtype=np.int64))
    n, width = len(keys), len(COLUMNS)
    have, want = np.full((n, width), np.nan), np.full((n, width), np.nan)
    present, wanted = np.isin(keys, stored["us"].to_numpy()), np.isin(keys, micros)
    have[present] = stored[list(COLUMNS)].to_numpy(dtype=np.float64)
    want[wanted] = expected
    ts = [_iso(int(us)) for us in keys]
    signals = []
    if frame is not None:
        signals = expected_signals(frame, closes, n_before, [_iso(int(us)) for us in micros], micros, rules)
    return Chunk(symbol=symbol, ts=ts, times=pd.DatetimeIndex(pd.to_datetime(keys, unit="us", utc=True)),
                 stored=have, expected=want, signals=signals,
                 signal_range=(_iso(lo_us), _iso(hi_us - 1)), history_complete=history_complete,
                 timeframe=timeframe.name, columns=COLUMNS, exact=len(CANDLE_COLUMNS), present=present,
                 wanted=wanted)
