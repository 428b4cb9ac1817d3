"""bench.lifecycle on two short days of history (real PostgreSQL, Kafka, dashboard and processor):
every figure is measured at each day, and the 1-day figures are the ratios' base."""
from __future__ import annotations

import pytest

from bench import lifecycle
from bench.report import Report
from bench.stack import BenchStack


def test_lifecycle_measures_every_cost_at_each_day(stack: BenchStack) -> None:
    report = Report()
    lifecycle.run(report, stack, days=(1, 2), rate=0.1, requests=2, jobs=("indicator_reconciliation", "data_retention"))
    figures = {m.name: m for m in report.measurements}
    for cost in ("database MB", "raw MB/day", "REST p99 ms", "indicator_reconciliation s",
                 "indicator_reconciliation peak MB", "data_retention s", "processor start to first commit s",
                 "state rebuild ms"):
        one, two = figures[f"{cost} @ 1d"], figures[f"{cost} @ 2d"]
        assert one.value > 0 and two.value > 0, cost
        assert one.ratio is None and two.ratio == pytest.approx(two.value / one.value), cost
    # 0.1 candles/s over five symbols: 8,640 base bars a day, all kept after two days (raw: 7 days)
    assert figures["stored base bars @ 1d"].value == 8_640 and figures["stored base bars @ 2d"].value == 17_280
    assert stack.count() == 0, "the other groups find an empty schema again"
