"""The feed's pure rules: an Alpaca bar as a Tickflow record, and which bars to fetch and send.

Per symbol the feed keeps the newest bar it knows stored or sent (`Cursor`). One rule decides every
window it asks Alpaca's historical API for: strictly after that bar (`after`), up to the last
closed bar (`closed_until`). It serves three cases:

* a backfill or a start: from the requested start, or from just after the newest stored bar when
  that is later (a restart resumes there; bars older than a symbol's newest would be late anyway:
  the processor applies a symbol's bars in time order and records older ones in `late_bars`);
* live: a streamed bar more than one bar step after the newest sent one means bars were missed (a
  dropped socket, a restart): the bars in between are fetched and sent first (`Cursor.gap`), so
  the processor still sees the symbol's bars in order;
* a bar at or before the newest one (an overlap of a fill and the stream) is not sent again.

Alpaca's bar times are whole seconds (a bar's start), so "strictly after" is one second later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

RESOLUTION = timedelta(seconds=1)  # Alpaca bar times are whole seconds
UNIT_SECONDS = {"Min": 60, "Hour": 3600, "Day": 86400}
LIVE_TIMEFRAME = "1Min"  # the bars Alpaca's WebSocket stream sends


class AlpacaBar(Protocol):
    """What the feed reads of an alpaca-py `Bar` (historical and streamed alike)."""

    symbol: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


def record_of(bar: AlpacaBar) -> dict[str, object]:
    """The stock-price record ingest takes for an Alpaca bar (its timestamp is the bar's start).
    Nothing is judged here: ingest validates every record by the one contract."""
    return {"stock_symbol": bar.symbol, "opening_price": bar.open, "closing_price": bar.close, "high": bar.high,
            "low": bar.low, "volume": bar.volume, "timestamp": bar.timestamp.timestamp()}


def is_crypto(symbol: str) -> bool:
    """Alpaca's crypto symbols are pairs (BTC/USD); everything else is a stock."""
    return "/" in symbol


def split_timeframe(timeframe: str) -> tuple[int, str]:
    """An Alpaca timeframe ("1Min", "5Min", "1Hour", "1Day") as (amount, unit)."""
    for unit in UNIT_SECONDS:
        amount = timeframe[: -len(unit)]
        if timeframe.endswith(unit) and amount.isdigit() and int(amount) > 0:
            return int(amount), unit
    raise ValueError(f"not an Alpaca timeframe: {timeframe!r} (e.g. 1Min, 5Min, 1Hour, 1Day)")


def step_of(timeframe: str) -> timedelta:
    """The length of one bar of an Alpaca timeframe."""
    amount, unit = split_timeframe(timeframe)
    return timedelta(seconds=amount * UNIT_SECONDS[unit])


def after(ts: datetime) -> datetime:
    """The earliest time a bar strictly after `ts` can have."""
    return ts + RESOLUTION


def closed_until(now: datetime, step: timedelta) -> datetime:
    """The last start time of a bar that has closed by `now` (bars of `step`, aligned to it in UTC):
    the bar still forming is never fetched, so its final version from the stream is not skipped."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return epoch + ((now - epoch) // step) * step - RESOLUTION


@dataclass(frozen=True)
class Window:
    """Bars of one symbol from `start` to `end`, both included (as Alpaca's start and end)."""

    symbol: str
    start: datetime
    end: datetime


@dataclass
class Cursor:
    """The newest bar stored or sent, per symbol."""

    newest: dict[str, datetime] = field(default_factory=dict)

    def window(self, symbol: str, start: datetime | None, end: datetime) -> Window | None:
        """What to fetch for `symbol` up to `end`: from `start` or just after its newest bar, whichever
        is later (no start: from just after the newest); None when that is nothing."""
        newest = self.newest.get(symbol)
        begin = after(newest) if newest is not None else start
        if begin is None:
            return None
        if start is not None:
            begin = max(begin, start)
        return Window(symbol, begin, end) if begin <= end else None

    def fresh(self, symbol: str, ts: datetime) -> bool:
        """A bar newer than the newest one of its symbol (else it was stored or sent already)."""
        newest = self.newest.get(symbol)
        return newest is None or ts > newest

    def gap(self, symbol: str, ts: datetime, step: timedelta) -> Window | None:
        """The bars missing before a fresh bar at `ts`: those after the newest, before `ts`."""
        newest = self.newest.get(symbol)
        if newest is None or ts - newest <= step:
            return None
        return Window(symbol, after(newest), ts - RESOLUTION)

    def advance(self, symbol: str, ts: datetime) -> None:
        newest = self.newest.get(symbol)
        if newest is None or ts > newest:
            self.newest[symbol] = ts
