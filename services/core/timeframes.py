"""Timeframes: base bars rolled up into 1m / 5m / 1h / 1d candles, closed on event time.

A timeframe is a whole number of seconds, minutes, hours or days (`30s`, `1m`, `5m`, `1h`, `1d`).
Its windows are aligned to the UTC epoch: a window starts at a multiple of its length, so `1d`
windows start at UTC midnight, and a rolled-up candle is labelled with its window's start.

open = first, high = max, low = min, close = last, volume = sum, plus the number of base bars. The
volume is summed as float64 in arrival order (the batch reference adds in the same order, so the two
agree to the bit; whole volumes stay exact while the sum stays under 2^53).
A window closes when the symbol's first base bar of a later window is applied, never on a timer:
what is stored depends only on the base bars, not on batch boundaries, timing or restarts. The
window still open (the "forming" candle) is part of the symbol's saved state. Late and duplicate
base bars are refused before they reach a roll-up (services/core/stream.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

RAW = "raw"  # the base bars themselves, one per price record
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^([1-9][0-9]{0,5})([smhd])$")
_MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Timeframe:
    name: str  # canonical: the largest unit that divides the length, e.g. "5m"
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Timeframe":
        match = _PATTERN.match(text.strip().lower())
        if not match:
            raise ValueError(f"timeframe {text!r}: expected a whole number of s, m, h or d, e.g. 1m, 5m, 1h, 1d")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        # One name per length: 60s is 1m, 120m is 2h, 48h is 2d.
        unit = next(u for u in ("d", "h", "m", "s") if seconds % _UNITS[u] == 0)
        return cls(f"{seconds // _UNITS[unit]}{unit}", seconds)

    def window_start(self, ts: float) -> float:
        """Start of the window holding `ts` (epoch seconds), computed on whole microseconds so that
        a timestamp exactly on a boundary opens the new window."""
        micros = round(ts * _MICROS)
        return (micros - micros % (self.seconds * _MICROS)) / _MICROS


def parse_timeframes(text: str) -> tuple[Timeframe, ...]:
    """`"1m,5m,1h,1d"` -> timeframes, shortest first, without repeats; empty text: none."""
    found = {tf.seconds: tf for tf in (Timeframe.parse(part) for part in text.split(",") if part.strip())}
    return tuple(found[s] for s in sorted(found))


@dataclass(slots=True)
class Candle:
    """A rolled-up candle: the base bars of one window of one timeframe."""

    start: float
    open: float
    high: float
    low: float
    close: float
    volume: float
    bars: int  # how many base bars it holds

    def to_state(self) -> list[Any]:
        return [self.start, self.open, self.high, self.low, self.close, self.volume, self.bars]

    @classmethod
    def from_state(cls, state: list[Any]) -> "Candle":
        return cls(*state)


class Rollup:
    """One symbol's forming candle of one timeframe."""

    __slots__ = ("timeframe", "forming")

    def __init__(self, timeframe: Timeframe, forming: Candle | None = None) -> None:
        self.timeframe = timeframe
        self.forming = forming

    def add(self, ts: float, open_: float, high: float, low: float, close: float, volume: float) -> Candle | None:
        """Apply one base bar (timestamps strictly increasing); return the candle it closed, if any."""
        start = self.timeframe.window_start(ts)
        forming = self.forming
        if forming is not None and start == forming.start:
            if high > forming.high:
                forming.high = high
            if low < forming.low:
                forming.low = low
            forming.close = close
            forming.volume += volume
            forming.bars += 1
            return None
        if forming is not None and start < forming.start:
            raise ValueError(f"base bar at {ts} is before the forming {self.timeframe.name} window at "
                             f"{forming.start}: late bars must be refused before the roll-up")
        self.forming = Candle(start, open_, high, low, close, float(volume), 1)
        return forming
