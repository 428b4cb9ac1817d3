"""A compressed recent history first, then live on the same price path (the demo's warm start)."""
from __future__ import annotations

import time

from fake_ingest import FakeIngest
from generator_data import make_plan

from services.core.simulation import MarketSimulator
from services.generator.runner import Runner


def test_retime_goes_on_with_the_same_prices_at_new_times() -> None:
    one = MarketSimulator(("AAPL",), 5, 1_000.0, 10.0)
    two = MarketSimulator(("AAPL",), 5, 1_000.0, 10.0)
    first = [one.tick("AAPL")[0] for _ in range(3)]
    one.retime("AAPL", 5_000.0, 0.5)
    later = [one.tick("AAPL")[0] for _ in range(3)]
    same = [two.tick("AAPL")[0] for _ in range(6)]
    assert [c["timestamp"] for c in first + later] == [1000.0, 1010.0, 1020.0, 5000.0, 5000.5, 5001.0]
    assert [c["closing_price"] for c in first + later] == [c["closing_price"] for c in same]


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
