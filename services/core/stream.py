"""One symbol's bar stream: ordering rules, indicators and signals, with restorable state.

Per symbol, bars are applied in arrival order. A bar with the timestamp of the last applied
bar is a duplicate, an older one is late: neither is applied (README, "Processing guarantees").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from services.core.indicators import IndicatorEngine, IndicatorParams, IndicatorValues
from services.core.records import StockPrice
from services.core.signals import Signal, SignalRules, detect_signals

DUPLICATE = "duplicate"
LATE = "late"


@dataclass(frozen=True, slots=True)
class AppliedBar:
    bar: StockPrice
    values: IndicatorValues
    signals: list[Signal]


@dataclass(frozen=True, slots=True)
class SkippedBar:
    bar: StockPrice
    reason: str  # DUPLICATE or LATE
    last_applied_ts: float


class SymbolStream:
    __slots__ = ("symbol", "params", "rules", "engine", "last_ts", "prev")

    def __init__(self, symbol: str, params: IndicatorParams, rules: SignalRules) -> None:
        self.symbol = symbol
        self.params = params
        self.rules = rules
        self.engine = IndicatorEngine(params)
        self.last_ts: float | None = None
        self.prev: IndicatorValues | None = None

    def apply(self, bar: StockPrice) -> AppliedBar | SkippedBar:
        last = self.last_ts
        if last is not None and bar.timestamp <= last:
            return SkippedBar(bar, DUPLICATE if bar.timestamp == last else LATE, last)
        values = self.engine.update(bar.closing_price)
        signals = detect_signals(self.prev, values, self.rules)
        self.prev = values
        self.last_ts = bar.timestamp
        return AppliedBar(bar, values, signals)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable; `from_state` of it continues bit-identically."""
        return {
            "engine": self.engine.to_state(),
            "last_ts": self.last_ts,
            "prev": None if self.prev is None else self.prev._asdict(),
        }

    @classmethod
    def from_state(
        cls, symbol: str, state: dict[str, Any], params: IndicatorParams, rules: SignalRules
    ) -> "SymbolStream":
        stream = cls(symbol, params, rules)
        stream.engine = IndicatorEngine.from_state(state["engine"], params)
        stream.last_ts = state["last_ts"]
        stream.prev = None if state["prev"] is None else IndicatorValues(**state["prev"])
        return stream

    @classmethod
    def replay(cls, symbol: str, bars: Iterable[tuple[float, float]], params: IndicatorParams,
               rules: SignalRules) -> "SymbolStream":
        """A stream that has applied `bars`, (timestamp, close) oldest first: the state a processor
        would hold after them, rebuilt from stored bars."""
        stream = cls(symbol, params, rules)
        for ts, close in bars:
            stream.apply(StockPrice.model_construct(stock_symbol=symbol, timestamp=ts, closing_price=close))
        return stream
