"""What the generator tests send and run: simulated records, run plans, records grouped by symbol."""
from __future__ import annotations

from collections import defaultdict

from services.core.simulation import MarketSimulator, RecordMix
from services.generator.runner import Plan

START = 1_700_000_000.0


def records(n: int, seed: int = 1) -> list[dict]:
    sim = MarketSimulator(["AAPL", "MSFT"], seed, START, 1.0)
    out: list[dict] = []
    for tick in sim.ticks():
        out.extend(tick)
        if len(out) >= n:
            return out[:n]
    raise AssertionError


def make_plan(**kw: object) -> Plan:
    base = dict(symbols=("AAPL", "GOOGL", "AMZN", "MSFT", "TSLA"), seed=5, start=START, interval=1.0,
                rate=None, workers=2, batch=7, count=103, mix=RecordMix(), flush_interval=0.2,
                max_ahead=150.0)
    base.update(kw)
    return Plan(**base)  # type: ignore[arg-type]


def per_symbol(recs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in recs:
        out[r.get("stock_symbol", "_economic")].append(r)
    return out
