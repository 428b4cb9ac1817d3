"""A processor joins its group and starts fetching without help from its stall watchdog.

kafka-python 3.0.12 re-awaits a background group join on the next poll only while need_rejoin()
is true. A fresh processor leads its group and rejoins once right after its first join (the first
assignment was computed before the topics' metadata arrived); a leader stops needing to rejoin
as soon as it has computed the assignment, before the SyncGroup answer. A poll returning in that
window stranded the join: "rebalancing" for good, heartbeats off, nothing fetched, until the
watchdog replaced the consumer (about 1 fresh start in 8). The processor now polls long while its
group is not stable and has the next poll finish a stranded join (real Kafka and PostgreSQL; the
race cannot be produced on demand, so the fresh starts are repeated).
"""
from __future__ import annotations

from kafka.structs import MemberState
from namespaces import namespaced, own_topics
from processor_thread import processor_thread
from sqlalchemy import Engine
from streams import CANDLES_ONLY, produce, simulated_records, truncate_outputs, wait_processed
from support import wait_until

from services.config import Settings
from services.processor.runner import JOIN_POLL_MS, Processor

FRESH_STARTS = 8


def test_polls_are_long_while_joining_and_short_once_stable(stack: Settings) -> None:
    with processor_thread(stack.model_copy(update={"processor_session_timeout_ms": 6000})) as (processor, runner):
        wait_until(lambda: processor.consumer is not None, timeout=30, what="the consumer")
        wait_until(lambda: processor.consumer.group_metadata().state == MemberState.STABLE, timeout=60,
                   what="the group to be stable")
        assert processor._poll_timeout_ms() == stack.processor_batch_timeout_ms
    assert not runner.is_alive()
    fresh = Processor(stack)
    fresh._connect()
    fresh._subscribe()
    try:
        assert fresh.consumer.group_metadata().state != MemberState.STABLE
        assert fresh._poll_timeout_ms() == JOIN_POLL_MS
        assert fresh.stats.stranded_joins == 0  # a join that has not started is not stranded
    finally:
        fresh.consumer.close()


def test_fresh_starts_never_need_the_stall_watchdog(stack: Settings, owner_db: Engine) -> None:
    reconnects = []
    for n in range(FRESH_STARTS):
        fresh = namespaced(stack, processor_session_timeout_ms=6000, processor_stall_timeout_s=5.0)
        truncate_outputs(owner_db)
        with own_topics(fresh):  # just created, as on a first deploy
            produce(fresh, simulated_records(fresh, 2_000, seed=60 + n, mix=CANDLES_ONLY))
            with processor_thread(fresh, name=f"processor-{n}") as (processor, _):
                wait_processed(owner_db, fresh, timeout=60)
            reconnects.append(processor.stats.reconnects)
    assert reconnects == [0] * FRESH_STARTS
