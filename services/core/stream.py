"""One symbol's bar stream: ordering rules, indicators and signals, with restorable state.

Per symbol, bars are applied in arrival order. A bar with the timestamp of the last applied
bar is a duplicate, an older one is late: neither is applied (README, "Processing guarantees").
Each applied base bar also goes into the symbol's roll-up of every configured timeframe; a
candle it closes gets the same indicators and signal rules, on its own (symbol, timeframe)
stream (services/core/timeframes.py).
"""
from __future__ import annotations

from typing import Any, Iterable, NamedTuple

from services.core.indicators import IndicatorEngine, IndicatorParams, IndicatorValues
from services.core.records import StockPrice
from services.core.signals import Signal, SignalRules, detect_signals
from services.core.timeframes import Candle, Rollup, Timeframe

DUPLICATE = "duplicate"
LATE = "late"


class StateMismatch(ValueError):
    """A saved state that cannot continue under the current settings (e.g. other timeframes)."""


# The stream's results are NamedTuples: made once per bar, where a frozen dataclass's __init__
# (one object.__setattr__ per field) cost more than the signal rules.
class RolledBar(NamedTuple):
    """A candle of a timeframe, closed by the base bar just applied, with its indicators and signals."""

    timeframe: str
    candle: Candle
    values: IndicatorValues
    signals: list[Signal]


class AppliedBar(NamedTuple):
    bar: StockPrice
    values: IndicatorValues
    signals: list[Signal]
    rolled: list[RolledBar]  # shortest timeframe first; empty when the bar closed no window


class SkippedBar(NamedTuple):
    bar: StockPrice
    reason: str  # DUPLICATE or LATE
    last_applied_ts: float


class IndicatorSeries:
    """Indicators and signal rules over one series of closes (base bars, or one timeframe's candles)."""

    __slots__ = ("engine", "prev")

    def __init__(self, params: IndicatorParams) -> None:
        self.engine = IndicatorEngine(params)
        self.prev: IndicatorValues | None = None

    def update(self, close: float, rules: SignalRules) -> tuple[IndicatorValues, list[Signal]]:
        values = self.engine.update(close)
        signals = detect_signals(self.prev, values, rules)
        self.prev = values
        return values, signals

    def to_state(self) -> dict[str, Any]:
        return {"engine": self.engine.to_state(), "prev": None if self.prev is None else self.prev._asdict()}

    @classmethod
    def from_state(cls, state: dict[str, Any], params: IndicatorParams) -> "IndicatorSeries":
        series = cls.__new__(cls)
        series.engine = IndicatorEngine.from_state(state["engine"], params)
        series.prev = None if state["prev"] is None else IndicatorValues(**state["prev"])
        return series


class TimeframeStream:
    """One symbol's stream of one timeframe: its forming candle and the indicators of its candles."""

    __slots__ = ("timeframe", "rollup", "series")

    def __init__(self, timeframe: Timeframe, params: IndicatorParams) -> None:
        self.timeframe = timeframe
        self.rollup = Rollup(timeframe)
        self.series = IndicatorSeries(params)

    def add(self, bar: StockPrice, rules: SignalRules) -> RolledBar | None:
        candle = self.rollup.add(bar.timestamp, bar.opening_price, bar.high, bar.low, bar.closing_price, bar.volume)
        if candle is None:
            return None
        return RolledBar(self.timeframe.name, candle, *self.series.update(candle.close, rules))

    def to_state(self) -> dict[str, Any]:
        forming = self.rollup.forming
        return {"forming": None if forming is None else forming.to_state(), **self.series.to_state()}

    @classmethod
    def from_state(cls, timeframe: Timeframe, state: dict[str, Any], params: IndicatorParams) -> "TimeframeStream":
        stream = cls(timeframe, params)
        stream.rollup.forming = None if state["forming"] is None else Candle.from_state(state["forming"])
        stream.series = IndicatorSeries.from_state(state, params)
        return stream


class SymbolStream:
    __slots__ = ("symbol", "params", "rules", "series", "last_ts", "timeframes")

    def __init__(self, symbol: str, params: IndicatorParams, rules: SignalRules,
                 timeframes: tuple[Timeframe, ...] = ()) -> None:
        self.symbol = symbol
        self.params = params
        self.rules = rules
        self.series = IndicatorSeries(params)
        self.last_ts: float | None = None
        self.timeframes = [TimeframeStream(tf, params) for tf in timeframes]

    def apply(self, bar: StockPrice) -> AppliedBar | SkippedBar:
        last = self.last_ts
        if last is not None and bar.timestamp <= last:
            return SkippedBar(bar, DUPLICATE if bar.timestamp == last else LATE, last)
        values, signals = self.series.update(bar.closing_price, self.rules)
        self.last_ts = bar.timestamp
        rolled = []
        for stream in self.timeframes:
            closed = stream.add(bar, self.rules)
            if closed is not None:
                rolled.append(closed)
        return AppliedBar(bar, values, signals, rolled)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable; `from_state` of it continues bit-identically."""
        state = {**self.series.to_state(), "last_ts": self.last_ts}
        if self.timeframes:
            state["timeframes"] = {tf.timeframe.name: tf.to_state() for tf in self.timeframes}
        return state

    @classmethod
    def from_state(
        cls, symbol: str, state: dict[str, Any], params: IndicatorParams, rules: SignalRules,
        timeframes: tuple[Timeframe, ...] = (),
    ) -> "SymbolStream":
        """The stream saved in `state`. A state saved with other timeframes than `timeframes` raises
        StateMismatch: the caller rebuilds the stream from the stored base bars (`replay`)."""
        saved = state.get("timeframes", {})
        if sorted(saved) != sorted(tf.name for tf in timeframes):
            raise StateMismatch(f"{symbol}: state saved for timeframes {sorted(saved) or 'none'}, "
                                f"configured: {[tf.name for tf in timeframes] or 'none'}")
        stream = cls(symbol, params, rules)
        stream.series = IndicatorSeries.from_state(state, params)
        stream.last_ts = state["last_ts"]
        stream.timeframes = [TimeframeStream.from_state(tf, saved[tf.name], params) for tf in timeframes]
        return stream

    @classmethod
    def replay(cls, symbol: str, bars: Iterable[tuple[float, float, float, float, float, float]],
               params: IndicatorParams, rules: SignalRules, timeframes: tuple[Timeframe, ...] = (),
               start: dict[str, Any] | None = None) -> "SymbolStream":
        """A stream that has applied `bars`, (timestamp, open, high, low, close, volume) oldest first:
        the state a processor would hold after them, rebuilt from stored base bars. From the saved
        state `start` (a checkpoint, whose bars were perhaps dropped since) when given, else from nothing."""
        stream = cls(symbol, params, rules, timeframes) if start is None else cls.from_state(
            symbol, start, params, rules, timeframes)
        for ts, open_, high, low, close, volume in bars:
            stream.apply(StockPrice.model_construct(stock_symbol=symbol, timestamp=ts, opening_price=open_,
                                                    high=high, low=low, closing_price=close, volume=volume))
        return stream
