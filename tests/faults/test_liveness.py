"""A processor frozen mid-transaction cannot stall the others' commits for longer than a bound.

The dashboard feed's triggers order commits with one advisory lock, held from a batch's bars insert
to its commit. A processor stopped (SIGSTOP) while holding it used to freeze every other writer for
as long as it stayed stopped; PostgreSQL now ends its session after processor_stuck_transaction_s.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from namespaces import namespaced, own_topics
from running_services import start_processor
from sqlalchemy import Engine, text
from streams import CANDLES_ONLY, count_bars, produce, simulated_records, wait_processed
from support import service_env, wait_until

from services.config import Settings

pytestmark = [pytest.mark.fault, pytest.mark.timeout(600)]
STUCK_S = 4.0
FROZEN_S = 20.0  # the scenario: how long the frozen processor stays stopped


def feed_lock_holder(db: Engine, group: str) -> int | None:
    """The PostgreSQL backend of `group`'s processor writer, if it holds the feed lock right now."""
    with db.connect() as conn:
        return conn.execute(text(
            "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = :app"),
            {"app": f"tickflow-processor-write:{group}"[:63]}).scalar()


def test_a_processor_frozen_holding_the_feed_lock_stalls_others_for_a_bounded_time(
    stack: Settings, owner_db: Engine, tmp_path: Path
) -> None:
    # its own topics, group and symbols (a symbol's stream state belongs to one processor group)
    with own_topics(namespaced(stack, symbols=("XLIVA", "XLIVB"))) as other:
        # The frozen one has a long backlog, so it is inside a batch transaction most of the time.
        produce(stack, simulated_records(stack, 60_000, seed=31, mix=CANDLES_ONLY))
        frozen, _ = start_processor(service_env(
            stack, processor_stuck_transaction_s=STUCK_S, processor_session_timeout_ms=6000), tmp_path)
        # The other processor joins its group now, idle: the clock below measures commits behind the
        # frozen one's lock, not how long a fresh consumer takes to join a group on a busy machine.
        runner, runner_port = start_processor(service_env(
            other, processor_stuck_transaction_s=STUCK_S, processor_session_timeout_ms=6000), tmp_path)
        runner.wait_http(f"http://127.0.0.1:{runner_port}/readyz")  # partitions assigned
        wait_until(lambda: count_bars(owner_db) >= 2_000, timeout=120, what="the first processor to write")

        def stop_while_holding() -> bool:
            os.kill(frozen.proc.pid, signal.SIGSTOP)
            holder = feed_lock_holder(owner_db, stack.processor_group)
            if holder is not None:
                # A COMMIT sent just before the stop still completes: held a moment later, the lock
                # waits on the frozen client for good.
                time.sleep(0.2)
                if feed_lock_holder(owner_db, stack.processor_group) == holder:
                    return True
            os.kill(frozen.proc.pid, signal.SIGCONT)
            return False

        wait_until(stop_while_holding, timeout=60, interval=0.01, what="the processor stopped inside a batch")
        stopped_at = time.monotonic()
        try:
            # Another processor (its own topics and group, the same tables) must still commit.
            later = simulated_records(other, 2_000, seed=32, mix=CANDLES_ONLY, interval=0.5)
            produce(other, later)
            wait_processed(owner_db, other, timeout=FROZEN_S - 2)
            committed_after = time.monotonic() - stopped_at
            assert frozen.proc.poll() is None
            assert time.monotonic() - stopped_at < FROZEN_S, "the frozen processor was stopped all along"
        finally:
            time.sleep(max(0.0, FROZEN_S - (time.monotonic() - stopped_at)))  # the scenario's length
            os.kill(frozen.proc.pid, signal.SIGCONT)
        assert runner.stop() == 0, runner.log_tail()
        print(f"frozen for {FROZEN_S:.0f} s: the other processor committed everything after {committed_after:.1f} s")
        assert committed_after < STUCK_S + 10
        # The frozen one wakes up, finds its session gone, rewinds and completes its own stream.
        wait_processed(owner_db, stack, timeout=180)
        assert frozen.stop() == 0, frozen.log_tail()
        assert count_bars(owner_db) == 62_000
        assert '"batch not stored; rewinding to the last committed batch"' in frozen.log_path.read_text()
