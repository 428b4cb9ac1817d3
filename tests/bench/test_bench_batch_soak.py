"""bench.batch on a small store of bars (real PostgreSQL), and the soak's arithmetic."""
from __future__ import annotations

import os

import pytest

from bench import batch, soak
from bench.report import Report
from bench.stack import BenchStack

BARS = 20_000



def test_batch_figures_cover_every_stored_bar(stack: BenchStack) -> None:
    report = Report()
    batch.run(report, stack, total=BARS)  # it also asserts: every bar written once, 0 mismatches after
    figures = {m.name: m for m in report.measurements}
    assert set(figures) == {"baseline: read bars (COPY TO → pandas)", "baseline: pandas + ta compute alone",
                            "indicator backfill (recompute + write all)",
                            "indicator reconciliation (recompute + compare)"}
    assert all(m.value > 0 and m.unit == "rows/s" for m in figures.values())
    assert f"{BARS:,} bars recomputed" in figures["indicator backfill (recompute + write all)"].note
    assert "0 mismatches" in figures["indicator reconciliation (recompute + compare)"].note
    assert stack.count() == BARS


def test_rss_slope_is_in_mb_per_minute() -> None:
    flat = [(t, 100.0) for t in range(0, 300, 5)]
    rising = [(t, 100.0 + t / 30) for t in range(0, 300, 5)]  # 2 MB per minute
    assert soak._slope_mb_per_min(flat) == 0.0
    assert soak._slope_mb_per_min(rising) == pytest.approx(2.0)


def test_tree_rss_counts_child_processes() -> None:
    pid = os.fork()
    if pid == 0:  # the child just waits to be killed
        os.pause()
    try:
        own = soak.rss_mb(os.getpid())
        assert soak.tree_rss_mb(os.getpid()) > own  # this process plus the forked child
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_the_command_line_defaults_to_every_group_but_the_soak() -> None:
    from bench.__main__ import GROUPS, parse_args

    assert parse_args([]).groups == list(GROUPS) and "soak" not in GROUPS
    assert parse_args(["soak", "--minutes", "2"]).groups == ["soak"]
    with pytest.raises(SystemExit):
        parse_args(["nonsense"])
