"""SymbolStream: ordering rules (duplicate / late), indicators and signals, restorable state."""
from __future__ import annotations

import json
from pathlib import Path

import orjson

from services.core.indicators import IndicatorEngine, IndicatorParams
from services.core.records import StockPrice
from services.core.signals import SignalRules
from services.core.stream import DUPLICATE, LATE, AppliedBar, SkippedBar, SymbolStream

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


def test_a_state_saved_before_indicator_values_were_a_named_tuple_continues() -> None:
    # SymbolStream state written by the dataclass-based IndicatorValues (prev as a field -> value
    # dict), captured with that code together with the bars and signals that followed it
    fixture = json.loads((Path(__file__).parent / "indicators" / "saved_state_v1.json").read_text())
    saved, series = fixture["stream"], fixture["closes"]
    stream = SymbolStream.from_state(saved["symbol"], saved["state"], PARAMS, RULES)
    assert stream.to_state() == saved["state"]
    for i, close in enumerate(series[saved["saved_after"]:], start=saved["saved_after"]):
        applied = stream.apply(StockPrice.model_construct(
            stock_symbol=saved["symbol"], timestamp=saved["first_ts"] + saved["ts_step"] * i, closing_price=close))
        expected = saved["continuation"][i - saved["saved_after"]]
        assert list(applied.values) == expected["values"]
        assert [[s.rule, s.side, s.value, s.reference] for s in applied.signals] == expected["signals"]
