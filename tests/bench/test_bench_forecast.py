"""bench.forecast on a small store (real PostgreSQL): the forecast time per symbol with the first call
apart, and the signal evaluation's rows/s, each beside its baselines."""
from __future__ import annotations

from pathlib import Path

from support import TEST_DATABASE

from bench import forecast
from bench.report import Report
from bench.stack import BenchStack

BARS, DAYS = 2_000, 60  # tiny: this checks the bench code; `make bench` measures


def test_forecast_and_evaluation_figures(tmp_path: Path) -> None:
    stack = BenchStack.create(tmp_path, database=f"{TEST_DATABASE}_bench")
    try:
        report = Report()
        forecast.run(report, stack, evaluation_bars=BARS, days=DAYS)  # it also asserts every bar was evaluated
        with stack.db.connect() as conn:
            stored = conn.exec_driver_sql("SELECT count(*), count(DISTINCT symbol) FROM market_forecasts "
                                          "WHERE run_id = 'bench'").one()
    finally:
        stack.close()
    figures = {m.name: m for m in report.measurements}
    assert set(figures) == {
        "baseline: read bars + signals (COPY → pandas)", "baseline: evaluation alone (no I/O)",
        "signal_evaluation (read + evaluate + store)", "first call: import statsmodels models",
        "first call: first minus second forecast", "baseline: naive + drift alone, per symbol",
        "market_forecast per symbol (after the first call)"}
    assert all(m.value > 0 for name, m in figures.items() if name != "first call: first minus second forecast")
    assert f"{BARS:,} bars" in figures["signal_evaluation (read + evaluate + store)"].note
    assert figures["market_forecast per symbol (after the first call)"].ratio > 1  # four models cost more than two
    assert tuple(stored) == (len(stack.settings.symbols) * 4 * 7, len(stack.settings.symbols))
