"""Reconciliation on the real PostgreSQL: clean data passes, corruption is reported precisely, repair fixes it."""
from __future__ import annotations

from datetime import timedelta
from typing import Callable

import pytest
from orchestration_data import StreamData, read_stream_data
from sqlalchemy import Engine, text

from services.orchestration.indicators.recompute import Recomputation
from services.orchestration.indicators.reconcile import RunNotFound, finish_run, reconcile_symbol, start_run
from services.orchestration.run_params import Window


def whole(data: StreamData) -> Window:
    ts = data.bars["ts"]
    return Window(ts.min().to_pydatetime(), ts.max().to_pydatetime() + timedelta(seconds=1), "params")


def run(engine: Engine, run_id: str, window: Window, symbols: tuple[str, ...], *, repair: bool = False,
        max_mismatches: int = 0, tolerance: float = 1e-9):  # type: ignore[no-untyped-def]
    start_run(engine, run_id, window, symbols, tolerance=tolerance, max_mismatches=max_mismatches, repair=repair)
    results = [reconcile_symbol(engine, run_id, Recomputation(s, window, tolerance=tolerance, chunk_bars=400),
                                repair=repair) for s in symbols]
    return results, finish_run(engine, run_id)


def mismatches(engine: Engine, run_id: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT phase, symbol, ts, indicator, stored_value, expected_value FROM reconciliation_mismatches "
            "WHERE run_id = :r ORDER BY phase, symbol, ts, indicator"), {"r": run_id})]


def test_clean_data_passes(stream_data: Callable[..., StreamData], orch_db: Engine) -> None:
    data = stream_data(("AAPL", "MSFT"), 1000)
    results, summary = run(orch_db, "clean", whole(data), ("AAPL", "MSFT"))
    assert [(r.symbol, r.bars, r.values, r.mismatches) for r in results] == [
        ("AAPL", 1000, 10_000, 0), ("MSFT", 1000, 10_000, 0)]
    assert (summary.status, summary.failed, summary.bars, summary.mismatches) == ("passed", False, 2000, 0)
    assert summary.message.startswith("2000 bars / 20000 indicator values over [")
    with orch_db.connect() as conn:
        row = conn.execute(text("SELECT status, bars_checked, mismatches, finished_at IS NOT NULL "
                                "FROM reconciliation_runs WHERE run_id = 'clean'")).one()
    assert tuple(row) == ("passed", 2000, 0, True)


def test_corruption_is_reported_with_symbol_time_indicator_and_both_values(
    stream_data: Callable[..., StreamData], orch_db: Engine
) -> None:
    data = stream_data(("AAPL", "MSFT"), 1200)
    bars = data.bars.set_index(["symbol", "ts"])
    t_rsi, t_sma = data.times("MSFT")[1000], data.times("MSFT")[1100]
    true_rsi, true_sma = float(bars.loc[("MSFT", t_rsi), "rsi"]), float(bars.loc[("MSFT", t_sma), "sma"])
    with orch_db.begin() as conn:
        conn.execute(text("UPDATE bars SET rsi = 99.0 WHERE timeframe = 'raw' AND symbol = 'MSFT' AND ts = :t"),
                     {"t": t_rsi})
        conn.execute(text("UPDATE bars SET sma = NULL WHERE timeframe = 'raw' AND symbol = 'MSFT' AND ts = :t"),
                     {"t": t_sma})

    results, summary = run(orch_db, "corrupt", whole(data), ("AAPL", "MSFT"))
    assert [r.mismatches for r in results] == [0, 2]
    assert summary.failed and summary.status == "failed" and summary.remaining == 2
    assert summary.message.startswith("2 indicator mismatch(es) found over [")
    assert f"MSFT {t_rsi.isoformat()} rsi: stored 99.0, expected {true_rsi!r}" in summary.message
    assert f"MSFT {t_sma.isoformat()} sma: stored NULL, expected {true_sma!r}" in summary.message
    assert "see reconciliation_mismatches WHERE run_id = 'corrupt'" in summary.message
    rows = mismatches(orch_db, "corrupt")
    assert [(p, s, ts, i) for p, s, ts, i, _, _ in rows] == [("check", "MSFT", t_rsi, "rsi"),
                                                             ("check", "MSFT", t_sma, "sma")]
    assert rows[0][4:] == (99.0, pytest.approx(true_rsi, rel=1e-12))
    assert rows[1][4] is None and rows[1][5] == pytest.approx(true_sma, rel=1e-12)

    # the same corruption, tolerated
    _, tolerated = run(orch_db, "tolerated", whole(data), ("MSFT",), max_mismatches=2)
    assert (tolerated.status, tolerated.failed, tolerated.mismatches) == ("passed", False, 2)

    # repair rewrites the mismatched range and re-checks: nothing left, values back to the stream's
    results, repaired = run(orch_db, "repair", whole(data), ("AAPL", "MSFT"), repair=True)
    assert (repaired.status, repaired.failed, repaired.mismatches, repaired.remaining) == ("repaired", False, 2, 0)
    assert results[1].repaired_bars == 2 and results[0].repaired_bars == 0
    assert [r[0] for r in mismatches(orch_db, "repair")] == ["check", "check"]  # no 'recheck' rows
    fixed = read_stream_data(orch_db).bars.set_index(["symbol", "ts"])
    assert fixed.loc[("MSFT", t_rsi), "rsi"] == pytest.approx(true_rsi, rel=1e-12)
    assert fixed.loc[("MSFT", t_sma), "sma"] == pytest.approx(true_sma, rel=1e-12)
    _, after = run(orch_db, "after-repair", whole(data), ("AAPL", "MSFT"))
    assert after.status == "passed" and after.mismatches == 0


def test_tolerance_is_relative_and_configurable(stream_data: Callable[..., StreamData], orch_db: Engine) -> None:
    data = stream_data(("TSLA",), 300)
    t = data.times("TSLA")[250]
    with orch_db.begin() as conn:
        conn.execute(text("UPDATE bars SET ema_slow = ema_slow * (1 + 1e-11) WHERE timeframe = 'raw' AND ts = :t"),
                     {"t": t})
    assert run(orch_db, "loose", whole(data), ("TSLA",))[1].mismatches == 0
    assert run(orch_db, "tight", whole(data), ("TSLA",), tolerance=1e-13)[1].mismatches == 1


def test_a_symbol_without_result_fails_the_run(stream_data: Callable[..., StreamData], orch_db: Engine) -> None:
    data = stream_data(("AAPL",), 100)
    start_run(orch_db, "partial", whole(data), ("AAPL", "AMZN"), tolerance=1e-9, max_mismatches=0, repair=False)
    reconcile_symbol(orch_db, "partial", Recomputation("AAPL", whole(data), tolerance=1e-9))
    summary = finish_run(orch_db, "partial")
    assert summary.failed and summary.message.startswith("reconciliation of AMZN did not finish")
    with pytest.raises(RunNotFound):
        finish_run(orch_db, "never-started")
