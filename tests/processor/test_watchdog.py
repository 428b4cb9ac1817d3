"""The processor replaces a Kafka consumer that stays in the group but stops delivering records.

kafka-python 3.0.12 can end up there after a broker restart (a JoinGroup answered with
COORDINATOR_LOAD_IN_PROGRESS leaves it believing it is a stable member). The broken consumer is
imitated here by a poll that returns nothing; Kafka and PostgreSQL are the real local ones.
"""
from __future__ import annotations

from processor_thread import processor_thread
from sqlalchemy import Engine
from streams import CANDLES_ONLY, count_bars, produce, simulated_records, wait_processed
from support import wait_until

from services.config import Settings


def test_a_consumer_that_stops_fetching_is_replaced(stack: Settings, owner_db: Engine) -> None:
    watched = stack.model_copy(update={"processor_stall_timeout_s": 1.0})
    with processor_thread(watched, join_timeout=15) as (processor, runner):
        wait_until(lambda: processor.stats.assigned > 0 and not processor.needs_rewind, timeout=30,
                   what="the processor to join and position its partitions")
        stuck = processor.consumer
        stuck.poll = lambda *args, **kwargs: {}  # joined, but never delivers again
        produce(stack, simulated_records(stack, 2_000, mix=CANDLES_ONLY))
        wait_processed(owner_db, stack, timeout=60)
    assert not runner.is_alive()
    assert processor.stats.reconnects == 1 and processor.consumer is not stuck
    assert count_bars(owner_db) == 2_000
