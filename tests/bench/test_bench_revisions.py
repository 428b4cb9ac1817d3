"""bench.revisions on a tiny stream (real Kafka and PostgreSQL): two source trees of the processor,
alternating rounds on one topic, each on a schema its own migrations made."""
from __future__ import annotations

import subprocess

from sqlalchemy import text

from bench import revisions
from bench.report import Report
from bench.stack import ROOT, BenchStack
from services.db.migrations import pending

CANDLES = 3_000


def test_a_revision_is_its_own_source_tree() -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    exported = revisions.checkout("HEAD")
    assert exported.label == head[:7] and exported.root == revisions.TREES / head
    assert (exported.root / "services" / "processor" / "runner.py").read_bytes() == subprocess.run(
        ["git", "show", "HEAD:services/processor/runner.py"], cwd=ROOT, capture_output=True, check=True).stdout
    assert revisions.checkout("HEAD") == exported  # exported once, then reused
    assert revisions.checkout(".") == revisions.Revision("working tree", ROOT)


def test_two_revisions_alternate_on_one_topic(stack: BenchStack) -> None:
    report = Report()
    result = revisions.run(report, stack, CANDLES, baseline="HEAD", current=".", rounds=2, batch_max=50)
    old, new = (r.label for r in result.revisions)
    assert new == "working tree" and old != new
    for label in (old, new):
        runs = result.runs[label]
        assert len(runs) == 2
        assert all(run.rate > 0 and run.cpu_us_per_bar["processor"] > 0 for run in runs), runs
    figures = {m.name: m for m in report.measurements}
    assert figures[f"processor at {old}"].ratio == 1.0
    rates = sorted(run.rate for run in result.runs[new])
    assert figures[f"processor at {new}"].value == (rates[0] + rates[1]) / 2  # the median of two
    assert len(report.measurements) == 6
    # Afterwards the schema is this tree's again, empty, for the benchmarks that follow.
    assert pending(stack.db) == []
    with stack.db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM bars")).scalar_one() == 0
