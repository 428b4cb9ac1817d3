"""bench.engine in quick mode: every figure is there, positive, and the baselines compute what tickflow does."""
from __future__ import annotations

import math

import pytest

from bench import engine
from bench.report import Measurement, Report


@pytest.fixture(scope="module")
def measurements() -> dict[tuple[str, str], Measurement]:
    report = Report()
    engine.run(report, quick=True)
    assert all(m.group == engine.GROUP for m in report.measurements)
    by_key = {(m.name, m.unit): m for m in report.measurements}
    assert len(by_key) == len(report.measurements), "a measurement was reported twice"
    return by_key


BASELINES = (engine.NAME_NAIVE, engine.NAME_TALIPP, engine.NAME_TALIB)


def test_tickflow_figures(measurements: dict[tuple[str, str], Measurement]) -> None:
    rate = measurements[(engine.NAME_TICKFLOW, "bars/s")]
    per_bar = measurements[(engine.NAME_TICKFLOW, "µs/bar")]
    assert rate.value > 0 and per_bar.value > 0
    assert math.isclose(rate.value * per_bar.value, 1e6, rel_tol=1e-9)  # the same best run, two units
    assert "median" in per_bar.note


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_figures(measurements: dict[tuple[str, str], Measurement], name: str) -> None:
    m = measurements[(name, "µs/bar")]
    assert "FAILED" not in m.note, m.note
    assert m.value > 0
    assert m.ratio is not None and m.ratio > 0
    assert m.ratio_to.startswith("tickflow speed-up over ")
    tickflow_us = measurements[(engine.NAME_TICKFLOW, "µs/bar")].value
    assert math.isclose(m.ratio, m.value / tickflow_us, rel_tol=1e-9)


def test_naive_is_far_slower(measurements: dict[tuple[str, str], Measurement]) -> None:
    # recomputing everything with pandas per bar costs milliseconds; even a noisy machine keeps this order
    assert measurements[(engine.NAME_NAIVE, "µs/bar")].ratio > 10


@pytest.mark.parametrize("name", (engine.NAME_TALIPP, engine.NAME_TALIB))
def test_incremental_baselines_agree_with_tickflow(measurements: dict[tuple[str, str], Measurement], name: str) -> None:
    note = measurements[(name, "µs/bar")].note
    assert "vs tickflow: agrees" in note, note
    assert "the same count as tickflow" in note, note


def test_talipp_history_stays_bounded(measurements: dict[tuple[str, str], Measurement]) -> None:
    note = measurements[(engine.NAME_TALIPP, "µs/bar")].note
    bound = int(note.split("never above ")[1].split(")")[0])
    assert 0 < bound <= engine.TALIPP_KEEP + engine.TALIPP_PURGE_EVERY + 1


def test_agreement_detects_a_difference() -> None:
    ref = tuple(float(i + 1) for i in range(10))
    ok, worst, _ = engine.agreement(ref, ref)
    assert ok and worst == 0.0
    off = ref[:4] + (ref[4] * (1 + 1e-4),) + ref[5:]
    ok, worst, column = engine.agreement(ref, off)
    assert not ok and worst == pytest.approx(1e-4, rel=1e-3) and column == "macd"
    assert "differs by" in engine._agree_note("x", ref, off)


def test_stream_is_round_robin() -> None:
    per_symbol, sym_ids, closes = engine.make_stream(engine.SYMBOLS * (engine.WARMUP + 10))
    assert per_symbol.shape == (engine.WARMUP + 10, engine.SYMBOLS)
    assert sym_ids[: engine.SYMBOLS * 2] == list(range(engine.SYMBOLS)) * 2
    for k in range(engine.SYMBOLS):
        assert closes[k :: engine.SYMBOLS] == per_symbol[:, k].tolist()
    assert (per_symbol > 0).all()
    _, _, again = engine.make_stream(engine.SYMBOLS * (engine.WARMUP + 10))
    assert again == closes  # seeded
