"""Crash-exactness: kills and rebalances leave exactly the tables of an uninterrupted run."""
from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from streams import (
    SPARSE_SIDE_RECORDS,
    base_bars,
    count_bars,
    produce,
    simulated_records,
    snapshot,
    truncate_outputs,
    wait_processed,
)
from support import ServiceProcess, service_env, wait_until

from services.config import Settings

pytestmark = pytest.mark.fault
BARS = 100_000


def start_processor(stack: Settings, group: str, log_dir: Path, **extra: object) -> ServiceProcess:
    env = service_env(stack, processor_group=group, processor_session_timeout_ms=6000, **extra)
    return ServiceProcess("processor", ["--metrics-port", "0"], env, log_dir)


def reference_run(stack: Settings, db: Engine, log_dir: Path) -> dict:
    """One processor, never disturbed, over the whole prepared stream."""
    group = f"{stack.processor_group}-reference"
    proc = start_processor(stack, group, log_dir)
    wait_processed(db, stack, group, timeout=180)
    assert proc.stop() == 0, proc.log_tail()
    tables = snapshot(db)
    truncate_outputs(db)
    return tables


@pytest.fixture
def prepared_stream(stack: Settings) -> int:
    records = simulated_records(stack, BARS, seed=2024, mix=SPARSE_SIDE_RECORDS)
    return produce(stack, records)


def test_sigkill_at_random_points_leaves_identical_tables(
    stack: Settings, owner_db: Engine, tmp_path: Path, prepared_stream: int
) -> None:
    reference = reference_run(stack, owner_db, tmp_path)
    assert base_bars(reference) == BARS and len(reference["signals"]) > 0

    group = f"{stack.processor_group}-killed"
    rng = random.Random(20261121)
    kill_points = sorted(rng.sample(range(1_000, BARS - 1_000), 12))
    for point in kill_points:
        proc = start_processor(stack, group, tmp_path)
        wait_until(lambda: count_bars(owner_db) >= point or proc.proc.poll() is not None,
                   timeout=120, interval=0.02, what=f"{point} bars before the kill")
        assert proc.proc.poll() is None, f"processor died on its own:\n{proc.log_tail()}"
        proc.stop(signal.SIGKILL)
    survivor = start_processor(stack, group, tmp_path)
    wait_processed(owner_db, stack, group, timeout=180)
    assert survivor.stop() == 0, survivor.log_tail()

    after = snapshot(owner_db)
    for table, rows in reference.items():
        assert len(after[table]) == len(rows), f"{table}: {len(after[table])} rows, expected {len(rows)}"
        assert after[table] == rows, f"{table} differs from the uninterrupted run"


def test_instances_joining_and_dying_mid_stream_match_a_single_instance(
    stack: Settings, owner_db: Engine, tmp_path: Path, prepared_stream: int
) -> None:
    reference = reference_run(stack, owner_db, tmp_path)

    group = f"{stack.processor_group}-trio"
    small_batches = {"processor_batch_max": 500}  # more batches in flight when the group rebalances
    members = [start_processor(stack, group, tmp_path, **small_batches) for _ in range(2)]
    wait_until(lambda: count_bars(owner_db) >= BARS // 5, timeout=120, interval=0.02, what="a fifth of the bars")
    members.append(start_processor(stack, group, tmp_path, **small_batches))  # one joins
    wait_until(lambda: count_bars(owner_db) >= BARS // 2, timeout=120, interval=0.02, what="half of the bars")
    members.pop(0).stop(signal.SIGKILL)  # one dies
    wait_processed(owner_db, stack, group, timeout=180)
    for proc in members:
        assert proc.stop() == 0, proc.log_tail()
    assert snapshot(owner_db) == reference
