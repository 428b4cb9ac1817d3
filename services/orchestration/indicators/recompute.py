"""Recompute a symbol's indicators and signals from its stored bars with pandas + ta.

The stream (services/core/indicators/) computes every indicator from the symbol's very first
bar. EMA, RSI and MACD are recursive, so a value depends on all earlier closes — but the
influence of the start fades geometrically. `warmup_bars(params)` is the number of bars before
a window after which the start's weight is below 1e-18, i.e. far under double precision; with
that much history the recomputed values equal the stream's to ~1e-14 relative (the streaming
engine's own rounding), and when fewer bars exist before the window, all of them are loaded, so
the values — including which early ones are NULL — are exactly the stream's.

Bars are read in chunks (`chunk_bars`) with the warm-up carried over in memory, so a long window
never needs all its rows at once. Reads use COPY (fast) with the session in UTC; timestamps are
kept as PostgreSQL prints them (in UTC, `SET LOCAL` per transaction) and written back the same
way, so rows are matched exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

import numpy as np
import pandas as pd

from services.core.indicators import INDICATOR_COLUMNS, IndicatorParams
from services.core.reference import compute_indicators, compute_signals
from services.core.signals import SignalRules
from services.core.timeframes import RAW
from services.orchestration.batch import copy_frame
from services.orchestration.catalog import DEFAULT_TOLERANCE
from services.orchestration.run_params import Window

__all__ = ["DEFAULT_TOLERANCE", "Chunk", "ExpectedSignal", "Recomputation", "differs", "expected_signals",
           "iter_chunks", "warmup_bars"]

DEFAULT_CHUNK_BARS = 200_000
SEED_WEIGHT = 1e-18  # how far the warm-up start's influence must have faded


def _settle(alpha: float) -> int:
    """Updates of an exponential smoothing with factor alpha until the seed weighs < SEED_WEIGHT."""
    return math.ceil(math.log(SEED_WEIGHT) / math.log1p(-alpha))


def warmup_bars(params: IndicatorParams = IndicatorParams()) -> int:
    """Bars of history to load before a window so that its first values equal the stream's."""
    def ema_alpha(n: int) -> float:  # ewm(span=n)
        return 2.0 / (n + 1)

    recursive = max(
        _settle(ema_alpha(params.ema_fast_period)),
        _settle(ema_alpha(params.ema_slow_period)),
        _settle(ema_alpha(params.macd_fast)),
        _settle(ema_alpha(params.macd_slow)),
        _settle(1.0 / params.rsi_period),  # Wilder smoothing, ewm(alpha=1/n)
    )
    # the MACD signal line smooths the (converging) MACD once more; rolling windows need their
    # full length; one more bar gives the first bar of the window its predecessor (signals)
    windows = max(params.sma_period, params.bollinger_period, params.rsi_period,
                  params.macd_slow + params.macd_signal)
    return recursive + _settle(ema_alpha(params.macd_signal)) + windows + 1


def differs(stored: np.ndarray, expected: np.ndarray, tolerance: float) -> np.ndarray:
    """Element-wise: NULL on one side only, or |stored - expected| > tolerance * max(1, |expected|)."""
    stored = np.asarray(stored, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    s_nan, e_nan = np.isnan(stored), np.isnan(expected)
    out = s_nan != e_nan
    both = ~(s_nan | e_nan)
    out[both] = np.abs(stored[both] - expected[both]) > tolerance * np.maximum(1.0, np.abs(expected[both]))
    return out


@dataclass(frozen=True, slots=True)
class Recomputation:
    """What to recompute: one symbol's timeframe over `window` with `params` and `rules`, compared with
    what is stored within `tolerance`; read `chunk_bars` base bars at a time after `warmup` bars (or
    candles) of history (None: `warmup_bars(params)`). The backfill and the reconciliation take it."""

    symbol: str
    window: Window
    params: IndicatorParams = IndicatorParams()
    rules: SignalRules = SignalRules()
    timeframe: str = RAW
    tolerance: float = DEFAULT_TOLERANCE
    chunk_bars: int = DEFAULT_CHUNK_BARS
    warmup: int | None = None


@dataclass(frozen=True, slots=True)
class ExpectedSignal:
    ts: str  # a text PostgreSQL reads as the bar's instant
    us: int  # the same instant in microseconds since the epoch: how stored signals are matched
    rule: str
    side: str
    price: float
    value: float
    reference: float


@dataclass(slots=True)
class Chunk:
    """Consecutive bars of one symbol and timeframe inside the window, with stored and expected values.

    For base bars (timeframe 'raw') the rows are the stored bars and the columns the indicators.
    For a rolled timeframe the rows are the candles expected from the base bars plus any stored
    one not expected, and the columns begin with the candle itself (`CANDLE_COLUMNS`): a candle
    is an output of the roll-up too, so a missing or wrong one is a difference like a wrong value.
    """

    symbol: str
    ts: list[str]  # a text PostgreSQL reads as each row's timestamp (UTC), ascending
    times: pd.DatetimeIndex  # the same instants, for reports and exact matching
    stored: np.ndarray  # (n, len(columns)), NaN = NULL or no stored row
    expected: np.ndarray  # same shape, pandas + ta; NaN = NULL or no candle expected
    signals: list[ExpectedSignal]
    signal_range: tuple[str, str]  # [lo, hi] (inclusive, PostgreSQL timestamptz text) the signals cover
    history_complete: bool  # the warm-up reached the symbol's first stored bar
    timeframe: str = RAW
    columns: tuple[str, ...] = INDICATOR_COLUMNS
    exact: int = 0  # the first `exact` columns (a candle's OHLCV) must be equal, not just within tolerance
    present: np.ndarray | None = None  # rolled: which rows are stored (None: all, base bars)
    wanted: np.ndarray | None = None  # rolled: which rows the roll-up produced (None: all)

    def __len__(self) -> int:
        return len(self.ts)

    def wrong(self, tolerance: float) -> np.ndarray:
        """(n, len(columns)) mask of the values that differ."""
        out = differs(self.stored, self.expected, tolerance)
        if self.exact:
            out[:, :self.exact] = differs(self.stored[:, :self.exact], self.expected[:, :self.exact], 0.0)
        return out


def expected_signals(frame: pd.DataFrame, closes: np.ndarray, first: int, ts: list[str], micros: np.ndarray,
                     rules: SignalRules) -> list[ExpectedSignal]:
    """The signals of `frame` (indicators over `closes`) from row `first` on; row first + i is at ts[i]."""
    return [
        ExpectedSignal(ts[pos - first], int(micros[pos - first]), sig.rule, sig.side, float(closes[pos]),
                       float(sig.value), float(sig.reference))
        for sig in compute_signals(frame, rules).itertuples(index=False)
        if (pos := int(sig.position)) >= first
    ]


BAR_COLUMNS = ("ts", "close", *INDICATOR_COLUMNS)  # what the recomputation reads of a base bar


def _select(cur: Any, symbol: str, where: str, order: str, limit: int, args: tuple) -> pd.DataFrame:
    cols = ", ".join(BAR_COLUMNS)
    cur.execute("SET LOCAL TIME ZONE 'UTC'")  # timestamps as text in UTC, for the rest of the transaction
    query = cur.mogrify(
        f"SELECT {cols} FROM bars WHERE symbol = %s AND timeframe = 'raw' AND {where} ORDER BY ts {order} LIMIT %s",
        (symbol, *args, limit),
    ).decode()
    frame = copy_frame(cur, query, BAR_COLUMNS, {"ts": str})
    return frame.iloc[::-1].reset_index(drop=True) if order == "DESC" else frame


def iter_chunks(raw_conn: Any, spec: Recomputation) -> Iterator[Chunk]:
    """The symbol's base bars in [window.start, window.end), chunk by chunk, with expected values.

    `raw_conn` is a psycopg2 connection (e.g. `engine.raw_connection()`); the caller owns its
    transactions. Each chunk is computed from `spec.warmup` bars before it (default
    `warmup_bars(spec.params)`) plus its own bars.
    """
    symbol, window, params, rules, chunk_bars = spec.symbol, spec.window, spec.params, spec.rules, spec.chunk_bars
    warmup = warmup_bars(params) if spec.warmup is None else spec.warmup
    with raw_conn.cursor() as cur:
        history = _select(cur, symbol, "ts < %s", "DESC", warmup, (window.start,))
    history_complete = len(history) < warmup
    warm_close = history["close"].to_numpy(dtype=np.float64)
    last_ts: str | None = None
    first = True
    while True:
        with raw_conn.cursor() as cur:
            if last_ts is None:
                bars = _select(cur, symbol, "ts >= %s AND ts < %s", "ASC", chunk_bars, (window.start, window.end))
            else:
                bars = _select(cur, symbol, "ts > %s AND ts < %s", "ASC", chunk_bars, (last_ts, window.end))
        if bars.empty:
            return
        close = bars["close"].to_numpy(dtype=np.float64)
        closes = np.concatenate([warm_close, close])
        frame = compute_indicators(pd.Series(closes), params)
        n_warm = len(warm_close)
        expected = frame.to_numpy(dtype=np.float64)[n_warm:]
        ts = bars["ts"].tolist()
        times = pd.DatetimeIndex(pd.to_datetime(bars["ts"], utc=True, format="ISO8601"))
        signals = expected_signals(frame, closes, n_warm, ts, times.as_unit("us").asi8, rules)
        lo = _pg_text(window.start) if first else ts[0]
        yield Chunk(
            symbol=symbol, ts=ts, times=times, stored=bars[list(INDICATOR_COLUMNS)].to_numpy(dtype=np.float64),
            expected=expected, signals=signals, signal_range=(lo, ts[-1]), history_complete=history_complete,
        )
        first = False
        last_ts = ts[-1]
        history_complete = history_complete and len(closes) <= warmup
        warm_close = closes[-warmup:] if warmup else closes[:0]
        if len(bars) < chunk_bars:
            return


def _pg_text(moment: datetime) -> str:
    return moment.isoformat()
