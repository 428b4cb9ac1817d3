"""SymbolStream: ordering rules (duplicate / late), indicators and signals, restorable state."""
from __future__ import annotations

import orjson

from services.core.stream import DUPLICATE, LATE, AppliedBar, SkippedBar, SymbolStream
from services.core.indicators import IndicatorEngine, IndicatorParams
from services.core.records import StockPrice
from services.core.signals import SignalRules

PARAMS, RULES = IndicatorParams(), SignalRules()


def bar(ts: float, close: float) -> StockPrice:
    return StockPrice(stock_symbol="AAPL", opening_price=close, closing_price=close, high=close + 1,
                      low=close - 1, volume=10, timestamp=1000.0 + ts)


def closes(n: int) -> list[float]:
    return [100 + ((i * 7919) % 23) - 11 + i * 0.05 for i in range(n)]


def test_duplicates_and_late_bars_are_skipped_without_touching_indicators() -> None:
    stream = SymbolStream("AAPL", PARAMS, RULES)
    assert isinstance(stream.apply(bar(10, 100)), AppliedBar)
    dup, late = stream.apply(bar(10, 500)), stream.apply(bar(9, 500))
    assert isinstance(dup, SkippedBar) and (dup.reason, dup.last_applied_ts) == (DUPLICATE, 1010.0)
    assert isinstance(late, SkippedBar) and late.reason == LATE
    applied = stream.apply(bar(11, 102))
    reference = IndicatorEngine(PARAMS)
    reference.update(100)
    assert isinstance(applied, AppliedBar) and applied.values == reference.update(102)
    assert stream.last_ts == 1011.0


def test_state_round_trip_continues_identically() -> None:
    series = closes(400)
    straight, first = SymbolStream("AAPL", PARAMS, RULES), SymbolStream("AAPL", PARAMS, RULES)
    expected = [straight.apply(bar(i, c)) for i, c in enumerate(series)]
    got = [first.apply(bar(i, c)) for i, c in enumerate(series[:150])]
    state = orjson.loads(orjson.dumps(first.to_state()))
    second = SymbolStream.from_state("AAPL", state, PARAMS, RULES)
    got += [second.apply(bar(i, c)) for i, c in enumerate(series[150:], start=150)]
    assert [(g.values, g.signals) for g in got] == [(e.values, e.signals) for e in expected]
    assert sum(len(e.signals) for e in expected) > 0
