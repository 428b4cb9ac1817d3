"""A compressed recent history first, then live on the same price path (the demo's warm start)."""
from __future__ import annotations

import math
import time

import pytest
from fake_ingest import FakeIngest
from generator_data import make_plan

from services.core.simulation import MarketSimulator, market_years
from services.generator.runner import Runner


def test_retime_goes_on_on_the_same_path_moving_by_the_time_between_candles() -> None:
    """After a retime the next candle opens at the last close, and every candle moves by the same draw as
    without the retime, scaled to the market time since the previous candle (services/core/simulation.py,
    the time rule): the 3,980 s gap moves as 3,980 s do, the 0.5 s candles as 0.5 s do."""
    one = MarketSimulator(("AAPL",), 5, 1_000.0, 10.0)
    two = MarketSimulator(("AAPL",), 5, 1_000.0, 10.0)
    first = [one.tick("AAPL")[0] for _ in range(3)]
    one.retime("AAPL", 5_000.0, 0.5)
    later = [one.tick("AAPL")[0] for _ in range(3)]
    same = [two.tick("AAPL")[0] for _ in range(6)]
    candles = first + later
    assert [c["timestamp"] for c in candles] == [1000.0, 1010.0, 1020.0, 5000.0, 5000.5, 5001.0]
    assert [c["closing_price"] for c in first] == [c["closing_price"] for c in same[:3]]
    assert all(b["opening_price"] == a["closing_price"] for a, b in zip(candles, candles[1:]))
    p = one.profile("AAPL")

    def draw(candle: dict, seconds: float) -> float:  # the standard normal draw behind a candle's move
        years = market_years(seconds)
        log_return = math.log(candle["closing_price"] / candle["opening_price"])
        return (log_return - (p.mu - p.sigma**2 / 2) * years) / (p.sigma * math.sqrt(years))

    for candle, twin, seconds in zip(later, same[3:], (3_980.0, 0.5, 0.5)):
        assert draw(candle, seconds) == pytest.approx(draw(twin, 10.0), abs=0.05)
    assert abs(draw(later[0], 3_980.0)) > 0.1  # not a move that rounding could fake


def test_history_first_then_live_candles_counted_by_count() -> None:
    start = time.time()
    plan = make_plan(count=10, workers=1, start=start, interval=0.1, rate=None, history=30, history_interval=60.0)
    with FakeIngest() as ingest:
        runner = Runner(plan=plan, ingest_url=ingest.url)
        assert runner.run() == 0
    candles = [r for r in ingest.accepted if "data_type" not in r]
    by_symbol: dict[str, list[float]] = {}
    for c in candles:
        by_symbol.setdefault(c["stock_symbol"], []).append(c["timestamp"])
    assert sum(len(v) for v in by_symbol.values()) == 30 * len(plan.symbols) + 10
    for symbol, times in by_symbol.items():
        assert times == sorted(times) and len(set(times)) == len(times), symbol
        history, live = times[:30], times[30:]
        assert history[0] == round(start - 30 * 60.0, 6) and history[-1] == round(start - 60.0, 6)
        assert live[0] == round(start, 6)  # --start given: the live part starts there exactly
