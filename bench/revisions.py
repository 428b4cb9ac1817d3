"""Two git revisions of the processor, alternating rounds on the same services and the same data.

A figure from another day says little on a shared 2-core machine: the machine's speed moves by tens
of per cent between days and even minutes. So both revisions consume the same pre-filled topic on the
same Kafka and PostgreSQL, one after the other, in rounds that alternate their order (A B, B A, A B…),
and each figure is the median of its rounds. Each round gives the revision its own schema (the
database's `public` schema made again by that revision's migrations) and a new consumer group, so it
starts from the first offset with nothing stored.

A revision runs from its own source tree (`git archive` into .local/bench/revisions/<sha>) with this
environment's interpreter and libraries; "." is the working tree as it is.
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from bench.measure import ProcessorRun, measure_committed
from bench.pipeline import STREAM_SYMBOLS, candles, produce
from bench.report import Measurement, Report
from bench.stack import ROOT, BenchStack, free_port

WORKING_TREE = "."
# The last commit of 2026-11-21, whose `make bench` gave the README's first processor figures.
BASELINE = "c9ca99d"
TREES = ROOT / ".local" / "bench" / "revisions"


@dataclass(frozen=True)
class Revision:
    label: str  # how it reads in the report: a short commit id, or "working tree"
    root: Path  # its source tree


def checkout(rev: str) -> Revision:
    """The source tree of `rev` (a commit, tag or branch), exported once and reused."""
    if rev == WORKING_TREE:
        return Revision("working tree", ROOT)
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    tree = TREES / sha
    if not (tree / "services").is_dir():
        partial = TREES / f"{sha}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.Popen(["git", "archive", sha], cwd=ROOT, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(partial)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise RuntimeError(f"git archive {sha} failed")
        partial.rename(tree)  # only a complete tree gets the final name
    return Revision(sha[:7], tree)


def _in_tree(revision: Revision, stack: BenchStack, code: str) -> str:
    """Run Python `code` with `revision`'s own packages (its tree first on the path); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], cwd=revision.root, env=_env(revision, stack),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{revision.label}: {done.stderr[-2000:]}")
    return done.stdout


def _env(revision: Revision, stack: BenchStack, **extra: object) -> dict[str, str]:
    env = stack.env(**extra)
    env["PYTHONPATH"] = str(revision.root)
    return env


def fresh_schema(stack: BenchStack, revision: Revision) -> None:
    """The bench database's schema made again from nothing by `revision`'s own migrations."""
    stack.db.dispose()  # pooled sessions may hold the old schema's temporary objects
    with stack.db.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    _in_tree(revision, stack, "import os\n"
             "from services.db.connect import make_engine\n"
             "from services.db.migrations import migrate\n"
             "engine = make_engine(os.environ['TICKFLOW_ADMIN_DATABASE_URL'])\n"
             "migrate(engine)\n"
             "engine.dispose()\n")


def _base_bars(stack: BenchStack) -> int:
    """Stored base bars, in either schema: before the roll-ups, `bars` held base bars only."""
    with stack.db.connect() as conn:
        rolled = conn.execute(text("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
                                   "AND table_name = 'bars' AND column_name = 'timeframe'")).scalar_one()
        where = " WHERE timeframe = 'raw'" if rolled else ""
        return conn.execute(text(f"SELECT count(*) FROM bars{where}")).scalar_one()


def run_round(stack: BenchStack, revision: Revision, total: int, batch_max: int | None = None) -> ProcessorRun:
    """One processor of `revision` over the whole pre-filled topic, from a new group and an empty schema.
    Roll-ups off: older revisions had none, and the comparison is of one job. `batch_max`: the
    processor's most records per batch (None: its default)."""
    fresh_schema(stack, revision)
    port = free_port()
    group = f"bench-rev-{uuid.uuid4().hex[:6]}"
    proc = stack.spawn("processor", "--metrics-port", str(port), health=f"http://127.0.0.1:{port}/readyz",
                       cwd=revision.root, env=_env(revision, stack, processor_group=group, timeframes="",
                                                   **({} if batch_max is None else {"processor_batch_max": batch_max})))
    try:
        run = measure_committed([proc], stack.settings.database_url, group, total)
    finally:
        stack.stop_all()
    stored = _base_bars(stack)
    assert stored == total, f"{revision.label} stored {stored:,} base bars of {total:,}"
    return run


@dataclass(frozen=True)
class Comparison:
    revisions: tuple[Revision, Revision]
    runs: dict[str, list[ProcessorRun]]  # by label, in round order

    def median(self, label: str, figure: str) -> float:
        values = [run.rate if figure == "bars/s" else run.cpu_us_per_bar[figure] for run in self.runs[label]]
        return statistics.median(values)


def compare(stack: BenchStack, revs: tuple[str, str], total: int, rounds: int,
            batch_max: int | None = None) -> Comparison:
    """`rounds` rounds of each revision on one pre-filled topic, alternating which goes first."""
    revisions = (checkout(revs[0]), checkout(revs[1]))
    if revisions[0].label == revisions[1].label:
        revisions = (Revision(f"{revisions[0].label} (1)", revisions[0].root),
                     Revision(f"{revisions[1].label} (2)", revisions[1].root))
    stack.fresh_namespace()
    produce(stack, candles(stack, total, symbols=STREAM_SYMBOLS))
    runs: dict[str, list[ProcessorRun]] = {r.label: [] for r in revisions}
    try:
        for i in range(rounds):
            for revision in revisions if i % 2 == 0 else revisions[::-1]:
                run = run_round(stack, revision, total, batch_max)
                runs[revision.label].append(run)
                print(f"  round {i + 1}: {revision.label:<14} {run.rate:>9,.0f} bars/s, CPU µs/bar "
                      + ", ".join(f"{k} {v:.1f}" for k, v in run.cpu_us_per_bar.items()), flush=True)
    finally:
        fresh_schema(stack, checkout(WORKING_TREE))  # the other benchmarks expect this tree's schema
    return Comparison(revisions, runs)


def run(report: Report, stack: BenchStack, total: int, baseline: str = BASELINE, current: str = WORKING_TREE,
        rounds: int = 3, batch_max: int | None = None) -> Comparison:
    result = compare(stack, (baseline, current), total, rounds, batch_max)
    old, new = (r.label for r in result.revisions)
    note = f"median of {rounds} alternating rounds, {total:,} candles, same topic and services"
    for label in (old, new):
        rates = ", ".join(f"{run.rate:,.0f}" for run in result.runs[label])
        report.add(Measurement("revisions", f"processor at {label}", result.median(label, "bars/s"), "bars/s",
                               f"{note}; rounds: {rates}",
                               result.median(label, "bars/s") / result.median(old, "bars/s"), f"of {old}"))
        for part in ("processor", "PostgreSQL"):
            report.add(Measurement("revisions", f"{part} CPU per bar at {label}", result.median(label, part), "µs",
                                   note, result.median(label, part) / result.median(old, part),
                                   f"of {old}'s (lower is better)"))
    return result
